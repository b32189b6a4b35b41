"""Decode a dump dir or any Kaldi data dir with a trained model (stage 4).

    python -m echo.bin.decode --model exp/<tag>/valid.acc.ave_5best.pt --data dump/test \\
        --out exp/<tag>/decode_test [--config conf/decode.yaml] [--nj 4] [--batch-size 16]

--data is a dump dir (feats.scp from stage 1) or a data dir that was never dumped (wav.scp and
optional segments): its features are computed with the model's own feature config and CMVN
(exp/<tag>/feats.yaml, cmvn.npz), as are the token list (exp/<tag>/token_list/).

Writes OUT/text (utt_id transcript), OUT/token (token strings), OUT/token_int, OUT/score (the
hypothesis' log score), OUT/decode_info.json (model, options, timing), and with --nbest N > 1 the
same per rank under OUT/<n>best_recog/. Every file appears complete or not at all; outputs of an
earlier run are removed first. The log (OUT/log/decode.log, or OUT/log/decode.JOB.log per job with
--nj) ends with the real-time factor: decode wall time / audio duration (features, encoder and
search; model loading excluded), audio duration = frames × frame shift.

Options come from --config (YAML, keys as below with _ or -), overridden by the command line.
With --nj N > 1 the data is split per utterance (DIR/splitNutt/) and N jobs run through --cmd
(utils/run.py); their outputs are merged in C byte order.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
import shutil
import sys
import time
from pathlib import Path

import torch
import yaml

from echo.data.datadir import c_sorted, read_kv_dict, write_kv
from echo.data.dataset import collate
from echo.decode.beam_search import Hypothesis, SearchConfig
from echo.decode.data import open_data
from echo.decode.recognizer import MODES, Recognizer
from echo.io import atomic, jobs

log = logging.getLogger("echo.decode")
OUTPUT_FILES = ("text", "token", "token_int", "score")

# Option name -> (type, default, help). These are also the keys a --config YAML may hold.
SEARCH_FIELDS = {f.name: f for f in dataclasses.fields(SearchConfig)}
OPTIONS = {
    "mode": (str, "beam", f"one of {', '.join(MODES)}"),
    "beam_size": (int, SearchConfig.beam_size, "hypotheses kept per utterance"),
    "ctc_weight": (float, SearchConfig.ctc_weight, "λ of joint decoding: (1-λ)·attention + λ·CTC prefix score"),
    "penalty": (float, SearchConfig.penalty, "insertion bonus per token (> 0 favours longer outputs)"),
    "maxlenratio": (float, SearchConfig.maxlenratio,
                    "max tokens = max(1, int(ratio·encoder frames)); 0: encoder frames; < 0: int(-ratio)"),
    "minlenratio": (float, SearchConfig.minlenratio, "min tokens = int(ratio·encoder frames)"),
    "normalize_length": ("bool", SearchConfig.normalize_length, "rank ended hypotheses by score per token"),
    "nbest": (int, SearchConfig.nbest, "hypotheses written per utterance"),
    "pre_beam_ratio": (float, SearchConfig.pre_beam_ratio,
                       "CTC-score int(ratio·beam) attention candidates per hypothesis; 0 = every token"),
    "batch_size": (int, 16, "utterances decoded together"),
}


def str2bool(value) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m echo.bin.decode", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, type=Path, help="checkpoint, e.g. exp/<tag>/valid.acc.ave_5best.pt")
    p.add_argument("--data", required=True, type=Path, help="dump dir (feats.scp) or Kaldi data dir (wav.scp)")
    p.add_argument("--out", required=True, type=Path, help="output dir, e.g. exp/<tag>/decode_test")
    p.add_argument("--config", type=Path, help="decoding options as YAML (conf/decode.yaml)")
    p.add_argument("--nj", type=int, default=1, help="parallel jobs")
    p.add_argument("--cmd", default=None,
                   help="job runner for --nj > 1 with the run.pl interface (default: utils/run.py of this "
                        "repository), e.g. \"utils/run.py --backend slurm\"")
    p.add_argument("--token-dir", type=Path, help="token list (default: <model dir>/token_list)")
    p.add_argument("--feats-conf", type=Path, help="feature config (default: <model dir>/feats.yaml)")
    p.add_argument("--cmvn", type=Path, help="CMVN statistics (default: <model dir>/cmvn.npz)")
    p.add_argument("--ngpu", type=int, default=0, help="0: CPU; 1: the first CUDA device")
    p.add_argument("--num-threads", type=int, default=0,
                   help="torch threads per process (0: torch's default, or 1 per job with --nj > 1)")
    for name, (typ, default, help_text) in OPTIONS.items():
        flags = [f"--{name.replace('_', '-')}"] + ([f"--{name}"] if "_" in name else [])
        if name == "beam_size":
            flags.append("--beam")
        p.add_argument(*flags, dest=name, type=str2bool if typ == "bool" else typ, default=None,
                       help=f"{help_text} (default: {default})")
    p.add_argument("--skip-bad", type=str2bool, default=False,
                   help="false (default): an utterance that cannot be read or is too short to encode gets an "
                        "empty hypothesis (scored as deletions); true: it is left out, listed in "
                        "decode_info.json and counted next to Snt in RESULTS.md. Either way it is named in the log")
    # one job of an --nj run: --out is OUT/split<nj>/<JOB> of the master's OUT
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p


def resolve_options(args) -> dict:
    """Decoding options: command line, else --config, else defaults."""
    from_file = {}
    if args.config is not None:
        try:
            raw = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise SystemExit(f"{args.config}: cannot read decoding config: {e}")
        if not isinstance(raw, dict):
            raise SystemExit(f"{args.config}: a decoding config is a mapping of option: value")
        aliases = {"beam": "beam_size"}
        for key, value in raw.items():
            name = aliases.get(str(key).replace("-", "_"), str(key).replace("-", "_"))
            if name not in OPTIONS:
                raise SystemExit(f"{args.config}: unknown option {key!r}; valid: {', '.join(OPTIONS)}")
            typ = OPTIONS[name][0]
            try:
                from_file[name] = str2bool(value) if typ == "bool" else typ(value)
            except (TypeError, ValueError, argparse.ArgumentTypeError):
                raise SystemExit(f"{args.config}: {key}: {value!r} is not a valid {typ}") from None
    opts = {}
    for name, (_, default, _) in OPTIONS.items():
        cli = getattr(args, name)
        opts[name] = cli if cli is not None else from_file.get(name, default)
    if opts["mode"] not in MODES:
        raise SystemExit(f"--mode must be one of {', '.join(MODES)}, got {opts['mode']!r}")
    if opts["batch_size"] < 1:
        raise SystemExit(f"--batch-size must be >= 1, got {opts['batch_size']}")
    return opts


def search_config(opts: dict) -> SearchConfig:
    return SearchConfig(**{k: v for k, v in opts.items() if k in SEARCH_FIELDS})


def remove_outputs(out: Path) -> None:
    """Outputs of an earlier run go first, so a failed run cannot leave them looking complete."""
    for name in OUTPUT_FILES + ("decode_info.json",):
        (out / name).unlink(missing_ok=True)
    for d in out.glob("*best_recog"):
        shutil.rmtree(d, ignore_errors=True)


def rank_dirs(out: Path, nbest: int) -> list[Path]:
    """Where rank n (0 = best) of the n-best goes: OUT/<n+1>best_recog/, or OUT itself when nbest is 1."""
    return [out / f"{n}best_recog" for n in range(1, nbest + 1)] if nbest > 1 else [out]


def write_outputs(out: Path, rows: dict[str, list[dict]], nbest: int) -> None:
    """rows: utt -> n-best list of dict(text, token, token_int, score). OUT/text etc. hold the best;
    with nbest > 1, OUT/<n>best_recog/ holds rank n too. decode_info.json is written last, by the caller."""
    dirs = rank_dirs(out, nbest) + ([out] if nbest > 1 else [])
    ranks = list(range(len(dirs) - 1)) + [0] if nbest > 1 else [0]
    for n, d in zip(ranks, dirs):
        d.mkdir(parents=True, exist_ok=True)
        for name in OUTPUT_FILES:
            write_kv(d / name, {u: hyps[n][name] if n < len(hyps) else "" for u, hyps in rows.items()})


def hyp_row(rec: Recognizer, hyp: Hypothesis) -> dict:
    bad = [t for t in hyp.tokens if t in (rec.sos_eos, rec.blank)]
    if bad:  # the search guarantees this never happens; a violation is a bug, not a transcript
        raise RuntimeError(f"a hypothesis contains <blank>/<sos/eos> ids {bad}: {hyp.tokens}")
    return dict(text=rec.text(hyp), token=" ".join(rec.token_strings(hyp)),
                token_int=" ".join(map(str, hyp.tokens)), score=f"{hyp.score:.4f}")


def batches(ds, batch_size: int):
    """Items in batches of similar lengths: longest first for a dump dir (lengths known up front),
    sorted within chunks of 8 batches for a data dir (lengths known once features are computed)."""
    if hasattr(ds, "num_frames"):
        order = sorted(range(len(ds)), key=lambda i: (-ds.num_frames[i], i))
        for k in range(0, len(order), batch_size):
            yield [ds[i] for i in order[k:k + batch_size]]
        return
    chunk = 8 * batch_size
    for k in range(0, len(ds), chunk):
        items = sorted((ds[i] for i in range(k, min(k + chunk, len(ds)))),
                       key=lambda it: -len(it["feats"]) if it["feats"] is not None else 0)
        for j in range(0, len(items), batch_size):
            yield items[j:j + batch_size]


def decode(args, opts: dict) -> dict:
    """Decode args.data into args.out in this process; returns the decode_info dict."""
    t_load = time.time()
    device = "cuda" if args.ngpu > 0 else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--ngpu > 0 but torch sees no CUDA device")
    rec = Recognizer.from_checkpoint(args.model, args.token_dir, args.feats_conf, args.cmvn,
                                     search_config(opts), opts["mode"], device)
    ds = open_data(args.data, rec.feat_conf, rec.cmvn)
    num_params = sum(p.numel() for p in rec.model.parameters())
    log.info("model %s: %d parameters, %s; %d utterances in %s; options %s", args.model, num_params, device,
             len(ds), args.data, opts)
    load_seconds = time.time() - t_load

    rows: dict[str, list[dict]] = {}
    bad: dict[str, str] = {}      # utt -> why it has no real hypothesis
    too_short: list[str] = []
    frames = 0
    t0 = time.time()
    for items in batches(ds, opts["batch_size"]):
        for it in items:
            if it["feats"] is None:
                bad[it["utt_id"]] = it["error"]
        items = [it for it in items if it["feats"] is not None]
        if not items:
            continue
        frames += sum(len(it["feats"]) for it in items)
        ok = rec.encodable(collate(items)["feat_lens"]).tolist()
        for it, good in zip(items, ok):
            if not good:
                too_short.append(it["utt_id"])
                bad[it["utt_id"]] = (f"utt {it['utt_id']}: {len(it['feats'])} frames is too short for the "
                                     "encoder's subsampling")
        items = [it for it, good in zip(items, ok) if good]
        if not items:
            continue
        batch = collate(items)
        nbests = rec(batch["feats"], batch["feat_lens"], batch["f0"])
        for utt, hyps in zip(batch["utt_ids"], nbests):
            rows[utt] = [hyp_row(rec, h) for h in hyps]
            log.info("%s %s", utt, rows[utt][0]["text"] if rows[utt] else "")
    for utt, reason in sorted(bad.items()):
        log.warning("%s; %s", reason, "skipped (--skip-bad true)" if args.skip_bad else "empty hypothesis")
        if not args.skip_bad:
            rows[utt] = [dict(text="", token="", token_int="", score="-inf")]
    decode_seconds = time.time() - t0
    audio_seconds = frames * rec.feat_conf.frame_shift_ms / 1000.0
    rtf = decode_seconds / audio_seconds if audio_seconds > 0 else float("nan")

    write_outputs(args.out, rows, opts["nbest"])
    info = dict(model=str(args.model), data=str(args.data), num_params=num_params, device=device,
                threads=torch.get_num_threads(), mode=opts["mode"], search=search_config_dict(opts),
                batch_size=opts["batch_size"], num_utts=len(rows), too_short=too_short, bad_utts=bad,
                skipped=sorted(bad) if args.skip_bad else [],
                audio_seconds=round(audio_seconds, 3), decode_seconds=round(decode_seconds, 3),
                load_seconds=round(load_seconds, 3), rtf=rtf)
    atomic.write_json(args.out / "decode_info.json", info)
    log.info("RTF %.4f (decode %.2f s / audio %.2f s, %d utterances, %s, %d threads)",
             rtf, decode_seconds, audio_seconds, len(rows), device, torch.get_num_threads())
    if bad:
        log.warning("%d utterance(s) could not be decoded (%s): %s", len(bad),
                    "left out" if args.skip_bad else "empty hypotheses", " ".join(sorted(bad)[:20]))
    if args.worker:
        jobs.mark_done(args.out.parent, int(args.out.name))
    return info


def search_config_dict(opts: dict) -> dict:
    if opts["mode"] == "greedy_ctc":
        return {}
    if opts["mode"] == "greedy_attention":
        return {k: opts[k] for k in ("maxlenratio", "minlenratio")}
    return dataclasses.asdict(search_config(opts))


def utt_ids_of(data: Path) -> list[str]:
    for name in ("feats.scp", "segments", "wav.scp"):
        if (data / name).is_file():
            return c_sorted(read_kv_dict(data / name))
    raise SystemExit(f"{data}: neither feats.scp, segments nor wav.scp")


def run_jobs(args, opts: dict) -> dict:
    """Split the data, run --nj workers through --cmd, merge their outputs into args.out."""
    utts = utt_ids_of(args.data)
    nj, part = jobs.split_for_jobs(args.data, args.nj)
    job_out = args.out / f"split{nj}"
    shutil.rmtree(job_out, ignore_errors=True)
    (args.out / "log").mkdir(parents=True, exist_ok=True)
    worker = [sys.executable, "-m", "echo.bin.decode", "--worker", "--model", str(args.model),
              "--data", part, "--out", str(job_out / "JOB"), "--nj", "1", "--skip-bad", str(args.skip_bad),
              "--ngpu", str(args.ngpu), "--num-threads", str(args.num_threads or 1)]
    for flag, value in (("--token-dir", args.token_dir), ("--feats-conf", args.feats_conf), ("--cmvn", args.cmvn)):
        if value is not None:
            worker += [flag, str(value)]
    for name, value in opts.items():
        worker += [f"--{name.replace('_', '-')}", str(value)]
    log.info("running %d jobs of %s", nj, shlex.join(worker))
    t0 = time.time()
    try:
        jobs.run_jobs(args.cmd, nj, args.out / "log" / "decode.JOB.log", worker, "decoding")
    except jobs.JobsFailed as e:
        raise SystemExit(str(e)) from None
    elapsed = time.time() - t0
    missing_jobs = jobs.unfinished(job_out, nj)
    if missing_jobs:
        raise SystemExit(f"{job_out}: jobs {missing_jobs} did not finish (see {args.out}/log/decode.JOB.log)")

    rows: dict[str, list[dict]] = {}
    infos = [atomic.read_json(job_out / str(k) / "decode_info.json") for k in range(1, nj + 1)]
    for k in range(1, nj + 1):
        tables = [{name: read_kv_dict(r / name, allow_empty=True) for name in OUTPUT_FILES}
                  for r in rank_dirs(job_out / str(k), opts["nbest"])]
        for utt in tables[0]["text"]:
            rows[utt] = [{name: t[name][utt] for name in OUTPUT_FILES} for t in tables]
    skipped = sorted(u for i in infos for u in i["skipped"])
    missing = [u for u in utts if u not in rows and u not in skipped]
    if missing:
        raise SystemExit(f"{len(missing)} utterances of {args.data} have no output from the jobs: {missing[:10]}")
    write_outputs(args.out, rows, opts["nbest"])
    audio = sum(i["audio_seconds"] for i in infos)
    decode_seconds = sum(i["decode_seconds"] for i in infos)
    info = dict(infos[0], data=str(args.data), num_utts=len(rows), nj=nj,
                too_short=[u for i in infos for u in i["too_short"]],
                bad_utts={u: r for i in infos for u, r in i["bad_utts"].items()}, skipped=skipped,
                audio_seconds=round(audio, 3), decode_seconds=round(decode_seconds, 3),
                rtf=decode_seconds / audio if audio > 0 else float("nan"),
                elapsed_seconds=round(elapsed, 3), rtf_elapsed=elapsed / audio if audio > 0 else float("nan"))
    info.pop("load_seconds", None)
    atomic.write_json(args.out / "decode_info.json", info)
    shutil.rmtree(job_out, ignore_errors=True)
    log.info("RTF %.4f per job (decode %.2f s in %d jobs / audio %.2f s); %.4f in elapsed time (%.2f s)",
             info["rtf"], decode_seconds, nj, audio, info["rtf_elapsed"], elapsed)
    return info


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    opts = resolve_options(args)
    args.out.mkdir(parents=True, exist_ok=True)
    handlers = [logging.StreamHandler(sys.stderr)]
    if not args.worker:
        (args.out / "log").mkdir(exist_ok=True)
        handlers.append(logging.FileHandler(args.out / "log" / "decode.log", mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    if not args.worker:
        given = argv if argv is not None else sys.argv[1:]
        log.info("%s", shlex.join([sys.executable, "-m", "echo.bin.decode", *given]))
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    if args.worker:   # the master holds args.out for its jobs; their outputs are under OUT/split<nj>/
        with jobs.job_lock(args.out.parent.parent):
            remove_outputs(args.out)
            decode(args, opts)
        return 0
    try:
        with jobs.claim(args.out, "echo.bin.decode"):
            remove_outputs(args.out)
            if args.nj > 1:
                run_jobs(args, opts)
            else:
                decode(args, opts)
    except jobs.JobsFailed as e:
        raise SystemExit(str(e)) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
