"""echo.features.audio: wav.scp entries (files, pipes, segments) to float32 mono at the target rate."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from echo.features.audio import AudioError, load_audio

FSDD = Path(__file__).resolve().parents[2] / "shared/data/fsdd"


def sine(freq, seconds, rate, amp=0.5):
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def fsdd_file(name="0_jackson_0.wav") -> Path:
    path = FSDD / "recordings" / name
    if not path.is_file():
        pytest.skip(f"FSDD not found at {FSDD}")
    return path


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"),
                                         ("FLAC", "PCM_16"), ("OGG", "VORBIS")])
def test_formats_and_rates_resample_to_16k(tmp_path, rate, fmt, subtype):
    ext = {"WAV": "wav", "FLAC": "flac", "OGG": "ogg"}[fmt]
    path = tmp_path / f"tone.{ext}"
    sf.write(path, sine(440, 1.0, rate), rate, format=fmt, subtype=subtype)
    wave = load_audio(str(path), 16000)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert len(wave) == 16000
    # The resampled tone matches a tone made at 16 kHz (lossy Vorbis a little less closely).
    ref = sine(440, 1.0, 16000)
    core = slice(800, -800)   # resampler edges
    tol = 0.05 if fmt == "OGG" else 0.01
    assert np.sqrt(np.mean((wave[core] - ref[core]) ** 2)) < tol


def test_fsdd_8k_file_is_upsampled(tmp_path):
    path = fsdd_file()
    raw, rate = sf.read(path, dtype="float32")
    assert rate == 8000
    wave = load_audio(str(path), 16000)
    assert len(wave) == 2 * len(raw)
    # Same signal energy after resampling (a bad resampler or int16 scaling would change it).
    assert np.mean(wave ** 2) == pytest.approx(np.mean(raw ** 2), rel=0.05)
    # At the native rate nothing is resampled: the samples are the file's.
    assert np.array_equal(load_audio(str(path), 8000), raw)


def test_channel_selection(tmp_path):
    path = tmp_path / "stereo.wav"
    left, right = sine(300, 0.5, 16000), sine(500, 0.5, 16000, amp=0.25)
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    assert np.array_equal(load_audio(str(path), 16000, channel=0), left)
    assert np.array_equal(load_audio(str(path), 16000, channel=1), right)
    with pytest.raises(AudioError, match="utt u1.*channel 2 requested but the audio has 2"):
        load_audio(str(path), 16000, channel=2, utt_id="u1")


def test_segments(tmp_path):
    path = tmp_path / "reco.wav"
    x = np.random.default_rng(0).uniform(-0.5, 0.5, 16000 * 2).astype(np.float32)
    sf.write(path, x, 16000, subtype="FLOAT")
    assert np.array_equal(load_audio(str(path), 16000, 0.5, 1.25), x[8000:20000])
    assert np.array_equal(load_audio(str(path), 16000, 1.5, -1), x[24000:])      # Kaldi: -1 = to the end
    assert np.array_equal(load_audio(str(path), 16000, 1.5, None), x[24000:])
    # Ending within one frame (25 ms) past the end is the end of the file; further is an error.
    assert np.array_equal(load_audio(str(path), 16000, 1.5, 2.02), x[24000:])
    with pytest.raises(AudioError, match=r"utt seg1 .*segment end 2\.5 s is beyond the file end \(2\.000 s\)"):
        load_audio(str(path), 16000, 1.0, 2.5, utt_id="seg1")
    with pytest.raises(AudioError, match="utt seg2 .*segment start 3.0 s is beyond the file end"):
        load_audio(str(path), 16000, 3.0, 4.0, utt_id="seg2")
    with pytest.raises(AudioError, match="utt seg3 .*segment end 0.5 s is not after start 1.0 s"):
        load_audio(str(path), 16000, 1.0, 0.5, utt_id="seg3")


def test_segment_of_8k_file_is_cut_then_resampled():
    path = fsdd_file()
    raw, _ = sf.read(path, dtype="float32")
    wave = load_audio(str(path), 16000, 0.1, 0.4)
    assert len(wave) == 2 * len(raw[800:3200])


def test_pipe_entry_equals_file():
    path = fsdd_file()
    assert np.array_equal(load_audio(f"cat {path} |", 16000), load_audio(str(path), 16000))
    # segments apply to pipes too
    assert np.array_equal(load_audio(f"cat {path} |", 16000, 0.1, 0.3), load_audio(str(path), 16000, 0.1, 0.3))


def test_failing_pipe_names_utt_and_stderr(tmp_path):
    with pytest.raises(AudioError, match=r"utt bad1 .*exited with status 3.*something went wrong"):
        load_audio("echo 'something went wrong' >&2; exit 3 |", 16000, utt_id="bad1")
    # pipefail: a failing first command is not hidden by a succeeding last one
    with pytest.raises(AudioError, match="utt bad2 .*exited with status 1"):
        load_audio(f"cat {tmp_path}/missing.wav | cat |", 16000, utt_id="bad2")
    with pytest.raises(AudioError, match="utt bad3 .*wrote no audio"):
        load_audio("true |", 16000, utt_id="bad3")
    with pytest.raises(AudioError, match="utt bad4 .*cannot read audio"):
        load_audio("echo not a wav file |", 16000, utt_id="bad4")


def test_bad_files_name_utt_and_reason(tmp_path):
    with pytest.raises(AudioError, match="utt m1 .*missing.wav.*cannot read audio"):
        load_audio(str(tmp_path / "missing.wav"), 16000, utt_id="m1")

    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + np.random.default_rng(0).bytes(2000))
    with pytest.raises(AudioError, match="utt c1 .*corrupt.wav.*cannot read audio"):
        load_audio(str(corrupt), 16000, utt_id="c1")

    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=r"utt e1 .*empty.wav.*audio is empty \(0 samples\)"):
        load_audio(str(empty), 16000, utt_id="e1")

    nan = tmp_path / "nan.wav"
    x = sine(200, 0.5, 16000)
    x[100], x[200] = np.nan, np.inf
    sf.write(nan, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="utt n1 .*nan.wav.*2 NaN/Inf samples"):
        load_audio(str(nan), 16000, utt_id="n1")


@pytest.mark.parametrize("pipe", [False, True])
def test_truncated_wav_names_both_sizes(tmp_path, pipe):
    """A WAV cut short (a copy that died half-way) is an error, not a shorter utterance."""
    full = tmp_path / "full.wav"
    sf.write(full, sine(200, 1.0, 16000), 16000, subtype="PCM_16")
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:44 + 2 * 7000])   # header + 7000 of 16000 samples
    entry = f"cat {cut} |" if pipe else str(cut)
    with pytest.raises(AudioError, match=r"utt t1 .*cut.wav.*truncated audio: the header promises 16000 samples "
                                         r"but the file holds 7000"):
        load_audio(entry, 16000, utt_id="t1")
    assert len(load_audio(str(full), 16000)) == 16000   # a whole file reads as before
