"""The real IDMT-SMT-Audio-Effects data set, read from its folders (not downloadable here: give its path).

Layout (as distributed): ``<root>/Gitarre monophon/Samples/<Effect>/*.wav`` with the 12 effect folders of
:data:`codeclens.audio.synth.EFFECTS` (Chorus, Distortion, EQ, FeedbackDelay, Flanger, NoFX, Overdrive, Phaser,
Reverb, SlapbackDelay, Tremolo, Vibrato). :func:`idmt_items` accepts the data set's root (the monophonic guitar
part is used, as in Friedland et al.), its ``Samples`` folder, or any folder holding the 12 effect folders
(names matched without regard to case); WAV files are searched recursively below each effect folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .synth import EFFECTS, AudioItem

CANDIDATES = (".", "Samples", "Gitarre monophon/Samples")


def read_wav(path: str | Path, sample_rate: int = 44100) -> np.ndarray:
    """float32 mono samples of an audio file at ``sample_rate`` (pedalboard's reader; channels averaged;
    resampled with scipy's zero-phase ``resample_poly`` when the file's rate differs, as the mp3 codec does).
    ValueError naming the file when it cannot be read."""
    from math import gcd

    from pedalboard.io import AudioFile

    try:
        with AudioFile(str(path)) as f:
            pcm, rate = f.read(f.frames).mean(axis=0), int(f.samplerate)
    except (ValueError, RuntimeError, OSError) as e:
        raise ValueError(f"cannot read audio file {path}: {e}") from e
    if rate != sample_rate:
        from scipy.signal import resample_poly

        g = gcd(rate, sample_rate)
        pcm = resample_poly(pcm, sample_rate // g, rate // g)
    return np.ascontiguousarray(pcm, dtype=np.float32)


def _effect_dirs(folder: Path) -> dict[str, Path]:
    names = {p.name.lower(): p for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else {}
    return {e: names[e.lower()] for e in EFFECTS if e.lower() in names}


def idmt_items(root: str | Path) -> list[AudioItem]:
    """Every WAV file of the 12 effect folders, labelled by the effect's index in EFFECTS, sorted by path.

    FileNotFoundError when ``root`` does not exist; ValueError naming what is missing when no candidate folder
    (``root``, ``root/Samples``, ``root/Gitarre monophon/Samples``) holds all 12 effect folders with WAV files."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"IDMT-SMT-Audio-Effects folder {root} does not exist")
    best: dict[str, Path] = {}
    for sub in CANDIDATES:
        dirs = _effect_dirs(root / sub)
        if len(dirs) == len(EFFECTS):
            best = dirs
            break
        best = dirs if len(dirs) > len(best) else best
    missing = [e for e in EFFECTS if e not in best]
    if missing:
        raise ValueError(f"{root}: expected the 12 effect folders of IDMT-SMT-Audio-Effects ({', '.join(EFFECTS)}) "
                         f"in it, in Samples/ or in 'Gitarre monophon/Samples/'; missing {missing}")
    items = []
    for label, effect in enumerate(EFFECTS):
        files = sorted(p for p in best[effect].rglob("*") if p.is_file() and p.suffix.lower() == ".wav")
        if not files:
            raise ValueError(f"{best[effect]}: no .wav files")
        items += [AudioItem(p, label, f"{effect}/{p.relative_to(best[effect]).with_suffix('')}") for p in files]
    return items
