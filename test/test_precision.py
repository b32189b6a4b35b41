"""echo.train.precision on CPU: gradient accumulation is exact for equal batches, and every GPU-only knob
(amp, GradScaler, TF32, fused AdamW) is the plain CPU path here. test/test_cuda.py covers the GPU side."""
import pytest
import torch

from echo.train import config, precision
from echo.model.echo import EchoConfig
from test_model import build, make_batch
from test_encoders import small

CPU = torch.device("cpu")


@pytest.mark.parametrize("encoder", ["transformer", "conformer"])
def test_two_accumulated_batches_give_the_gradient_of_one_double_batch(encoder):
    # the loss is the mean over the batch's utterances, so loss/2 of two batches of B = the loss of 2B
    model = build(small(encoder, theta_mode="frame", pitch_bias=True), perturb=False)
    model.train()   # dropout is 0 in tiny(): training mode changes nothing random
    feats, lens, f0, ys, y_lens = make_batch([61, 40, 52, 33, 57, 44], [5, 3, 4, 2, 5, 3])
    scaler = precision.grad_scaler(CPU, "none")
    halves = (slice(0, 3), slice(3, 6))
    for part in halves:
        T, L = int(lens[part].max()), int(y_lens[part].max())
        loss, _ = model(feats[part, :T], lens[part], f0[part, :T], ys[part, :L], y_lens[part])
        precision.scaled_backward(loss, 2, scaler)
    accumulated = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    loss, _ = model(feats, lens, f0, ys, y_lens)
    precision.scaled_backward(loss, 1, scaler)
    for n, p in model.named_parameters():
        torch.testing.assert_close(accumulated[n], p.grad, rtol=1e-4, atol=1e-6, msg=n)
    assert max(g.abs().max().item() for g in accumulated.values()) > 1e-3


def test_gpu_knobs_are_the_plain_cpu_path_on_cpu(caplog):
    with caplog.at_level("INFO", logger="echo.train"):
        assert precision.amp_mode(CPU, "bf16") == "none"
    assert "train.amp bf16 ignored on cpu" in caplog.text
    assert precision.amp_mode(CPU, "none") == "none"
    assert not precision.grad_scaler(CPU, "fp16").is_enabled()
    assert precision.adamw_options(CPU) == {}
    before = torch.backends.cuda.matmul.allow_tf32
    precision.enable_tf32(CPU)
    assert torch.backends.cuda.matmul.allow_tf32 == before
    model = torch.nn.Linear(2, 2)
    assert precision.maybe_compile(model, False) is model


def test_a_loss_scale_resumes_across_devices_and_precisions():
    fp16 = torch.amp.GradScaler("cpu", init_scale=1024.0)     # stands in for the enabled CUDA scaler
    off = precision.grad_scaler(CPU, "bf16")
    assert off.state_dict() == {}
    precision.load_scaler_state(fp16, off.state_dict())       # a CPU/bf16 checkpoint into an fp16 run
    assert fp16.get_scale() == 1024.0
    fp16.scale(torch.ones(()))                               # creates the scale tensor
    fp16.update(256.0)
    fresh = torch.amp.GradScaler("cpu")
    precision.load_scaler_state(fresh, fp16.state_dict())     # fp16 to fp16: the scale carries over
    assert fresh.get_scale() == 256.0
    precision.load_scaler_state(off, fp16.state_dict())       # an fp16 checkpoint on the CPU: ignored
    assert not off.is_enabled()


def test_compile_and_amp_are_config_fields():
    cfg = config.resolve(None, {"train": {"compile": True, "amp": "fp16"}}, EchoConfig)
    assert cfg["train"]["compile"] is True and config.defaults(EchoConfig)["train"]["compile"] is False
    with pytest.raises(config.ConfigError, match="train.amp"):
        config.resolve(None, {"train": {"amp": "fp8"}}, EchoConfig)


def test_conformer_run_with_accumulation_on_cpu_learns_and_resumes(tmp_path):
    from echo.bin import train
    from test_train import make_dump, make_tokens, run_args, write_config
    data = make_dump(tmp_path / "dump" / "train")
    make_tokens(tmp_path / "tok")
    conf = write_config(tmp_path / "train.yaml",
                        model=dict(encoder="conformer", dropout=0.0, enc_layers=2, interctc_layers=[1],
                                   interctc_weight=0.3),
                        optim=dict(lr=3e-3, warmup_steps=5, accum_grad=2), batch=dict(batch_frames=120),
                        train=dict(max_epoch=3, log_interval=1, amp="bf16", nbest_average=0))
    args = run_args(tmp_path, conf, data, data)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train.main(args)
        exp = tmp_path / "exp" / "t"
        ck = torch.load(exp / "checkpoint.pt", weights_only=True)
        batches = ck["batches_per_epoch"]
        assert batches >= 3 and ck["step"] == 3 * -(-batches // 2)     # one update every 2 batches
        h = ck["history"]
        assert h[-1]["valid.loss"] < h[0]["valid.loss"]
        assert "train.amp bf16 ignored on cpu" in (exp / "train.log").read_text()
        train.main([*args, "--train.max_epoch", "4"])
        assert torch.load(exp / "checkpoint.pt", weights_only=True)["epoch"] == 5
    finally:
        torch.set_num_threads(n)
