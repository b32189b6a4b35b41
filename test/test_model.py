"""The Echo model (echo/model/): equivalence with a plain rotary transformer, shift invariance, padding
invariance, causality, numerical safety, gradient flow, the decoder cache, and one test for each mistake
of the published prototype (DESIGN §5)."""
import dataclasses
import inspect
import logging
import math

import pytest
import torch
import torch.nn.functional as F

from echo.model.echo import EchoConfig, EchoModel
from echo.model.pitch import lengths_to_mask
from echo.model.subsampling import Conv2dSubsampling

ALL_ON = dict(theta_mode="frame", radius_mode="logf0", pitch_bias=True, gate="f0")


def tiny(**switches) -> EchoConfig:
    base = dict(idim=20, vocab_size=12, d_model=32, n_heads=2, enc_layers=2, dec_layers=2, ff_dim=64,
                dropout=0.0, conv_channels=8)
    base.update(switches)
    return EchoConfig(**base)


def build(cfg: EchoConfig, seed: int = 0, perturb: bool = True) -> EchoModel:
    """A model in eval mode; perturb moves α and λ off their initial 0 so they act."""
    torch.manual_seed(seed)
    model = EchoModel(cfg).eval()
    if perturb:
        with torch.no_grad():
            if model.encoder.rotary.radius_alpha is not None:
                model.encoder.rotary.radius_alpha.copy_(torch.linspace(-0.4, 0.6, cfg.n_heads))
            for layer in model.encoder.layers:
                if layer.attn.bias_lambda_raw is not None:
                    layer.attn.bias_lambda_raw.copy_(torch.linspace(0.3, 1.1, cfg.n_heads))
    return model


def make_batch(lens, y_lens, idim=20, vocab=12, seed=0, unvoiced=()):
    """Zero-padded feats, F0 with voiced stretches of a moving contour (0 on padding), ys padded −1."""
    g = torch.Generator().manual_seed(seed)
    B, T, L = len(lens), max(lens), max(y_lens)
    feats = torch.zeros(B, T, idim)
    f0 = torch.zeros(B, T)
    ys = torch.full((B, L), -1, dtype=torch.long)
    for b, (n, m) in enumerate(zip(lens, y_lens)):
        feats[b, :n] = torch.randn(n, idim, generator=g)
        if b not in unvoiced:
            t = torch.arange(n, dtype=torch.float32)
            contour = 140 + 60 * torch.rand(1, generator=g) + 40 * torch.sin(t / (5 + 10 * torch.rand(1, generator=g)))
            voiced = torch.sin(t / 4 + 6 * torch.rand(1, generator=g)) > -0.3
            f0[b, :n] = torch.where(voiced, contour, torch.zeros_like(contour))
        ys[b, :m] = torch.randint(2, vocab - 1, (m,), generator=g)
    return feats, torch.tensor(lens), f0, ys, torch.tensor(y_lens)


# ---- 1. every pitch switch off = an ordinary rotary transformer -----------------------------------
def ref_rotate(x, theta=10000.0):
    """Rotary by complex multiplication (model channels k and K+k form complex number k)."""
    T, dh = x.shape[-2], x.shape[-1]
    K = dh // 2
    z = torch.view_as_complex(torch.stack([x[..., :K], x[..., K:]], -1).double().contiguous())
    inv_freq = 1.0 / theta ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh)
    z = z * torch.polar(torch.ones(T, K, dtype=torch.float64), torch.outer(torch.arange(T).double(), inv_freq))
    out = torch.view_as_real(z).float()
    return torch.cat([out[..., 0], out[..., 1]], -1)


def ref_mha(sd, p, x, mem, allowed, H, rope_q, rope_k):
    def heads(t):
        return t.view(t.shape[0], t.shape[1], H, -1).transpose(1, 2)
    q = heads(F.linear(x, sd[p + "query.weight"], sd[p + "query.bias"]))
    k = heads(F.linear(mem, sd[p + "key.weight"], sd[p + "key.bias"]))
    v = heads(F.linear(mem, sd[p + "value.weight"], sd[p + "value.bias"]))
    if rope_q:
        q = ref_rotate(q)
    if rope_k:
        k = ref_rotate(k)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    att = scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v
    y = att.transpose(1, 2).reshape(x.shape)
    return F.linear(y, sd[p + "out.weight"], sd[p + "out.bias"])


def ref_forward(model, feats, lens, ys_in):
    """Encoder output, its lengths and decoder logits, written from the state dict alone."""
    sd, cfg = model.state_dict(), model.cfg
    d, H = cfg.d_model, cfg.n_heads

    def ln(x, p):
        return F.layer_norm(x, (d,), sd[p + ".weight"], sd[p + ".bias"])

    def mlp(x, p):
        return F.linear(F.gelu(F.linear(x, sd[p + ".0.weight"], sd[p + ".0.bias"])), sd[p + ".3.weight"], sd[p + ".3.bias"])

    x = F.relu(F.conv2d(feats[:, None], sd["encoder.subsampling.conv.0.weight"], sd["encoder.subsampling.conv.0.bias"], stride=2))
    x = F.relu(F.conv2d(x, sd["encoder.subsampling.conv.2.weight"], sd["encoder.subsampling.conv.2.bias"], stride=2))
    B, C, T, Fq = x.shape
    x = F.linear(x.permute(0, 2, 1, 3).reshape(B, T, C * Fq), sd["encoder.subsampling.out.weight"], sd["encoder.subsampling.out.bias"])
    enc_lens = ((lens - 1) // 2 - 1) // 2
    keys = (torch.arange(T)[None, :] < enc_lens[:, None])[:, None, None, :]
    for i in range(cfg.enc_layers):
        p = f"encoder.layers.{i}."
        h = ln(x, p + "attn_norm")
        x = x + ref_mha(sd, p + "attn.", h, h, keys, H, True, True)
        x = x + mlp(ln(x, p + "mlp_norm"), p + "mlp")
    enc = ln(x, "encoder.norm")

    L = ys_in.shape[1]
    y = sd["decoder.embed.weight"][ys_in]
    causal = torch.ones(L, L, dtype=torch.bool).tril()
    for i in range(cfg.dec_layers):
        p = f"decoder.layers.{i}."
        h = ln(y, p + "self_norm")
        y = y + ref_mha(sd, p + "self_attn.", h, h, causal, H, True, True)
        y = y + ref_mha(sd, p + "cross_attn.", ln(y, p + "cross_norm"), enc, keys, H, False, False)
        y = y + mlp(ln(y, p + "mlp_norm"), p + "mlp")
    logits = F.linear(ln(y, "decoder.norm"), sd["decoder.out.weight"], sd["decoder.out.bias"])
    return enc, enc_lens, logits


@pytest.mark.parametrize("switches", [{}, dict(radius_mode="logf0", pitch_bias=True)],
                         ids=["all-off", "logf0+bias-at-init"])
def test_plain_model_equals_an_independent_rotary_transformer(switches):
    # at their initial values (α = 0, λ = 0) the radius and the bias leave the plain model unchanged
    model = build(tiny(**switches), perturb=False)
    feats, lens, f0, ys, y_lens = make_batch([57, 40, 33], [5, 3, 4])
    ys_in, _ = model.add_sos_eos(ys, y_lens)
    with torch.no_grad():
        enc, enc_lens = model.encode(feats, lens, f0)
        logits = model.decoder(ys_in, enc, enc_lens)
        ref_enc, ref_lens, ref_logits = ref_forward(model, feats, lens, ys_in)
    assert torch.equal(enc_lens, ref_lens)
    for b, n in enumerate(enc_lens.tolist()):
        assert (enc[b, :n] - ref_enc[b, :n]).abs().max().item() < 1e-5
        assert enc[b, n:].abs().max().item() == 0 if n < enc.shape[1] else True
    assert (logits - ref_logits).abs().max().item() < 1e-5
    if not switches:  # a plain model needs no F0 at all
        with torch.no_grad():
            assert torch.equal(model.encode(feats, lens, None)[0], enc)


# ---- 2. constant F0: logits depend only on i − j -----------------------------------------------
@pytest.mark.parametrize("mode", ["utterance", "frame"])
@pytest.mark.parametrize("freqs", ["standard", "mel"])
def test_constant_f0_shifted_sequence_gives_equal_logits(mode, freqs):
    model = build(tiny(freqs=freqs, theta_mode=mode, radius_mode="logf0", pitch_bias=True, gate="f0"))
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 4 * 15 + 3, 20, generator=g)
    prefix = torch.randn(1, 4 * 6, 20, generator=g)          # 6 whole subsampled frames
    shifted = torch.cat([prefix, x], dim=1)

    def logits(feats):
        f0 = torch.full(feats.shape[:2], 175.0)
        with torch.no_grad():
            return model.encoder.attention_logits(feats, torch.tensor([feats.shape[1]]), f0, layer=0)

    original, moved = logits(x), logits(shifted)
    assert original.shape[-1] == 15 and moved.shape[-1] == 21
    assert (moved[..., 6:, 6:] - original).abs().max().item() < 1e-4
    # and with a moving F0 in frame mode the same content is seen differently after the shift
    if mode == "frame":
        f0 = 120 + 100 * torch.linspace(0, 1, shifted.shape[1]) ** 2
        with torch.no_grad():
            a = model.encoder.attention_logits(x, torch.tensor([x.shape[1]]), f0[None, 24:], layer=0)
            b = model.encoder.attention_logits(shifted, torch.tensor([shifted.shape[1]]), f0[None], layer=0)
        assert (b[..., 6:, 6:] - a).abs().max().item() > 1e-3


# ---- 3. padding invariance ----------------------------------------------------------------------
@pytest.mark.parametrize("switches", [
    dict(ALL_ON),
    dict(freqs="mel", theta_mode="utterance", radius_mode="f0", radius_on="k", pitch_bias=True, gate="scalar",
         subsampling=2, rope_in_cross=True),
    dict(theta_mode="frame", radius_mode="logf0", gate="f0", subsampling=6),
    dict(utterance_cmn=True),
], ids=["frame-logf0-bias-f0gate", "mel-utterance-f0radius-x2", "frame-x6", "utterance-cmn"])
@pytest.mark.parametrize("encoder", ["transformer", "conformer", "ebranchformer"])
def test_batch_equals_each_utterance_alone(switches, encoder):
    model = build(tiny(encoder=encoder, **switches))
    lens = [61, 40, 33, 57, 28, 49, 36, 44]
    y_lens = [6, 3, 2, 5, 1, 4, 3, 4]
    feats, lens_t, f0, ys, y_lens_t = make_batch(lens, y_lens, unvoiced=(4,))
    for b, n in enumerate(lens):  # garbage in the padding: only the masks may keep it out
        feats[b, n:] = 7.0
        f0[b, n:] = 333.0
    with torch.no_grad():
        enc, enc_lens = model.encode(feats, lens_t, f0)
        loss, stats = model(feats, lens_t, f0, ys, y_lens_t)
        singles = []
        for b, (n, m) in enumerate(zip(lens, y_lens)):
            e, el = model.encode(feats[b:b + 1, :n], lens_t[b:b + 1], f0[b:b + 1, :n])
            assert el.item() == enc_lens[b].item()
            assert (e[0] - enc[b, :el.item()]).abs().max().item() <= 1e-5, (encoder, b)
            assert el.item() == enc.shape[1] or enc[b, el.item():].abs().max().item() == 0   # padding stays zero
            singles.append(model(feats[b:b + 1, :n], lens_t[b:b + 1], f0[b:b + 1, :n], ys[b:b + 1, :m], y_lens_t[b:b + 1])[0])
    assert abs(loss.item() - torch.stack(singles).mean().item()) < 1e-4
    assert stats["ctc_infeasible"] == 0


@pytest.mark.parametrize("encoder", ["transformer", "conformer", "ebranchformer"])
def test_utterance_cmn_makes_a_constant_channel_offset_invisible(encoder):
    """A microphone's fixed colouring is a constant added to every frame's log-mel energies: with
    utterance_cmn the encoder's output does not move; without it, it does (so the test can fail)."""
    feats, lens, f0, _, _ = make_batch([52, 37], [1, 1])
    offset = torch.linspace(-3.0, 2.0, feats.shape[-1])   # a tilt of a few dB across the bands
    coloured = torch.where(lengths_to_mask(lens, feats.shape[1])[..., None], feats + offset, feats)
    for cmn, moves in ((True, False), (False, True)):
        model = build(tiny(encoder=encoder, utterance_cmn=cmn, **ALL_ON))
        with torch.no_grad():
            a, _ = model.encode(feats, lens, f0)
            b, _ = model.encode(coloured, lens, f0)
        assert ((a - b).abs().max().item() > 1e-2) == moves, (encoder, cmn)
        if cmn:
            assert (a - b).abs().max().item() < 1e-4


# ---- 4. causality ---------------------------------------------------------------------------------
def test_future_tokens_never_change_earlier_decoder_outputs():
    # prototype mistake: a mask of ones added to the logits let the decoder see the future
    model = build(tiny(**ALL_ON))
    feats, lens, f0, _, _ = make_batch([45, 37], [1, 1])
    with torch.no_grad():
        enc, enc_lens = model.encode(feats, lens, f0)
        g = torch.Generator().manual_seed(5)
        tokens = torch.randint(0, 12, (2, 9), generator=g)
        base = model.decoder(tokens, enc, enc_lens)
        for t in range(8):
            changed = tokens.clone()
            changed[:, t + 1:] = torch.randint(0, 12, (2, 8 - t), generator=g)
            out = model.decoder(changed, enc, enc_lens)
            assert torch.equal(out[:, :t + 1], base[:, :t + 1])
            if not torch.equal(changed[:, t + 1:], tokens[:, t + 1:]):
                assert not torch.allclose(out[:, t + 1:], base[:, t + 1:])


# ---- decoder.step with a cache = full forward ---------------------------------------------------
@pytest.mark.parametrize("rope_in_cross", [False, True])
def test_decoder_step_with_cache_equals_full_forward(rope_in_cross):
    model = build(tiny(rope_in_cross=rope_in_cross, **ALL_ON))
    feats, lens, f0, _, _ = make_batch([51, 30, 44], [1, 1, 1])
    with torch.no_grad():
        enc, enc_lens = model.encode(feats, lens, f0)
        tokens = torch.cat([torch.full((3, 1), model.sos), torch.randint(2, 11, (3, 7))], dim=1)
        full = model.decoder(tokens, enc, enc_lens).log_softmax(-1)
        cache = None
        for t in range(1, tokens.shape[1] + 1):
            log_probs, cache = model.decoder.step(tokens[:, :t], enc, enc_lens, cache)
            assert log_probs.shape == (3, model.vocab_size)
            assert (log_probs - full[:, t - 1]).abs().max().item() < 1e-5
            assert cache["self"][0][0].shape[2] == t
        # beam bookkeeping: reorder the hypotheses, the cache follows
        index = torch.tensor([2, 2, 0])
        cache = model.decoder.reorder_cache(cache, index)
        nxt = torch.cat([tokens[index], torch.tensor([[3], [4], [5]])], dim=1)
        log_probs, _ = model.decoder.step(nxt, enc[index], enc_lens[index], cache)
        expected = model.decoder(nxt, enc[index], enc_lens[index]).log_softmax(-1)[:, -1]
        assert (log_probs - expected).abs().max().item() < 1e-5
        # a stale cache (hypotheses reordered without reorder_cache) is detected, not trusted
        _, cache = model.decoder.step(tokens, enc, enc_lens, None)
        log_probs, _ = model.decoder.step(nxt, enc[index], enc_lens[index], cache)
        assert (log_probs - expected).abs().max().item() < 1e-5


# ---- 5. unvoiced-only and F0 = 0: finite, also under fp16/bf16 autocast ----------------------------
@pytest.mark.parametrize("switches", [dict(ALL_ON), dict(freqs="mel", theta_mode="utterance", radius_mode="f0",
                                                         pitch_bias=True, gate="f0")], ids=["frame", "utterance"])
def test_unvoiced_utterances_are_finite_in_every_precision(switches):
    model = build(tiny(**switches))
    model.train()
    feats, lens, f0, ys, y_lens = make_batch([50, 41, 36], [4, 2, 3], unvoiced=(0,))
    f0[1] = 0.0
    f0[2, :] = 0.0
    f0[2, 10] = 190.0                                  # one voiced frame in the whole utterance
    for dtype in (None, torch.bfloat16, torch.float16):
        model.zero_grad()
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            loss, stats = model(feats, lens, f0, ys, y_lens)
            enc, _ = model.encode(feats, lens, f0)
        loss.backward()
        assert math.isfinite(loss.item()) and torch.isfinite(enc.float()).all(), dtype
        for name, p in model.named_parameters():
            assert p.grad is None or torch.isfinite(p.grad).all(), (dtype, name)
    with torch.no_grad():  # F0 all zero: θ = θ0 everywhere, ẑ = 0, radius 1, no bias
        model.eval()
        track = model.encoder.pitch_track(torch.zeros(1, 50), torch.tensor([50]))
        assert track.mean_f0.item() == 0 and not track.voiced.any() and track.z.abs().max() == 0


# ---- 6. gradient flow -----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["utterance", "frame"])
@pytest.mark.parametrize("freqs", ["standard", "mel"])
def test_pitch_parameters_receive_gradients(mode, freqs):
    # prototype mistake: the learnable θ0 was detached from the graph
    model = build(tiny(freqs=freqs, theta_mode=mode, radius_mode="logf0", pitch_bias=True, gate="f0"), perturb=False)
    model.train()
    feats, lens, f0, ys, y_lens = make_batch([50, 41], [4, 2])
    loss, _ = model(feats, lens, f0, ys, y_lens)
    loss.backward()
    rotary = model.encoder.rotary
    assert rotary.log_theta0.grad.abs().item() > 0
    assert rotary.theta_gain.grad.abs().item() > 0
    assert rotary.radius_alpha.grad.abs().min().item() > 0           # every head, from α = 0
    for layer in model.encoder.layers:
        assert layer.attn.bias_lambda_raw.grad.abs().min().item() > 0   # every head, from λ = 0
        assert layer.gate.proj.weight.grad[0, -3:].abs().min().item() > 0  # the gate's F0 inputs


def test_lambda_stays_nonnegative_yet_can_recover():
    model = build(tiny(pitch_bias=True, theta_mode="none"), perturb=False)
    attn = model.encoder.layers[0].attn
    with torch.no_grad():
        attn.bias_lambda_raw.copy_(torch.tensor([-0.5, 0.7]))
    lam = attn.bias_lambda()
    assert lam.tolist() == pytest.approx([0.0, 0.7])
    lam.sum().backward()
    assert attn.bias_lambda_raw.grad.tolist() == [1.0, 1.0]


# ---- the pitch bias is real and is what the formula says ---------------------------------------
def test_pitch_bias_is_enabled_and_follows_the_formula():
    # prototype mistake: the pitch bias existed but was never enabled
    assert all(layer.attn.bias_lambda_raw is None for layer in build(tiny()).encoder.layers)
    model = build(tiny(pitch_bias=True))
    feats, lens, f0, _, _ = make_batch([61], [1])
    with torch.no_grad():
        with_bias = model.encoder.attention_logits(feats, lens, f0, layer=0)
        lam = model.encoder.layers[0].attn.bias_lambda().clone()
        model.encoder.layers[0].attn.bias_lambda_raw.zero_()
        without = model.encoder.attention_logits(feats, lens, f0, layer=0)
    track = model.encoder.pitch_track(f0, lens)
    z, v = track.z[0], track.voiced[0]
    expected = -lam[:, None, None] * (z[:, None] - z[None, :]).abs() * (v[:, None] & v[None, :])
    assert v.any() and (~v).any()
    torch.testing.assert_close(with_bias[0] - without[0], expected, atol=1e-5, rtol=0)
    assert expected.abs().max().item() > 0.1


# ---- gates see F0, and their statistics -----------------------------------------------------------
def test_f0_gate_sees_pitch_and_scalar_gate_does_not():
    # prototype mistake: the gates never saw F0
    feats, lens, f0, _, _ = make_batch([57, 45], [1, 1])
    other_f0 = f0 * 1.5
    other_f0[:, ::3] = 0.0
    for gate, should_change in (("f0", True), ("scalar", False)):
        model = build(tiny(gate=gate))
        with torch.no_grad():
            a, _ = model.encode(feats, lens, f0)
            b, _ = model.encode(feats, lens, other_f0)
        assert ((a - b).abs().max().item() > 1e-4) == should_change, gate


def test_gate_statistics_match_the_gate_values():
    model = build(tiny(gate="f0", theta_mode="frame"))
    captured = []
    handle = model.encoder.layers[1].gate.register_forward_hook(lambda mod, args, out: captured.append(out[..., 0]))
    feats, lens, f0, _, _ = make_batch([61, 38, 47], [1, 1, 1])
    assert model.gate_stats() == {}
    with torch.no_grad(), model.collecting_gate_stats():
        model.encode(feats, lens, f0)
        model.encode(feats[:1], lens[:1], f0[:1])
    handle.remove()
    assert not model.collect_gate_stats
    stats = model.gate_stats()
    track_a = model.encoder.pitch_track(f0, lens)
    track_b = model.encoder.pitch_track(f0[:1], lens[:1])
    g = torch.cat([captured[0][track_a.valid], captured[1][track_b.valid]]).double()
    v = torch.cat([track_a.voiced[track_a.valid], track_b.voiced[track_b.valid]]).double()
    assert stats["enc1.mean"] == pytest.approx(g.mean().item(), rel=1e-6)
    assert stats["enc1.open_frac"] == pytest.approx((g > 0.5).double().mean().item(), rel=1e-6)
    assert stats["enc1.voicing_corr"] == pytest.approx(torch.corrcoef(torch.stack([g, v]))[0, 1].item(), abs=1e-6)
    assert set(stats) >= {"enc0.mean", "mean", "open_frac", "voicing_corr"}
    # outside the context nothing accumulates
    model.encode(feats, lens, f0)
    assert model.gate_stats()["enc1.mean"] == stats["enc1.mean"]


# ---- inference needs no transcript ----------------------------------------------------------------
def test_encode_needs_no_transcript():
    # prototype mistake: token-aligned pitch needed the transcript length, so inference could not run
    assert list(inspect.signature(EchoModel.encode).parameters) == ["self", "feats", "feat_lens", "f0"]
    model = build(tiny(**ALL_ON))
    feats, lens, f0, ys, y_lens = make_batch([53], [4])
    with torch.no_grad():
        enc, enc_lens = model.encode(feats, lens, f0)
        log_probs = model.ctc_log_probs(enc)
    assert enc.shape == (1, ((53 - 1) // 2 - 1) // 2, 32) and log_probs.shape == (1, enc.shape[1], 12)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(1, enc.shape[1]))
    with pytest.raises(ValueError, match="need F0"):
        model.encode(feats, lens, None)


# ---- lengths, losses, config ------------------------------------------------------------------------
@pytest.mark.parametrize("factor,formula", [
    (2, lambda T: (T - 1) // 2), (4, lambda T: ((T - 1) // 2 - 1) // 2),
    (6, lambda T: ((T - 1) // 2 - 2) // 3), (8, lambda T: (((T - 1) // 2 - 1) // 2 - 1) // 2)])
def test_encoder_lengths_follow_the_conv_arithmetic(factor, formula):
    sub = Conv2dSubsampling(20, 16, factor, 4)
    lengths = torch.arange(sub.window, sub.window + 40)
    assert sub.output_lengths(lengths).tolist() == [formula(T) for T in lengths.tolist()]
    for T in (sub.window, sub.window + 1, sub.window + 13):
        assert sub(torch.zeros(1, T, 20)).shape[1] == formula(T) >= 1
    assert sub.output_lengths(torch.tensor([sub.window - 1])).item() == 0


def test_too_short_utterances_are_named():
    model = build(tiny())
    feats, lens, f0, ys, y_lens = make_batch([40, 6], [2, 1])
    with pytest.raises(ValueError, match=r"utterances \[1\].*\[6\] frames.*at least 7"):
        model(feats, lens, f0, ys, y_lens)


@pytest.mark.parametrize("bad_id", [0, 11, -2])   # <blank>, <sos/eos>, negative
def test_blank_and_sos_eos_are_rejected_as_targets(bad_id):
    model = build(tiny())
    feats, lens, f0, ys, y_lens = make_batch([40, 40], [3, 2])
    ys[1, 1] = bad_id
    with pytest.raises(ValueError, match=r"utterances \[1\] .*outside \[1, 11\).*<blank> = 0"):
        model(feats, lens, f0, ys, y_lens)


def test_ctc_counts_utterances_longer_than_their_frames(caplog):
    model = build(tiny())
    feats, lens, f0, ys, y_lens = make_batch([40, 23], [3, 6])   # 23 frames -> 4 encoder frames < 6 tokens
    with caplog.at_level(logging.WARNING, logger="echo.model.ctc"), torch.no_grad():
        loss, stats = model(feats, lens, f0, ys, y_lens)
    assert stats["ctc_infeasible"] == 1 and math.isfinite(loss.item())
    assert "indices [1]" in caplog.text


def test_loss_weights_and_token_checks():
    feats, lens, f0, ys, y_lens = make_batch([40, 33], [3, 2])
    parts = {}
    for w in (0.0, 0.3, 1.0):
        model = build(tiny(ctc_weight=w))
        with torch.no_grad():
            loss, stats = model(feats, lens, f0, ys, y_lens)
        assert loss.item() == pytest.approx(w * stats["loss_ctc"] + (1 - w) * stats["loss_att"], rel=1e-6)
        parts[w] = stats
    assert parts[1.0]["loss_att"] == 0 and math.isnan(parts[1.0]["acc"]) and parts[0.0]["loss_ctc"] == 0
    assert 0 <= parts[0.3]["acc"] <= 1
    bad = ys.clone()
    bad[1, 0] = 11                                  # <sos/eos> is not a target token
    with pytest.raises(ValueError, match=r"utterances \[1\]"):
        build(tiny())(feats, lens, f0, bad, y_lens)


def test_config_round_trip_and_errors():
    cfg = EchoConfig(freqs="mel", theta_mode="frame")
    assert cfg.theta0 == 220.0 and EchoConfig().theta0 == 10000.0
    assert EchoConfig(**dataclasses.asdict(cfg)) == cfg
    with pytest.raises(ValueError, match="radius_mode"):
        EchoConfig(radius_mode="loud")
    with pytest.raises(ValueError, match="subsampling"):
        EchoConfig(subsampling=3)


# ---- the features' pitch source and the value rotary (issue 18) ---------------------------------
def test_torch_pitch_features_equal_the_feature_code():
    import numpy as np

    from echo.features.pitch import pitch_features
    from echo.model.pitch import pitch_features_torch
    rng = np.random.default_rng(0)
    for T in (1, 3, 40, 400):
        for voiced_share in (0.0, 0.3, 0.9, 1.0):
            f0 = np.where(rng.random(T) < voiced_share, 80 + 200 * rng.random(T), 0).astype(np.float32)
            ours = pitch_features_torch(torch.from_numpy(f0)).numpy()
            assert np.abs(ours - pitch_features(f0)).max() < 1e-6, (T, voiced_share)


def test_feature_source_pools_the_feature_track():
    from echo.features.pitch import pitch_features
    from echo.model.pitch import feature_track
    _, lens, f0, _, _ = make_batch([61, 40], [1, 1])
    track = feature_track(f0, lens, window=7, stride=4, std=0.2)
    n = 40
    expected = torch.from_numpy(pitch_features(f0[1, :n].numpy()))[:, 0].double()
    out_len = (n - 7) // 4 + 1
    pooled = expected.unfold(0, 7, 4).mean(-1)[:out_len]
    # ẑ is the pooled feature over its std (what CMVN makes of it); the F0 radius keeps F0 over its window's mean
    assert (track.z[1, :out_len].double() * 0.2 - pooled).abs().max() < 1e-5
    assert (track.log_ratio[1, :out_len] - pooled).abs().max() < 1e-6
    assert bool(track.voiced[1, :out_len].all()) and not bool(track.voiced[1, out_len:].any())
    assert 0 <= float(track.voiced_frac.min()) and float(track.voiced_frac.max()) <= 1


def test_feature_source_reads_pitch_at_the_utterance_z_scale():
    """Like with like: on a speech-like contour (a 100-140 Hz voice wandering by a few semitones) the
    features' ẑ, divided by feature_pitch_std, has about the spread of the utterance ẑ (undivided it was
    ~5x smaller, so every switch on the features' track saw a weaker pitch); the model passes its config's
    std through."""
    from echo.model.pitch import PitchTrack, feature_track
    t = torch.arange(600, dtype=torch.float64)
    contour = 120 * torch.exp(0.15 * torch.sin(2 * math.pi * t / 40) + 0.05 * torch.sin(2 * math.pi * t / 170))
    f0 = torch.where(torch.sin(2 * math.pi * t / 25) > -0.6, contour, torch.zeros_like(contour)).float()[None]
    lens = torch.tensor([600])
    utt, feat = PitchTrack.from_f0(f0, lens, 7, 4), feature_track(f0, lens, 7, 4)
    ratio = float(feat.z[feat.voiced].std() / utt.z[utt.voiced].std())
    assert 0.6 < ratio < 1.6, ratio
    undivided = feature_track(f0, lens, 7, 4, std=1.0)
    assert float(undivided.z[undivided.voiced].std() / utt.z[utt.voiced].std()) < 0.2
    model = EchoModel(tiny(value_rotary=True, pitch_source="features", feature_pitch_std=0.3))
    track = model.encoder.pitch_track(f0, lens)
    assert torch.allclose(track.z, feature_track(f0, lens, 7, 4, std=0.3).z)
    with pytest.raises(ValueError, match="feature_pitch_std"):
        tiny(feature_pitch_std=0.0)


def test_value_rotary_off_is_plain_and_at_beta_zero_equals_plain():
    feats, lens, f0, ys, y_lens = make_batch([57, 40, 33], [5, 3, 4])
    plain = build(tiny(), perturb=False)
    torch.manual_seed(0)
    on = EchoModel(tiny(value_rotary=True)).eval()
    missing, unexpected = on.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["encoder.rotary.value_beta"] and not unexpected
    with torch.no_grad():
        a = plain.encode(feats, lens, f0)[0]
        b = on.encode(feats, lens, f0)[0]
        assert torch.equal(a, plain.encode(feats, lens, None)[0])    # switched off: no F0 needed at all
        assert (a - b).abs().max() < 1e-6                             # β = 0: no turn at all
        on.encoder.rotary.value_beta.normal_()
        assert (on.encode(feats, lens, f0)[0] - a).abs().max() > 1e-2   # β ≠ 0: pitch reaches the output


def test_value_rotary_reads_only_pitch_intervals():
    """y_i = Σ_j a_ij R(β(ẑ_j − ẑ_i)) v_j: a constant added to every ẑ changes nothing, a moving ẑ does."""
    from echo.model.attention import MultiHeadAttention, key_allowed
    from echo.model.rotary import Rotation
    torch.manual_seed(0)
    attn = MultiHeadAttention(32, 2).eval()
    x, z = torch.randn(1, 9, 32), torch.randn(1, 9)
    beta = torch.randn(2, 8)

    def out(zz):
        phase = beta[None, :, None, :] * zz[:, None, :, None]
        return attn(x, key_allowed(torch.tensor([9]), 9), value_rotation=Rotation(phase.cos(), phase.sin()))
    with torch.no_grad():
        assert (out(z) - out(z + 1.7)).abs().max() < 1e-5
        assert (out(z) - out(z * 2)).abs().max() > 1e-2


@pytest.mark.parametrize("source", ["utterance_z", "features"])
def test_value_rotary_ignores_a_constant_pitch_factor(source):
    # the same voice an octave (and a bit) higher: ẑ is unchanged with either source, so is the output
    model = build(tiny(value_rotary=True, radius_mode="logf0", pitch_bias=True, gate="f0", pitch_source=source))
    with torch.no_grad():
        model.encoder.rotary.value_beta.normal_()
        feats, lens, f0, _, _ = make_batch([57, 40], [1, 1])
        a = model.encode(feats, lens, f0)[0]
        b = model.encode(feats, lens, f0 * 2.3)[0]
    assert (a - b).abs().max() < 1e-4


@pytest.mark.parametrize("source", ["utterance_z", "features"])
@pytest.mark.parametrize("encoder", ["transformer", "conformer", "ebranchformer"])
def test_value_rotary_and_feature_source_batch_equals_each_utterance_alone(source, encoder):
    model = build(tiny(encoder=encoder, pitch_source=source, value_rotary=True, **ALL_ON))
    with torch.no_grad():
        model.encoder.rotary.value_beta.normal_()
    lens = [61, 40, 33, 57, 28]
    feats, lens_t, f0, _, _ = make_batch(lens, [1] * 5, unvoiced=(2,))
    for b, n in enumerate(lens):
        feats[b, n:] = 7.0
        f0[b, n:] = 333.0
    with torch.no_grad():
        enc, enc_lens = model.encode(feats, lens_t, f0)
        for b, n in enumerate(lens):
            e, el = model.encode(feats[b:b + 1, :n], lens_t[b:b + 1], f0[b:b + 1, :n])
            assert (e[0] - enc[b, :el.item()]).abs().max().item() < 1e-5


@pytest.mark.parametrize("source", ["utterance_z", "features"])
def test_value_rotary_beta_receives_gradients(source):
    model = build(tiny(value_rotary=True, pitch_source=source))
    model.train()
    feats, lens, f0, ys, y_lens = make_batch([57, 40], [5, 3])
    loss, _ = model(feats, lens, f0, ys, y_lens)
    loss.backward()
    grad = model.encoder.rotary.value_beta.grad
    assert grad is not None and grad.abs().max() > 0
    assert "value_beta_rms" in model.pitch_parameters()


def test_feature_source_feeds_theta_and_radius_from_the_features_track():
    from echo.model.pitch import PitchTrack, feature_track
    _, lens, f0, _, _ = make_batch([61, 40], [1, 1], unvoiced=(1,))
    utt, feat = PitchTrack.from_f0(f0, lens, 7, 4), feature_track(f0, lens, 7, 4)
    # utterance_z: F0 over the voiced mean; features: exp(window-normalised log-F0), same on an unvoiced utterance
    assert torch.allclose(utt.f0_ratio()[0][utt.voiced[0]], (utt.f0 / utt.mean_f0[:, None])[0][utt.voiced[0]])
    assert torch.allclose(feat.f0_ratio()[0][feat.voiced[0]], feat.log_ratio[0][feat.voiced[0]].exp())
    assert bool((feat.f0_ratio()[1] == 1).all()) and float(feat.mean_f0[1]) == 0.0
    assert abs(float(feat.mean_f0[0]) / float(utt.mean_f0[0]) - 1) < 0.2   # a geometric mean: near, not equal
    assert float(feat.mean_f0[0]) != float(utt.mean_f0[0])
