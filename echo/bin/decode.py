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

from echo.decode import options
from echo.decode.options import add_search_arguments, str2bool
from echo.decode.run import DecodeTask, decode, remove_outputs, run_jobs
from echo.io import jobs

log = logging.getLogger("echo.decode")


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
    add_search_arguments(p)
    p.add_argument("--skip-bad", type=str2bool, default=False,
                   help="false (default): an utterance that cannot be read or is too short to encode gets an "
                        "empty hypothesis (scored as deletions); true: it is left out, listed in "
                        "decode_info.json and counted next to Snt in RESULTS.md. Either way it is named in the log")
    # one job of an --nj run: --out is OUT/split<nj>/<JOB> of the master's OUT
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p


def resolve_options(args) -> dict:
    """Decoding options: command line, else --config, else defaults."""
    return options.resolve_options(args, args.config)


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
