"""A real Slurm under the job runner and the trainer: tools/slurm/start.sh starts one on 127.0.0.1.

The module starts it once (and stops it at the end when it started it). Where it cannot (not root, no
apt-get or no package, daemons that fail) every test here is skipped with start.sh's reason; the
fake-sbatch tests of test_run_py.py run everywhere. OMP_NUM_THREADS=1 throughout: CI has 2 cores.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from test_ddp import digest, two_rank_run
from test_recipes import make_sandbox, run as run_recipe

ROOT = Path(__file__).resolve().parents[1]
RUN = str(ROOT / "utils" / "run.py")
SLURM_DIR = Path(os.environ.get("ECHO_SLURM_DIR", "/var/spool/echo-slurm"))
TEMPLATE_CONF = ROOT / "egs" / "TEMPLATE" / "conf" / "slurm.yaml"


@pytest.fixture(scope="module")
def slurm(request):
    """A running single-node Slurm; the environment of this module's subprocesses points at it."""
    start = time.monotonic()
    try:
        r = subprocess.run([str(ROOT / "tools" / "slurm" / "start.sh")], capture_output=True, text=True,
                           timeout=600)
    except subprocess.TimeoutExpired:
        pytest.skip("tools/slurm/start.sh did not finish in 600 s")
    if r.returncode != 0:
        pytest.skip(f"no Slurm here: tools/slurm/start.sh failed: {(r.stdout + r.stderr).strip()[-1500:]}")
    # In the CI log: how long it took to install and start Slurm
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\ntest_slurm: {r.stdout.strip().splitlines()[-1]} [{time.monotonic() - start:.1f} s]")
    patch = pytest.MonkeyPatch()
    patch.setenv("SLURM_CONF", str(SLURM_DIR / "slurm.conf"))
    patch.setenv("OMP_NUM_THREADS", "1")
    patch.setenv("PYTHONPATH", str(ROOT))
    patch.delenv("ECHO_SLURM_CONFIG", raising=False)
    yield
    patch.undo()
    if "Slurm started" in r.stdout:
        subprocess.run([str(ROOT / "tools" / "slurm" / "stop.sh")], capture_output=True, timeout=120)


def run(*args, cwd, timeout=120):
    return subprocess.run([RUN, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def queued(name: str) -> list[str]:
    """The jobs named `name` that are pending, running or completing."""
    r = subprocess.run(["squeue", "-h", "--name", name, "-o", "%i %T"], capture_output=True, text=True, check=True)
    return r.stdout.split("\n")[:-1]


def wait_for(condition, what: str, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_start_is_quick_when_running_and_both_scripts_need_root(slurm, tmp_path):
    t = time.monotonic()
    r = subprocess.run([str(ROOT / "tools" / "slurm" / "start.sh")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Slurm was running: node localhost idle" in r.stdout, r.stdout + r.stderr
    assert time.monotonic() - t < 10
    (tmp_path / "id").write_text("#!/bin/sh\necho 1000\n")       # what `id -u` says to a user
    (tmp_path / "id").chmod(0o755)
    for script in ("start.sh", "stop.sh"):
        r = subprocess.run([str(ROOT / "tools" / "slurm" / script)], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
        assert r.returncode == 1 and f"{script}: error: needs root" in r.stderr, r.stderr


# ---------------------------------------------------------------- the job runner

def test_failing_array_tasks_are_counted_and_named(slurm, tmp_path):
    # task 2 fails with a message and code 7; task 3 kills the run.py that frames its log (as a node loss
    # would): it never writes its "# Ended" line, and Slurm's state says what happened
    cmd = "echo task JOB on $(hostname); [ JOB -ne 2 ] || { echo 'bad utterance u2' >&2; exit 7; }; " \
          "[ JOB -ne 3 ] || kill -9 $PPID"
    r = run("--backend", "slurm", "--config", TEMPLATE_CONF, "JOB=1:3", "log/fail.JOB.log", cmd, cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0] == "run.py: 2/3 jobs failed, log is in log/fail.2.log"
    assert "bad utterance u2" in lines and any(line.startswith("# Ended (code 7)") for line in lines)
    assert re.fullmatch(r"run\.py: job 3 \(Slurm job \d+_3\) ended FAILED without finishing its log; "
                        r"Slurm's output is in log/q/fail\.3\.out", lines[-1]), lines[-1]
    assert "# Ended (code 0)" in (tmp_path / "log" / "fail.1.log").read_text()
    assert "task 1 on" in (tmp_path / "log" / "fail.1.log").read_text()
    # what sbatch refuses is an error that names the option
    r = run("--backend", "slurm", "--slurm-opts", "--partition=nosuch", "JOB=1:2", "log/p.JOB.log", "true",
            cwd=tmp_path)
    assert r.returncode == 1 and "--partition=nosuch" in r.stderr and "invalid partition" in r.stderr.lower()


def test_cancelled_array_is_reported_failed(slurm, tmp_path):
    proc = subprocess.Popen([RUN, "--backend", "slurm", "--max-jobs", "1", "JOB=1:3", "log/cancel.JOB.log",
                             "echo started; sleep 60"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    log1 = tmp_path / "log" / "cancel.1.log"
    wait_for(lambda: log1.is_file() and "started" in log1.read_text(), "task 1 to start")
    job_id = queued("cancel")[0].split("_")[0]
    subprocess.run(["scancel", job_id], check=True)              # by hand, from outside: run.py must notice
    assert proc.wait(timeout=60) == 1
    err = proc.stderr.read().splitlines()
    assert err[0] == "run.py: 3/3 jobs failed, log is in log/cancel.1.log"
    assert "# Ended (code 143)" in log1.read_text()                 # task 1 got SIGTERM and framed its log
    assert err[-3:] == [
        f"run.py: job 1 (Slurm job {job_id}_1) ended CANCELLED; Slurm's output is in log/q/cancel.1.out",
        *(f"run.py: job {j} (Slurm job {job_id}_{j}) ended CANCELLED without finishing its log; "
          f"Slurm's output is in log/q/cancel.{j}.out" for j in (2, 3))]                 # never started


def test_sigint_cancels_the_array(slurm, tmp_path):
    proc = subprocess.Popen([RUN, "--backend", "slurm", "--max-jobs", "1", "JOB=1:3", "log/intr.JOB.log",
                             "echo started; sleep 60"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    log1 = tmp_path / "log" / "intr.1.log"
    wait_for(lambda: log1.is_file() and "started" in log1.read_text(), "task 1 to start")
    assert len(queued("intr")) == 2                                 # task 1 running, tasks 2-3 pending
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=180) == 130   # scancel, then up to 60 s for the queue to empty (once >90 s under load)
    assert "interrupted; the Slurm array was cancelled" in proc.stderr.read()
    assert queued("intr") == []                                     # run.py returned once the queue was empty
    assert "# Ended (code 143)" in log1.read_text()
    assert not (tmp_path / "log" / "intr.2.log").exists()


# ---------------------------------------------------------------- training

def test_two_srun_tasks_train_the_weights_of_torchrun(slurm, tmp_path):
    """The DDP run of test_ddp.py, once under torchrun here and once as 2 srun tasks: the same weights."""
    local, remote = tmp_path / "torchrun", tmp_path / "srun"
    torchrun = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                                 "2", *two_rank_run(local)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
    r = run("--backend", "slurm", "--tasks-per-node", 2, "log/train.log", "srun", sys.executable,
            *two_rank_run(remote), cwd=tmp_path, timeout=180)
    assert torchrun.wait(timeout=180) == 0, torchrun.stderr.read()[-3000:]
    assert r.returncode == 0, r.stderr
    log = (tmp_path / "log" / "train.log").read_text()
    assert log.startswith("# srun ") and "2 process(es)" in (remote / "exp" / "t" / "train.log").read_text()
    weights = (local / "rank0.txt").read_text()
    assert (remote / "rank0.txt").read_text() == (remote / "rank1.txt").read_text() == weights
    ck = torch.load(remote / "exp" / "t" / "checkpoint.pt", weights_only=True)
    assert digest(ck["model"]) == weights and ck["world_size"] == 2


# ---------------------------------------------------------------- the recipe, through Slurm and locally
# The Slurm and the local run of a stage go side by side (in two sandboxes, or two experiment dirs), so
# that one's waits on Slurm and on python's start-up overlap the other's work.

SIZES = "--num-train 8 --num-dev 3 --num-test 4"
SLURM_ENV = {"ECHO_CMD_BACKEND": "slurm", "ECHO_SLURM_CONFIG": str(TEMPLATE_CONF)}
LOCAL_ENV = {"ECHO_CMD_BACKEND": "local"}


def start_recipe(d: Path, *args, env) -> subprocess.Popen:
    return subprocess.Popen(["./run.sh", *args], cwd=d, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"{' '.join(proc.args)} failed:\n{out[-4000:]}"
    return out


@pytest.fixture(scope="module")
def recipe(slurm, tmp_path_factory):
    """synth_digits' data (stage 0) in two sandboxes; features with 2 jobs (stage 1) locally in the first
    (then its token list, stage 2), through Slurm in the second."""
    local = make_sandbox(tmp_path_factory.mktemp("local"), "synth_digits")
    run_recipe(local, "--stop-stage", "0", "--local-data-opts", SIZES)
    remote = tmp_path_factory.mktemp("slurm") / "synth_digits"
    shutil.copytree(local, remote, symlinks=True)
    procs = [start_recipe(local, "--stage", "1", "--stop-stage", "2", "--nj", "2", env=LOCAL_ENV),
             start_recipe(remote, "--stage", "1", "--stop-stage", "1", "--nj", "2", env=SLURM_ENV)]
    return local, remote, [finish(p) for p in procs]


@pytest.fixture(scope="module")
def trained(recipe):
    """Stage 3 through Slurm: asr.sh submits the trainer as one job of one srun task and waits for it."""
    local = recipe[0]
    r = run_recipe(local, "--stage", "3", "--stop-stage", "3", "--train-args", "--train.max_epoch 1", env=SLURM_ENV)
    return local, r.stdout


def tree(d: Path) -> dict[str, bytes]:
    """Every file under d but logs, Slurm's q/ dirs and lock files, by relative path."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and not {"log", "q"} & set(p.relative_to(d).parts) and not p.name.endswith(".lock")}


def test_stage1_through_slurm_equals_local(recipe):
    local, remote, outputs = recipe
    assert "Stage 1 done" in outputs[1]
    for s in ("train", "dev", "test"):          # each set went through a Slurm array of 2 jobs
        assert sorted(p.name for p in (remote / "dump" / s / "log" / "q").iterdir()) == \
            ["dump_feats.1.out", "dump_feats.2.out", "dump_feats.sh"]
    assert not (local / "dump" / "test" / "log" / "q").exists()
    want, got = tree(local / "dump"), tree(remote / "dump")
    assert "train/cmvn.npz" in want and "test/data/feats.2.ark" in want
    assert sorted(got) == sorted(want)
    assert [f for f in want if got[f] != want[f]] == []


def test_stage3_runs_as_a_slurm_job(trained):
    d, out = trained
    exp = d / "exp" / "train"
    assert "Stage 3 done" in out
    log = (exp / "log" / "train.slurm.log").read_text()
    assert log.startswith("# srun python -m echo.bin.train --config conf/train.yaml")
    assert "# Ended (code 0)" in log
    assert "1 process(es)" in (exp / "train.log").read_text()
    assert (exp / "checkpoint.pt").is_file() and (exp / "epoch1.pt").is_file()


def test_stage4_through_slurm_equals_local(trained):
    d, _ = trained
    shutil.copytree(d / "exp" / "train", d / "exp" / "copy")        # the same model, decoded locally
    procs = [start_recipe(d, "--stage", "4", "--stop-stage", "4", "--inference-nj", "2", env=SLURM_ENV),
             start_recipe(d, "--stage", "4", "--stop-stage", "4", "--inference-nj", "2", "--tag", "copy",
                          env=LOCAL_ENV)]
    assert all("Stage 4 done" in finish(p) for p in procs)
    slurm, local = d / "exp" / "train" / "decode_test", d / "exp" / "copy" / "decode_test"
    assert sorted(p.name for p in (slurm / "log" / "q").iterdir()) == ["decode.1.out", "decode.2.out", "decode.sh"]
    assert not (local / "log" / "q").exists()
    for f in ("text", "token", "token_int", "score"):
        assert (slurm / f).read_text() == (local / f).read_text(), f
    assert len((local / "text").read_text().splitlines()) == 4
    ignore = ("model", "decode_seconds", "rtf", "elapsed_seconds", "rtf_elapsed")
    info = [{k: v for k, v in json.loads((x / "decode_info.json").read_text()).items() if k not in ignore}
            for x in (slurm, local)]
    assert info[0] == info[1] and info[0]["nj"] == 2
