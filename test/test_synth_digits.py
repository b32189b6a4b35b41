"""egs/synth_digits/local: the offline espeak-ng digit corpus (a few utterances only)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from echo.data.datadir import read_kv, read_kv_dict, validate_data_dir

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs" / "synth_digits"


def load_make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", RECIPE / "local" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_corpus = load_make_corpus()
SIZES = ["--num-train", "8", "--num-dev", "3", "--num-test", "5"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    data = tmp_path_factory.mktemp("synth_digits") / "data"
    make_corpus.main(SIZES + ["--seed", "5", "--nj", "2", "--data", str(data)])
    return data


def wav_bytes(data: Path, name: str) -> dict[str, bytes]:
    return {utt: Path(path).read_bytes() for utt, path in read_kv(data / name / "wav.scp")}


def test_data_dirs_are_valid_sorted_and_speaker_prefixed(corpus):
    for name, count in (("train", 8), ("dev", 3), ("test", 5)):
        d = corpus / name
        validate_data_dir(d, no_feats=True)
        utts = [u for u, _ in read_kv(d / "wav.scp")]
        assert len(utts) == count
        assert utts == sorted(utts, key=str.encode)
        for utt, spk in read_kv(d / "utt2spk"):
            assert utt.startswith(spk + "-")


def test_transcripts_are_1_to_7_lowercase_digit_words(corpus):
    for name in ("train", "dev", "test"):
        for _, text in read_kv(corpus / name / "text"):
            words = text.split()
            assert 1 <= len(words) <= 7
            assert set(words) <= set(make_corpus.WORDS) and text == text.lower()


def test_wavs_are_16k_16bit_mono_with_the_listed_duration(corpus):
    durations = read_kv_dict(corpus / "train" / "utt2dur")
    for utt, path in read_kv(corpus / "train" / "wav.scp"):
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert abs(info.duration - float(durations[utt])) < 1e-3
        assert Path(path).parent == (corpus / "wav" / "train").resolve()
        wave, _ = soundfile.read(path)
        assert 0.2 < np.abs(wave).max() < 0.95  # the drawn peak gain, no clipping


def voices_of(data: Path, name: str) -> set[str]:
    rows = (data / "local" / f"{name}.synth.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    return {dict(zip(header, r.split("\t")))["voice"].split("+")[1] for r in rows[1:]}


def test_test_voices_are_never_heard_in_training(corpus):
    assert not set(make_corpus.TRAIN_VARIANTS) & set(make_corpus.TEST_VARIANTS)
    train, dev, test = (voices_of(corpus, n) for n in ("train", "dev", "test"))
    assert train | dev <= set(make_corpus.TRAIN_VARIANTS)
    assert test <= set(make_corpus.TEST_VARIANTS)
    assert not (train | dev) & test


def test_same_seed_gives_byte_identical_audio_whatever_nj(corpus, tmp_path):
    again = tmp_path / "data"
    make_corpus.main(SIZES + ["--seed", "5", "--nj", "1", "--data", str(again)])
    for name in ("train", "dev", "test"):
        assert wav_bytes(again, name) == wav_bytes(corpus, name)
        assert (again / name / "text").read_text() == (corpus / name / "text").read_text()
        assert (again / name / "utt2spk").read_text() == (corpus / name / "utt2spk").read_text()
    other = tmp_path / "other"
    make_corpus.main(["--num-train", "3", "--num-dev", "0", "--num-test", "0", "--seed", "6", "--nj", "1",
                      "--data", str(other)])
    assert set(wav_bytes(other, "train").values()).isdisjoint(wav_bytes(corpus, "train").values())


def test_rerun_replaces_a_previous_corpus(tmp_path):
    data = tmp_path / "data"
    make_corpus.main(["--num-train", "4", "--num-dev", "0", "--num-test", "0", "--nj", "1", "--fs", "8000",
                      "--data", str(data)])
    (data / "train" / "split2").mkdir()
    make_corpus.main(["--num-train", "2", "--num-dev", "0", "--num-test", "0", "--nj", "1", "--seed", "9",
                      "--data", str(data)])
    assert len(list((data / "wav" / "train").glob("*.wav"))) == 2  # no stale audio
    assert not (data / "train" / "split2").exists()
    validate_data_dir(data / "train", no_feats=True)
    assert all(soundfile.info(p).samplerate == 16000 for _, p in read_kv(data / "train" / "wav.scp"))


@pytest.mark.skipif(not (ROOT / "utils" / "parse_options.sh").is_file(), reason="utils/parse_options.sh missing")
def test_data_sh_takes_kaldi_options(tmp_path):
    for name in ("local", "utils"):
        (tmp_path / name).symlink_to(RECIPE / name)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    run = subprocess.run(["local/data.sh", "--num-train", "2", "--num-dev", "1", "--num-test", "1", "--nj", "1",
                          "--seed", "3"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for name, count in (("train", 2), ("dev", 1), ("test", 1)):
        assert len(read_kv(tmp_path / "data" / name / "text")) == count
    bad = subprocess.run(["local/data.sh", "--no-such-option", "1"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
