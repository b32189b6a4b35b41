"""The CTC head on the encoder: a linear layer to the vocabulary (<blank> = 0) and the CTC loss.

An utterance whose token sequence cannot fit its encoder frames (CTC needs T' ≥ L + the number of
repeated neighbours, which need a blank between them) has an infinite loss; zero_infinity drops it, and
the count of such utterances is returned so the trainer can report it instead of losing it silently.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

log = logging.getLogger(__name__)


def ctc_min_frames(ys: Tensor, y_lens: Tensor) -> Tensor:
    """(B,) the fewest frames CTC needs for each target: its length plus its repeated neighbours."""
    L = ys.shape[1]
    valid = torch.arange(L, device=ys.device)[None, :] < y_lens[:, None]
    repeats = (ys[:, 1:] == ys[:, :-1]) & valid[:, 1:]
    return y_lens + repeats.sum(1)


class CTC(nn.Module):
    def __init__(self, d_model: int, vocab_size: int, blank: int = 0):
        super().__init__()
        self.blank = blank
        self.proj = nn.Linear(d_model, vocab_size)

    def log_probs(self, enc: Tensor) -> Tensor:
        """enc (B, T', d) -> (B, T', V) float32 log-probabilities."""
        return F.log_softmax(self.proj(enc).float(), dim=-1)

    def forward(self, enc: Tensor, enc_lens: Tensor, ys: Tensor, y_lens: Tensor) -> tuple[Tensor, int]:
        """Summed CTC loss / B (so a batch's loss is the mean of its utterances' losses), and the number
        of utterances too long for their frames (their loss counts as 0)."""
        log_probs = self.log_probs(enc)
        infeasible = (ctc_min_frames(ys, y_lens) > enc_lens).nonzero().flatten().tolist()
        if infeasible:
            log.warning("CTC: %d utterance(s) of the batch (indices %s) have more tokens than encoder frames "
                        "(frames %s, tokens %s); their CTC loss is dropped", len(infeasible), infeasible,
                        enc_lens[infeasible].tolist(), y_lens[infeasible].tolist())
        loss = F.ctc_loss(log_probs.transpose(0, 1), ys.clamp_min(0), enc_lens, y_lens, blank=self.blank,
                          reduction="sum", zero_infinity=True)
        return loss / ys.shape[0], len(infeasible)
