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
import sys
from pathlib import Path

import torch
import yaml

from echo.decode.beam_search import SearchConfig
from echo.decode.recognizer import MODES
from echo.decode.run import DecodeTask, decode, remove_outputs, run_jobs
from echo.io import jobs

log = logging.getLogger("echo.decode")

# Option name -> (type, default, help). These are also the keys a --config YAML may hold.
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
    task = DecodeTask(**{f.name: getattr(args, f.name) for f in dataclasses.fields(DecodeTask)})
    if task.worker:   # the master holds OUT for its jobs; their outputs are under OUT/split<nj>/
        with jobs.job_lock(task.out.parent.parent):
            remove_outputs(task.out)
            decode(task, opts)
        return 0
    try:
        with jobs.claim(task.out, "echo.bin.decode"):
            remove_outputs(task.out)
            if task.nj > 1:
                run_jobs(task, opts)
            else:
                decode(task, opts)
    except jobs.JobsFailed as e:
        raise SystemExit(str(e)) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
