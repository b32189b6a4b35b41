"""Every encoder (transformer, Conformer, E-Branchformer): pitch switches off = the encoder without pitch,
padding invariance, gradients to every pitch parameter, an overfit to CER 0, intermediate CTC, and a
model built and one training step run for every training config in egs/."""
import copy
import math
from pathlib import Path

import pytest
import torch

from echo.model import conformer
from echo.model.echo import EchoConfig, EchoModel
from echo.train import config as train_config
from echo.decode.beam_search import greedy_ctc
from test_model import ALL_ON, build, make_batch, tiny

ENCODERS = ("transformer", "conformer", "ebranchformer")
ROOT = Path(__file__).resolve().parents[1]


def small(encoder: str, **switches) -> EchoConfig:
    # kernels wider than the shortest utterance's encoder frames: the conv padding really is exercised
    return tiny(encoder=encoder, conv_kernel=15, merge_kernel=5, cgmlp_dim=48, **switches)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_pitch_switches_at_neutral_values_equal_the_encoder_without_pitch(encoder):
    plain = build(small(encoder), perturb=False)
    # θ follows F0 frame by frame with gain 0, radius and bias at their initial α = λ = 0: all inert
    pitched = build(small(encoder, theta_mode="frame", theta_gain=0.0, radius_mode="logf0", pitch_bias=True),
                    perturb=False)
    missing, unexpected = pitched.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(("radius_alpha" in k or "bias_lambda" in k or "theta" in k) for k in missing)
    feats, lens, f0, _, _ = make_batch([61, 44, 37], [1, 1, 1])
    with torch.no_grad():
        a, a_lens = plain.encode(feats, lens, None)
        assert torch.equal(plain.encode(feats, lens, f0)[0], a)    # a plain model ignores F0 entirely
        b, b_lens = pitched.encode(feats, lens, f0)
        assert torch.equal(a_lens, b_lens)
        assert (a - b).abs().max().item() < 1e-5
        # and the switches do act once their parameters move
        pitched.encoder.rotary.radius_alpha.fill_(0.5)
        assert (pitched.encode(feats, lens, f0)[0] - a).abs().max().item() > 1e-3


@pytest.mark.parametrize("encoder", ["conformer", "ebranchformer"])
def test_padding_would_leak_through_an_unmasked_convolution(encoder, monkeypatch):
    # test_model.py's padding invariance (every encoder) is not vacuous: with the conv input masks removed, padding reaches real frames
    model = build(small(encoder))
    feats, lens, f0, _, _ = make_batch([61, 33], [1, 1])
    feats[1, 33:] = 7.0
    with torch.no_grad():
        alone = model.encode(feats[1:, :33], lens[1:], None)[0][0]
        monkeypatch.setattr(conformer, "zero_padding", lambda x, valid: x)
        leaked = model.encode(feats, lens, None)[0][1, :alone.shape[0]]
    assert (leaked - alone).abs().max().item() > 1e-3


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("mode", ["utterance", "frame"])
def test_every_pitch_parameter_receives_a_gradient(encoder, mode):
    model = build(small(encoder, theta_mode=mode, radius_mode="logf0", pitch_bias=True, gate="f0"), perturb=False)
    model.train()
    feats, lens, f0, ys, y_lens = make_batch([50, 41], [4, 2])
    loss, _ = model(feats, lens, f0, ys, y_lens)
    loss.backward()
    rotary = model.encoder.rotary
    assert rotary.log_theta0.grad.abs().item() > 0
    assert rotary.theta_gain.grad.abs().item() > 0
    assert rotary.radius_alpha.grad.abs().min().item() > 0
    assert len(model.encoder.gates) == len(model.encoder.layers)
    for layer in model.encoder.layers:
        assert layer.attn.bias_lambda_raw.grad.abs().min().item() > 0
        assert layer.gate.proj.weight.grad[0, -3:].abs().min().item() > 0   # the gate's F0 inputs
    assert set(model.pitch_parameters()) == {"theta0", "theta_gain", "theta_slope", "radius_alpha", "bias_lambda"}
    with torch.no_grad(), model.collecting_gate_stats():
        model.encode(feats, lens, f0)
    assert {"enc0.mean", "enc1.mean", "voicing_corr"} <= set(model.gate_stats())


@pytest.mark.parametrize("encoder", ENCODERS)
def test_attention_logits_are_those_of_the_forward_pass(encoder, monkeypatch):
    # Encoder.attention_logits (plots, tests) must feed a block's attention what forward() feeds it
    model = build(small(encoder, **ALL_ON))
    feats, lens, f0, _, _ = make_batch([61, 44], [1, 1])
    attn = model.encoder.layers[1].attn
    seen = {}
    handle = attn.register_forward_pre_hook(lambda mod, args: seen.update(forward=args[0]))
    logits = attn.logits

    def spy(x, *args):
        seen["logits"] = x
        return logits(x, *args)
    monkeypatch.setattr(attn, "logits", spy)
    with torch.no_grad():
        model.encode(feats, lens, f0)
        model.encoder.attention_logits(feats, lens, f0, layer=1)
    handle.remove()
    torch.testing.assert_close(seen["logits"], seen["forward"], rtol=0, atol=1e-6)


def token_batch(n_utts: int, vocab: int, idim: int, seed: int):
    """Utterances whose frames spell their tokens: each token a fixed random feature pattern held for 8
    frames (with noise), 1-4 tokens between short silences."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randn(vocab, idim, generator=g) * 2
    feats, ys = [], []
    for _ in range(n_utts):
        tokens = torch.randint(2, vocab - 1, (int(torch.randint(1, 5, (1,), generator=g)),), generator=g)
        frames = [torch.zeros(4, idim)]
        for tok in tokens.tolist():
            frames += [patterns[tok].expand(8, idim), torch.zeros(4, idim)]
        feats.append(torch.cat(frames) + 0.1 * torch.randn(sum(f.shape[0] for f in frames), idim, generator=g))
        ys.append(tokens)
    lens = torch.tensor([f.shape[0] for f in feats])
    batch = torch.zeros(n_utts, int(lens.max()), idim)
    ys_pad = torch.full((n_utts, max(len(y) for y in ys)), -1)
    for b, (f, y) in enumerate(zip(feats, ys)):
        batch[b, :len(f)] = f
        ys_pad[b, :len(y)] = y
    return batch, lens, ys_pad, torch.tensor([len(y) for y in ys])


@pytest.mark.parametrize("encoder", ENCODERS)
def test_overfits_eight_utterances_to_cer_zero(encoder):
    torch.manual_seed(0)
    model = EchoModel(small(encoder, theta_mode="frame", pitch_bias=True, ctc_weight=0.5)).train()
    feats, lens, ys, y_lens = token_batch(8, 12, 20, seed=1)
    f0 = torch.where(feats[..., 0] > 0, 150.0, 0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    refs = [y[:n].tolist() for y, n in zip(ys, y_lens)]
    for step in range(300):
        loss, _ = model(feats, lens, f0, ys, y_lens)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 24:
            with torch.no_grad():
                model.eval()
                enc, enc_lens = model.encode(feats, lens, f0)
                hyps = [h.tokens for h in greedy_ctc(model.ctc_log_probs(enc), enc_lens, 0, model.eos)]   # a decode
                model.train()
            if hyps == refs:
                break
    assert hyps == refs, f"{encoder}: after {step + 1} steps, loss {loss.item():.3f}, {hyps} vs {refs}"


@pytest.mark.parametrize("encoder", ENCODERS)
def test_intermediate_ctc_is_mixed_into_the_ctc_loss_as_in_espnet(encoder):
    w = 0.4
    model = build(small(encoder, enc_layers=3, interctc_layers=[1, 2], interctc_weight=w))
    feats, lens, f0, ys, y_lens = make_batch([61, 44], [4, 3])
    with torch.no_grad():
        loss, stats = model(feats, lens, f0, ys, y_lens)
        enc, enc_lens, intermediate = model.encoder.forward_intermediate(feats, lens, f0)
        final = model.ctc(enc, enc_lens, ys, y_lens)[0].item()
        # block 1's intermediate output = the same encoder cut after block 1 (with the final LayerNorm)
        cut = copy.deepcopy(model)
        del cut.encoder.layers[1:]
        cut.encoder.interctc_layers = ()
        torch.testing.assert_close(cut.encode(feats, lens, f0)[0], intermediate[0])
        inter = [model.ctc(h, enc_lens, ys, y_lens)[0].item() for h in intermediate]
    assert len(intermediate) == 2
    assert stats["loss_interctc"] == pytest.approx(sum(inter) / 2, rel=1e-5)
    assert stats["loss_ctc"] == pytest.approx((1 - w) * final + w * sum(inter) / 2, rel=1e-5)
    assert loss.item() == pytest.approx(0.3 * stats["loss_ctc"] + 0.7 * stats["loss_att"], rel=1e-5)


@pytest.mark.parametrize("bad,match", [
    (dict(encoder="lstm"), "encoder"), (dict(encoder="conformer", conv_kernel=4), "conv_kernel"),
    (dict(interctc_layers=[6], interctc_weight=0.3), "interctc_layers"),
    (dict(interctc_layers=[0], interctc_weight=0.3), "interctc_layers"),
    (dict(interctc_layers=[3]), "go together"), (dict(interctc_weight=0.3), "go together"),
    (dict(interctc_layers=[3], interctc_weight=0.3, ctc_weight=0.0), "ctc_weight"),
    (dict(encoder="ebranchformer", cgmlp_dim=33), "cgmlp_dim"), (dict(enc_ff_dim=-1), "enc_ff_dim")])
def test_bad_encoder_configs_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        EchoConfig(**bad)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_enc_ff_dim_widens_the_encoder_alone(encoder):
    a, b = EchoModel(small(encoder)), EchoModel(small(encoder, enc_ff_dim=128))
    sizes = [{k: v.shape for k, v in m.state_dict().items()} for m in (a, b)]
    changed = {k for k in sizes[0] if sizes[0][k] != sizes[1][k]}
    assert changed and all(k.startswith("encoder.") for k in changed)
    assert any(128 in sizes[1][k] for k in changed)


TRAIN_CONFIGS = sorted(ROOT.glob("egs/*/conf/**/train*.yaml"))


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=[str(p.relative_to(ROOT / "egs")) for p in TRAIN_CONFIGS])
def test_every_training_config_builds_and_takes_a_step(path):
    cfg = train_config.resolve(path, {}, EchoConfig)
    model_cfg = EchoConfig(idim=80, vocab_size=16, **cfg["model"])
    torch.manual_seed(0)
    model = EchoModel(model_cfg).train()
    window = model.encoder.subsampling.window
    feats, lens, f0, ys, y_lens = make_batch([8 * window, 5 * window], [3, 2], idim=80, vocab=16)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["optim"]["lr"])
    loss, stats = model(feats, lens, f0, ys, y_lens)
    loss.backward()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    assert math.isfinite(loss.item()) and stats["ctc_infeasible"] == 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())
