"""The GPU training path, on a CUDA device; every test is skipped without one (and the NCCL test
without two). bf16 autocast against fp32, the fp16 GradScaler path (overflow skips an update and lowers
the scale), fused AdamW against the loop implementation, TF32, torch.compile, and whole runs of
echo.bin.train on the GPU whose checkpoints resume on the CPU."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from echo.train import precision
from echo.train.trainer import autocast
from test_model import ALL_ON, build, make_batch
from test_encoders import ENCODERS, small
from test_train import make_dump, make_tokens, run_args, write_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
ROOT = Path(__file__).resolve().parents[1]
CUDA = torch.device("cuda")


def cuda_batch():
    return [t.to(CUDA) for t in make_batch([61, 40, 52, 33], [5, 3, 4, 2])]


def grads(model):
    return torch.cat([p.grad.flatten().float() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize("encoder", ENCODERS)
def test_bf16_autocast_step_matches_fp32(encoder):
    model = build(small(encoder, **ALL_ON)).to(CUDA).train()
    feats, lens, f0, ys, y_lens = cuda_batch()
    torch.backends.cuda.matmul.allow_tf32 = False
    loss32, _ = model(feats, lens, f0, ys, y_lens)
    loss32.backward()
    g32 = grads(model)
    model.zero_grad(set_to_none=True)
    with autocast(CUDA, "bf16"):
        loss16, _ = model(feats, lens, f0, ys, y_lens)
    assert loss16.dtype == torch.float32   # the losses are computed in fp32 under autocast
    loss16.backward()
    g16 = grads(model)
    assert abs(loss16.item() - loss32.item()) <= 0.02 * abs(loss32.item())
    assert torch.nn.functional.cosine_similarity(g16, g32, dim=0).item() > 0.99
    assert torch.isfinite(g16).all()


def test_fp16_grad_scaler_steps_and_skips_an_overflow():
    model = build(small("conformer", **ALL_ON)).to(CUDA).train()
    feats, lens, f0, ys, y_lens = cuda_batch()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, **precision.adamw_options(CUDA))
    scaler = precision.grad_scaler(CUDA, "fp16")
    assert scaler.is_enabled() and opt.defaults["fused"]
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(30):   # the initial scale (65536) may overflow: the scaler halves it until a step is taken
        opt.zero_grad(set_to_none=True)
        with autocast(CUDA, "fp16"):
            loss, _ = model(feats, lens, f0, ys, y_lens)
        precision.scaled_backward(loss, 1, scaler)
        scale = scaler.get_scale()
        scaler.step(opt)
        scaler.update()
        if scaler.get_scale() == scale:
            break
    assert scaler.get_scale() == scale and torch.isfinite(loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    # an overflowing gradient: the step is skipped and the scale halves
    opt.zero_grad(set_to_none=True)
    with autocast(CUDA, "fp16"):
        loss, _ = model(feats, lens, f0, ys, y_lens)
    precision.scaled_backward(loss, 1, scaler)
    next(model.parameters()).grad.view(-1)[0] = float("inf")
    kept = [p.detach().clone() for p in model.parameters()]
    scaler.step(opt)
    scaler.update()
    assert all(torch.equal(k, p) for k, p in zip(kept, model.parameters()))
    assert scaler.get_scale() == scale / 2


def test_fused_adamw_matches_the_loop_implementation():
    torch.manual_seed(0)
    ref = torch.nn.Linear(64, 64).to(CUDA)
    fused = torch.nn.Linear(64, 64).to(CUDA)
    fused.load_state_dict(ref.state_dict())
    opts = [torch.optim.AdamW(ref.parameters(), lr=1e-2, foreach=False),
            torch.optim.AdamW(fused.parameters(), lr=1e-2, **precision.adamw_options(CUDA))]
    x = torch.randn(32, 64, device=CUDA)
    for _ in range(5):
        for m, opt in zip((ref, fused), opts):
            opt.zero_grad()
            m(x).square().mean().backward()
            opt.step()
    torch.testing.assert_close(ref.weight, fused.weight, rtol=1e-5, atol=1e-6)


def test_tf32_is_switched_on_for_cuda():
    torch.backends.cuda.matmul.allow_tf32 = False
    precision.enable_tf32(CUDA)
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_compiled_model_gives_the_eager_loss():
    model = build(small("conformer", **ALL_ON)).to(CUDA).eval()
    feats, lens, f0, ys, y_lens = cuda_batch()
    compiled = precision.maybe_compile(model, True)
    with torch.no_grad():
        eager, _ = model(feats, lens, f0, ys, y_lens)
        fast, _ = compiled(feats, lens, f0, ys, y_lens)
    assert abs(fast.item() - eager.item()) <= 1e-3 * abs(eager.item())


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_gpu_run_with_accumulation_resumes_on_cpu(tmp_path, amp):
    from echo.bin import train
    data = make_dump(tmp_path / "dump" / "train")
    make_tokens(tmp_path / "tok")
    conf = write_config(tmp_path / "train.yaml", model=dict(encoder="conformer", dropout=0.0),
                        optim=dict(lr=2e-3, warmup_steps=5, accum_grad=2), batch=dict(batch_frames=120),
                        train=dict(max_epoch=2, log_interval=1, amp=amp))
    args = run_args(tmp_path, conf, data, data)
    train.main([*args, "--ngpu", "1"])
    exp = tmp_path / "exp" / "t"
    ck = torch.load(exp / "checkpoint.pt", weights_only=True, map_location="cpu")
    assert ck["history"][-1]["peak_gpu_mb"] > 0 and ck["counters"]["nonfinite_grad"] == 0
    assert ck["history"][-1]["valid.loss"] < ck["history"][0]["valid.loss"] * 1.5
    # the GPU checkpoint continues on the CPU (amp is ignored there, the scaler state is carried)
    model = train.main([*args, "--ngpu", "0", "--train.max_epoch", "3"])
    assert next(model.parameters()).device.type == "cpu"
    assert torch.load(exp / "checkpoint.pt", weights_only=True)["epoch"] == 4


def test_cpu_checkpoint_resumes_on_the_gpu_in_fp16(tmp_path):
    from echo.bin import train
    data = make_dump(tmp_path / "dump" / "train")
    make_tokens(tmp_path / "tok")
    conf = write_config(tmp_path / "train.yaml", model=dict(encoder="ebranchformer"), batch=dict(batch_frames=120),
                        train=dict(max_epoch=1, log_interval=1, amp="fp16"))
    args = run_args(tmp_path, conf, data, data)
    train.main([*args, "--ngpu", "0"])
    model = train.main([*args, "--ngpu", "1", "--train.max_epoch", "2"])
    assert next(model.parameters()).device.type == "cuda"
    ck = torch.load(tmp_path / "exp" / "t" / "checkpoint.pt", weights_only=True, map_location="cpu")
    assert ck["epoch"] == 3 and ck["scaler"]["scale"] > 0
    assert all(torch.isfinite(v).all() for v in ck["model"].values())


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_two_process_nccl_run(tmp_path):
    data = make_dump(tmp_path / "dump" / "train", n_utts=10)
    valid = make_dump(tmp_path / "dump" / "valid", n_utts=3, seed=1)
    make_tokens(tmp_path / "tok")
    conf = write_config(tmp_path / "train.yaml", model=dict(encoder="conformer"), optim=dict(accum_grad=2),
                        batch=dict(batch_frames=120), train=dict(max_epoch=2, log_interval=1, amp="bf16"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "echo.bin.train", *run_args(tmp_path, conf, data, valid), "--ngpu", "2"],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ck = torch.load(tmp_path / "exp" / "t" / "checkpoint.pt", weights_only=True, map_location="cpu")
    assert ck["world_size"] == 2 and ck["epoch"] == 3
    assert all(torch.isfinite(v).all() for v in ck["model"].values())
