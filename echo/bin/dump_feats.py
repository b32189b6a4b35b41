"""Dump fbank (+pitch) features and F0 of a Kaldi data dir to ark/scp, in nj parallel jobs.

    python -m echo.bin.dump_feats --data data/train --out dump/train --conf conf/fbank.yaml --nj 4

Writes dump/<set>/{feats.scp, f0.scp, utt2num_frames, feats_dim, conf/feats.yaml, data/*.ark, log/}
and copies text, utt2spk, spk2utt, wav.scp, segments (those present) from the data dir.
With --nj N > 1 the data dir is split per utterance (split_data) and N workers run through
utils/run.py, each writing data/{feats,f0}.JOB.{ark,scp}; the scp files are then merged in C order.
Features do not depend on nj: a worker computes each utterance exactly as nj=1 does.

Bad utterances (unreadable audio, failing pipe, bad segment, NaN/Inf, too short) are collected across
all jobs and written to dump/<set>/bad_utts ("utt reason"). By default the stage then fails listing
every one of them; with --skip-bad true they are dropped from the output dir and the stage succeeds.
feats.scp is written last, after everything else, and removed first on a rerun: a dump dir with a
feats.scp is complete, one without is not.
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from pathlib import Path

from echo.data.datadir import (DataDirError, fix_data_dir, read_kv, read_kv_dict,
                               validate_data_dir, write_kv)
from echo.features.config import FeatureConfig, FeatureError
from echo.features.extract import extract_features
from echo.io import atomic, jobs
from echo.io.ark import ArkScpWriter
from echo.io.utts import utterances

COPIED_FILES = ("text", "utt2spk", "spk2utt", "wav.scp", "segments", "spk2gender", "reco2file_and_channel")
PER_UTT_FILES = ("text", "utt2spk", "segments")   # keyed by utt (wav.scp too when there are no segments)
# Outputs of a previous run that must not survive into this one.
STALE_OUTPUTS = ("feats.scp", "f0.scp", "utt2num_frames", "utt2dur", "feats_dim", "bad_utts", "cmvn.npz") + COPIED_FILES


def str2bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="Kaldi data dir (wav.scp, utt2spk, optional segments, text)")
    p.add_argument("--out", required=True, help="dump dir to write, e.g. dump/train")
    p.add_argument("--conf", required=True, help="feature config YAML (echo.features.config.FeatureConfig)")
    p.add_argument("--nj", type=int, default=1, help="parallel jobs (through utils/run.py)")
    p.add_argument("--max-jobs", type=int, default=None, help="at most this many jobs at once (utils/run.py)")
    p.add_argument("--cmd", default=None,
                   help='job runner with the run.pl interface (default: utils/run.py of this repository), '
                        'e.g. "utils/run.py --backend slurm"')
    p.add_argument("--skip-bad", type=str2bool, default=False,
                   help="true: drop bad utterances (listed in OUT/bad_utts) and succeed; false: fail listing them")
    p.add_argument("--write-utt2dur", action="store_true", help="also write utt2dur (seconds, after segmenting)")
    p.add_argument("--job-part", type=int, default=None,
                   help="internal: worker mode for job JOB; --data is the split part, --out the dump dir")
    return p


# ---------------------------------------------------------------------------------------------- worker

def run_job(data_dir: Path, out_dir: Path, conf: FeatureConfig, job: int, write_utt2dur: bool) -> int:
    """Dump one part; returns the number of bad utterances (written to data/bad_utts.JOB)."""
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


# ---------------------------------------------------------------------------------------------- master

def run_parallel(data_dir: Path, out_dir: Path, conf_path: Path, nj: int, args) -> int:
    """Run the jobs (in this process when nj == 1); returns the number of jobs actually used."""
    if nj <= 1 or len(list(utterances(data_dir))) <= 1:
        with jobs.job_lock(out_dir):
            run_job(data_dir, out_dir, FeatureConfig.from_yaml(conf_path), 1, args.write_utt2dur)
        return 1
    nj, part = jobs.split_for_jobs(data_dir, nj)
    runner = args.cmd or jobs.default_runner()
    if args.max_jobs:
        runner = (runner if isinstance(runner, str) else shlex.join(runner)) + f" --max-jobs {args.max_jobs}"
    argv = [sys.executable, "-m", "echo.bin.dump_feats", "--job-part", "JOB", "--data", part,
            "--out", str(out_dir), "--conf", str(conf_path)] + (["--write-utt2dur"] if args.write_utt2dur else [])
    jobs.run_jobs(runner, nj, out_dir / "log" / "dump_feats.JOB.log", argv, "dump_feats")
    return nj


def main(argv=None) -> None:
    args = get_parser().parse_args(argv)
    data_dir, out_dir = Path(args.data), Path(args.out)

    if args.job_part is not None:   # worker: the master checks bad_utts.JOB after all jobs end
        with jobs.job_lock(out_dir):
            run_job(data_dir, out_dir, FeatureConfig.from_yaml(args.conf), args.job_part, args.write_utt2dur)
        return

    conf = FeatureConfig.from_yaml(args.conf)
    print(validate_data_dir(data_dir, no_feats=True, no_text=True), flush=True)   # as Kaldi's make_fbank.sh
    try:
        with jobs.claim(out_dir, "dump_feats"):
            dump(data_dir, out_dir, conf, args)
    except jobs.JobsFailed as e:
        raise SystemExit(f"dump_feats: {e}") from None


def dump(data_dir: Path, out_dir: Path, conf: FeatureConfig, args) -> None:
    # Invalidate any previous result first: without feats.scp the dir is not complete.
    for name in STALE_OUTPUTS:
        (out_dir / name).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "data", ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    conf_path = out_dir / "conf" / "feats.yaml"
    conf.to_yaml(conf_path)

    start = time.time()
    nj = run_parallel(data_dir, out_dir, conf_path, args.nj, args)
    missing = jobs.unfinished(out_dir / "data", nj)
    if missing:
        raise SystemExit(f"dump_feats: jobs {missing} did not finish; see {out_dir}/log/")

    bad = merge_named(out_dir, nj, "bad_utts")
    if bad:
        write_kv(out_dir / "bad_utts", bad)
        listing = "\n".join(f"  {reason}" for _, reason in bad)
        if not merge_named(out_dir, nj, "feats.scp"):
            raise SystemExit(f"dump_feats: every utterance of {data_dir} is bad ({len(bad)}, listed in "
                             f"{out_dir}/bad_utts):\n{listing}")
        if not args.skip_bad:
            raise SystemExit(f"dump_feats: {len(bad)} bad utterance(s) in {data_dir} (listed in "
                             f"{out_dir}/bad_utts; rerun with --skip-bad true to drop them):\n{listing}")

    # Copy the data files first; with bad utterances dropped, fix_data_dir makes them consistent again
    # (spk2utt, and wav.scp recordings left without segments).
    copy_data_files(data_dir, out_dir, drop={utt for utt, _ in bad})
    if bad:
        fix_data_dir(out_dir)
    keep = set(read_kv_dict(out_dir / "utt2spk"))
    atomic.write_text(out_dir / "feats_dim", f"{conf.feats_dim}\n")
    for name in ("f0.scp", "utt2num_frames") + (("utt2dur",) if args.write_utt2dur else ()):
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


if __name__ == "__main__":
    try:
        main()
    except (DataDirError, FeatureError) as e:
        sys.exit(f"dump_feats: {e}")
