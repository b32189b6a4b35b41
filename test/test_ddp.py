"""DDP: echo.bin.train under `torchrun --nproc_per_node 2` on CPU (gloo) finishes, and both ranks end with
identical weights, which are the ones rank 0 saved, even with a NaN batch on one rank."""
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from test_train import make_dump, make_tokens, run_args, write_config

ROOT = Path(__file__).resolve().parents[1]

RANK_DUMP = textwrap.dedent("""
    # echo.bin.train, then each rank writes a digest of its final weights to <out>/rank<R>.txt
    import hashlib, os, sys
    import torch
    from echo.bin import train
    model = train.main(sys.argv[2:])
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode()); h.update(v.detach().cpu().contiguous().numpy().tobytes())
    with open(os.path.join(sys.argv[1], f"rank{os.environ['RANK']}.txt"), "w") as f:
        f.write(h.hexdigest())
""")


def digest(state_dict) -> str:
    h = hashlib.sha256()
    for k, v in state_dict.items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def two_rank_run(tmp_path) -> list[str]:
    """The data, config and script of a 2-process run in tmp_path: the script and its arguments, for
    `torchrun --nproc_per_node 2` (here) or `srun` with 2 tasks (test_slurm.py)."""
    data = make_dump(tmp_path / "dump" / "train", n_utts=10, nan_utt=3)   # a NaN batch on one of the ranks
    valid = make_dump(tmp_path / "dump" / "valid", n_utts=3, seed=1)
    make_tokens(tmp_path / "tok")
    # 5 batches an epoch: rank 1 gets a repeated batch so both make 3 steps; accum_grad 2 exercises no_sync
    conf = write_config(tmp_path / "train.yaml", model=dict(dropout=0.1),
                        optim=dict(lr=3e-3, warmup_steps=2, accum_grad=2),
                        batch=dict(batch_frames=120), train=dict(max_epoch=2, log_interval=1, nbest_average=2),
                        specaug=dict(enabled=True, time_mask_max=5, freq_mask_max=4))
    script = tmp_path / "rank_dump.py"
    script.write_text(RANK_DUMP)
    return [str(script), str(tmp_path), *run_args(tmp_path, conf, data, valid), "--ngpu", "0"]


def test_two_process_gloo_run_ends_with_identical_weights(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         *two_rank_run(tmp_path)],
        env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    d0, d1 = (tmp_path / "rank0.txt").read_text(), (tmp_path / "rank1.txt").read_text()
    assert d0 == d1
    exp = tmp_path / "exp" / "t"
    ck = torch.load(exp / "checkpoint.pt", weights_only=True)
    assert digest(ck["model"]) == d0
    # the update with the NaN batch was skipped on both ranks (once an epoch, twice when the batch was
    # also the one repeated to even out the shards), and never reached the weights
    assert 2 <= ck["counters"]["nonfinite_loss"] <= 4
    assert all(torch.isfinite(v).all() for v in ck["model"].values())
    assert ck["world_size"] == 2 and ck["batches_per_epoch"] == 3 and len(ck["rank_states"]) == 2
    log = (exp / "train.log").read_text()
    assert "2 process(es)" in log and "[rank 0]" in log and "[rank 1]" not in log   # rank 0 alone logs
    assert len([line for line in log.splitlines() if "epoch 2 done" in line]) == 1
    assert (exp / "valid.loss.ave_2best.pt").is_file()
