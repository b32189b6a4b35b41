"""A trained model together with what it needs to turn audio into text.

    rec = Recognizer.from_checkpoint("exp/t/valid.acc.ave_5best.pt", search=SearchConfig(beam_size=10))
    hyps = rec(batch["feats"], batch["feat_lens"], batch["f0"])   # per utterance its n-best
    rec.text(hyps[0][0])                                            # "three one four"

An experiment dir holds everything decoding uses (the training stage copies it there), so decoding
never depends on data/ or dump/: the checkpoint, token_list/, feats.yaml and cmvn.npz. A packed model
(model.echo, echo.io.packed) holds all of it in one file: Recognizer.from_packed("model.echo").
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from echo.decode.beam_search import BeamSearch, Hypothesis, SearchConfig, greedy_attention, greedy_ctc
from echo.features.cmvn import CMVN
from echo.features.config import FeatureConfig
from echo.text.tokenizer import Tokenizer

MODES = ("beam", "greedy_ctc", "greedy_attention")


class Recognizer:
    def __init__(self, model, tokenizer: Tokenizer, feat_conf: FeatureConfig, cmvn: CMVN | None,
                 search: SearchConfig | None = None, mode: str = "beam"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if tokenizer.vocab_size != model.vocab_size:
            raise ValueError(f"the token list has {tokenizer.vocab_size} tokens but the model {model.vocab_size}: "
                             "not the token list this model was trained with")
        idim = model.cfg.idim
        if feat_conf.feats_dim != idim or (cmvn is not None and cmvn.dim != idim):
            raise ValueError(f"the model takes {idim}-dim features, the feature config gives "
                             f"{feat_conf.feats_dim}" + (f" and the CMVN has {cmvn.dim}" if cmvn is not None else ""))
        self.model, self.tokenizer, self.feat_conf, self.cmvn = model.eval(), tokenizer, feat_conf, cmvn
        self.search_config = search or SearchConfig()
        self.mode = mode
        self.sos_eos, self.blank = model.vocab_size - 1, 0
        self.beam_search = BeamSearch(model.decoder, self.search_config, self.sos_eos, self.blank)

    @classmethod
    def from_checkpoint(cls, model_path, token_dir=None, feat_conf=None, cmvn=None,
                        search: SearchConfig | None = None, mode: str = "beam", device="cpu") -> "Recognizer":
        """Load exp/<tag>/<checkpoint>.pt; token_dir, feat_conf and cmvn default to its exp dir's copies."""
        from echo.model.echo import load_model

        model_path = Path(model_path)
        exp = model_path.parent
        token_dir = Path(token_dir) if token_dir else exp / "token_list"
        feat_conf = Path(feat_conf) if feat_conf else exp / "feats.yaml"
        cmvn = Path(cmvn) if cmvn else exp / "cmvn.npz"
        for path, what in ((feat_conf, "feature config"), (cmvn, "CMVN statistics")):
            if not path.is_file():
                raise FileNotFoundError(f"{path}: the model's {what} is missing (training copies it into "
                                        f"{exp}; or give it with an option)")
        model = load_model(model_path, device=device)
        return cls(model, Tokenizer.load(token_dir), FeatureConfig.from_yaml(feat_conf), CMVN.load(cmvn), search, mode)

    @classmethod
    def from_packed(cls, packed, search: SearchConfig | None = None, mode: str | None = None,
                    device="cpu") -> "Recognizer":
        """Load a packed model (a path, or the dict echo.io.packed.read_packed returned). search and mode
        default to the decode config packed with it."""
        import numpy as np

        from echo.decode.options import resolve_options, search_config
        from echo.io.packed import read_packed
        from echo.model.echo import EchoConfig, EchoModel

        obj = read_packed(packed) if not isinstance(packed, dict) else packed
        model = EchoModel(EchoConfig(**obj["model"]["config"]))
        model.load_state_dict(obj["model"]["state"])
        tok = obj["tokens"]
        tokenizer = Tokenizer(list(tok["list"]), tok["type"], tok["sp_model"])
        c = obj["cmvn"]
        cmvn = CMVN(np.asarray(c["mean"].numpy(), dtype=np.float64), np.asarray(c["std"].numpy(), dtype=np.float64),
                    c["count"]) if c is not None else None
        opts = resolve_options({}, base=obj["decode"])
        search = search or search_config(opts)
        rec = cls(model.to(device), tokenizer, FeatureConfig(**obj["features"]), cmvn, search, mode or opts["mode"])
        rec.packed_info = {k: obj.get(k) for k in ("format_version", "echo_version", "train_data")}
        rec.packed_info["checkpoint"] = obj["model"].get("checkpoint")
        return rec

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encodable(self, feat_lens: Tensor) -> Tensor:
        """(B,) bool: long enough for the encoder's subsampling to leave at least one frame."""
        return self.model.encoder.subsampling.output_lengths(feat_lens) > 0

    @torch.no_grad()
    def __call__(self, feats: Tensor, feat_lens: Tensor, f0: Tensor | None = None) -> list[list[Hypothesis]]:
        """feats (B, T, D) CMVN applied, feat_lens (B,), f0 (B, T) Hz -> per utterance its n-best, best first.
        Every utterance must be encodable (see `encodable`)."""
        return self.decode(feats, feat_lens, f0)[0]

    @torch.no_grad()
    def decode(self, feats: Tensor, feat_lens: Tensor, f0: Tensor | None = None,
               posteriors: bool = False) -> tuple[list[list[Hypothesis]], Tensor | None, Tensor]:
        """As __call__, and also the CTC log posteriors (B, T', V) (computed for every mode when
        `posteriors`, else only where the search needs them; None otherwise) and encoder lengths (B,)."""
        dev = self.device
        feats, feat_lens = feats.to(dev), feat_lens.to(dev)
        f0 = f0.to(dev) if f0 is not None else None
        enc, enc_lens = self.model.encode(feats, feat_lens, f0)
        needs_ctc = self.mode == "greedy_ctc" or (self.mode == "beam" and self.search_config.ctc_weight > 0)
        ctc_log_probs = self.model.ctc_log_probs(enc) if needs_ctc or posteriors else None
        if self.mode == "greedy_attention":
            s = self.search_config
            nbests = [[h] for h in greedy_attention(self.model.decoder, enc, enc_lens, self.sos_eos, self.blank,
                                                    s.maxlenratio, s.minlenratio)]
        elif self.mode == "greedy_ctc":
            nbests = [[h] for h in greedy_ctc(ctc_log_probs, enc_lens, self.blank, self.sos_eos)]
        else:
            nbests = self.beam_search(enc, enc_lens, ctc_log_probs if needs_ctc else None)
        return nbests, ctc_log_probs, enc_lens

    def text(self, hyp: Hypothesis) -> str:
        return self.tokenizer.decode(hyp.tokens)

    def token_strings(self, hyp: Hypothesis) -> list[str]:
        return [self.tokenizer.tokens[i] for i in hyp.tokens]
