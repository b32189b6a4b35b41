"""The pitch-aware rotary embedding and the pitch track it reads (echo/model/{rotary,pitch}.py)."""
import math
from pathlib import Path

import pytest
import torch

from echo.model.attention import MultiHeadAttention, key_allowed
from echo.model.pitch import PitchTrack
from echo.model.rotary import PitchRotary, Rotation, rotary_frequencies, standard_rotation


def seed_mel_freqs(theta, dim):
    """The seed's formula, verbatim (echo-readme.md)."""
    return (theta / 220.0) * 700 * (torch.pow(10, torch.linspace(
        0, 2595 * torch.log10(torch.tensor(1 + 8000 / 700, dtype=torch.float64)), dim // 2,
        dtype=torch.float64) / 2595) - 1) / 1000


def track_of(f0, lens=None, window=7, stride=4):
    f0 = torch.as_tensor(f0, dtype=torch.float32)
    if f0.dim() == 1:
        f0 = f0[None]
    lens = torch.full((f0.shape[0],), f0.shape[1]) if lens is None else torch.as_tensor(lens)
    return PitchTrack.from_f0(f0, lens, window, stride)


# ---- 7. the mel formula --------------------------------------------------------------------------
@pytest.mark.parametrize("theta", [220.0, 137.5, 10000.0])
@pytest.mark.parametrize("head_dim", [16, 36, 64])
def test_mel_frequencies_reproduce_the_seed(theta, head_dim):
    omega = rotary_frequencies(torch.tensor(theta, dtype=torch.float64), head_dim, "mel")
    seed = seed_mel_freqs(theta, head_dim)
    assert omega.shape == (head_dim // 2,)
    torch.testing.assert_close(omega, seed, rtol=1e-12, atol=1e-12)
    assert omega[0] == 0.0
    assert omega[-1].item() == pytest.approx(8.0 * theta / 220.0, rel=1e-12)
    assert (omega.diff() > 0).all()


def test_standard_frequencies_and_cap():
    theta = torch.tensor(10000.0, dtype=torch.float64)
    omega = rotary_frequencies(theta, 8, "standard")
    torch.testing.assert_close(omega, torch.tensor([1.0, 10000 ** -0.25, 10000 ** -0.5, 10000 ** -0.75],
                                                   dtype=torch.float64))
    capped = rotary_frequencies(torch.tensor(220.0, dtype=torch.float64), 16, "mel", max_omega=math.pi)
    assert capped.max().item() == pytest.approx(math.pi) and capped[0] == 0


@pytest.mark.parametrize("freqs", ["standard", "mel"])
def test_frequencies_are_differentiable_in_theta(freqs):
    theta = torch.tensor(300.0, dtype=torch.float64, requires_grad=True)
    omega = rotary_frequencies(theta, 16, freqs)
    grad, = torch.autograd.grad(omega.sum(), theta)
    eps = 1e-4
    numeric = (rotary_frequencies(theta.detach() + eps, 16, freqs).sum()
               - rotary_frequencies(theta.detach() - eps, 16, freqs).sum()) / (2 * eps)
    assert grad.item() != 0
    assert grad.item() == pytest.approx(numeric.item(), rel=1e-6)


# ---- the pitch track: voiced-only means, pooling windows -----------------------------------------
def test_mean_f0_counts_only_voiced_valid_frames():
    # prototype mistake: the mean counted unvoiced zeros (here it would be 100, or less with padding)
    f0 = torch.tensor([[0, 0, 200, 200, 0, 0, 200, 200, 999, 999, 999],
                       [0] * 11], dtype=torch.float32)
    track = track_of(f0, lens=[8, 11])
    assert track.mean_f0.tolist() == pytest.approx([200.0, 0.0])


def test_pooling_uses_the_conv_windows():
    T = 23
    f0 = torch.zeros(T)
    f0[0:4] = 100.0          # window 0 = frames 0..6: 4 voiced of 7
    f0[8:10] = 400.0         # window 1 = frames 4..10: 2 voiced (400, 400) -> unvoiced by majority
    f0[12:19] = 150.0        # window 3 = frames 12..18: all voiced
    track = track_of(f0, lens=[T])
    assert track.f0.shape == (1, (T - 7) // 4 + 1) == (1, ((T - 1) // 2 - 1) // 2)
    assert track.voiced_frac[0].tolist() == pytest.approx([4 / 7, 2 / 7, 5 / 7, 1.0, 3 / 7])
    assert track.voiced[0].tolist() == [True, False, True, True, False]
    assert track.f0[0, 0].item() == pytest.approx(100.0, rel=1e-5)
    assert track.f0[0, 1].item() == 0.0
    # window 2 = frames 8..14: 400, 400, 150, 150, 150 -> geometric mean of the voiced frames
    assert track.f0[0, 2].item() == pytest.approx(math.exp((2 * math.log(400) + 3 * math.log(150)) / 5), rel=1e-5)


def test_z_is_voiced_normalised_and_zero_elsewhere():
    torch.manual_seed(0)
    f0 = torch.where(torch.rand(2, 80) > 0.4, 120 + 80 * torch.rand(2, 80), torch.zeros(2, 80))
    lens = torch.tensor([80, 50])
    track = PitchTrack.from_f0(f0, lens, 7, 4)
    for b, n in enumerate(lens.tolist()):
        v = f0[b, :n][f0[b, :n] > 0].log()
        pooled = torch.tensor([f0[b, 4 * j:4 * j + 7][f0[b, 4 * j:4 * j + 7] > 0].log().mean().item()
                               if (f0[b, 4 * j:4 * j + 7] > 0).sum() >= 3.5 else float("nan")
                               for j in range(track.z.shape[1])])
        for j in range(track.z.shape[1]):
            if track.voiced[b, j]:
                expected = (pooled[j] - v.mean()) / v.std(unbiased=False)
                assert track.z[b, j].item() == pytest.approx(expected.item(), abs=1e-4)
            else:
                assert track.z[b, j] == 0
    assert not track.voiced[1, track.valid[1].sum():].any()


# ---- θ from F0 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("freqs", ["standard", "mel"])
def test_frame_mode_constant_f0_is_ordinary_rotary(freqs):
    f0_hz, theta0, gain = 180.0, (10000.0 if freqs == "standard" else 220.0), 0.7
    rotary = PitchRotary(16, 2, freqs, theta0, "frame", gain)
    track = track_of(torch.full((1, 203), f0_hz))
    rotation, _, _ = rotary(track.f0.shape[1], track)
    # θ = θ0·(1 + g·F/220) with the module's own (float32) θ0 and g
    theta = math.exp(rotary.log_theta0.item()) * (1 + rotary.theta_gain.item() * f0_hz / 220.0)
    assert theta == pytest.approx(theta0 * (1 + gain * f0_hz / 220.0), rel=1e-6)
    omega = rotary_frequencies(torch.tensor(theta, dtype=torch.float64), 16, freqs)
    t = torch.arange(track.f0.shape[1], dtype=torch.float64)
    expected = Rotation.from_phase((t[:, None] * omega)[None])
    torch.testing.assert_close(rotation.cos, expected.cos, atol=1e-6, rtol=0)
    torch.testing.assert_close(rotation.sin, expected.sin, atol=1e-6, rtol=0)
    if freqs == "standard":  # and θ(F) is ordinary rotary's θ: the decoder's helper gives the same
        plain = standard_rotation(track.f0.shape[1], 16, theta)
        torch.testing.assert_close(rotation.cos, plain.cos, atol=1e-6, rtol=0)


def toeplitz_error(scores):
    """max |S[i+1, j+1] − S[i, j]|: 0 when scores depend only on i − j."""
    return (scores[..., 1:, 1:] - scores[..., :-1, :-1]).abs().max().item()


@pytest.mark.parametrize("mode", ["utterance", "frame"])
@pytest.mark.parametrize("freqs", ["standard", "mel"])
def test_constant_f0_logits_depend_only_on_offset(mode, freqs):
    torch.manual_seed(1)
    H, dh, T = 2, 16, 40
    rotary = PitchRotary(dh, H, freqs, 10000.0 if freqs == "standard" else 220.0, mode, 1.3, radius_mode="logf0")
    with torch.no_grad():
        rotary.radius_alpha.fill_(0.8)
    attn = MultiHeadAttention(H * dh, H, pitch_bias=True)
    with torch.no_grad():
        attn.bias_lambda_raw.fill_(2.0)
    raw_T = 4 * T + 3
    content = torch.randn(1, 1, H * dh).expand(1, T, H * dh)  # the same vector at every frame
    allowed = key_allowed(torch.tensor([T]), T)

    def scores(f0):
        track = track_of(f0)
        rotation, rq, rk = rotary(T, track)
        return attn.logits(content, allowed, rotation, rq, rk, track.pair_distance())[0]

    constant = scores(torch.full((raw_T,), 210.0))
    assert toeplitz_error(constant) < 1e-4
    # a non-constant F0 in frame mode makes the phase speed vary: no longer a function of i − j
    if mode == "frame":
        varying = scores(150 + 100 * torch.linspace(0, 1, raw_T) ** 2)
        assert toeplitz_error(varying) > 1e-2


def test_unvoiced_frames_use_the_voiced_mean_and_theta0_when_nothing_is_voiced():
    rotary = PitchRotary(8, 1, "mel", 220.0, "frame", 1.0)
    f0 = torch.zeros(2, 31)
    f0[0, :11] = 200.0                    # first windows voiced, the rest unvoiced
    track = track_of(f0)
    phase = rotary.phase(track.f0.shape[1], track)
    speed = phase.diff(dim=1)[..., -1]    # ω_{K−1} per frame = 8·θ_t/220
    assert torch.allclose(speed[0], torch.full_like(speed[0], 8 * (220 + 200) / 220), rtol=1e-6)
    assert torch.allclose(speed[1], torch.full_like(speed[1], 8.0), rtol=1e-6)


def test_theta0_and_gain_get_gradients_through_the_rotation():
    for mode in ("utterance", "frame"):
        for freqs in ("standard", "mel"):
            rotary = PitchRotary(8, 2, freqs, 500.0, mode, 0.5)
            track = track_of(torch.linspace(100, 250, 43))
            rotation, _, _ = rotary(track.f0.shape[1], track)
            (rotation.cos.sum() + 2 * rotation.sin.sum()).backward()
            assert rotary.log_theta0.grad.abs().item() > 1e-6, (mode, freqs)
            assert rotary.theta_gain.grad.abs().item() > 1e-6, (mode, freqs)


# ---- radius -------------------------------------------------------------------------------------
def test_f0_radius_is_normalised_and_clamped():
    # prototype mistake: the raw-Hz radius scaled logits by F0_i·F0_j (~10^5 here)
    f0 = torch.tensor([500.0] * 14 + [60.0] * 21 + [0.0] * 7 + [200.0] * 14)
    track = track_of(f0)
    rotary = PitchRotary(8, 2, radius_mode="f0")
    _, rq, rk = rotary(track.f0.shape[1], track)
    assert rq is rk and rq.shape == (1, 1, track.f0.shape[1], 1)
    r = rq.flatten()
    assert r.min().item() >= 0.5 and r.max().item() <= 2.0
    assert r.max().item() == 2.0 and r.min().item() == 0.5           # 500 Hz and 60 Hz hit the clamps
    assert r[~track.voiced[0]].eq(1.0).all()                           # unvoiced: unit radius
    mean = track.mean_f0.item()
    j = track.voiced[0].nonzero().flatten()[-1]                         # a 200 Hz frame: F0 / mean F0
    assert r[j].item() == pytest.approx(200.0 / mean, rel=1e-4)


def test_f0_radius_keeps_logits_within_four_times_unit():
    torch.manual_seed(2)
    H, dh, T = 2, 8, 12
    f0 = torch.tensor([480.0, 70.0] * 26)[: 4 * T + 3]
    track = track_of(f0)
    x = torch.randn(1, T, H * dh)
    allowed = key_allowed(torch.tensor([T]), T)
    attn = MultiHeadAttention(H * dh, H)
    unit_rot, _, _ = PitchRotary(dh, H)(T, track)
    rot, rq, rk = PitchRotary(dh, H, radius_mode="f0")(T, track)
    unit = attn.logits(x, allowed, unit_rot)
    scaled = attn.logits(x, allowed, rot, rq, rk)
    assert (scaled.abs() <= 4 * unit.abs() + 1e-5).all()
    _, _, rk_only = PitchRotary(dh, H, radius_mode="f0", radius_on="k")(T, track)
    assert (attn.logits(x, allowed, rot, None, rk_only).abs() <= 2 * unit.abs() + 1e-5).all()


def test_logf0_radius_starts_at_one_and_follows_alpha():
    track = track_of(torch.linspace(100, 300, 47))
    rotary = PitchRotary(8, 3, radius_mode="logf0", radius_on="k")
    rot, rq, rk = rotary(track.f0.shape[1], track)
    assert rq is None and torch.equal(rk, torch.ones_like(rk)) and rk.shape == (1, 3, 11, 1)
    with torch.no_grad():
        rotary.radius_alpha.copy_(torch.tensor([0.0, 0.5, -0.7]))
    _, _, rk = rotary(track.f0.shape[1], track)
    torch.testing.assert_close(rk[0, 2, :, 0], torch.exp(-0.7 * track.z[0]))
    torch.testing.assert_close(rk[0, 1, :, 0], torch.exp(0.5 * track.z[0]))
    with torch.no_grad():                     # a huge α cannot push the radius past [1/4, 4]
        rotary.radius_alpha.fill_(50.0)
    _, _, rk = rotary(track.f0.shape[1], track)
    assert rk.max().item() == pytest.approx(4.0) and rk.min().item() == pytest.approx(0.25)


def test_pitch_modes_without_f0_say_so():
    with pytest.raises(ValueError, match="needs F0"):
        PitchRotary(8, 2, theta_mode="frame")(10, None)
    with pytest.raises(ValueError, match="theta_mode"):
        PitchRotary(8, 2, theta_mode="sometimes")


# ---- the picture ----------------------------------------------------------------------------------
def test_similarity_is_one_on_the_diagonal_and_toeplitz_for_plain_rotary():
    from echo.plot.rotary import rotary_similarities
    track, sims = rotary_similarities(torch.full((123,), 150.0).numpy(), head_dim=16, freqs="mel")
    for name, sim in sims.items():
        assert sim.shape == (track.f0.shape[1],) * 2
        assert abs(sim.diagonal() - 1).max() < 1e-6, name   # constant F0: radius exactly 1
        assert toeplitz_error(torch.from_numpy(sim)) < 1e-6, name


def test_plot_rotary_cli_writes_png(tmp_path):
    from echo.bin.plot_rotary import main
    out = tmp_path / "img" / "rotary.png"
    main(["--synthetic", "--out", str(out), "--head-dim", "16"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20000
    wav = Path(__file__).resolve().parents[2] / "shared/data/fsdd/recordings/3_jackson_0.wav"
    if wav.exists():
        main(["--wav", str(wav), "--out", str(tmp_path / "real.png")])
        assert (tmp_path / "real.png").stat().st_size > 20000
    assert list(tmp_path.glob("**/*.png.*")) == []   # no temp files left behind
