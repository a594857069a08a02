"""MP3 (MPEG-1/2/2.5 Layer III): LAME through ``lameenc`` to encode, pedalboard's reader to decode, in memory.

The audio codec of Friedland et al.'s audio experiment (seed 004 §4.3: LAME at target bitrates). PCM in and
out follows :mod:`codeclens.audio` (float32 in [-1, 1] or int16, (N,) or (N, C); the rate passed alongside).

- ``bitrate``: constant bitrate in kbps (CBR, LAME ``-b``). As the ``lame`` command does, LAME lowers the
  stream's sample rate for low bitrates (here, for 44.1 kHz input: 8 kbps -> 8 kHz, 16-24 -> 16 kHz, 32 -> 22.05
  kHz, 48 -> 32 kHz, 64 and up -> 44.1 kHz); :func:`stream_info` reads the rate a stream has.
- ``quality``: LAME's algorithm quality 0 (best, slowest) .. 9 (fastest); it does not change the bitrate.
- ``sample_rate``: the rate of the PCM given to :meth:`Mp3Codec.encode` (LAME takes 8 to 48 kHz).

Decoding returns float32 samples at the stream's rate, with LAME's encoder delay (576 samples) and the
decoder's delay (529 samples, the same in mpg123, dr_mp3 and pedalboard's reader) removed: sample 0 of the
output is sample 0 of the input. ``decode(data, sample_rate=R, length=N)`` resamples to R (scipy's polyphase
``resample_poly``, zero-phase, so the alignment holds) and cuts the encoder's padding to N samples: with the
input's rate and length the output lines up with the input sample for sample (tested within a few samples at
every bitrate). A stream holding fewer than N samples (truncated) is a :class:`codeclens.CodecError`.

Size: the whole stream (``len(data)``): LAME writes bare frames (no ID3 tag, no Xing/Info frame).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from math import gcd
from typing import Any

import numpy as np

from ..audio import check_pcm, to_int16
from ..errors import CodecError
from .base import Codec, Param, as_bytes

#: Bitrates (kbps) LAME can write in CBR: MPEG-1 (32..320) and MPEG-2/2.5 (8..160) Layer III.
BITRATES = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320)
#: Input sample rates LAME accepts (it resamples to a rate the bitrate allows).
SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
ENCODER_DELAY = 576  # LAME's encoder delay, in samples at the stream's rate
DECODER_DELAY = 529  # the MPEG Layer III decoder's delay (528 + 1), in samples at the stream's rate
DELAY = ENCODER_DELAY + DECODER_DELAY

_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by version bits
_KBPS_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_KBPS_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)


@dataclass(frozen=True)
class StreamInfo:
    """What the frame headers of an MP3 stream say: MPEG version, rate, channels, frames, nominal bitrate."""

    version: str  # "1", "2" or "2.5"
    sample_rate: int
    channels: int
    frames: int
    samples_per_frame: int
    bitrate_kbps: int  # of the first frame (every frame of a CBR stream)

    @property
    def samples(self) -> int:
        """Samples per channel the frames decode to, delays and padding included."""
        return self.frames * self.samples_per_frame


def _header(data: bytes, pos: int) -> tuple[int, int, int, int, int, str] | None:
    """(frame length, sample rate, channels, samples per frame, kbps, version) of a Layer III header at pos."""
    if pos + 4 > len(data) or data[pos] != 0xFF or (data[pos + 1] & 0xE0) != 0xE0:
        return None
    b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
    version, layer, rate_index, kbps_index = (b1 >> 3) & 3, (b1 >> 1) & 3, (b2 >> 2) & 3, b2 >> 4
    if version == 1 or layer != 1 or rate_index == 3 or kbps_index in (0, 15):
        return None  # reserved version, not Layer III, reserved rate, free format or a bad bitrate index
    rate = _RATES[version][rate_index]
    kbps = (_KBPS_V1 if version == 3 else _KBPS_V2)[kbps_index]
    spf = 1152 if version == 3 else 576
    length = spf // 8 * kbps * 1000 // rate + ((b2 >> 1) & 1)
    return length, rate, 1 if (b3 >> 6) == 3 else 2, spf, kbps, {3: "1", 2: "2", 0: "2.5"}[version]


def stream_info(data: bytes | bytearray | memoryview) -> StreamInfo:
    """Parse the frame headers of an MP3 stream (an ID3v2 tag before the first frame is skipped).

    :class:`codeclens.CodecError` when no Layer III frame is found, or when the first frame is not followed by
    another frame or the end of the data (bytes that only look like a frame header); TypeError for data that is
    not bytes-like."""
    data = as_bytes(data, "mp3")
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:  # ID3v2: 10-byte header, syncsafe size
        pos = 10 + ((data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F))
    first = _header(data, pos)
    if first is None or (pos + first[0] < len(data) and _header(data, pos + first[0]) is None):
        raise CodecError("mp3", f"not an MP3 stream ({len(data)} bytes): no MPEG Layer III frame header at byte "
                                f"{pos}")
    _, rate, channels, spf, kbps, version = first
    frames = 0
    while (h := _header(data, pos)) is not None:
        frames += 1
        pos += h[0]
    return StreamInfo(version, rate, channels, frames, spf, kbps)


class Mp3Codec(Codec):
    name = "mp3"
    kind = "audio"
    description = "MP3 CBR (LAME via lameenc; decoded by pedalboard)"
    params = (
        Param("bitrate", int, 128, "constant bitrate in kbps (LAME -b)", key="b", choices=BITRATES),
        Param("quality", int, 3, "LAME algorithm quality 0 (best, slowest) .. 9 (fastest)", key="q", lo=0, hi=9),
        Param("sample_rate", int, 44100, "sample rate of the PCM given to encode (Hz)", key="sr",
              choices=SAMPLE_RATES),
    )
    quality_param = "bitrate"
    quality_increasing = True

    def availability(self) -> tuple[bool, str]:
        missing = []
        for module in ("lameenc", "pedalboard", "scipy"):
            try:
                __import__(module)
            except ImportError:
                missing.append(module)
        if missing:
            return False, f"{', '.join(missing)} not installed (pip install 'codeclens[audio]')"
        return True, ""

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {name: version(name) for name in ("lameenc", "pedalboard", "scipy")}

    def check_input(self, image: np.ndarray) -> np.ndarray:
        """PCM, not an image: float32 in [-1, 1] or int16, (N,) or (N, C) with C = 1 or 2."""
        return check_pcm(image, f"{self.name}.encode", max_channels=2)

    def settings(self, shape: tuple[int, ...], **params: Any) -> dict[str, Any]:
        s = dict(self.check_params(params))
        s.update({"mode": "CBR", "channels": 1 if len(shape) == 1 else int(shape[1]),
                  "stream_sample_rate": "LAME's choice for the bitrate (stream_info)",
                  "delay_removed": f"{ENCODER_DELAY} encoder + {DECODER_DELAY} decoder samples"})
        return s

    def _encode(self, image: np.ndarray, p: dict[str, Any]) -> bytes:
        import lameenc

        pcm = to_int16(image)
        enc = lameenc.Encoder()
        enc.set_bit_rate(p["bitrate"])
        enc.set_in_sample_rate(p["sample_rate"])
        enc.set_channels(1 if pcm.ndim == 1 else pcm.shape[1])
        enc.set_quality(p["quality"])
        try:
            return bytes(enc.encode(pcm.tobytes()) + enc.flush())
        except Exception as e:  # lameenc raises RuntimeError for settings LAME refuses
            raise CodecError(self.name, f"LAME refused the input: {e}") from e

    def decode(self, data: bytes, sample_rate: int | None = None, length: int | None = None) -> np.ndarray:
        """MP3 bytes -> float32 (N,) mono or (N, C), delays removed (see the module docstring).

        ``sample_rate``: resample to this rate (default: the stream's); ``length``: samples per channel to
        return at that rate (default: all, the encoder's padding included)."""
        from pedalboard.io import AudioFile

        data = as_bytes(data, self.name)
        if sample_rate is not None and not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
            raise ValueError(f"mp3.decode: sample_rate must be a positive integer (Hz), got {sample_rate!r}")
        if length is not None and not (isinstance(length, (int, np.integer)) and length >= 0):
            raise ValueError(f"mp3.decode: length must be a non-negative integer, got {length!r}")
        info = stream_info(data)
        try:
            with AudioFile(io.BytesIO(bytes(data))) as f:
                pcm = f.read(f.frames)  # (C, frames) float32
        except (ValueError, RuntimeError, OSError) as e:
            raise CodecError(self.name, f"cannot decode MP3 data ({len(data)} bytes): {e}") from e
        pcm = pcm[:, DELAY:]
        rate = info.sample_rate
        if sample_rate is not None and sample_rate != rate:
            from scipy.signal import resample_poly

            g = gcd(int(sample_rate), rate)
            pcm = resample_poly(pcm, int(sample_rate) // g, rate // g, axis=1)
            rate = int(sample_rate)
        if length is not None:
            if pcm.shape[1] < length:
                raise CodecError(self.name, f"the stream holds {pcm.shape[1]} samples at {rate} Hz, fewer than the "
                                            f"{length} asked for (truncated data?)")
            pcm = pcm[:, :length]
        out = pcm[0] if pcm.shape[0] == 1 else pcm.T
        return np.ascontiguousarray(out, dtype=np.float32)
