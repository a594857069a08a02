"""A synthetic stand-in for IDMT-SMT-Audio-Effects (monophonic guitar): plucked notes through 12 effect classes.

**This set is synthetic.** The real data set (Stein et al. 2010: single electric-guitar notes, 44.1 kHz, 16-bit
mono, 2 s each; 20,592 monophonic guitar samples in 12 classes) cannot be downloaded here; pass its folder to
``codeclens train friedland-audio --data DIR`` (:mod:`codeclens.audio.idmt`). This module builds clips of the
same form, deterministically (every clip is a function of ``(seed, class, index)``), offline:

- **The note**: a Karplus-Strong plucked string (a burst of low-passed noise circulating in a delay line of one
  period with a two-point average and a loss factor) at a MIDI pitch drawn uniformly from E2 (40) to E6 (88),
  the 24-fret guitar's range; pluck brightness, string loss, onset (0-50 ms) and level are drawn per clip.
- **The effect** (:data:`EFFECTS`, IDMT's folder names; the class index is the position in this tuple), with
  parameters drawn per clip from the ranges below (IDMT recorded each effect at three settings). Spotify's
  ``pedalboard`` does the DSP, except tremolo (an amplitude LFO, written here):
  NoFX (dry); Chorus (rate 0.5-2 Hz, depth 0.15-0.35, centre delay 7-12 ms, mix 0.5); Distortion (tanh drive
  25-35 dB); EQ (a peak of +9..+15 dB at 0.5-3 kHz, Q 0.7-2, and a high shelf of +6 dB at 4 kHz); FeedbackDelay
  (150-300 ms, feedback 0.4-0.6, mix 0.4); Flanger (rate 0.2-1 Hz, depth 0.5-0.9, centre delay 1-3 ms, feedback
  0.4-0.7, mix 0.5); Overdrive (tanh drive 8-14 dB); Phaser (rate 0.3-1.5 Hz, depth 0.5-0.9, centre 0.8-1.6 kHz,
  feedback 0.2-0.5, mix 0.5); Reverb (room 0.5-0.9, wet 0.25-0.4, dry 0.6); SlapbackDelay (60-120 ms, no
  feedback, mix 0.3-0.5); Tremolo (rate 4-8 Hz, depth 0.5-0.9); Vibrato (a fully wet chorus: rate 4-7 Hz,
  depth 0.1-0.25, centre delay 3-6 ms).
- Each clip is finally scaled to a peak of 0.9 (no clipping in 16 bits): level is not a class cue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44100
SECONDS = 2.0
EFFECTS = ("Chorus", "Distortion", "EQ", "FeedbackDelay", "Flanger", "NoFX", "Overdrive", "Phaser", "Reverb",
           "SlapbackDelay", "Tremolo", "Vibrato")
LOWEST_NOTE, HIGHEST_NOTE = 40, 88  # MIDI E2 .. E6


@dataclass(frozen=True)
class AudioItem:
    """One labelled clip: samples in memory (the synthetic set) or a WAV file read on use (the real set)."""

    source: np.ndarray | Path
    label: int
    name: str

    def load(self, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """float32 mono samples at ``sample_rate`` (files are mixed to mono and resampled when needed)."""
        if isinstance(self.source, np.ndarray):
            return self.source
        from .idmt import read_wav

        return read_wav(self.source, sample_rate)


def pluck(midi: float, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE,
          seconds: float = SECONDS) -> np.ndarray:
    """A Karplus-Strong plucked note at MIDI pitch ``midi`` (float32, peak 1), random brightness, loss, onset."""
    n = int(round(sample_rate * seconds))
    period = max(2, int(round(sample_rate / (440.0 * 2 ** ((midi - 69) / 12)))))
    brightness = rng.uniform(0.3, 0.9)  # one-pole low-pass of the excitation: 1 = white noise
    loss = rng.uniform(0.990, 0.998)
    burst = rng.uniform(-1.0, 1.0, period)
    for i in range(1, period):
        burst[i] = brightness * burst[i] + (1 - brightness) * burst[i - 1]
    y = np.zeros(n + period + 1)
    y[1 : period + 1] = burst  # y[0] = 0 is the sample before the first period
    for start in range(period + 1, len(y), period):  # y[i] = loss * (y[i - P] + y[i - P - 1]) / 2, a period at once
        stop = min(start + period, len(y))
        y[start:stop] = loss * 0.5 * (y[start - period : stop - period] + y[start - period - 1 : stop - period - 1])
    note = y[1 : n + 1]
    onset = int(rng.uniform(0.0, 0.05) * sample_rate)
    note = np.concatenate([np.zeros(onset), note[: n - onset]])
    return (note / (np.abs(note).max() + 1e-12)).astype(np.float32)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _tremolo(x: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    t = np.arange(len(x)) / sample_rate
    depth, rate, phase = _u(rng, 0.5, 0.9), _u(rng, 4.0, 8.0), _u(rng, 0.0, 2 * np.pi)
    return (x * (1.0 - depth * (0.5 + 0.5 * np.sin(2 * np.pi * rate * t + phase)))).astype(np.float32)


def _board(effect: str, rng: np.random.Generator) -> list:
    """The pedalboard plugins of ``effect`` with parameters drawn from the module docstring's ranges."""
    import pedalboard as pb

    boards: dict[str, Callable[[], list]] = {
        "NoFX": lambda: [],
        "Chorus": lambda: [pb.Chorus(rate_hz=_u(rng, 0.5, 2), depth=_u(rng, 0.15, 0.35),
                                     centre_delay_ms=_u(rng, 7, 12), feedback=0.0, mix=0.5)],
        "Distortion": lambda: [pb.Distortion(drive_db=_u(rng, 25, 35))],
        "EQ": lambda: [pb.PeakFilter(cutoff_frequency_hz=_u(rng, 500, 3000), gain_db=_u(rng, 9, 15),
                                     q=_u(rng, 0.7, 2)), pb.HighShelfFilter(cutoff_frequency_hz=4000, gain_db=6)],
        "FeedbackDelay": lambda: [pb.Delay(delay_seconds=_u(rng, 0.15, 0.3), feedback=_u(rng, 0.4, 0.6), mix=0.4)],
        "Flanger": lambda: [pb.Chorus(rate_hz=_u(rng, 0.2, 1), depth=_u(rng, 0.5, 0.9), centre_delay_ms=_u(rng, 1, 3),
                                      feedback=_u(rng, 0.4, 0.7), mix=0.5)],
        "Overdrive": lambda: [pb.Distortion(drive_db=_u(rng, 8, 14))],
        "Phaser": lambda: [pb.Phaser(rate_hz=_u(rng, 0.3, 1.5), depth=_u(rng, 0.5, 0.9),
                                     centre_frequency_hz=_u(rng, 800, 1600), feedback=_u(rng, 0.2, 0.5), mix=0.5)],
        "Reverb": lambda: [pb.Reverb(room_size=_u(rng, 0.5, 0.9), wet_level=_u(rng, 0.25, 0.4), dry_level=0.6)],
        "SlapbackDelay": lambda: [pb.Delay(delay_seconds=_u(rng, 0.06, 0.12), feedback=0.0, mix=_u(rng, 0.3, 0.5))],
        "Vibrato": lambda: [pb.Chorus(rate_hz=_u(rng, 4, 7), depth=_u(rng, 0.1, 0.25), centre_delay_ms=_u(rng, 3, 6),
                                      feedback=0.0, mix=1.0)],
    }
    return boards[effect]()


def apply_effect(note: np.ndarray, effect: str, rng: np.random.Generator,
                 sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``note`` through ``effect`` (one of :data:`EFFECTS`), scaled to a peak of 0.9; float32 (N,)."""
    if effect not in EFFECTS:
        raise ValueError(f"unknown effect {effect!r}; expected one of {list(EFFECTS)}")
    if effect == "Tremolo":
        y = _tremolo(note, rng, sample_rate)
    else:
        import pedalboard as pb

        y = np.asarray(pb.Pedalboard(_board(effect, rng))(note[None, :], sample_rate))[0] if effect != "NoFX" \
            else note
    return (0.9 * y / (np.abs(y).max() + 1e-12)).astype(np.float32)


def synthetic_clip(label: int, index: int, seed: int = 0, sample_rate: int = SAMPLE_RATE,
                   seconds: float = SECONDS) -> np.ndarray:
    """Clip ``index`` of class ``label`` (a function of ``(seed, label, index)`` only)."""
    rng = np.random.default_rng([seed, label, index])
    note = pluck(rng.uniform(LOWEST_NOTE, HIGHEST_NOTE), rng, sample_rate, seconds)
    return apply_effect(note * _u(rng, 0.5, 1.0), EFFECTS[label], rng, sample_rate)


def synthetic_set(per_class: int, seed: int = 0, sample_rate: int = SAMPLE_RATE,
                  seconds: float = SECONDS) -> list[AudioItem]:
    """``per_class`` clips of each of the 12 classes, class by class (balanced, deterministic)."""
    if per_class < 1:
        raise ValueError(f"per_class: expected at least 1 clip per class, got {per_class}")
    return [AudioItem(synthetic_clip(label, i, seed, sample_rate, seconds), label, f"{effect}/{i:05d}")
            for label, effect in enumerate(EFFECTS) for i in range(per_class)]
