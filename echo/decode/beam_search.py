"""Joint CTC/attention beam search, batched over utterances, and greedy decoders.

    search = BeamSearch(model.decoder, SearchConfig(beam_size=10, ctc_weight=0.3), sos_eos=V - 1)
    nbest = search(enc, enc_lens, model.ctc_log_probs(enc))   # list over utterances of [Hypothesis]

A batch of B utterances holds B × beam hypotheses ("rows"); each step runs the decoder once over all
rows (with its self-attention cache; echo's decoder keeps what it computed from the encoder output once
per utterance, shared by the utterance's rows), scores K candidate labels per row by

    joint = (1 − λ)·log p_att(c | h) + λ·(log ψ_ctc(h·c) − log ψ_ctc(h)) + penalty

and keeps, per utterance, the beam best of its rows × candidates, as ESPnet's BeamSearch does.
Candidates are the top `pre_beam` labels of the attention decoder (full vocabulary when
pre_beam_ratio is 0 or ctc_weight is 1) plus <sos/eos>, which is always scored. A hypothesis that
picks <sos/eos> ends: it leaves the beam, the beam refills from the others, and <sos/eos> is never
part of its tokens. A hypothesis reaching `maxlen` tokens must pick <sos/eos> next, so every
utterance ends with at least one hypothesis.

An utterance stops when it has no live hypothesis, when it reached maxlen, or when no live
hypothesis can still enter its n-best (every step adds a log probability ≤ 0, plus at most the
penalty): stopping then gives exactly what searching on to maxlen would.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from echo.decode.ctc_prefix_score import CTCPrefixScorer

NEG_INF = float("-inf")


@dataclass
class SearchConfig:
    beam_size: int = 10
    ctc_weight: float = 0.3        # λ; 0 = attention only, 1 = CTC prefix scores only (no decoder)
    penalty: float = 0.0           # added per emitted label and for <sos/eos> (> 0 favours longer outputs)
    maxlenratio: float = 0.0       # maxlen = max(1, int(ratio·T')); 0: maxlen = T'; < 0: maxlen = int(−ratio)
    minlenratio: float = 0.0       # minlen = int(ratio·T'): <sos/eos> is barred before
    normalize_length: bool = False  # rank ended hypotheses by score / (len + 2) (the <sos> and <sos/eos> count)
    nbest: int = 1
    pre_beam_ratio: float = 1.5    # CTC scores int(ratio·beam) attention candidates per row; 0 = all labels

    def __post_init__(self):
        if self.beam_size < 1 or self.nbest < 1:
            raise ValueError(f"beam_size and nbest must be >= 1, got {self.beam_size}, {self.nbest}")
        if self.nbest > self.beam_size:
            raise ValueError(f"nbest {self.nbest} cannot exceed beam_size {self.beam_size}")
        if not 0.0 <= self.ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must be in [0, 1], got {self.ctc_weight}")
        if self.minlenratio < 0 or self.pre_beam_ratio < 0:
            raise ValueError("minlenratio and pre_beam_ratio must be >= 0")


@dataclass
class Hypothesis:
    tokens: list[int]      # label ids, without <sos> and <sos/eos>
    score: float           # total joint log score (with penalty), what the beam ranks by
    att_score: float = 0.0  # Σ log p_att, including <sos/eos>
    ctc_score: float = 0.0  # log CTC probability of the tokens (prefix scores telescoped)
    extra: dict = field(default_factory=dict)

    def rank_score(self, normalize_length: bool) -> float:
        return self.score / (len(self.tokens) + 2) if normalize_length else self.score


def length_limits(enc_lens: Tensor, maxlenratio: float, minlenratio: float) -> tuple[Tensor, Tensor]:
    """(maxlen, minlen) in labels (<sos/eos> not counted), per utterance, from encoder lengths (B,)."""
    if maxlenratio == 0.0:
        maxlen = enc_lens.clone()
    elif maxlenratio < 0:
        maxlen = torch.full_like(enc_lens, int(-maxlenratio))
    else:
        maxlen = (enc_lens.double() * maxlenratio).long()
    maxlen = maxlen.clamp_min(1)
    minlen = torch.minimum((enc_lens.double() * minlenratio).long(), maxlen)
    return maxlen, minlen


def select_cache(cache, rows: Tensor, n_rows: int):
    """The decoder cache of hypotheses `rows`: every tensor whose first dimension is the row count is
    indexed along it (the decoder's cache is a nest of lists/tuples/dicts of (N, ...) tensors)."""
    if cache is None:
        return None
    if isinstance(cache, Tensor):
        return cache.index_select(0, rows) if cache.dim() > 0 and cache.shape[0] == n_rows else cache
    if isinstance(cache, (list, tuple)):
        items = [select_cache(c, rows, n_rows) for c in cache]
        return type(cache)(items) if isinstance(cache, list) else tuple(items)
    if isinstance(cache, dict):
        return {k: select_cache(v, rows, n_rows) for k, v in cache.items()}
    return cache


class BeamSearch:
    """decoder: object with step(tokens (N, t), memory (N, T', d), memory_lens (N,), cache) ->
    (log_probs (N, V), cache); None is allowed when ctc_weight is 1. A decoder with grouped_memory and
    select_hyps (echo.model.decoder.Decoder) is given memory (U, T', d), one row per utterance."""

    def __init__(self, decoder, cfg: SearchConfig, sos_eos: int, blank: int = 0):
        if decoder is None and cfg.ctc_weight < 1.0:
            raise ValueError("a search with ctc_weight < 1 needs the attention decoder")
        self.decoder, self.cfg, self.eos, self.blank = decoder, cfg, sos_eos, blank
        # a decoder that takes one memory row per utterance for all its beam's rows and selects
        # hypotheses itself (echo.model.decoder.Decoder): its memory part is computed once per
        # utterance and never copied, and its self-attention cache is gathered once a step
        self.grouped = (bool(getattr(decoder, "grouped_memory", False))
                        and callable(getattr(decoder, "select_hyps", None)))

    def _follow(self, cache, rows: Tensor, n_rows: int, memory: Tensor, memory_lens: Tensor,
                utts: Tensor | None = None):
        """Cache, memory and memory lengths of hypotheses `rows` (indices into the current rows).

        A grouped decoder keeps one memory row per utterance: `utts` are the utterances kept (indices
        into the current ones; None: the same ones, each row staying with its utterance). Any other
        decoder gets memory one row per hypothesis. Either way the memory returned is the very tensor
        the cache holds where it holds one, so the decoder can tell its cache is valid without
        comparing memory element by element."""
        if self.grouped:
            cache = self.decoder.select_hyps(cache, rows, utts)
            return cache, cache["memory"], cache["memory_lens"]
        if hasattr(self.decoder, "reorder_cache"):
            cache = self.decoder.reorder_cache(cache, rows)
        else:
            cache = select_cache(cache, rows, n_rows)
        if isinstance(cache, dict) and isinstance(cache.get("memory"), Tensor):
            return cache, cache["memory"], cache["memory_lens"]
        return cache, memory.index_select(0, rows), memory_lens.index_select(0, rows)

    @torch.no_grad()
    def __call__(self, enc: Tensor, enc_lens: Tensor, ctc_log_probs: Tensor | None = None) -> list[list[Hypothesis]]:
        """enc (B, T', d), enc_lens (B,), ctc_log_probs (B, T', V) -> per utterance its n-best, best first."""
        cfg, eos, blank = self.cfg, self.eos, self.blank
        use_ctc = cfg.ctc_weight > 0.0
        use_att = cfg.ctc_weight < 1.0
        if use_ctc and ctc_log_probs is None:
            raise ValueError("ctc_weight > 0 needs ctc_log_probs")
        B, W = enc.shape[0], cfg.beam_size
        device = enc.device
        V = ctc_log_probs.shape[-1] if ctc_log_probs is not None else None
        enc_lens = enc_lens.to(device)
        maxlen, minlen = length_limits(enc_lens, cfg.maxlenratio, cfg.minlenratio)
        scorer = CTCPrefixScorer(ctc_log_probs, enc_lens, blank) if use_ctc else None

        # rows are utterance-major: row = b·W + w; at the start only w = 0 is alive
        utt = torch.arange(B, device=device).repeat_interleave(W)
        ys = torch.full((B * W, 1), eos, dtype=torch.long, device=device)
        score = torch.full((B, W), NEG_INF, device=device)
        score[:, 0] = 0.0
        score = score.view(-1)
        att_acc = torch.zeros(B * W, device=device)
        ctc_state = scorer.initial_state(utt) if use_ctc else None
        memory, memory_lens = None, enc_lens[utt]  # the decoder's memory rows are made at step 0
        cache = None
        ended: list[list[Hypothesis]] = [[] for _ in range(B)]
        bound_per_step = max(cfg.penalty, 0.0)

        step, labels = 0, None
        while len(utt):
            n_rows = len(utt)
            if use_att and step == 0:
                # all beam slots of an utterance hold the same <sos>: run the decoder once per utterance
                # (its cross-attention keys and values are the costly part), then copy to the slots
                att, cache = self.decoder.step(ys[::W], enc, enc_lens, None)
                att = att.float()[utt]
                V = att.shape[-1]
                cache, memory, memory_lens = self._follow(cache, utt, B, enc, enc_lens)
            elif use_att:
                att, cache = self.decoder.step(ys, memory, memory_lens, cache)
                att = att.float()
            else:
                att = torch.zeros(n_rows, V, device=device)
            # candidates: labels other than blank and <sos/eos>, then <sos/eos> as the last column
            label_scores = att.clone()
            label_scores[:, blank] = NEG_INF
            label_scores[:, eos] = NEG_INF
            n_labels = V - 2
            pre_beam = int(cfg.pre_beam_ratio * W)
            if use_ctc and use_att and 0 < pre_beam < n_labels:
                cand = label_scores.topk(pre_beam, dim=1).indices  # (N, K)
            else:
                if labels is None:
                    labels = torch.tensor([c for c in range(V) if c not in (blank, eos)], device=device)
                cand = labels[None].expand(n_rows, -1)
            K = cand.shape[1]
            cand_all = torch.cat([cand, torch.full((n_rows, 1), eos, device=device, dtype=torch.long)], 1)
            att_all = att.gather(1, cand_all)  # (N, K+1)
            joint = (1.0 - cfg.ctc_weight) * att_all if use_att else torch.zeros_like(att_all)
            if use_ctc:
                last = ys[:, -1] if step > 0 else None
                cands = scorer.score(ctc_state, utt, last, cand, num_labels=step)
                ctc_all = torch.cat([cands.prefix, cands.eos[:, None]], 1) - ctc_state.prefix[:, None]
                joint = joint + cfg.ctc_weight * ctc_all
            joint = joint + cfg.penalty
            # length limits: no <sos/eos> before minlen, nothing but <sos/eos> once maxlen labels are out
            joint[:, K] = joint[:, K].masked_fill(step < minlen[utt], NEG_INF)
            joint[:, :K] = joint[:, :K].masked_fill((step >= maxlen[utt])[:, None], NEG_INF)

            total = (score[:, None] + joint).view(n_rows // W, W * (K + 1))
            top_score, top_idx = total.topk(W, dim=1)  # (U, W), per utterance
            base = torch.arange(0, n_rows, W, device=device)[:, None]
            rows = (base + top_idx // (K + 1)).view(-1)
            cols = (top_idx % (K + 1)).view(-1)
            top_score = top_score.view(-1)
            is_eos = cols == K
            new_att = att_acc[rows] + att_all[rows, cols]
            if use_ctc:
                new_ctc_prefix = torch.where(is_eos, cands.eos[rows], cands.prefix[rows, cols.clamp(max=K - 1)])

            # hypotheses that chose <sos/eos> end here (a −inf choice is a dead slot, not a hypothesis)
            finished_rows = (is_eos & torch.isfinite(top_score)).nonzero().flatten().tolist()
            if finished_rows:
                ys_cpu, sc, at = ys.cpu(), top_score.cpu(), new_att.cpu()
                ctc_cpu = new_ctc_prefix.cpu() if use_ctc else None
                rows_cpu, utt_cpu = rows.tolist(), utt.tolist()
                for m in finished_rows:
                    b = utt_cpu[rows_cpu[m]]
                    ended[b].append(Hypothesis(
                        tokens=ys_cpu[rows_cpu[m], 1:].tolist(), score=float(sc[m]), att_score=float(at[m]),
                        ctc_score=float(ctc_cpu[m]) if use_ctc else 0.0))

            # the others go on; ended and dead choices keep their slot with score −inf
            score = top_score.masked_fill(is_eos, NEG_INF)
            ys = torch.cat([ys[rows], cand_all[rows, cols][:, None]], dim=1)
            att_acc = new_att
            if use_att:  # rows[m] is a hypothesis of row m's utterance
                cache, memory, memory_lens = self._follow(cache, rows, n_rows, memory, memory_lens)
            if use_ctc:
                ctc_state = CTCPrefixScorer.select(cands, rows, cols)
            step += 1

            # which utterances are done
            U = n_rows // W
            utt_ids = utt.view(U, W)[:, 0]
            best_live = score.view(U, W).max(dim=1).values
            done = ((step > maxlen[utt_ids]) | ~torch.isfinite(best_live)).tolist()
            if not cfg.normalize_length:  # with length normalisation no bound holds; search on to maxlen
                bound = (best_live + bound_per_step * (maxlen[utt_ids] - step + 1).clamp_min(0)).tolist()
                for u, b in enumerate(utt_ids.tolist()):
                    if not done[u] and len(ended[b]) >= cfg.nbest:
                        kth = sorted((h.score for h in ended[b]), reverse=True)[cfg.nbest - 1]
                        done[u] = bound[u] < kth
            if any(done):
                keep_utt = ~torch.tensor(done, device=device)
                keep = keep_utt.repeat_interleave(W)
                keep_rows = keep.nonzero().flatten()
                utt, ys, score, att_acc = utt[keep_rows], ys[keep_rows], score[keep_rows], att_acc[keep_rows]
                if use_att:
                    cache, memory, memory_lens = self._follow(cache, keep_rows, n_rows, memory, memory_lens,
                                                              keep_utt.nonzero().flatten())
                else:
                    memory_lens = memory_lens[keep_rows]
                if use_ctc:
                    ctc_state.r, ctc_state.prefix = ctc_state.r[:, :, keep_rows], ctc_state.prefix[keep_rows]

        out = []
        for hyps in ended:
            hyps = sorted(hyps, key=lambda h: h.rank_score(cfg.normalize_length), reverse=True)
            out.append(hyps[:cfg.nbest])
        return out


@torch.no_grad()
def greedy_attention(decoder, enc: Tensor, enc_lens: Tensor, sos_eos: int, blank: int = 0,
                     maxlenratio: float = 0.0, minlenratio: float = 0.0) -> list[Hypothesis]:
    """Batched greedy attention decoding: the most probable label (never blank) at each step until
    <sos/eos>, with the same length limits as BeamSearch. Returns one hypothesis per utterance."""
    B, device = enc.shape[0], enc.device
    enc_lens = enc_lens.to(device)
    maxlen, minlen = length_limits(enc_lens, maxlenratio, minlenratio)
    ys = torch.full((B, 1), sos_eos, dtype=torch.long, device=device)
    score = torch.zeros(B, device=device)
    running = torch.ones(B, dtype=torch.bool, device=device)
    results: list[Hypothesis | None] = [None] * B
    cache, step = None, 0
    while bool(running.any()):
        logp, cache = decoder.step(ys, enc, enc_lens, cache)
        logp = logp.float().clone()
        logp[:, blank] = NEG_INF
        logp[:, sos_eos] = logp[:, sos_eos].masked_fill(step < minlen, NEG_INF)
        force = step >= maxlen
        eos_lp = logp[:, sos_eos].clone()
        logp[force] = NEG_INF
        logp[force, sos_eos] = eos_lp[force]
        best_lp, best = logp.max(dim=1)
        score = score + torch.where(running, best_lp, torch.zeros_like(best_lp))
        for b in ((best == sos_eos) & running).nonzero().flatten().tolist():
            results[b] = Hypothesis(tokens=ys[b, 1:].tolist(), score=float(score[b]), att_score=float(score[b]))
        running = running & (best != sos_eos)
        ys = torch.cat([ys, best[:, None]], dim=1)  # finished rows carry on unused; their outputs are kept above
        step += 1
    return results


@torch.no_grad()
def greedy_ctc(ctc_log_probs: Tensor, lengths: Tensor, blank: int = 0, sos_eos: int | None = None) -> list[Hypothesis]:
    """Best path: the most probable label per frame, repeats merged, blanks dropped.

    <sos/eos> is not a CTC label (no target contains it), so it is excluded from the argmax.
    score: log probability of the best path.
    """
    logp = ctc_log_probs.float()
    if sos_eos is not None:
        logp = logp.clone()
        logp[..., sos_eos] = NEG_INF
    best_lp, best = logp.max(dim=-1)  # (B, T)
    out = []
    for b in range(logp.shape[0]):
        T = int(lengths[b])
        path = best[b, :T].tolist()
        tokens = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        out.append(Hypothesis(tokens=tokens, score=float(best_lp[b, :T].sum()), ctc_score=float(best_lp[b, :T].sum())))
    return out
