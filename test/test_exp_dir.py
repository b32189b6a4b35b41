"""The experiment dir's contract (echo.io.assets, echo.bin.train): training refuses to mix the assets of two
runs, a finished run is left untouched, an incomplete dump or a broken checkpoint is one clear line."""
import os
from pathlib import Path

import pytest

from echo.bin import compute_cmvn, train
from echo.text.tokenizer import build_token_list
from test_train import WORDS, make_dump, make_tokens, one_thread, run_args, write_config  # noqa: F401

ONE_EPOCH = dict(max_epoch=1, log_interval=100, keep_nbest=1, nbest_average=1)


@pytest.fixture
def trained(tmp_path, one_thread):
    """A finished 1-epoch experiment exp/t over a dump whose cmvn.npz came from compute_cmvn."""
    data = make_dump(tmp_path / "dump" / "train")
    compute_cmvn.main(["--dump", str(data)])
    make_tokens(tmp_path / "tok")
    conf = write_config(tmp_path / "train.yaml", train=ONE_EPOCH)
    args = run_args(tmp_path, conf, data, data)
    train.main(args)
    return tmp_path, args


def mtimes(d: Path) -> dict:
    return {str(p.relative_to(d)): p.stat().st_mtime_ns for p in sorted(d.rglob("*"))}


def test_rerun_of_a_finished_experiment_touches_nothing(trained, capsys):
    tmp_path, args = trained
    exp = tmp_path / "exp" / "t"
    before = mtimes(exp)
    capsys.readouterr()
    model = train.main(args)
    assert "is already trained" in capsys.readouterr().err
    assert model is not None and not model.training
    assert mtimes(exp) == before


def test_changed_token_list_is_refused_and_the_copies_stay(trained):
    tmp_path, args = trained
    exp = tmp_path / "exp" / "t"
    kept = (exp / "token_list" / "tokens.txt").read_bytes()
    before = mtimes(exp)
    build_token_list([" ".join(reversed(WORDS)) + " gee"], "word", tmp_path / "tok")   # stage 2 on new text
    with pytest.raises(SystemExit) as e:
        train.main(args)
    message = str(e.value.code)
    assert "the token list" in message and str(tmp_path / "tok" / "tokens.txt") in message
    assert "--tag" in message and "--force" in message
    assert (exp / "token_list" / "tokens.txt").read_bytes() == kept
    assert mtimes(exp) == before
    # --force discards the experiment and trains again with the new tokens
    train.main(args + ["--force"])
    assert (exp / "token_list" / "tokens.txt").read_bytes() != kept


def test_changed_training_data_is_refused(trained):
    tmp_path, args = trained
    data = make_dump(tmp_path / "dump" / "train", n_utts=10, seed=5)   # stage 1 again, on other data
    compute_cmvn.main(["--dump", str(data)])
    with pytest.raises(SystemExit, match="the training data .*feats.scp.* differs"):
        train.main(args)


def test_cmvn_of_an_earlier_dump_is_refused(tmp_path):
    data = make_dump(tmp_path / "dump" / "train")
    compute_cmvn.main(["--dump", str(data)])
    old = (data / "cmvn.npz").read_bytes()
    make_dump(data, n_utts=10, seed=5)        # stage 1 again on other data, stopped before compute_cmvn ...
    (data / "cmvn.npz").write_bytes(old)      # ... with the statistics of the first run still there
    make_tokens(tmp_path / "tok")
    conf = write_config(tmp_path / "train.yaml", train=ONE_EPOCH)
    with pytest.raises(SystemExit, match="cmvn.npz was computed from another .*feats.scp"):
        train.main(run_args(tmp_path, conf, data, data))
    assert not (tmp_path / "exp" / "t").exists()


def test_compute_cmvn_removes_old_statistics_before_it_can_fail(tmp_path):
    data = make_dump(tmp_path / "dump" / "train")
    (data / "feats.scp").write_text("utt1 /nonexistent.ark:12\n")
    with pytest.raises(Exception):
        compute_cmvn.main(["--dump", str(data)])
    assert not (data / "cmvn.npz").exists()


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_broken_checkpoint_is_one_line_naming_the_file(trained, damage):
    tmp_path, args = trained
    ckpt = tmp_path / "exp" / "t" / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
    with pytest.raises(SystemExit) as e:
        train.main(args + ["--train.max_epoch", "2"])
    message = str(e.value.code)
    assert "\n" not in message and str(ckpt) in message
    assert ("empty file (0 bytes)" if damage == "empty" else "truncated") in message
    assert "another --tag" in message and "restore it" in message


def test_atomic_writes_have_usual_permissions(tmp_path):
    from echo.features.cmvn import CMVN
    from echo.features.config import FeatureConfig
    import numpy as np

    old = os.umask(0o022)
    try:
        CMVN(np.zeros(3), np.ones(3), 5).save(tmp_path / "cmvn.npz")
        FeatureConfig().to_yaml(tmp_path / "conf" / "feats.yaml")
    finally:
        os.umask(old)
    for p in (tmp_path / "cmvn.npz", tmp_path / "conf" / "feats.yaml"):
        assert p.stat().st_mode & 0o777 == 0o644, p
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cmvn.npz", "conf", "feats.yaml"]


def test_temporaries_of_a_killed_writer_are_cleared(trained, tmp_path):
    _, args = trained
    exp = tmp_path / "exp" / "t"
    stale = exp / ".checkpoint.pt.k3j2l1.tmp"   # what a SIGKILL during save_checkpoint leaves
    stale.write_bytes(b"half a checkpoint")
    train.main(args + ["--train.max_epoch", "2"])
    assert not stale.exists() and not list(exp.glob(".*.tmp"))


def test_decoding_and_plotting_never_import_the_trainer():
    """Decoding a model needs the model, not the training code (whisper keeps load_model by the model)."""
    root = Path(__file__).resolve().parents[1] / "echo"
    for package in ("decode", "plot", "io", "model", "features", "data", "score", "text"):
        for path in (root / package).rglob("*.py"):
            for line in path.read_text(encoding="utf-8").splitlines():
                words = line.split()
                if words[:1] in (["import"], ["from"]) and len(words) > 1:
                    assert not words[1].startswith(("echo.train", "echo.bin")), f"{path}: {line.strip()}"
