"""The Echo model: pitch-aware rotary encoder (transformer, Conformer or E-Branchformer), attention decoder and CTC head, trained with
loss = ctc_weight·CTC + (1 − ctc_weight)·CE(label smoothing). Token conventions: <blank> = 0, <unk> = 1,
<sos/eos> = vocab_size − 1; token tensors are padded with −1.

Defaults are the project's small CPU model: d_model 144, 4 heads of 36 (18 rotary pairs), 6 encoder and
2 decoder layers, ff 576, ×4 subsampling with 64 conv channels: 2.4 M parameters with 32 tokens. A
training step (forward + backward) on 16 utterances of 1.5–2.5 s takes about 0.22 s with 2 CPU threads
(test/bench/bench_model.py), so connected digits are learnt in minutes; d_model 192 costs ~1.4× and 256
~2.3× that. Narrower convs than ESPnet's (64 instead of d_model channels): with 144 channels the
subsampling alone doubles the step time. Head dimension 36 leaves 18 rotary pairs per head. Every pitch
switch defaults to off, so the default model is the plain rotary baseline of the ablations; recipes
switch pitch on in their config. Of the pitch switches, only the F0 gate and `value_rotary` (rotary.py:
values turned by the pitch interval between key and query) put pitch into what the model reads; the others
change where attention looks. `pitch_source` chooses the pitch they all read: the utterance z-score of voiced
log-F0, or the pitch features' own track computed from the same F0 (pitch.py), so inference needs only F0.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from echo.model.ctc import CTC
from echo.model.decoder import Decoder
from echo.model.encoder import ENCODER_LAYERS, Encoder
from echo.model.gates import GATE_TYPES
from echo.model.pitch import FEATURE_PITCH_STD
from echo.model.rotary import FREQ_FAMILIES, RADIUS_MODES, RADIUS_ON, THETA_MODES
from echo.model.subsampling import LAYERS as SUBSAMPLING_LAYERS

# utterance_z: F0 pooled per window, ẑ = utterance z-score of voiced log-F0, 0 where unvoiced;
# features: the pitch features' own track (interpolated, 151-frame-window-normalised log-F0 and soft
# voicing, echo.features.pitch), computed from F0 in the model and pooled the same way (pitch.feature_track)
PITCH_SOURCES = ("utterance_z", "features")

IGNORE_ID = -1
DEFAULT_THETA0 = {"standard": 10000.0, "mel": 220.0}


@dataclass
class EchoConfig:
    idim: int = 80                    # feature dimension (80 fbank, 83 with Kaldi pitch features)
    vocab_size: int = 32              # including <blank>=0, <unk>=1 and <sos/eos>=vocab_size−1
    d_model: int = 144
    n_heads: int = 4
    enc_layers: int = 6
    dec_layers: int = 2
    ff_dim: int = 576
    enc_ff_dim: int = 0               # the encoder's feed-forward width; 0: ff_dim (the decoder's is ff_dim)
    dropout: float = 0.1
    subsampling: int = 4              # 2, 4, 6 or 8 (time); 2 keeps frames for fast short words
    conv_channels: int = 64           # channels of the subsampling convs (0: d_model, as in ESPnet)
    encoder: str = "transformer"      # transformer | conformer | ebranchformer (echo/model/conformer.py)
    conv_kernel: int = 15             # conformer conv module / E-Branchformer cgMLP depthwise kernel (odd)
    cgmlp_dim: int = 0                # E-Branchformer cgMLP channels; 0: the encoder's feed-forward width
    merge_kernel: int = 3             # E-Branchformer merge depthwise kernel (odd)
    interctc_layers: list = field(default_factory=list)   # 1-based encoder blocks with an intermediate CTC
    interctc_weight: float = 0.0      # CTC loss = (1 − w)·CTC + w·mean(intermediate CTCs), as in ESPnet
    # pitch switches (DESIGN §5); all off = an ordinary rotary transformer
    freqs: str = "standard"           # standard | mel
    theta0: float | None = None       # None: 10000 for standard, 220 for mel (then ω_{K−1} = 8 rad/frame)
    theta_mode: str = "none"          # none | utterance | frame
    theta_gain: float = 1.0           # g in θ(F) = θ0·(1 + g·F/220 Hz), i.e. θ0 + s·F with s = g·θ0/220
    max_omega: float | None = None    # cap on ω_k (math.pi: no pair turns more than half a circle a frame)
    radius_mode: str = "unit"         # unit | f0 | logf0
    radius_on: str = "qk"             # qk | k
    pitch_bias: bool = False          # B_ij = −λ_h·|ẑ_i − ẑ_j| on voiced pairs
    gate: str = "none"                # none | scalar | f0 (on the encoder's MLP branch)
    value_rotary: bool = False        # values turned by β·ẑ_j, output back by β·ẑ_i (echo/model/rotary.py)
    pitch_source: str = "utterance_z" # utterance_z | features: the pitch every switch reads (PITCH_SOURCES)
    # features: ẑ = window-normalised log-F0 / this, the std of that feature over speech (0.15-0.17 on
    # synth_tones, synth_prosody and the digits' training set): the scale global CMVN gives the model's own
    # pitch input, and the utterance ẑ's (std ~0.9), so that every switch reads pitch at one scale
    feature_pitch_std: float = FEATURE_PITCH_STD
    # input: subtract each utterance's mean over its valid frames from every feature dimension (after the
    # global CMVN of the data; ESPnet's utterance_mvn without variance, Kaldi's per-utterance CMN), so that a
    # microphone's or a speaker's fixed spectral colouring, a constant offset per channel, never reaches the model
    utterance_cmn: bool = False
    # decoder
    decoder_theta: float = 10000.0    # its ordinary rotary
    rope_in_cross: bool = False
    # loss
    ctc_weight: float = 0.3
    lsm_weight: float = 0.1

    def __post_init__(self):
        for name, choices in (("freqs", FREQ_FAMILIES), ("theta_mode", THETA_MODES),
                              ("radius_mode", RADIUS_MODES), ("radius_on", RADIUS_ON), ("gate", GATE_TYPES),
                              ("pitch_source", PITCH_SOURCES)):
            if getattr(self, name) not in choices:
                raise ValueError(f"EchoConfig.{name} must be one of {choices}, got {getattr(self, name)!r}")
        if not self.feature_pitch_std > 0:
            raise ValueError(f"EchoConfig.feature_pitch_std must be positive, got {self.feature_pitch_std}")
        if self.encoder not in ENCODER_LAYERS:
            raise ValueError(f"EchoConfig.encoder must be one of {tuple(ENCODER_LAYERS)}, got {self.encoder!r}")
        for name in ("conv_kernel", "merge_kernel"):
            if getattr(self, name) < 1 or getattr(self, name) % 2 == 0:
                raise ValueError(f"EchoConfig.{name} must be odd and positive, got {getattr(self, name)}")
        self.check_interctc()
        if self.enc_ff_dim < 0 or self.cgmlp_dim < 0 or self.cgmlp_dim % 2:
            raise ValueError(f"EchoConfig: enc_ff_dim {self.enc_ff_dim} must be ≥ 0 and cgmlp_dim {self.cgmlp_dim} "
                             "≥ 0 and even (0: the default width)")
        if self.subsampling not in SUBSAMPLING_LAYERS:
            raise ValueError(f"EchoConfig.subsampling must be one of {sorted(SUBSAMPLING_LAYERS)}, "
                             f"got {self.subsampling}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"EchoConfig: d_model {self.d_model} / n_heads {self.n_heads} must be an even "
                             "integer (rotary turns pairs of channels)")
        if not 0.0 <= self.ctc_weight <= 1.0:
            raise ValueError(f"EchoConfig.ctc_weight must be in [0, 1], got {self.ctc_weight}")
        if self.vocab_size < 3:
            raise ValueError(f"EchoConfig.vocab_size must be ≥ 3 (<blank>, <unk>, <sos/eos>), got {self.vocab_size}")
        if self.theta0 is None:
            self.theta0 = DEFAULT_THETA0[self.freqs]

    def check_interctc(self):
        self.interctc_layers = list(self.interctc_layers)
        layers, w = self.interctc_layers, self.interctc_weight
        if any(not isinstance(i, int) or not 1 <= i < self.enc_layers for i in layers) or len(set(layers)) < len(layers):
            raise ValueError(f"EchoConfig.interctc_layers must be distinct block numbers in 1..{self.enc_layers - 1} "
                             f"(1-based; the last block is the main CTC), got {layers}")
        if not 0.0 <= w < 1.0:
            raise ValueError(f"EchoConfig.interctc_weight must be in [0, 1), got {w}")
        if bool(layers) != (w > 0):
            raise ValueError(f"EchoConfig: interctc_layers {layers} and interctc_weight {w} go together "
                             "(both set, or neither)")
        if layers and self.ctc_weight == 0:
            raise ValueError("EchoConfig: intermediate CTC needs ctc_weight > 0 (it is mixed into the CTC loss)")

    @property
    def encoder_ff_dim(self) -> int:
        return self.enc_ff_dim or self.ff_dim

    @property
    def pitch_switches(self) -> dict:
        return {"theta_mode": self.theta_mode, "radius_mode": self.radius_mode,
                "pitch_bias": self.pitch_bias, "gate": self.gate, "value_rotary": self.value_rotary,
                "pitch_source": self.pitch_source}


class EchoModel(nn.Module):
    def __init__(self, cfg: EchoConfig):
        super().__init__()
        self.cfg = cfg
        self.vocab_size = cfg.vocab_size
        self.blank, self.unk, self.sos, self.eos, self.ignore_id = 0, 1, cfg.vocab_size - 1, cfg.vocab_size - 1, IGNORE_ID
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg.vocab_size, cfg.d_model, cfg.n_heads, cfg.dec_layers, cfg.ff_dim, cfg.dropout,
                               cfg.decoder_theta, cfg.rope_in_cross)
        self.ctc = CTC(cfg.d_model, cfg.vocab_size, self.blank)

    # ---- the pieces decoding uses -------------------------------------------------------------------
    def encode(self, feats: Tensor, feat_lens: Tensor, f0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """feats (B, T, D), feat_lens (B,), f0 (B, T) Hz (0 = unvoiced) -> enc (B, T', d), enc_lens (B,).
        Needs no transcript: the pitch comes from the audio's own frames."""
        return self.encoder(feats, feat_lens, f0)

    def ctc_log_probs(self, enc: Tensor) -> Tensor:
        """enc (B, T', d) -> (B, T', V) float32."""
        return self.ctc.log_probs(enc)

    # ---- training -----------------------------------------------------------------------------------
    def add_sos_eos(self, ys: Tensor, y_lens: Tensor) -> tuple[Tensor, Tensor]:
        """ys (B, L) padded −1 -> decoder input [<sos> y] padded with <eos>, target [y <eos>] padded −1."""
        B, L = ys.shape
        valid = torch.arange(L, device=ys.device)[None, :] < y_lens[:, None]
        body = torch.where(valid, ys, torch.full_like(ys, self.eos))
        ys_in = torch.cat([torch.full_like(ys[:, :1], self.sos), body], dim=1)
        ys_out = torch.cat([torch.where(valid, ys, torch.full_like(ys, IGNORE_ID)),
                            torch.full_like(ys[:, :1], IGNORE_ID)], dim=1)
        ys_out[torch.arange(B, device=ys.device), y_lens] = self.eos
        return ys_in, ys_out

    def check_tokens(self, ys: Tensor, y_lens: Tensor):
        if ys.dim() != 2 or y_lens.shape != ys.shape[:1] or (y_lens.numel() and int(y_lens.max()) > ys.shape[1]):
            raise ValueError(f"ys must be (B, L) with y_lens (B,) ≤ L, got {tuple(ys.shape)} and {y_lens.tolist()}")
        valid = torch.arange(ys.shape[1], device=ys.device)[None, :] < y_lens[:, None]
        # <blank> (0) is CTC's "no label": as a target it would make CTC learn to emit nothing there
        bad = valid & ((ys <= self.blank) | (ys >= self.eos))
        if bad.any():
            rows = bad.any(1).nonzero().flatten().tolist()
            raise ValueError(f"utterances {rows} of the batch have token ids outside [1, {self.eos}) "
                             f"(<blank> = {self.blank} and <sos/eos> = {self.eos} are not targets; "
                             f"vocab_size {self.vocab_size})")

    def forward(self, feats: Tensor, feat_lens: Tensor, f0: Tensor | None, ys: Tensor,
                y_lens: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Hybrid CTC/attention loss (sum over each utterance, mean over the batch) and its parts.

        stats: loss, loss_ctc, loss_att, acc (teacher-forced next-token accuracy: a training metric,
        never a WER), ctc_infeasible (utterances whose CTC loss was dropped); with intermediate CTC,
        loss_ctc is the mixed CTC loss and loss_interctc the mean of the intermediate ones.
        """
        self.check_tokens(ys, y_lens)
        enc, enc_lens, intermediate = self.encoder.forward_intermediate(feats, feat_lens, f0)
        w = self.cfg.ctc_weight
        loss_ctc = loss_att = loss_interctc = enc.new_zeros((), dtype=torch.float32)
        infeasible, acc = 0, math.nan
        if w > 0:
            loss_ctc, infeasible = self.ctc(enc, enc_lens, ys, y_lens)
        if intermediate:   # ESPnet's intermediate CTC: the same CTC head on earlier blocks' outputs
            loss_interctc = torch.stack([self.ctc(h, enc_lens, ys, y_lens)[0] for h in intermediate]).mean()
            loss_ctc = (1 - self.cfg.interctc_weight) * loss_ctc + self.cfg.interctc_weight * loss_interctc
        if w < 1:
            ys_in, ys_out = self.add_sos_eos(ys, y_lens)
            logits = self.decoder(ys_in, enc, enc_lens).float()
            loss_att = F.cross_entropy(logits.transpose(1, 2), ys_out, ignore_index=IGNORE_ID,
                                       label_smoothing=self.cfg.lsm_weight, reduction="sum") / ys.shape[0]
            with torch.no_grad():
                target = ys_out != IGNORE_ID
                acc = float(((logits.argmax(-1) == ys_out) & target).sum() / target.sum().clamp_min(1))
        loss = w * loss_ctc + (1 - w) * loss_att
        stats = {"loss": float(loss.detach()), "loss_ctc": float(loss_ctc.detach()),
                 "loss_att": float(loss_att.detach()), "acc": acc, "ctc_infeasible": float(infeasible)}
        if intermediate:
            stats["loss_interctc"] = float(loss_interctc.detach())
        return loss, stats

    # ---- gate statistics ----------------------------------------------------------------------------
    @property
    def collect_gate_stats(self) -> bool:
        return any(g.collect for g in self.encoder.gates)

    @collect_gate_stats.setter
    def collect_gate_stats(self, on: bool):
        for gate in self.encoder.gates:
            gate.collect = bool(on)

    def reset_gate_stats(self):
        for gate in self.encoder.gates:
            gate.stats.reset()

    @contextlib.contextmanager
    def collecting_gate_stats(self):
        """with model.collecting_gate_stats(): ... ; then model.gate_stats() covers exactly that block."""
        self.reset_gate_stats()
        self.collect_gate_stats = True
        try:
            yield self
        finally:
            self.collect_gate_stats = False

    def gate_stats(self) -> dict[str, float]:
        """Per layer enc{i}.{mean,open_frac,voicing_corr} and their averages over layers; {} if none."""
        out, per_layer = {}, []
        for i, layer in enumerate(self.encoder.layers):
            if layer.gate is None:
                continue
            summary = layer.gate.stats.summary()
            per_layer.append(summary)
            out.update({f"enc{i}.{k}": v for k, v in summary.items()})
        per_layer = [s for s in per_layer if s]
        for key in ("mean", "open_frac", "voicing_corr"):
            if per_layer:
                out[key] = sum(s[key] for s in per_layer) / len(per_layer)
        return out

    def pitch_parameters(self) -> dict[str, float]:
        """The learned pitch parameters, for logs: θ0, g and s, mean α and λ."""
        rotary, out = self.encoder.rotary, {}
        with torch.no_grad():
            if rotary.theta_gain is not None:
                out.update(theta0=float(rotary.log_theta0.exp()), theta_gain=float(rotary.theta_gain),
                           theta_slope=rotary.slope())
            if rotary.radius_alpha is not None:
                out["radius_alpha"] = float(rotary.radius_alpha.mean())
            if rotary.value_beta is not None:
                out["value_beta_rms"] = float(rotary.value_beta.pow(2).mean().sqrt())
            lambdas = [layer.attn.bias_lambda() for layer in self.encoder.layers
                       if layer.attn.bias_lambda_raw is not None]
            if lambdas:
                out["bias_lambda"] = float(torch.stack(lambdas).mean())
        return out


# ---------------------------------------------------------------- weights-only model files (beside the model
# they build, as whisper keeps load_model: decoding and plotting need the model, never the trainer)

def save_model(path, model_state: dict, config: dict, metrics: dict | None = None) -> None:
    """Weights-only {"model", "config"} at `path` (atomically), and `metrics` beside it as <stem>.json."""
    from pathlib import Path

    from echo.io import atomic

    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model_state.items()}
    atomic.torch_save({"model": state, "config": dict(config)}, path)
    if metrics is not None:
        atomic.write_json(path.with_suffix(".json"), metrics)


def load_model(path, device="cpu") -> EchoModel:
    """The EchoModel of an epoch<N>.pt, an averaged .pt or a checkpoint.pt, in eval mode."""
    from echo.io import atomic

    ckpt = atomic.torch_load(path, map_location="cpu")
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        keys = ", ".join(map(str, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise atomic.CorruptFileError(f"{path}: not an echo model file (keys: {keys})")
    model = EchoModel(EchoConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval()
