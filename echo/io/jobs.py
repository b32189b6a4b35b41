"""Split -> run -> merge: the one protocol of a stage's parallel jobs (echo.bin.dump_feats, echo.bin.decode).

    with claim(out_dir):                                   # the master: one run per output dir at a time
        nj, part = split_for_jobs(data_dir, nj)            # data_dir/split<nj>utt/<JOB>, JOB = 1..nj
        run_jobs(runner, nj, out_dir / "log/x.JOB.log", [python, -m, worker, --data, part, ...])
        missing = unfinished(work_dir, nj)                 # each job marks done.<JOB> as its very last act
        ... merge ...

    with job_lock(out_dir):                                # a worker, while it writes into out_dir
        ...; mark_done(work_dir, job)

The runner is any run.pl-style command line (utils/run.py, with --backend slurm or not). Locks are
flock(2) locks on files in out_dir, released by the kernel when their holder dies however it dies:
- `.lock`, exclusive, held by the master: a second run on the same output dir is refused at once;
- `.jobs.lock`, shared, held by each worker: a new master refuses to start while jobs of an earlier run
  (killed while its jobs were left running) still write there, instead of tripping over their files.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import subprocess
import sys
from pathlib import Path

from echo.io import atomic

REPO_ROOT = Path(__file__).resolve().parents[2]


class JobsFailed(RuntimeError):
    """Some jobs of a stage failed; the message names their logs."""


def default_runner() -> list[str]:
    """utils/run.py of this checkout, run by this Python."""
    return [sys.executable, str(REPO_ROOT / "utils" / "run.py")]


def _lock(path: Path, mode: int) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def claim(out_dir, what: str = "this stage"):
    """The master's hold on out_dir for the whole run; clears temporaries that killed writers left."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = _lock(out_dir / ".lock", fcntl.LOCK_EX)
    if fd is None:
        raise JobsFailed(f"{out_dir}: another run of {what} is writing here (it holds {out_dir / '.lock'}); "
                         "wait for it to end or stop it")
    try:
        probe = _lock(out_dir / ".jobs.lock", fcntl.LOCK_EX)
        if probe is None:
            raise JobsFailed(f"{out_dir}: jobs of an earlier run of {what} are still writing here (they hold "
                             f"{out_dir / '.jobs.lock'}: `fuser {out_dir / '.jobs.lock'}` lists them); "
                             "stop them, then run again")
        os.close(probe)
        atomic.remove_stale_temporaries(out_dir, recursive=True)
        yield out_dir
    finally:
        os.close(fd)


@contextlib.contextmanager
def job_lock(out_dir):
    """Held by a worker while it writes into out_dir (shared: the jobs of one run hold it together)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_dir / ".jobs.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def split_for_jobs(data_dir, nj: int) -> tuple[int, str]:
    """Split data_dir per utterance into min(nj, utterances) parts; returns (nj, part path with JOB)."""
    from echo.data.datadir import read_kv, split_data

    data_dir = Path(data_dir)
    index = next((data_dir / n for n in ("feats.scp", "segments", "wav.scp") if (data_dir / n).is_file()), None)
    if index is None:
        raise JobsFailed(f"{data_dir}: neither feats.scp, segments nor wav.scp")
    nj = max(1, min(nj, len(read_kv(index))))
    parts = split_data(data_dir, nj, per_utt=True)
    return nj, str(parts[0].parent / "JOB")


def run_jobs(runner, nj: int, log_pattern, argv: list[str], what: str) -> None:
    """Run argv as jobs JOB=1..nj through the run.pl-style `runner` (a command line, a list, or None for
    utils/run.py); each job's output goes to log_pattern with JOB replaced. Raises JobsFailed."""
    cmd = shlex.split(runner) if isinstance(runner, str) else list(runner or default_runner())
    cmd += [f"JOB=1:{nj}", str(log_pattern)] + [str(a) for a in argv]
    if subprocess.run(cmd, stdin=subprocess.DEVNULL).returncode != 0:
        raise JobsFailed(f"{what}: some of the {nj} jobs failed; see {str(log_pattern).replace('JOB', '*')}")


def mark_done(work_dir, job: int) -> None:
    """A job's last act: its outputs in work_dir are complete."""
    atomic.write_text(Path(work_dir) / f"done.{job}", "")


def clear_done(work_dir, job: int) -> None:
    (Path(work_dir) / f"done.{job}").unlink(missing_ok=True)


def unfinished(work_dir, nj: int) -> list[int]:
    """The jobs of 1..nj that did not mark themselves done in work_dir."""
    return [j for j in range(1, nj + 1) if not (Path(work_dir) / f"done.{j}").is_file()]
