"""Train an Echo model (stage 3 of egs/TEMPLATE/asr.sh).

One process, on CPU (--ngpu 0) or one GPU (--ngpu 1):
    python -m echo.bin.train --config conf/train.yaml --train dump/train --valid dump/dev \\
        --token-dir data/token_list/bpe30 --tag mytag --exp-dir exp --ngpu 1

N GPUs of one machine, DDP with one process per GPU (NCCL); on CPU with --ngpu 0 the same runs gloo:
    torchrun --standalone --nproc_per_node N -m echo.bin.train <the same options> --ngpu N

M machines of N GPUs each: the same command on every node, r = 0 .. M-1 (r = 0 on `host`):
    torchrun --nnodes M --node_rank r --nproc_per_node N --rdzv_backend c10d --rdzv_id mytag \\
        --rdzv_endpoint host:29400 -m echo.bin.train <the same options> --ngpu N

Config: a YAML file of sections (model, optim, batch, train, specaug, augment: see echo/train/config.py or
--print-config); any field can be overridden as --<section>.<field> VALUE, e.g. --model.enc_layers 6
--optim.lr 2e-3 --train.max_epoch 50. Unknown keys are errors. The experiment directory is
<exp-dir>/<tag>, never derived from the options; the resolved config is saved there as config.yaml.

Resume: re-run the same command. It continues from <exp-dir>/<tag>/checkpoint.pt, mid-epoch included
(written each epoch and every train.save_interval_steps updates); raise --train.max_epoch to train
longer. A run killed at any point and resumed ends with the weights of an uninterrupted one.

Writes to <exp-dir>/<tag>/: config.yaml, train.log, checkpoint.pt, epoch<N>.pt + epoch<N>.json (the
keep_nbest best by best_metric, and the latest), valid.<metric>.ave_<n>best.pt, tensorboard/, images/,
and copies of token_list/, feats.yaml and cmvn.npz with their content hashes (assets.json, echo.io.assets),
so that decoding needs neither data/ nor dump/. A rerun with other assets is refused (name a new --tag, or
--force to discard the experiment); a rerun of a finished experiment writes nothing.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from echo.io import atomic
from echo.io.assets import AssetsChanged, DumpIncomplete
from echo.model.echo import EchoConfig
from echo.train import config, distributed, loop
from echo.train.trainer import close_logging


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m echo.bin.train", description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="training config YAML (sections model, optim, batch, train, specaug, augment)")
    p.add_argument("--train", help="training dump dir (dump/<train_set>, with cmvn.npz and conf/feats.yaml)")
    p.add_argument("--valid", help="validation dump dir")
    p.add_argument("--token-dir", help="token list dir (tokens.txt [, bpe.model])")
    p.add_argument("--tag", help="experiment name: everything is written to <exp-dir>/<tag>")
    p.add_argument("--exp-dir", default="exp", help="parent of experiment dirs (default: exp)")
    p.add_argument("--ngpu", type=int, default=0, help="GPUs per node; 0 trains on CPU (default: 0)")
    p.add_argument("--num-workers", type=int, default=0, help="data-loading processes (default: 0)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--force", action="store_true",
                   help="discard <exp-dir>/<tag> (checkpoints, assets, logs) and train again from scratch")
    config.add_override_options(p, EchoConfig)
    args = p.parse_args(argv)
    try:
        cfg = config.resolve(args.config, config.overrides_from_args(args), EchoConfig)
        EchoConfig(**cfg["model"])   # the model's own checks, before any work (idim, vocab_size: defaults)
    except (config.ConfigError, ValueError) as e:
        p.error(str(e))
    if not args.print_config:
        missing = [f"--{k.replace('_', '-')}" for k in ("train", "valid", "token_dir", "tag") if not getattr(args, k)]
        if missing:
            p.error(f"the following arguments are required: {', '.join(missing)}")
    return args, cfg


def main(argv=None):
    """Train; returns the trained EchoModel (None with --print-config). The loop: echo/train/loop.py."""
    args, cfg = parse_args(argv)
    if args.print_config:
        print(config.dump(cfg), end="")
        return None
    command = " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    info = distributed.setup(args.ngpu)
    try:
        return loop.train(cfg, info, exp_dir=Path(args.exp_dir) / args.tag, train_dump=Path(args.train),
                          valid_dump=Path(args.valid), token_dir=Path(args.token_dir),
                          num_workers=args.num_workers, force=args.force, command=command)
    except (AssetsChanged, DumpIncomplete, atomic.CorruptFileError) as e:
        raise SystemExit(f"echo.bin.train: {e}") from None   # what is wrong and what to do; no traceback
    finally:
        distributed.cleanup()
        close_logging()


if __name__ == "__main__":
    main()
