#!/usr/bin/env python3
"""Run a command as parallel jobs with one log each: Kaldi's run.pl (and slurm.pl) in Python.

Usage:
    utils/run.py [options] JOB=1:N log/dir/name.JOB.log command args with JOB ...
    utils/run.py [options] log/dir/name.log command args ...          (one job)

Every "JOB" in the log path and in the arguments becomes the job number (any variable name works:
FOO=2:5 replaces FOO). The command runs under `bash -c`, stdin from /dev/null, stdout and stderr
into the log, which is framed like run.pl's:

    # <command>
    # Started at <date>
    #
    <output>
    # Accounting: time=<seconds> threads=<n>
    # Ended (code <exit status>) at <date>

The arguments are shell-quoted one by one, except words that are shell operators (|, >, 2>&1, &&,
;, ...), so `utils/run.py log/x.log prog ark:- \\| sort \\> out` pipes and redirects; a command given
as ONE argument runs as it is: `utils/run.py log/x.log "prog | sort > out"`.

On failure prints "run.py: k/N jobs failed, log is in <first failing log>" and that log's last 20
lines, and exits 1. Jobs stay in run.py's process group, so whatever kills the stage's group (Ctrl-C, a
scheduler, `kill -9 -PGID`) kills its jobs too; SIGINT, SIGTERM or SIGHUP to run.py alone kills every
running job with all its descendants, and run.py waits for them before it exits.

Options:
    --max-jobs N         at most N jobs at a time (default: all N); --max-jobs-run is the same
    --backend B          local (default) or slurm
    --slurm-opts "..."   extra sbatch options, e.g. "--partition=gpu --time=4:00:00 --account=x"
    --mem M              memory per job (slurm: --mem=M; ignored locally)
    --num-threads T      threads per job (slurm: --cpus-per-task=T; written in the accounting line)
    --gpu G              GPUs per job (slurm: --gres=gpu:G; ignored locally: the job sees the machine's)

Slurm backend: writes the batch script <logdir>/q/<name>.sh and submits the whole array at once,
    sbatch --wait --array=1-N[%max-jobs] --job-name=<name> --output=<logdir>/q/<name>.%a.out
           [--mem=M] [--cpus-per-task=T] [--gres=gpu:G] <slurm-opts> <logdir>/q/<name>.sh
Each array task runs `run.py --backend local JOB=$SLURM_ARRAY_TASK_ID <log> <command>` (same
python, same working directory, the submitting shell's environment), so logs are framed exactly as
locally and must live on a file system the nodes share. Logs are removed before submission, then
read back after `sbatch --wait` returns: a log without its "# Ended (code 0)" line counts as failed
(see q/<name>.<job>.out for what Slurm said, e.g. a time limit).
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

PROG = "run.py"
SHELL_OPERATOR = re.compile(r"\|\|?|\|&|&&?|;;?|\(|\)|[0-9]*(>>?|<|>&|<&|>\|)[^\s'\"]*|&>>?[^\s'\"]*")
ENDED = re.compile(r"^# Ended \(code (-?\d+)\)", re.M)


@dataclass
class Spec:
    """A parsed command line."""
    var: str | None            # "JOB", or None for a single job without JOB=
    first: int
    last: int
    log: str                   # log path template, with the variable
    args: list[str]            # command template
    max_jobs: int | None = None
    backend: str = "local"
    slurm_opts: str = ""
    mem: str | None = None
    num_threads: int = 1
    gpu: int = 0
    jobs: list[int] = field(init=False)

    def __post_init__(self):
        self.jobs = list(range(self.first, self.last + 1))

    def substitute(self, text: str, job: int) -> str:
        return text.replace(self.var, str(job)) if self.var else text

    def log_path(self, job: int) -> Path:
        return Path(self.substitute(self.log, job))

    def command(self, job: int) -> str:
        return build_command([self.substitute(a, job) for a in self.args])


def build_command(args: list[str]) -> str:
    """The bash command line for args: one argument as it is, else each quoted but operators."""
    if len(args) == 1:
        return args[0]
    return " ".join(a if SHELL_OPERATOR.fullmatch(a) else shlex.quote(a) for a in args)


def usage_error(message: str):
    print(f"{PROG}: {message}\nUsage: utils/run.py [options] [JOB=1:N] LOG COMMAND ... "
          f"(utils/run.py --help for more)", file=sys.stderr)
    sys.exit(2)


def parse_args(argv: list[str]) -> Spec:
    """Options and the JOB=a:b range may come in any order before the log (as in run.pl)."""
    options = {"max_jobs": None, "backend": "local", "slurm_opts": "", "mem": None,
               "num_threads": 1, "gpu": 0}
    names = {"max-jobs": "max_jobs", "max-jobs-run": "max_jobs", "backend": "backend",
             "slurm-opts": "slurm_opts", "mem": "mem", "num-threads": "num_threads", "gpu": "gpu"}
    var, first, last = None, 1, 1
    i = 0
    while i < len(argv):
        arg = argv[i]
        job_range = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(\d+)(?::(\d+))?", arg)
        if job_range and var is None:
            var, first = job_range.group(1), int(job_range.group(2))
            last = int(job_range.group(3)) if job_range.group(3) is not None else first
            if last < first:
                usage_error(f"empty job range {arg}")
            i += 1
            continue
        if not arg.startswith("--"):
            break
        if arg in ("--help", "-h"):
            print(__doc__)
            sys.exit(0)
        name, eq, value = arg[2:].partition("=")
        key = names.get(name.replace("_", "-"))
        if key is None:
            usage_error(f"unknown option {arg}")
        if not eq:
            if i + 1 >= len(argv):
                usage_error(f"option {arg} needs a value")
            value = argv[i + 1]
            i += 1
        i += 1
        if key in ("max_jobs", "num_threads", "gpu"):
            if not re.fullmatch(r"[0-9]+", value) or (key != "gpu" and int(value) < 1):
                usage_error(f"--{name} needs a positive integer, got '{value}'")
            value = int(value)
        options[key] = value
    if options["backend"] not in ("local", "slurm"):
        usage_error(f"--backend must be local or slurm, got '{options['backend']}'")
    rest = argv[i:]
    if len(rest) < 2:
        usage_error("needs a log file and a command")
    if var and last > first and var not in rest[0]:
        usage_error(f"{last - first + 1} jobs would share the log {rest[0]}: put {var} in its name")
    return Spec(var, first, last, rest[0], rest[1:], **options)


def now() -> str:
    return time.strftime("%a %b %d %H:%M:%S %Z %Y")


def descendants(pid: int) -> list[int]:
    """Every living descendant of pid (children first), read from /proc; [] where there is no /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class LocalRunner:
    """Runs the jobs of a Spec in parallel threads, each a `bash -c` in run.py's own process group (a
    job in a session of its own would outlive a SIGKILL to the stage and go on writing its outputs)."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.running: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        self.stopping = False

    def run_job(self, job: int) -> int:
        spec, log = self.spec, self.spec.log_path(job)
        command = spec.command(job)
        with self.lock:
            if self.stopping:
                return 130
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "w", encoding="utf-8") as f:
                f.write("# " + command.replace("\n", "\n# ") + f"\n# Started at {now()}\n#\n")
            start = time.monotonic()
            with open(log, "ab") as out:
                proc = subprocess.Popen(["bash", "-c", command], stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=subprocess.STDOUT)
            self.running.add(proc)
        code = proc.wait()
        with self.lock:
            self.running.discard(proc)
        code = 128 - code if code < 0 else code     # killed by signal s: 128 + s, as bash says
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"# Accounting: time={round(time.monotonic() - start)} "
                    f"threads={spec.num_threads}\n# Ended (code {code}) at {now()}\n")
        return code

    def kill_all(self, sig: int):
        with self.lock:
            self.stopping = True
            for proc in self.running:
                for pid in [proc.pid] + descendants(proc.pid):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass

    def run(self) -> dict[int, int]:
        workers = min(self.spec.max_jobs or len(self.spec.jobs), len(self.spec.jobs))
        pool = ThreadPoolExecutor(max_workers=workers)
        futures = {job: pool.submit(self.run_job, job) for job in self.spec.jobs}
        try:
            pending = set(futures.values())
            while pending:      # short timed waits keep the main thread responsive to signals
                _, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            return {job: future.result() for job, future in futures.items()}
        except BaseException:
            self.kill_all(signal.SIGTERM)
            _, pending = wait(futures.values(), timeout=5)
            if pending:
                self.kill_all(signal.SIGKILL)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def run_slurm(spec: Spec) -> dict[int, int]:
    """Submit the jobs as one Slurm array with sbatch --wait; the codes read back from the logs."""
    template = Path(spec.log)
    name = template.name
    if spec.var:
        name = name.replace(f".{spec.var}", "").replace(spec.var, "")
    name = name.removesuffix(".log") or "job"
    qdir = template.parent / "q"
    qdir.mkdir(parents=True, exist_ok=True)
    for job in spec.jobs:
        spec.log_path(job).unlink(missing_ok=True)
    words = [shlex.quote(w) for w in (sys.executable, str(Path(__file__).resolve()),
                                      "--backend", "local", "--num-threads", str(spec.num_threads))]
    if spec.var:
        words.append(f'"{spec.var}=${{SLURM_ARRAY_TASK_ID:?not run as a Slurm array task}}"')
    words += [shlex.quote(w) for w in [spec.log] + spec.args]
    script = qdir / f"{name}.sh"
    script.write_text("#!/usr/bin/env bash\n"
                      f"# Written by utils/run.py: {len(spec.jobs)} job(s), logs {spec.log}\n"
                      f"cd {shlex.quote(os.getcwd())}\n"
                      f"exec {' '.join(words)}\n")
    script.chmod(0o755)
    sbatch = ["sbatch", "--wait", f"--job-name={name}"]
    if spec.var:
        limit = f"%{spec.max_jobs}" if spec.max_jobs and spec.max_jobs < len(spec.jobs) else ""
        sbatch += [f"--array={spec.first}-{spec.last}{limit}", f"--output={qdir}/{name}.%a.out"]
    else:
        sbatch += [f"--output={qdir}/{name}.out"]
    if spec.mem:
        sbatch.append(f"--mem={spec.mem}")
    if spec.num_threads > 1:
        sbatch.append(f"--cpus-per-task={spec.num_threads}")
    if spec.gpu:
        sbatch.append(f"--gres=gpu:{spec.gpu}")
    sbatch += shlex.split(spec.slurm_opts) + [str(script)]
    try:
        submitted = subprocess.run(sbatch, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        print(f"{PROG}: --backend slurm needs sbatch on PATH", file=sys.stderr)
        sys.exit(1)
    codes = {}
    for job in spec.jobs:
        log = spec.log_path(job)
        found = ENDED.findall(log.read_text(encoding="utf-8", errors="replace")) if log.is_file() else []
        codes[job] = int(found[-1]) if found else (submitted.returncode or 1)
    return codes


def report(spec: Spec, codes: dict[int, int]) -> int:
    failed = [job for job in spec.jobs if codes[job] != 0]
    if not failed:
        return 0
    log = spec.log_path(failed[0])
    print(f"{PROG}: {len(failed)}/{len(spec.jobs)} jobs failed, log is in {log}", file=sys.stderr)
    if log.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
        print("\n".join(tail), file=sys.stderr)
    else:
        print(f"{PROG}: the job wrote no log; see {Path(spec.log).parent / 'q'} for Slurm's output",
              file=sys.stderr)
    return 1


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    spec = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_sigterm)
    try:
        codes = run_slurm(spec) if spec.backend == "slurm" else LocalRunner(spec).run()
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; running jobs were killed", file=sys.stderr)
        return 130
    return report(spec, codes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
