"""The real recipe scripts end to end (stages 0-5) on tiny data and a tiny model.

Each recipe runs in a sandbox under tmp_path: a copy of egs/<recipe> whose shared pieces (asr.sh,
path.sh, cmd.sh, utils) link back to this repository, so data/, dump/ and exp/ never touch the
working tree.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FSDD = ROOT.parent / "shared" / "data" / "fsdd"

TINY_TRAIN = """\
model: {d_model: 32, n_heads: 2, enc_layers: 1, dec_layers: 1, ff_dim: 64, dropout: 0.0}
optim: {lr: 0.002, warmup_steps: 10}
batch: {batch_frames: 3000}
train: {max_epoch: 2, log_interval: 2, keep_nbest: 2, nbest_average: 2}
"""
TINY_DECODE = "beam_size: 2\nctc_weight: 0.3\nbatch_size: 8\n"


def make_sandbox(tmp_path: Path, recipe: str) -> Path:
    src = ROOT / "egs" / recipe
    dst = tmp_path / "egs" / recipe
    dst.mkdir(parents=True)
    for item in src.iterdir():
        if item.name in ("data", "dump", "exp", "downloads"):
            continue
        if item.is_symlink():
            (dst / item.name).symlink_to(item.resolve())
        elif item.is_dir():
            shutil.copytree(item, dst / item.name, symlinks=True)
        else:
            shutil.copy2(item, dst / item.name)
    (dst / "conf" / "train.yaml").write_text(TINY_TRAIN)
    (dst / "conf" / "decode.yaml").write_text(TINY_DECODE)
    return dst


def run(recipe_dir: Path, *args, env=None, check=True) -> subprocess.CompletedProcess:
    e = dict(os.environ, **(env or {}))
    r = subprocess.run(["./run.sh", *args], cwd=recipe_dir, capture_output=True, text=True, env=e, timeout=600)
    if check:
        assert r.returncode == 0, f"run.sh {' '.join(args)} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r


def assert_complete_run(d: Path, test_set="test"):
    for s in ("train", "dev", test_set):
        for f in ("wav.scp", "text", "utt2spk", "spk2utt"):
            assert (d / "data" / s / f).is_file(), f"data/{s}/{f}"
        for f in ("feats.scp", "f0.scp", "utt2num_frames", "feats_dim"):
            assert (d / "dump" / s / f).is_file(), f"dump/{s}/{f}"
    assert (d / "dump/train/cmvn.npz").is_file()
    assert (d / "data/token_list/word/tokens.txt").read_text().split("\n")[0] == "<blank>"
    exp = d / "exp" / "train"
    for f in ("config.yaml", "train.log", "checkpoint.pt", "run.sh", "token_list/tokens.txt", "cmvn.npz",
              "feats.yaml"):
        assert (exp / f).exists(), f"exp/train/{f}"
    assert sorted(exp.glob("epoch*.pt")), "no epoch checkpoints"
    assert sorted(exp.glob("valid.*.ave_*best.pt")), "no n-best average"
    dec = exp / f"decode_{test_set}"
    hyp = dict(line.split(" ", 1) if " " in line else (line, "") for line in (dec / "text").read_text().splitlines())
    ref = (d / "data" / test_set / "text").read_text().splitlines()
    assert len(hyp) == len(ref)
    assert not any("<sos/eos>" in h or "<blank>" in h for h in hyp.values())
    assert "Sum/Avg" in (dec / "score_wer/result.txt").read_text()
    from echo.io.packed import read_packed   # stage 5 packs the model it scored
    assert read_packed(exp / "model.echo")["model"]["checkpoint"] == sorted(exp.glob("valid.*.ave_*best.pt"))[0].name
    results = (exp / "RESULTS.md").read_text()
    assert f"|decode_{test_set}|" in results or f"|{test_set}|" in results, results


@pytest.mark.slow
def test_synth_digits_recipe_end_to_end(tmp_path):
    d = make_sandbox(tmp_path, "synth_digits")
    r = run(d, "--local-data-opts", "--num-train 30 --num-dev 6 --num-test 6")
    assert "Successfully finished" in r.stdout
    for stage in range(6):
        assert f"Stage {stage}" in r.stdout
    assert_complete_run(d)

    # The packed model of stage 5 transcribes the test set's audio into exactly stage 4's hypotheses.
    exp = d / "exp" / "train"
    import json
    import sys
    r = subprocess.run([sys.executable, "-m", "echo.bin.transcribe", "--model", str(exp / "model.echo"),
                        "data/test/wav.scp", "--format", "json"], cwd=d, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    transcribed = {rec["id"]: rec["transcript"] for rec in map(json.loads, r.stdout.splitlines())}
    decoded = dict(line.split(" ", 1) if " " in line else (line, "")
                   for line in (exp / "decode_test" / "text").read_text().splitlines())
    assert transcribed == decoded

    # --stage 4 after a finished training decodes again without retraining.
    ckpt_mtime = (exp / "checkpoint.pt").stat().st_mtime_ns
    (exp / "decode_test" / "text").unlink()
    r = run(d, "--stage", "4")
    assert "Stage 3" not in r.stdout and "Stage 4" in r.stdout
    assert (exp / "checkpoint.pt").stat().st_mtime_ns == ckpt_mtime
    assert (exp / "decode_test" / "text").is_file()

    # Re-running a finished stage is a clean redo: the same token list again.
    tokens = (d / "data/token_list/word/tokens.txt").read_text()
    run(d, "--stage", "2", "--stop-stage", "2")
    assert (d / "data/token_list/word/tokens.txt").read_text() == tokens

    # Word units and x4 subsampling leave CTC room for every utterance, repeated words included (with
    # characters and 40 ms frames a fast "three" cannot be emitted: CTC needs a blank between the e's).
    import json
    for sidecar in exp.glob("epoch*.json"):
        assert json.loads(sidecar.read_text())["ctc_infeasible"] == 0, sidecar

    # exp/<tag>/run.sh replays the experiment from the training stage.
    assert "--stage 3" in (exp / "run.sh").read_text()


def test_missing_input_names_the_stage_that_writes_it(tmp_path):
    d = make_sandbox(tmp_path, "synth_digits")
    r = run(d, "--stage", "3", check=False)
    assert r.returncode != 0
    assert "dump/train/feats.scp is missing; it is written by stage 1" in r.stdout + r.stderr


def test_unknown_option_is_an_error(tmp_path):
    d = make_sandbox(tmp_path, "synth_digits")
    r = run(d, "--no-such-option", "1", check=False)
    assert r.returncode != 0 and "no-such-option" in r.stdout + r.stderr


@pytest.mark.slow
def test_fsdd_recipe_end_to_end(tmp_path):
    if not (FSDD / "recordings").is_dir():
        pytest.skip(f"{FSDD} is absent")
    d = make_sandbox(tmp_path, "fsdd")
    env = {"FSDD": str(FSDD)}
    run(d, "--stop-stage", "0", env=env)
    # Keep CI quick: a subset of each set, made with the Kaldi tools.
    for s, n in (("train", 60), ("dev", 10), ("test", 20)):
        subprocess.run(["python3", str(ROOT / "utils/subset_data_dir.py"), "--first", str(n), f"data/{s}",
                        f"data/{s}.sub"], cwd=d, check=True, capture_output=True)
        shutil.rmtree(d / "data" / s)
        (d / "data" / f"{s}.sub").rename(d / "data" / s)
    r = run(d, "--stage", "1", env=env)
    assert "Successfully finished" in r.stdout
    assert_complete_run(d)
