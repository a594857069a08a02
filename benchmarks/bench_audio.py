"""Seed 004's audio path: what one clip costs at each step of ``codeclens train friedland-audio``.

    .venv/bin/python -m pytest benchmarks/bench_audio.py --benchmark-only --benchmark-min-rounds=5

- the MP3 round trip of one 2 s clip (LAME encode, pedalboard decode, delay removal, resampling to 44.1 kHz)
  at 128 kbps (no resampling) and 8 kbps (8 kHz stream);
- one synthetic clip (Karplus-Strong pluck + a pedalboard effect);
- log-mel features of 32 clips (one batched torch STFT);
- one training step of audio model A on a batch of 16 96x173 inputs (one torch thread).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lameenc")
pytest.importorskip("pedalboard")

from codeclens.audio.mel import log_mel
from codeclens.audio.synth import EFFECTS, synthetic_clip
from codeclens.codecs import get_codec


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return synthetic_clip(EFFECTS.index("Chorus"), 0)


@pytest.mark.parametrize("bitrate", [128, 8])
@pytest.mark.benchmark(group="mp3-round-trip-2s")
def test_mp3_round_trip(benchmark, clip, bitrate):
    mp3 = get_codec("mp3")

    def run():
        return mp3.decode(mp3.encode(clip, bitrate=bitrate), sample_rate=44100, length=len(clip))

    assert benchmark(run).shape == clip.shape


@pytest.mark.benchmark(group="synthetic-clip-2s")
def test_synthetic_clip(benchmark):
    benchmark(synthetic_clip, EFFECTS.index("Reverb"), 3)


@pytest.mark.benchmark(group="log-mel-32-clips")
def test_log_mel_batch(benchmark, clip):
    clips = [clip] * 32
    assert tuple(benchmark(log_mel, clips, 44100).shape) == (32, 96, 173)


@pytest.mark.benchmark(group="audio-model-A-train-step-16")
def test_audio_model_a_train_step(benchmark):
    torch = pytest.importorskip("torch")
    from codeclens.models.friedland import audio_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = audio_model("A")
        opt = torch.optim.Adam(model.parameters())
        x, y = torch.randn(16, 1, 96, 173), torch.randint(0, 12, (16,))

        def step():
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        benchmark(step)
    finally:
        torch.set_num_threads(threads)
