"""The feature dump of a Kaldi data dir, dump/<set>/ (stage 1): its one owner.

    dump_data_dir(Path("data/train"), Path("dump/train"), FeatureConfig.from_yaml("conf/fbank.yaml"), nj=4)

Writes dump/<set>/{feats.scp, f0.scp, utt2num_frames, feats_dim, conf/feats.yaml, data/*.ark, log/}
and copies text, utt2spk, spk2utt, wav.scp, segments (those present) from the data dir.
With nj > 1 the data dir is split per utterance and nj workers (`python -m echo.bin.dump_feats
--job-part JOB`, which calls dump_part) run through the job runner (echo.io.jobs), each writing
data/{feats,f0}.JOB.{ark,scp}; the scp files are then merged in C order. Features do not depend on nj:
a worker computes each utterance exactly as nj=1 does.

Bad utterances (unreadable or truncated audio, failing pipe, bad segment, NaN/Inf, too short) are collected
across all jobs and written to dump/<set>/bad_utts ("utt reason"). By default the dump then fails listing
every one of them; with skip_bad they are dropped from the output dir and the dump succeeds.
Every output of an earlier run (cmvn.npz of a training set included) is removed first, and feats.scp
is written last: a dump dir with a feats.scp is complete, one without is not.
"""
from __future__ import annotations

import shlex
import shutil
import sys
import time
from pathlib import Path

from echo.data.datadir import fix_data_dir, read_kv, read_kv_dict, write_kv
from echo.features.config import FeatureConfig, FeatureError
from echo.features.extract import extract_features
from echo.io import atomic, jobs
from echo.io.ark import ArkScpWriter
from echo.io.utts import utterances


class DumpError(FeatureError):
    """The dump of a data dir failed as a whole (bad utterances without skip_bad, a failed job)."""


COPIED_FILES = ("text", "utt2spk", "spk2utt", "wav.scp", "segments", "spk2gender", "reco2file_and_channel")
PER_UTT_FILES = ("text", "utt2spk", "segments")   # keyed by utt (wav.scp too when there are no segments)
# Outputs of a previous run that must not survive into this one.
STALE_OUTPUTS = ("feats.scp", "f0.scp", "utt2num_frames", "utt2dur", "feats_dim", "bad_utts", "cmvn.npz") + COPIED_FILES


def dump_part(data_dir: Path, out_dir: Path, conf: FeatureConfig, job: int, write_utt2dur: bool = False) -> int:
    """Dump one part (job JOB of a split data dir) into out_dir/data/; returns the number of bad utterances
    (written to data/bad_utts.JOB). Call it holding jobs.job_lock(out_dir)."""
    part = out_dir / "data"
    part.mkdir(parents=True, exist_ok=True)
    jobs.clear_done(part, job)
    frames, durations, bad = [], [], []
    start_time, audio_s = time.time(), 0.0
    with ArkScpWriter(part / f"feats.{job}.ark", part / f"feats.{job}.scp.tmp") as feats_writer, \
            ArkScpWriter(part / f"f0.{job}.ark", part / f"f0.{job}.scp.tmp") as f0_writer:
        for utt in utterances(data_dir):
            try:
                wave = utt.load(conf.sample_rate)
                feats, f0 = extract_features(wave, conf)
            except FeatureError as e:
                reason = " ".join(str(e).split())   # one line per utt in bad_utts
                if not reason.startswith(f"utt {utt.utt_id}"):
                    reason = f"utt {utt.utt_id}" + (f" ({utt.entry.strip()})" if utt.entry else "") + f": {reason}"
                print(f"bad utterance: {reason}", flush=True)
                bad.append((utt.utt_id, reason))
                continue
            feats_writer(utt.utt_id, feats)
            f0_writer(utt.utt_id, f0)
            frames.append((utt.utt_id, str(len(feats))))
            durations.append((utt.utt_id, f"{len(wave) / conf.sample_rate:.3f}"))
            audio_s += len(wave) / conf.sample_rate
    for name in ("feats", "f0"):
        (part / f"{name}.{job}.scp.tmp").replace(part / f"{name}.{job}.scp")
    write_kv(part / f"utt2num_frames.{job}", frames)
    if write_utt2dur:
        write_kv(part / f"utt2dur.{job}", durations)
    write_kv(part / f"bad_utts.{job}", bad)
    elapsed = time.time() - start_time
    print(f"job {job}: {len(frames)} utterances ({audio_s:.1f} s of audio) in {elapsed:.1f} s, "
          f"{len(bad)} bad", flush=True)
    jobs.mark_done(part, job)
    return len(bad)


def run_jobs(data_dir: Path, out_dir: Path, conf_path: Path, nj: int, runner, max_jobs: int | None,
             write_utt2dur: bool) -> int:
    """Run the parts (in this process when nj == 1); returns the number of jobs actually used."""
    if nj <= 1 or len(utterances(data_dir)) <= 1:
        with jobs.job_lock(out_dir):
            dump_part(data_dir, out_dir, FeatureConfig.from_yaml(conf_path), 1, write_utt2dur)
        return 1
    nj, part = jobs.split_for_jobs(data_dir, nj)
    runner = runner or jobs.default_runner()
    if max_jobs:
        runner = (runner if isinstance(runner, str) else shlex.join(runner)) + f" --max-jobs {max_jobs}"
    argv = [sys.executable, "-m", "echo.bin.dump_feats", "--job-part", "JOB", "--data", part,
            "--out", str(out_dir), "--conf", str(conf_path)] + (["--write-utt2dur"] if write_utt2dur else [])
    jobs.run_jobs(runner, nj, out_dir / "log" / "dump_feats.JOB.log", argv, "dump_feats")
    return nj


def dump_data_dir(data_dir: Path, out_dir: Path, conf: FeatureConfig, nj: int = 1, runner=None,
                  max_jobs: int | None = None, skip_bad: bool = False, write_utt2dur: bool = False) -> None:
    """Dump data_dir into out_dir (see the module's docstring); DumpError when it fails as a whole."""
    try:
        with jobs.claim(out_dir, "dump_feats"):
            _dump(data_dir, out_dir, conf, nj, runner, max_jobs, skip_bad, write_utt2dur)
    except jobs.JobsFailed as e:
        raise DumpError(str(e)) from None


def _dump(data_dir: Path, out_dir: Path, conf: FeatureConfig, nj: int, runner, max_jobs: int | None,
          skip_bad: bool, write_utt2dur: bool) -> None:
    # Invalidate any previous result first: without feats.scp the dir is not complete.
    for name in STALE_OUTPUTS:
        (out_dir / name).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "data", ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    conf_path = out_dir / "conf" / "feats.yaml"
    conf.to_yaml(conf_path)

    start = time.time()
    nj = run_jobs(data_dir, out_dir, conf_path, nj, runner, max_jobs, write_utt2dur)
    missing = jobs.unfinished(out_dir / "data", nj)
    if missing:
        raise DumpError(f"jobs {missing} did not finish; see {out_dir}/log/")

    bad = merge_named(out_dir, nj, "bad_utts")
    if bad:
        write_kv(out_dir / "bad_utts", bad)
        listing = "\n".join(f"  {reason}" for _, reason in bad)
        if not merge_named(out_dir, nj, "feats.scp"):
            raise DumpError(f"every utterance of {data_dir} is bad ({len(bad)}, listed in "
                             f"{out_dir}/bad_utts):\n{listing}")
        if not skip_bad:
            raise DumpError(f"{len(bad)} bad utterance(s) in {data_dir} (listed in "
                             f"{out_dir}/bad_utts; rerun with --skip-bad true to drop them):\n{listing}")

    # Copy the data files first; with bad utterances dropped, fix_data_dir makes them consistent again
    # (spk2utt, and wav.scp recordings left without segments).
    copy_data_files(data_dir, out_dir, drop={utt for utt, _ in bad})
    if bad:
        fix_data_dir(out_dir)
    keep = set(read_kv_dict(out_dir / "utt2spk"))
    atomic.write_text(out_dir / "feats_dim", f"{conf.feats_dim}\n")
    for name in ("f0.scp", "utt2num_frames") + (("utt2dur",) if write_utt2dur else ()):
        write_kv(out_dir / name, [kv for kv in merge_named(out_dir, nj, name) if kv[0] in keep])
    feats = [kv for kv in merge_named(out_dir, nj, "feats.scp") if kv[0] in keep]
    write_kv(out_dir / "feats.scp", feats)   # last: its presence marks the dump complete
    print(f"dump_feats: {len(feats)} utterances to {out_dir} with nj={nj} in {time.time() - start:.1f} s"
          + (f"; {len(bad)} bad utterance(s) skipped, listed in {out_dir}/bad_utts" if bad else ""))


def merge_named(out_dir: Path, nj: int, name: str) -> list[tuple[str, str]]:
    """Concatenate data/<stem>.JOB<ext> over jobs (e.g. feats.scp → feats.1.scp, feats.2.scp, ...)."""
    stem, dot, ext = name.partition(".")
    items = []
    for job in range(1, nj + 1):
        items += read_kv(out_dir / "data" / (f"{stem}.{job}.{ext}" if dot else f"{stem}.{job}"))
    return items


def copy_data_files(data_dir: Path, out_dir: Path, drop: set[str]) -> None:
    """Copy the data dir's files, without the dropped (bad) utterances."""
    has_segments = (data_dir / "segments").is_file()
    for name in COPIED_FILES:
        src = data_dir / name
        if not src.is_file():
            continue
        keyed_by_utt = name in PER_UTT_FILES or (name == "wav.scp" and not has_segments)
        if drop and keyed_by_utt:
            write_kv(out_dir / name, [(k, v) for k, v in read_kv(src) if k not in drop])
        else:
            shutil.copyfile(src, out_dir / name)
