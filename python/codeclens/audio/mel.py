"""Log-mel spectrograms: the features of Friedland et al.'s audio experiment (96 mel bands), in torch.

Parameters (:data:`MEL`, the same for every bitrate and for the original; librosa's defaults, which the
authors' code base used through ``librosa.feature.melspectrogram(y, sr, n_mels=96)``):

- STFT: ``n_fft`` 2048 samples, periodic Hann window of 2048, ``hop`` 512, centred frames (the signal padded by
  n_fft / 2 zeros at both ends), so N samples give 1 + N // 512 frames: 173 for 2 s at 44.1 kHz.
- power spectrogram |X|², mapped onto 96 triangular mel filters from ``fmin`` 0 Hz to ``fmax`` = sample rate / 2,
  on the Slaney mel scale (linear below 1 kHz, logarithmic above) with Slaney's area normalisation (each filter
  divided by half its width in Hz: librosa's ``htk=False, norm="slaney"``).
- log: ``10 · log10(max(P, 1e-10))`` dB, then raised to at least the clip's maximum - 80 dB (librosa's
  ``power_to_db`` defaults: ref 1, amin 1e-10, top_db 80, as the authors' ``logamplitude`` call had).

Multi-channel PCM is averaged to mono first. Output: float32 (mels, frames) per clip, (B, mels, frames) for a
batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import check_pcm


@dataclass(frozen=True)
class MelSettings:
    n_fft: int = 2048
    hop: int = 512
    n_mels: int = 96
    fmin: float = 0.0
    fmax: float | None = None  # None: sample_rate / 2
    amin: float = 1e-10
    top_db: float | None = 80.0

    def frames(self, samples: int) -> int:
        """Frames of a signal of ``samples`` samples (centred STFT)."""
        return 1 + samples // self.hop


MEL = MelSettings()


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear (3 / 200 mel per Hz) below 1 kHz, logarithmic (27 mels per factor 6.4) above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, mel)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def mel_filterbank(sample_rate: int, settings: MelSettings = MEL) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float64 triangular filters (Slaney scale and area normalisation)."""
    fmax = sample_rate / 2.0 if settings.fmax is None else settings.fmax
    if not 0 <= settings.fmin < fmax <= sample_rate / 2.0:
        raise ValueError(f"expected 0 <= fmin < fmax <= sample_rate / 2, got fmin={settings.fmin}, fmax={fmax}, "
                         f"sample_rate={sample_rate}")
    freqs = np.linspace(0.0, sample_rate / 2.0, settings.n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(settings.fmin), hz_to_mel(fmax), settings.n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def log_mel(pcm: np.ndarray | list[np.ndarray], sample_rate: int, settings: MelSettings = MEL):
    """Log-mel spectrogram(s) in dB as a float32 torch tensor: (mels, frames) for one clip, (B, mels, frames)
    for a list of clips of equal length."""
    import torch

    single = isinstance(pcm, np.ndarray)
    clips: list[np.ndarray] = [pcm] if isinstance(pcm, np.ndarray) else list(pcm)
    if not clips:
        raise ValueError("log_mel: expected at least one clip")
    mono = []
    for i, clip in enumerate(clips):
        c = check_pcm(clip, f"log_mel: clip {i}")
        c = c.astype(np.float32) / 32768.0 if c.dtype == np.int16 else c
        mono.append(c if c.ndim == 1 else c.mean(axis=1))
    if len({len(c) for c in mono}) > 1:
        raise ValueError(f"log_mel: expected clips of equal length, got lengths {sorted({len(c) for c in mono})}")
    x = torch.from_numpy(np.stack(mono))
    window = torch.hann_window(settings.n_fft, periodic=True)
    spec = torch.stft(x, settings.n_fft, settings.hop, window=window, center=True, pad_mode="constant",
                      return_complex=True)
    power = spec.real**2 + spec.imag**2
    fb = torch.from_numpy(mel_filterbank(sample_rate, settings).astype(np.float32))
    mel = torch.matmul(fb, power)
    out = 10.0 * torch.log10(torch.clamp(mel, min=settings.amin))
    if settings.top_db is not None:
        out = torch.maximum(out, out.amax(dim=(1, 2), keepdim=True) - settings.top_db)
    return out[0] if single else out
