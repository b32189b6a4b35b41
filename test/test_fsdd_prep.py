"""egs/fsdd/local: Kaldi data dirs from the Free Spoken Digit Dataset (the copy in ../shared/data/fsdd)."""
import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from echo.data.datadir import read_kv, read_kv_dict
from echo.data.validate import validate_data_dir

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "egs" / "fsdd"
FSDD = Path(__file__).resolve().parents[2] / "shared/data/fsdd"
needs_fsdd = pytest.mark.skipif(not (FSDD / "recordings").is_dir(), reason=f"{FSDD} absent")


def load_prepare():
    spec = importlib.util.spec_from_file_location("prepare_fsdd", RECIPE / "local" / "prepare_fsdd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


prepare = load_prepare()


def sets_of(data: Path) -> dict[str, dict[str, str]]:
    return {name: read_kv_dict(data / name / "utt2spk") for name in ("train", "dev", "test")}


@needs_fsdd
def test_upstream_split(tmp_path):
    prepare.main(["--fsdd", str(FSDD), "--data", str(tmp_path)])
    sets = sets_of(tmp_path)
    assert {name: len(u) for name, u in sets.items()} == {"train": 2400, "dev": 300, "test": 300}
    for name in sets:
        validate_data_dir(tmp_path / name, no_feats=True)
        utts = [u for u, _ in read_kv(tmp_path / name / "wav.scp")]
        assert utts == sorted(utts, key=str.encode)
    assert not set(sets["train"]) & set(sets["dev"]) and not set(sets["train"] | sets["dev"]) & set(sets["test"])
    # the test set is exactly the upstream one (utts.tsv, written from FSDD's README rule)
    with open(FSDD / "utts.tsv", newline="") as f:
        upstream_test = {str((FSDD / r["path"]).resolve()) for r in csv.DictReader(f, delimiter="\t")
                         if r["split"] == "test"}
    assert {path for _, path in read_kv(tmp_path / "test" / "wav.scp")} == upstream_test
    wav = read_kv_dict(tmp_path / "dev" / "wav.scp")
    for utt, word in read_kv(tmp_path / "dev" / "text"):
        digit, speaker, index = Path(wav[utt]).stem.split("_")
        assert word == prepare.DIGIT_WORDS[int(digit)] and 5 <= int(index) <= 9
        assert utt == f"{speaker}-{digit}-{int(index):02d}" and Path(wav[utt]).is_absolute()
    assert soundfile.info(next(iter(wav.values()))).samplerate == 8000  # original files, not resampled


@needs_fsdd
def test_speaker_split_holds_out_one_speaker(tmp_path):
    prepare.main(["--fsdd", str(FSDD), "--split", "speaker", "--heldout-speaker", "lucas", "--data", str(tmp_path)])
    sets = sets_of(tmp_path)
    assert set(sets["test"].values()) == {"lucas"} and len(sets["test"]) == 500
    assert "lucas" not in set(sets["train"].values()) | set(sets["dev"].values())
    assert len(sets["train"]) == 2250 and len(sets["dev"]) == 250
    for name in sets:
        validate_data_dir(tmp_path / name, no_feats=True)
    with pytest.raises(SystemExit, match="speakers: george jackson lucas nicolas theo yweweler"):
        prepare.main(["--fsdd", str(FSDD), "--split", "speaker", "--heldout-speaker", "nobody",
                      "--data", str(tmp_path)])


def fake_corpus(root: Path, names: list[str]) -> Path:
    (root / "recordings").mkdir(parents=True)
    for name in names:
        soundfile.write(root / "recordings" / name, np.zeros(800, np.int16), 8000)
    return root


def test_bad_file_name_is_named(tmp_path):
    corpus = fake_corpus(tmp_path / "fsdd", ["1_amy_0.wav", "1_amy_7.wav", "1_amy_12.wav", "one_amy.wav"])
    with pytest.raises(SystemExit, match="one_amy.wav: name is not"):
        prepare.main(["--fsdd", str(corpus), "--data", str(tmp_path / "data")])
    with pytest.raises(SystemExit, match="recordings not found"):
        prepare.main(["--fsdd", str(tmp_path / "nowhere"), "--data", str(tmp_path / "data")])


def test_rerun_with_another_split_leaves_nothing_stale(tmp_path):
    corpus = fake_corpus(tmp_path / "fsdd", [f"{d}_{s}_{i}.wav" for d in (3, 8) for s in ("amy", "bob")
                                             for i in (0, 6, 11)])
    data = tmp_path / "data"
    prepare.main(["--fsdd", str(corpus), "--data", str(data)])
    assert [len(read_kv(data / n / "text")) for n in ("train", "dev", "test")] == [4, 4, 4]
    (data / "test" / "feats.scp").write_text("stale\n")
    prepare.main(["--fsdd", str(corpus), "--split", "speaker", "--heldout-speaker", "amy", "--data", str(data)])
    assert not (data / "test" / "feats.scp").exists()
    assert [len(read_kv(data / n / "text")) for n in ("train", "dev", "test")] == [4, 2, 6]
    assert read_kv(data / "test" / "text")[0] == ("amy-3-00", "three")


def recipe_copy(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name in ("local", "utils", "db.sh"):
        (tmp_path / name).symlink_to(RECIPE / name)
    return tmp_path


@needs_fsdd
def test_data_sh_reads_fsdd_from_the_environment(tmp_path):
    cwd = recipe_copy(tmp_path)
    env = dict(os.environ, FSDD=str(FSDD), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    run = subprocess.run(["local/data.sh", "--split", "speaker", "--heldout-speaker", "theo"], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert set(read_kv_dict(cwd / "data" / "test" / "utt2spk").values()) == {"theo"}


def test_data_sh_without_fsdd_and_network_says_to_set_it(tmp_path):
    cwd = recipe_copy(tmp_path / "recipe")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text("#!/bin/sh\necho 'fatal: unable to access' >&2\nexit 128\n")
    (bin_dir / "git").chmod(0o755)
    env = dict(os.environ, FSDD="", PATH=f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    run = subprocess.run(["local/data.sh"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "Set FSDD" in run.stderr
    assert not (cwd / "downloads" / "free-spoken-digit-dataset").exists()
    assert not (cwd / "downloads" / "free-spoken-digit-dataset.partial").exists()
