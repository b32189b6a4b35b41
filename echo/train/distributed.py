"""One process per device, launched alone or by torchrun; rank 0 alone logs and writes files.

torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; without them the run is a
single process. A task of `srun` (Slurm) gets them from srun's variables instead (torchrun_env_from_slurm).
Backend: NCCL when training on GPUs, gloo on CPU.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def torchrun_env_from_slurm(env) -> dict[str, str]:
    """torchrun's variables for a task that srun started ({} when torchrun's are set or this is no srun task).

    RANK, WORLD_SIZE and LOCAL_RANK are srun's SLURM_PROCID, SLURM_STEP_NUM_TASKS (set in srun's tasks, not
    in the batch script) and SLURM_LOCALID; MASTER_ADDR is the step's first node, MASTER_PORT one that no
    other job running on that node derives (20000 + job id mod 20000); either can be set beforehand."""
    if "WORLD_SIZE" in env or "SLURM_STEP_NUM_TASKS" not in env or "SLURM_PROCID" not in env:
        return {}
    # The first host of a Slurm host list: "gpu[07-09,12],cpu1" -> "gpu07".
    first = re.match(r"([^,\[]*)(?:\[([^\],-]*))?", env.get("SLURM_STEP_NODELIST", "localhost"))
    return {"RANK": env["SLURM_PROCID"], "WORLD_SIZE": env["SLURM_STEP_NUM_TASKS"],
            "LOCAL_RANK": env.get("SLURM_LOCALID", "0"),
            "MASTER_ADDR": env.get("MASTER_ADDR") or first.group(1) + (first.group(2) or ""),
            "MASTER_PORT": env.get("MASTER_PORT") or str(20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000)}


def setup(ngpu: int) -> DistInfo:
    """Pick this process's device and join the process group when launched by torchrun or srun.

    ngpu: GPUs per node the recipe asked for; 0 trains on CPU (gloo when several processes)."""
    os.environ.update(torchrun_env_from_slurm(os.environ))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if ngpu > 0:
        if not torch.cuda.is_available():
            raise RuntimeError(f"--ngpu {ngpu} asks for GPUs but torch sees none "
                               f"(torch {torch.__version__}, CUDA build: {torch.version.cuda is not None}); "
                               f"use --ngpu 0 or install a CUDA build of torch")
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"local rank {local_rank} has no GPU: only {torch.cuda.device_count()} visible")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=device)


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce(values: list[float], info: DistInfo, op=dist.ReduceOp.SUM) -> list[float]:
    """The element-wise sum (or `op`) of a list of numbers over ranks; the list itself when alone."""
    if not info.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=op)
    return t.tolist()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()
