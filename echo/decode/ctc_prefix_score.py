"""CTC prefix scores for a batch of hypotheses (Watanabe et al., 2017; ESPnet's CTCPrefixScoreTH).

For a prefix h (labels so far, no <sos>) and a candidate label c, the CTC prefix probability

    ψ(h·c) = Σ_t  φ_{t-1}(h, c) · p_t(c)      with  φ_t(h, c) = r^b_t(h)            if c = last(h)
                                                               r^b_t(h) + r^n_t(h)  otherwise

is the probability that the CTC output starts with h·c. r^n_t(h) and r^b_t(h) are the forward
probabilities of h over frames 1..t ending in a non-blank and in a blank. The end-of-sentence
score is the probability of exactly h: r^n_T(h) + r^b_T(h) at the last frame of the utterance.
Joint decoding adds λ·(log ψ(h·c) − log ψ(h)) to each candidate, so summed over a hypothesis it is
its log CTC prefix probability.

Everything here is vectorised over N = (utterances × beam) hypotheses and K candidates per
hypothesis; the only Python loop is over frames. Frames past an utterance's end are given
probability 1 for blank and 0 for every label, so padding leaves every score unchanged: a batch
scores exactly as its utterances one by one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

LOGZERO = -1e10  # log(0) that stays finite, as in ESPnet: logsumexp over it never gives NaN


@dataclass
class CTCState:
    """Forward variables of N prefixes: r (T, 2, N) holds log r^n (index 0) and log r^b (index 1);
    prefix (N,) is log ψ(h), the prefix score already added to each hypothesis."""

    r: Tensor
    prefix: Tensor


@dataclass
class CTCCandidates:
    """Scores of K candidates for N prefixes: r (T, 2, N, K) and prefix (N, K) log ψ(h·c);
    eos (N,) is log P(h) (the prefix as the whole output)."""

    r: Tensor
    prefix: Tensor
    eos: Tensor


class CTCPrefixScorer:
    """log_probs (B, T, V) CTC log-posteriors and lengths (B,) of B utterances.

    Hypotheses name their utterance through `utt` (N,) indices into the batch, so a search can hold
    any number of hypotheses per utterance and drop finished utterances without touching this object.
    """

    def __init__(self, log_probs: Tensor, lengths: Tensor, blank: int):
        B, T, V = log_probs.shape
        x = log_probs.float().clone()
        padded = torch.arange(T, device=x.device)[None, :] >= lengths[:, None].to(x.device)  # (B, T)
        x.masked_fill_(padded[..., None], LOGZERO)
        x[..., blank].masked_fill_(padded, 0.0)
        self.x = x.transpose(0, 1).contiguous()  # (T, B, V)
        self.lengths = lengths.to(x.device)
        self.blank = blank

    def initial_state(self, utt: Tensor) -> CTCState:
        """The empty prefix for hypotheses of utterances `utt` (N,): all-blank paths, ψ = 1."""
        T = self.x.shape[0]
        r = torch.full((T, 2, len(utt)), LOGZERO, dtype=self.x.dtype, device=self.x.device)
        r[:, 1] = torch.cumsum(self.x[:, utt, self.blank], dim=0)
        return CTCState(r=r, prefix=torch.zeros(len(utt), dtype=self.x.dtype, device=self.x.device))

    def score(self, state: CTCState, utt: Tensor, last: Tensor | None, candidates: Tensor,
              num_labels: int) -> CTCCandidates:
        """Prefix scores of every candidate.

        utt (N,) utterance of each hypothesis; last (N,) its last label (None for the empty prefix);
        candidates (N, K) label ids (never blank); num_labels = len(h), the same for all hypotheses.
        """
        T = self.x.shape[0]
        N, K = candidates.shape
        end = int(self.lengths[utt].max()) if N else 0  # frames past every utterance's end are blank
        x_c = self.x[:, utt[:, None], candidates]  # (T, N, K) log p_t(c)
        x_b = self.x[:, utt, self.blank]  # (T, N)
        r_prev = state.r
        r_sum = torch.logaddexp(r_prev[:, 0], r_prev[:, 1])  # (T, N) log(r^n + r^b)
        if last is None:
            log_phi = r_sum[:, :, None].expand(T, N, K)
        else:  # a repeated label needs a blank between the two: only r^b counts
            same = (candidates == last[:, None])[None]
            log_phi = torch.where(same, r_prev[:, 1, :, None], r_sum[:, :, None])  # (T, N, K)

        # r^n and r^b of every extension, frame by frame; in place into preallocated frames (unbind gives
        # views), which halves the time of this loop, the one sequential part of the search
        r = torch.full((T, 2, N, K), LOGZERO, dtype=self.x.dtype, device=self.x.device)
        r_n, r_b = r[:, 0].unbind(0), r[:, 1].unbind(0)
        x_cs, x_bs, phis = x_c.unbind(0), x_b[:, :, None].unbind(0), log_phi.unbind(0)
        if num_labels == 0:
            r_n[0].copy_(x_cs[0])
        start = max(num_labels, 1)  # h·c needs at least len(h)+1 frames
        for t in range(start, end):
            torch.logaddexp(r_n[t - 1], phis[t - 1], out=r_n[t])
            r_n[t].add_(x_cs[t])
            torch.logaddexp(r_n[t - 1], r_b[t - 1], out=r_b[t])
            r_b[t].add_(x_bs[t])

        # ψ(h·c) = Σ_{t ≥ start} φ_{t-1}·p_t(c), plus the path starting c at frame 0 (kept in r[start-1, 0])
        if start < end:
            terms = torch.cat([log_phi[start - 1:end - 1] + x_c[start:end], r[start - 1, 0][None]], dim=0)
            prefix = torch.logsumexp(terms, dim=0)
        else:
            prefix = r[start - 1, 0].clone()
        end_frame = (self.lengths[utt] - 1).clamp_min(0)
        eos = r_sum.gather(0, end_frame[None, :]).squeeze(0)  # (N,) log P(h) at each utterance's last frame
        return CTCCandidates(r=r, prefix=prefix, eos=eos)

    @staticmethod
    def select(cands: CTCCandidates, rows: Tensor, cols: Tensor) -> CTCState:
        """The states of the chosen extensions: hypothesis rows[m] extended by candidate cols[m]."""
        K = cands.prefix.shape[1]
        cols = cols.clamp(max=K - 1)  # an <sos/eos> choice (column K) ends its hypothesis; its state is unused
        return CTCState(r=cands.r[:, :, rows, cols], prefix=cands.prefix[rows, cols])
