"""Audio: the mp3 codec (LAME round trip aligned with the input, CBR rates, errors), the synthetic guitar-effects
set, the IDMT-SMT-Audio-Effects folder reader and the log-mel features of Friedland et al.'s audio experiment."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lameenc")
pytest.importorskip("pedalboard")

from codeclens import CodecError
from codeclens.audio import check_pcm, to_int16
from codeclens.audio.idmt import idmt_items, read_wav
from codeclens.audio.mel import MEL, hz_to_mel, log_mel, mel_filterbank, mel_to_hz
from codeclens.audio.synth import EFFECTS, synthetic_clip, synthetic_set
from codeclens.codecs import codec_info, codec_names, get_codec
from codeclens.codecs.mp3 import BITRATES, DELAY, stream_info
from codeclens.measures import kbps, relative_bitrate

SR = 44100
N = 2 * SR  # IDMT's clips: 2 s


@pytest.fixture(scope="module")
def note() -> np.ndarray:
    """A synthetic plucked note (2 s, 44.1 kHz, float32) with a click at 0.5 s: something to align on."""
    x = synthetic_clip(EFFECTS.index("NoFX"), 0).copy()
    x[SR // 2] = 0.95
    return x


def lag(decoded: np.ndarray, original: np.ndarray, search: int = 40) -> int:
    """The shift (samples) that best lines ``decoded`` up with ``original`` (cross-correlation)."""
    core = slice(search, len(original) - search)
    return max(range(-search, search + 1), key=lambda s: float(np.dot(decoded[core.start + s:core.stop + s],
                                                                       original[core])))


@pytest.mark.parametrize("bitrate", [8, 16, 32, 64, 128, 320])
def test_mp3_round_trip_is_aligned_and_at_the_target_rate(bitrate, note):
    mp3 = get_codec("mp3")
    data = mp3.encode(note, bitrate=bitrate)
    info = stream_info(data)
    assert info.bitrate_kbps == bitrate and info.channels == 1
    assert info.sample_rate == {8: 8000, 16: 16000, 32: 22050}.get(bitrate, 44100)  # LAME lowers the rate
    decoded = mp3.decode(data, sample_rate=SR, length=N)
    assert decoded.shape == (N,) and decoded.dtype == np.float32
    assert abs(lag(decoded, note)) <= 2  # delays removed: sample for sample
    rate = kbps(mp3.stream_size(data), N, SR)
    assert abs(rate / bitrate - 1) <= 0.10  # CBR: within 10 % (2 s: the delay and padding frames add up to 8 %)
    assert relative_bitrate(len(data), N) == pytest.approx(rate / 705.6)
    if bitrate >= 64:  # full band kept: the waveform comes back
        snr = 10 * np.log10(np.sum(note**2) / np.sum((decoded - note) ** 2))
        assert snr > {64: 8, 128: 10, 320: 20}[bitrate]


def test_mp3_decode_defaults_stereo_and_int16(note):
    mp3 = get_codec("mp3")
    data = mp3.encode(note, bitrate=32)
    raw = mp3.decode(data)  # the stream's rate, delays removed, the encoder's padding kept
    info = stream_info(data)
    assert raw.shape == (info.samples - DELAY,) and info.sample_rate == 22050
    assert raw.shape[0] >= N * 22050 // SR
    assert mp3.encode(to_int16(note), bitrate=32) == data  # float is converted to the same 16 bits
    stereo = np.stack([note, -note], axis=1)
    back = mp3.decode(mp3.encode(stereo, bitrate=128), sample_rate=SR, length=N)
    assert back.shape == (N, 2) and abs(lag(back[:, 0], note)) <= 2
    assert np.corrcoef(back[:, 0], -back[:, 1])[0, 1] > 0.95
    s = mp3.settings(stereo.shape, bitrate=128)
    assert s["mode"] == "CBR" and s["channels"] == 2 and s["bitrate"] == 128 and s["quality"] == 3


def test_mp3_in_the_registry():
    info = codec_info()["mp3"]
    assert info["kind"] == "audio" and info["available"] and set(info["versions"]) == {"lameenc", "pedalboard",
                                                                                        "scipy"}
    assert codec_names("audio") == ["mp3"] and "mp3" not in codec_names("image")
    assert get_codec("mp3").quality_of({"bitrate": 64}) == 64.0
    with pytest.raises(ValueError, match="kind: expected one of"):
        codec_names("video")


def test_mp3_errors_say_what_was_wrong(note, samples):
    mp3 = get_codec("mp3")
    data = mp3.encode(note, bitrate=64)
    for bad in (b"", b"\x00\x01 not an mp3 stream" * 20, np.random.default_rng(0).bytes(3000), b"RIFF" + data[4:]):
        with pytest.raises(CodecError, match=r"^mp3: not an MP3 stream") as info:
            mp3.decode(bad)
        assert isinstance(info.value, ValueError)
    with pytest.raises(CodecError, match=r"mp3: the stream holds \d+ samples at 44100 Hz, fewer than the 88200"):
        mp3.decode(data[: len(data) // 2], sample_rate=SR, length=N)  # truncated
    with pytest.raises(ValueError, match="sample_rate must be a positive integer"):
        mp3.decode(data, sample_rate=0)
    with pytest.raises(TypeError, match=r"mp3.encode: expected PCM samples of dtype float32 .* got uint8"):
        mp3.encode(np.zeros((32, 32, 3), np.uint8))  # an image is not PCM
    with pytest.raises(ValueError, match=r"expected at most 2 channels, got 3"):
        mp3.encode(np.zeros((100, 3), np.float32))
    with pytest.raises(ValueError, match="expected finite samples"):
        mp3.encode(np.full(100, np.nan, np.float32))
    with pytest.raises(ValueError, match=r"mp3: bitrate must be one of \[8, 16"):
        mp3.encode(note, bitrate=100)
    assert 100 not in BITRATES


def test_study_grids_refuse_an_audio_codec():
    from codeclens.study.grid import expand_block, make_setting, parse_block

    with pytest.raises(ValueError, match=r"codec 'mp3' is an audio codec; study grids encode photos"):
        make_setting("mp3", {"bitrate": 128})
    with pytest.raises(ValueError, match="audio codec"):
        expand_block(parse_block("codec=mp3 bitrate=128"))


def test_pcm_conventions():
    assert check_pcm(np.zeros(4, np.float64)).dtype == np.float32
    assert to_int16(np.array([1.5, -1.5, 0.5], np.float32)).tolist() == [32767, -32767, 16384]
    with pytest.raises(TypeError, match="expected a numpy array"):
        check_pcm([0.0, 0.1])
    with pytest.raises(ValueError, match=r"expected PCM of shape \(N,\) or \(N, channels\)"):
        check_pcm(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="at least one sample"):
        check_pcm(np.zeros(0, np.int16))


def test_synthetic_set_is_deterministic_and_balanced():
    a, b = synthetic_set(2), synthetic_set(2)
    assert len(a) == 24 and [it.label for it in a] == [lab for lab in range(12) for _ in range(2)]
    assert all(np.array_equal(x.source, y.source) for x, y in zip(a, b))
    assert all(x.source.shape == (N,) and x.source.dtype == np.float32 for x in a)
    assert all(np.abs(x.source).max() == pytest.approx(0.9, abs=1e-6) for x in a)
    assert np.array_equal(a[5].source, synthetic_clip(2, 1))  # clip (label 2, index 1), whatever the set size
    assert not np.array_equal(synthetic_set(2, seed=1)[0].source, a[0].source)
    assert a[0].name == "Chorus/00000" and a[0].load() is a[0].source
    # the effect changes the note: every class differs from the dry note drawn from the same generator state
    dry = synthetic_clip(EFFECTS.index("NoFX"), 0)
    assert all(not np.allclose(synthetic_clip(EFFECTS.index(e), 0), dry) for e in EFFECTS if e != "NoFX")
    with pytest.raises(ValueError, match="at least 1 clip per class"):
        synthetic_set(0)


def test_mel_features():
    assert MEL.frames(N) == 173  # 2 s at 44.1 kHz, hop 512: the paper's input is 96 x 173
    assert hz_to_mel(1000.0) == pytest.approx(15.0) and hz_to_mel(500.0) == pytest.approx(7.5)
    f = np.array([50.0, 999.0, 1000.0, 4000.0, 22050.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f)
    fb = mel_filterbank(SR)
    assert fb.shape == (96, 1025) and (fb >= 0).all()
    freqs = np.linspace(0, SR / 2, 1025)
    area = fb.sum(axis=1) * (freqs[1] - freqs[0])  # Slaney normalisation: every filter has unit area in Hz
    np.testing.assert_allclose(area[5:], 1.0, rtol=0.05)
    t = np.arange(N) / SR
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    m = log_mel(tone, SR)
    assert tuple(m.shape) == (96, 173)
    centres = freqs[np.argmax(fb, axis=1)]
    assert abs(centres[int(m[:, 80].argmax())] - 1000) < 60  # the tone lands in the band around 1 kHz
    both = log_mel([tone, to_int16(tone)], SR)
    assert tuple(both.shape) == (2, 96, 173)
    loud = both[0] > -40  # above the 16-bit quantisation noise
    assert float((both[0] - both[1])[loud].abs().max()) < 0.05  # int16 is read at full scale 32768
    assert float(log_mel(np.zeros(N, np.float32), SR).max()) == pytest.approx(-100.0)  # floor: 1e-10
    assert float(m.min()) == pytest.approx(float(m.max()) - 80.0)  # top_db 80
    with pytest.raises(ValueError, match="clips of equal length"):
        log_mel([tone, tone[:-1]], SR)


def write_wav(path, pcm: np.ndarray, rate: int) -> None:
    from pedalboard.io import AudioFile

    path.parent.mkdir(parents=True, exist_ok=True)
    with AudioFile(str(path), "w", rate, pcm.shape[0], bit_depth=16) as f:
        f.write(pcm)


def idmt_folder(root, per_class: int = 2, seconds: float = 0.25):
    """A tiny folder in IDMT-SMT-Audio-Effects' layout (16-bit mono WAV, 44.1 kHz)."""
    base = root / "Gitarre monophon" / "Samples"
    for label, effect in enumerate(EFFECTS):
        for i in range(per_class):
            x = synthetic_clip(label, i, seconds=seconds)
            write_wav(base / effect / f"G61-{label:02d}{i:03d}-1111-{i}.wav", x[None, :], SR)
    (root / "Bass monophon" / "Samples" / "Chorus").mkdir(parents=True)  # the bass part is not used
    return root


def test_idmt_reader(tmp_path):
    root = idmt_folder(tmp_path / "IDMT")
    items = idmt_items(root)
    assert len(items) == 24 and [it.label for it in items] == [lab for lab in range(12) for _ in range(2)]
    assert items[0].name == "Chorus/G61-00000-1111-0"
    x = items[3].load()
    assert x.dtype == np.float32 and x.shape == (int(0.25 * SR),)
    np.testing.assert_allclose(x, synthetic_clip(1, 1, seconds=0.25), atol=3 / 32768)  # 16-bit WAV
    assert len(idmt_items(root / "Gitarre monophon" / "Samples")) == 24
    write_wav(tmp_path / "stereo48k.wav", np.stack([x, 0.5 * x]), 48000)
    y = read_wav(tmp_path / "stereo48k.wav", SR)  # channels averaged, resampled to 44.1 kHz
    assert y.ndim == 1 and abs(len(y) - len(x) * SR / 48000) <= 1
    with pytest.raises(FileNotFoundError, match="does not exist"):
        idmt_items(tmp_path / "nowhere")
    (tmp_path / "partial" / "Chorus").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"expected the 12 effect folders .* missing \['Distortion'"):
        idmt_items(tmp_path / "partial")
    with pytest.raises(ValueError, match="cannot read audio file"):
        (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEjunk")
        read_wav(tmp_path / "bad.wav")


def test_audio_measures():
    assert kbps(16000, 44100, 44100) == pytest.approx(128.0)
    assert relative_bitrate(2 * N, N) == 1.0 and relative_bitrate(4 * N, N, channels=2) == 1.0
