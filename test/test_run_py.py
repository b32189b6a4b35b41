"""utils/run.py: Kaldi run.pl-style parallel jobs with framed per-job logs; the Slurm backend."""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = str(ROOT / "utils" / "run.py")

FRAME = re.compile(r"# (?P<cmd>.*)\n# Started at .+\n#\n(?P<out>(?:.*\n)*?)"
                   r"# Accounting: time=\d+ threads=(?P<threads>\d+)\n"
                   r"# Ended \(code (?P<code>\d+)\) at .+\n\Z")


def run(*args, cwd, env=None, timeout=60):
    return subprocess.run([RUN, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=timeout)


def frame(log: Path) -> re.Match:
    m = FRAME.match(log.read_text())
    assert m, log.read_text()
    return m


def test_four_jobs_succeed_with_framed_logs(tmp_path):
    r = run("JOB=1:4", "exp/log/hello.JOB.log", "echo", "job JOB of", "'quoted' $HOME;", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == r.stderr == ""
    for job in range(1, 5):
        m = frame(tmp_path / "exp" / "log" / f"hello.{job}.log")
        assert m["cmd"] == f"echo 'job {job} of' ''\"'\"'quoted'\"'\"' $HOME;'"
        assert m["out"] == f"job {job} of 'quoted' $HOME;\n"      # arguments arrive literally
        assert m["code"] == "0" and m["threads"] == "1"


def test_one_failing_job_of_four(tmp_path):
    script = "for i in $(seq 1 30); do echo line $i of JOB; done; [ JOB -ne 3 ] || exit 7"
    r = run("--max-jobs", 2, "JOB=1:4", "log/x.JOB.log", script, cwd=tmp_path)
    assert r.returncode == 1
    first = r.stderr.splitlines()[0]
    assert first == "run.py: 1/4 jobs failed, log is in log/x.3.log"
    tail = r.stderr.splitlines()[1:]
    assert len(tail) == 20 and tail[-1].startswith("# Ended (code 7)")
    assert tail[0] == "line 13 of 3" and "line 12 of 3" not in r.stderr
    assert frame(tmp_path / "log" / "x.3.log")["code"] == "7"
    assert frame(tmp_path / "log" / "x.4.log")["code"] == "0"    # the others still ran


def test_failure_counts_and_first_failing_log(tmp_path):
    r = run("JOB=1:5", "log/x.JOB.log", "test", "JOB", "-lt", "3", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("run.py: 3/5 jobs failed, log is in log/x.3.log\n")


def test_single_job_without_job_range(tmp_path):
    r = run("log/one.log", "python3", "-c", "print('a b'); print(1/0)", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("run.py: 1/1 jobs failed, log is in log/one.log\n")
    assert "ZeroDivisionError" in r.stderr
    m = frame(tmp_path / "log" / "one.log")
    assert m["out"].startswith("a b\n") and m["code"] == "1"


def test_pipes_and_redirections(tmp_path):
    # one argument: run as it is
    r = run("JOB=1:2", "log/p.JOB.log", "printf 'b\\na\\nJOB\\n' | sort > out.JOB.txt", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.2.txt").read_text() == "2\na\nb\n"
    # operators as separate words (Kaldi's "\|"), other words quoted
    r = run("log/q.log", "printf", "%s\\n", "x y", "z", "|", "wc", "-l", ">", "count file.txt",
            "2>&1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "count file.txt").read_text().strip() == "2"
    # a failure inside a pipeline's last command is the job's exit code
    r = run("log/f.log", "echo x | grep -q y", cwd=tmp_path)
    assert r.returncode == 1 and frame(tmp_path / "log" / "f.log")["code"] == "1"


def _max_overlap(tmp_path, n):
    spans = []
    for job in range(1, n + 1):
        start, end = map(float, (tmp_path / f"t.{job}").read_text().split())
        spans.append((start, end))
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    active = peak = 0
    for _, delta in events:
        active += delta
        peak = max(peak, active)
    return peak


@pytest.mark.parametrize("max_jobs", [1, 2])
def test_max_jobs_respected(tmp_path, max_jobs):
    # Each job records when it ran; a running job's span lies inside its process's lifetime.
    cmd = "s=$(date +%s.%N); sleep 0.4; echo $s $(date +%s.%N) > t.JOB"
    r = run("--max-jobs", max_jobs, "JOB=1:4", "log/t.JOB.log", cmd, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _max_overlap(tmp_path, 4) == max_jobs


def test_default_runs_all_jobs_at_once(tmp_path):
    # Every job waits until all four have started: this only finishes if they run together.
    cmd = ("touch started.JOB; for i in $(seq 200); do [ $(ls started.* | wc -l) -eq 4 ] && exit 0;"
           " sleep 0.05; done; exit 1")
    r = run("JOB=1:4", "log/b.JOB.log", cmd, cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_killed_job_and_usage_errors(tmp_path):
    r = run("JOB=2:3", "log/k.JOB.log", "[ JOB = 2 ] || kill -9 $$", cwd=tmp_path)
    assert r.returncode == 1 and "1/2 jobs failed, log is in log/k.3.log" in r.stderr
    assert frame(tmp_path / "log" / "k.3.log")["code"] == "137"
    assert not (tmp_path / "log" / "k.1.log").exists()
    r = run("JOB=1:2", "log/shared.log", "true", cwd=tmp_path)
    assert r.returncode == 2 and "put JOB in its name" in r.stderr
    r = run("--bogus", "1", "log/x.log", "true", cwd=tmp_path)
    assert r.returncode == 2 and "unknown option --bogus" in r.stderr
    # options may follow the range (run.pl allows it); --num-threads shows in the accounting line
    r = run("JOB=1:1", "--num-threads", 3, "log/n.JOB.log", "true", cwd=tmp_path)
    assert r.returncode == 0 and frame(tmp_path / "log" / "n.1.log")["threads"] == "3"


def test_sigterm_kills_running_jobs(tmp_path):
    proc = subprocess.Popen([RUN, "JOB=1:2", "log/s.JOB.log", "echo $$ > pid.JOB; sleep 60"],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    pids = [tmp_path / "pid.1", tmp_path / "pid.2"]
    deadline = time.monotonic() + 20
    while not all(p.exists() and p.read_text().strip() for p in pids):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 130
    assert "interrupted" in proc.stderr.read()
    for p in pids:
        pid = int(p.read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert frame(tmp_path / "log" / "s.1.log")["code"] == str(128 + signal.SIGTERM)


FAKE_SBATCH = r"""#!/usr/bin/env bash
# A stand-in for sbatch: records its arguments, prints a job id, runs every array task in turn (so
# that they have ended when the fake squeue says the queue is empty).
printf '%s\n' "$@" > "$SBATCH_RECORD"
echo 4242
array= script= out=
for a in "$@"; do
  case $a in --array=*) array=${a#--array=};; --output=*) out=${a#--output=};; --*) ;; *) script=$a;;
  esac
done
[ -n "$array" ] || exec bash "$script" > "$out" 2>&1
range=${array%\%*}
for i in $(seq "${range%-*}" "${range#*-}"); do
  SLURM_ARRAY_TASK_ID=$i bash "$script" > "${out//%a/$i}" 2>&1
done
exit 0
"""


def test_slurm_backend_with_fake_sbatch(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("squeue", "#!/bin/sh\nexit 0\n"),
                       ("scontrol", "#!/bin/sh\necho 'JobId=4243 ArrayTaskId=2 JobState=TIMEOUT ExitCode=0:15'\n")):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    record = tmp_path / "sbatch.args"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "SBATCH_RECORD": str(record)}
    work = tmp_path / "work dir"
    work.mkdir()
    stale = work / "exp" / "log" / "dec.4.log"
    stale.parent.mkdir(parents=True)
    stale.write_text("# Ended (code 0) at yesterday\n")       # must not count as a success

    r = run("--backend", "slurm", "--max-jobs", 2, "--mem", "2G", "--gpu", 1,
            "--slurm-opts", "--partition=cpu --time=1:00:00", "JOB=1:4", "exp/log/dec.JOB.log",
            "echo", "part JOB", "|", "tr", "a-z", "A-Z", ";", "[", "JOB", "-ne", "4", "]",
            cwd=work, env=env)
    script = work / "exp" / "log" / "q" / "dec.sh"
    assert record.read_text().splitlines() == [
        "--parsable", "--job-name=dec", "--array=1-4%2", "--output=exp/log/q/dec.%a.out", "--mem=2G",
        "--gres=gpu:1", "--partition=cpu", "--time=1:00:00", "exp/log/q/dec.sh"]
    assert "SLURM_ARRAY_TASK_ID" in script.read_text() and os.access(script, os.X_OK)
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == "run.py: 1/4 jobs failed, log is in exp/log/dec.4.log"
    for job in range(1, 5):
        m = frame(work / "exp" / "log" / f"dec.{job}.log")
        assert m["out"] == f"PART {job}\n" and m["code"] == ("1" if job == 4 else "0")
        assert m["cmd"] == f"echo 'part {job}' | tr a-z A-Z ; '[' {job} -ne 4 ']'"

    # one job, no array; a job that never wrote its log counts as failed
    r = run("--backend", "slurm", "log/single.log", "true", cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    assert "--array" not in record.read_text()
    assert frame(work / "log" / "single.log")["code"] == "0"
    (bindir / "sbatch").write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {record}\necho 4242\n")
    r = run("--backend", "slurm", "JOB=1:2", "log/lost.JOB.log", "true", cwd=work, env=env)
    assert r.returncode == 1 and "2/2 jobs failed" in r.stderr
    assert ("run.py: job 2 (Slurm job 4242_2) ended TIMEOUT without finishing its log; "
            "Slurm's output is in log/q/lost.2.out") in r.stderr.splitlines()
    assert "job 1 (Slurm job 4242_1) ended UNKNOWN" in r.stderr


def test_slurm_resources_from_config(tmp_path):
    """conf/slurm.yaml (or --config, or $ECHO_SLURM_CONFIG) gives the sbatch resources; options override."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("squeue", "#!/bin/sh\nexit 0\n")):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    record = tmp_path / "sbatch.args"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "SBATCH_RECORD": str(record)}
    env.pop("ECHO_SLURM_CONFIG", None)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "slurm.yaml").write_text(
        "partition: cpu\ncpus: 2\nmem: 4G\ngpus: 0\ntime: '1:00:00'\nextra: --account=asr --qos='a b'\n")
    r = run("--backend", "slurm", "--num-threads", 3, "--slurm-opts", "--time=2:00:00", "log/a.log", "true",
            cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert record.read_text().splitlines()[3:] == [
        "--partition=cpu", "--cpus-per-task=3", "--mem=4G", "--time=1:00:00", "--account=asr", "--qos=a b",
        "--time=2:00:00", "log/q/a.sh"]
    assert frame(tmp_path / "log" / "a.log")["threads"] == "3"
    other = tmp_path / "gpu.yaml"
    other.write_text("gpus: 2\nnodes: 3\nextra: [--exclusive]\n")
    r = run("--backend", "slurm", "--config", other, "--tasks-per-node", 2, "log/b.log", "true",
            cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert record.read_text().splitlines()[3:] == [
        "--gres=gpu:2", "--nodes=3", "--ntasks-per-node=2", "--exclusive", "log/q/b.sh"]
    # nodes: for a job of several tasks only, not for each job of an array
    r = run("--backend", "slurm", "JOB=1:2", "log/c.JOB.log", "true", cwd=tmp_path,
            env={**env, "ECHO_SLURM_CONFIG": str(other)})
    assert r.returncode == 0 and record.read_text().splitlines()[4:] == ["--gres=gpu:2", "--exclusive", "log/q/c.sh"]
    other.write_text("partition: cpu\nmemory: 4G\n")
    r = run("--backend", "slurm", "--config", other, "log/d.log", "true", cwd=tmp_path, env=env)
    assert r.returncode == 1 and f"{other}: unknown key(s) memory; known: partition, cpus" in r.stderr
