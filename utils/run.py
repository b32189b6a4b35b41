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
    --num-threads T      threads per job (slurm: --cpus-per-task=T; written in the accounting line)
    --mem M              memory per job (slurm: --mem=M; ignored locally)
    --gpu G              GPUs per job (slurm: --gres=gpu:G, per node; ignored locally: the job sees the machine's)
    --tasks-per-node N   slurm: --ntasks-per-node=N, for a command that starts its tasks with srun (training)
    --config FILE        slurm: the resources of each job (default: $ECHO_SLURM_CONFIG, else conf/slurm.yaml
                         when it exists), a YAML mapping of partition, cpus, mem, gpus, time, nodes (only
                         for --tasks-per-node) and extra (more sbatch options, e.g. "--account=x");
                         see egs/TEMPLATE/conf/slurm.yaml
    --slurm-opts "..."   slurm: more sbatch options, after the config's, e.g. "--partition=gpu --time=4:00:00"
The command line's --num-threads, --mem and --gpu override the config's cpus, mem and gpus.

Slurm backend: writes the batch script <logdir>/q/<name>.sh and submits the whole array at once,
    sbatch --parsable --job-name=<name> --array=1-N[%max-jobs] --output=<logdir>/q/<name>.%a.out
           <resources> <logdir>/q/<name>.sh
then polls squeue until no task is pending, running or completing (every 0.2 s at first, backing off
to 10 s). Each array task runs `run.py --backend local JOB=$SLURM_ARRAY_TASK_ID <log> <command>` (same
python, same working directory, the submitting shell's environment), so the job itself writes its log,
framed exactly as locally; logs must live on a file system the nodes share. Logs are removed before
submission and read back at the end: a log without its "# Ended" line (the job was cancelled, killed at
its time limit, lost with its node) counts as failed, and Slurm's state for it (scontrol, else sacct)
is printed beside the path of q/<name>.<job>.out, where Slurm wrote what it had to say.
SIGINT, SIGTERM or SIGHUP to run.py cancels the array (scancel) and waits until it has left the queue.
A SIGKILL cannot be caught: the array then runs on (`scancel --name=<name>` stops it).
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
    mem: str | None = None       # None: not given (the Slurm config's value, if any, holds)
    num_threads: int | None = None
    gpu: int | None = None
    tasks_per_node: int | None = None
    config: str | None = None
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
               "num_threads": None, "gpu": None, "tasks_per_node": None, "config": None}
    names = {"max-jobs": "max_jobs", "max-jobs-run": "max_jobs", "backend": "backend",
             "slurm-opts": "slurm_opts", "mem": "mem", "num-threads": "num_threads", "gpu": "gpu",
             "tasks-per-node": "tasks_per_node", "config": "config"}
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
        if key in ("max_jobs", "num_threads", "gpu", "tasks_per_node"):
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
                    f"threads={spec.num_threads or 1}\n# Ended (code {code}) at {now()}\n")
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


SLURM_KEYS = {"partition": "--partition={}", "cpus": "--cpus-per-task={}", "mem": "--mem={}",
              "gpus": "--gres=gpu:{}", "time": "--time={}", "nodes": "--nodes={}", "extra": None}


def slurm_config(spec: Spec) -> dict:
    """The resources of conf/slurm.yaml (or --config, or $ECHO_SLURM_CONFIG); {} when there is none."""
    path = spec.config or os.environ.get("ECHO_SLURM_CONFIG") or ""
    if not path:
        if not Path("conf/slurm.yaml").is_file():
            return {}
        path = "conf/slurm.yaml"
    import yaml     # only here: the local backend runs under any python3
    try:
        conf = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        print(f"{PROG}: cannot read the Slurm config {path}: {e}", file=sys.stderr)
        sys.exit(1)
    unknown = sorted(set(conf) - set(SLURM_KEYS)) if isinstance(conf, dict) else ["(not a mapping)"]
    if unknown:
        print(f"{PROG}: {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(SLURM_KEYS)}",
              file=sys.stderr)
        sys.exit(1)
    return conf


def sbatch_resources(spec: Spec) -> list[str]:
    """sbatch options: the config's, overridden by --num-threads, --mem, --gpu; then --slurm-opts."""
    conf = {k: v for k, v in slurm_config(spec).items() if v not in (None, "")}
    for key, value in (("cpus", spec.num_threads), ("mem", spec.mem), ("gpus", spec.gpu)):
        if value is not None:
            conf[key] = value
    if not spec.tasks_per_node:
        conf.pop("nodes", None)         # the nodes of a job of several tasks (training), not of each job
    options = [SLURM_KEYS[k].format(conf[k]) for k in SLURM_KEYS if k != "extra" and k in conf
               and not (k in ("cpus", "gpus") and str(conf[k]) == "0")]
    if spec.tasks_per_node:
        options.append(f"--ntasks-per-node={spec.tasks_per_node}")
    extra = conf.get("extra", [])
    options += shlex.split(extra) if isinstance(extra, str) else [str(e) for e in extra]
    return options + shlex.split(spec.slurm_opts)


def slurm_command(*args: str, check=True, optional=False) -> subprocess.CompletedProcess:
    """Run a Slurm client; exit with its message when it fails and `check`, or is missing and not `optional`."""
    try:
        return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=check)
    except FileNotFoundError:
        if optional:
            return subprocess.CompletedProcess(args, 127, "", f"{args[0]}: not found")
        print(f"{PROG}: --backend slurm needs {args[0]} on PATH", file=sys.stderr)
        sys.exit(1)
    except subprocess.CalledProcessError as e:
        print(f"{PROG}: {' '.join(args)} failed (exit {e.returncode}): {e.stderr.strip()}", file=sys.stderr)
        sys.exit(1)


class SlurmRunner:
    """Submits the jobs of a Spec as one Slurm job array, waits for it, reads the codes back from the logs.

    Each array task runs `run.py --backend local JOB=$SLURM_ARRAY_TASK_ID <log> <command>` (same python,
    working directory and environment), so the job itself writes its framed log, as locally."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.job_id: str | None = None
        self.squeue_failed = False
        template = Path(spec.log)
        name = template.name
        if spec.var:
            name = name.replace(f".{spec.var}", "").replace(spec.var, "")
        self.name = name.removesuffix(".log") or "job"
        self.qdir = template.parent / "q"

    def write_script(self) -> Path:
        spec = self.spec
        words = [shlex.quote(w) for w in (sys.executable, str(Path(__file__).resolve()), "--backend", "local",
                                          "--num-threads", str(spec.num_threads or 1))]
        if spec.var:
            words.append(f'"{spec.var}=${{SLURM_ARRAY_TASK_ID:?not run as a Slurm array task}}"')
        words += [shlex.quote(w) for w in [spec.log] + spec.args]
        script = self.qdir / f"{self.name}.sh"
        script.write_text("#!/usr/bin/env bash\n"
                          f"# Written by utils/run.py: {len(spec.jobs)} job(s), logs {spec.log}\n"
                          f"cd {shlex.quote(os.getcwd())}\n"
                          f"exec {' '.join(words)}\n")
        script.chmod(0o755)
        return script

    def sbatch_args(self, script: Path) -> list[str]:
        spec = self.spec
        args = ["sbatch", "--parsable", f"--job-name={self.name}"]
        if spec.var:
            limit = f"%{spec.max_jobs}" if spec.max_jobs and spec.max_jobs < len(spec.jobs) else ""
            args += [f"--array={spec.first}-{spec.last}{limit}", f"--output={self.qdir}/{self.name}.%a.out"]
        else:
            args += [f"--output={self.qdir}/{self.name}.out"]
        return args + sbatch_resources(spec) + [str(script)]

    def submit(self):
        self.qdir.mkdir(parents=True, exist_ok=True)
        for job in self.spec.jobs:
            self.spec.log_path(job).unlink(missing_ok=True)
        out = slurm_command(*self.sbatch_args(self.write_script())).stdout.strip()
        match = re.search(r"(\d+)(;\S+)?\s*$", out)
        if not match:
            print(f"{PROG}: sbatch printed no job id: {out!r}", file=sys.stderr)
            sys.exit(1)
        self.job_id = match.group(1)

    def queued(self) -> bool:
        """Whether a task of the array is pending, running or completing (when squeue fails: yes)."""
        r = slurm_command("squeue", "-h", "-j", self.job_id, "-o", "%i", check=False)
        if r.returncode != 0 and "Invalid job id" not in r.stderr:
            if not self.squeue_failed:      # slurmctld busy or restarting: say so once, and keep waiting
                print(f"{PROG}: squeue failed ({r.stderr.strip()}); still waiting for Slurm job {self.job_id}",
                      file=sys.stderr)
                self.squeue_failed = True
            return True
        return r.returncode == 0 and bool(r.stdout.strip())

    def wait(self, timeout: float | None = None) -> bool:
        """Poll squeue until the array has left the queue: every 0.2 s at first, every 10 s at most."""
        delay, deadline = 0.2, None if timeout is None else time.monotonic() + timeout
        while self.queued():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 1.5, 10.0)
        return True

    def cancel(self):
        if self.job_id is None:
            return
        slurm_command("scancel", self.job_id, check=False)
        if not self.wait(timeout=60):
            print(f"{PROG}: Slurm job {self.job_id} is still in the queue 60 s after scancel", file=sys.stderr)

    def slurm_states(self) -> dict[int, tuple[str, int]]:
        """Slurm's word on each task: {job: (state, code)}, from scontrol, else sacct ({} if neither knows)."""
        states = {}
        r = slurm_command("scontrol", "-o", "show", "job", self.job_id, check=False, optional=True)
        for line in r.stdout.splitlines() if r.returncode == 0 else []:
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            for task in task_ids(fields.get("ArrayTaskId", str(self.spec.first))):
                if "JobState" in fields:
                    states[task] = (fields["JobState"], exit_code(fields.get("ExitCode", "1:0")))
        if states:
            return states
        r = slurm_command("sacct", "-n", "-P", "-X", "-j", self.job_id, "-o", "JobID,State,ExitCode", check=False,
                          optional=True)
        for line in r.stdout.splitlines() if r.returncode == 0 else []:
            job_id, state, code = (line.split("|") + ["", ""])[:3]
            tasks = job_id.partition("_")[2].strip("[]") if "_" in job_id else str(self.spec.first)
            for task in task_ids(tasks):
                states[task] = (state.split()[0] if state else "UNKNOWN", exit_code(code))
        return states

    def codes(self) -> tuple[dict[int, int], dict[int, str]]:
        """Each job's code from its log's "# Ended" line, and notes on failed jobs from Slurm's state: a job
        without that line failed (cancelled before it started, lost with its node, ...); one that got
        SIGTERM may have been cancelled or reached its time limit."""
        codes: dict[int, int | None] = {}
        for job in self.spec.jobs:
            log = self.spec.log_path(job)
            found = ENDED.findall(log.read_text(encoding="utf-8", errors="replace")) if log.is_file() else []
            codes[job] = int(found[-1]) if found else None
        failed = [job for job, code in codes.items() if code != 0]
        states = self.slurm_states() if failed else {}
        notes = {}
        for job in failed:
            state, code = states.get(job, ("UNKNOWN", 1))
            task = f"{self.job_id}_{job}" if self.spec.var else self.job_id
            out = self.qdir / (f"{self.name}.{job}.out" if self.spec.var else f"{self.name}.out")
            if codes[job] is None:
                codes[job] = code or 1
                notes[job] = (f"{PROG}: job {job} (Slurm job {task}) ended {state} without finishing its log; "
                              f"Slurm's output is in {out}")
            elif state not in ("FAILED", "COMPLETED", "UNKNOWN"):
                notes[job] = f"{PROG}: job {job} (Slurm job {task}) ended {state}; Slurm's output is in {out}"
        return codes, notes

    def run(self) -> tuple[dict[int, int], dict[int, str]]:
        self.submit()
        try:
            self.wait()
        except BaseException:
            self.cancel()
            raise
        return self.codes()


def task_ids(text: str) -> list[int]:
    """The array tasks of Slurm's "3", "2-4", "2-4%1" or "1,3-5" (pending tasks share one record)."""
    tasks = []
    for part in text.partition("%")[0].split(","):
        first, _, last = part.partition("-")
        if first.isdigit() and (last.isdigit() or not last):
            tasks += range(int(first), int(last or first) + 1)
    return tasks


def exit_code(slurm_code: str) -> int:
    """Slurm's "code:signal" as a shell would say it (128 + signal when killed)."""
    code, _, sig = slurm_code.partition(":")
    return 128 + int(sig) if sig.isdigit() and int(sig) else int(code) if code.isdigit() else 1


def report(spec: Spec, codes: dict[int, int], notes: dict[int, str] | None = None) -> int:
    """0 when every job succeeded; else the count, the first failing log's tail (and Slurm's word), 1."""
    failed = [job for job in spec.jobs if codes[job] != 0]
    if not failed:
        return 0
    log = spec.log_path(failed[0])
    print(f"{PROG}: {len(failed)}/{len(spec.jobs)} jobs failed, log is in {log}", file=sys.stderr)
    if log.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
        print("\n".join(tail), file=sys.stderr)
    elif not (notes and failed[0] in notes):
        print(f"{PROG}: the job wrote no log; see {Path(spec.log).parent / 'q'} for Slurm's output",
              file=sys.stderr)
    for job in failed:
        if notes and job in notes:
            print(notes[job], file=sys.stderr)
    return 1


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    spec = parse_args(argv)
    # SIGINT too: a shell starts a background job with SIGINT ignored, and Python then keeps it ignored; the
    # runner's contract is that SIGINT, SIGTERM and SIGHUP all stop its jobs.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_sigterm)
    notes: dict[int, str] = {}
    try:
        if spec.backend == "slurm":
            codes, notes = SlurmRunner(spec).run()
        else:
            codes = LocalRunner(spec).run()
    except KeyboardInterrupt:
        what = "the Slurm array was cancelled" if spec.backend == "slurm" else "running jobs were killed"
        print(f"{PROG}: interrupted; {what}", file=sys.stderr)
        return 130
    return report(spec, codes, notes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
