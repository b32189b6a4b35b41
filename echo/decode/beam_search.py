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


@dataclass
class _Beams:
    """The search's state between steps: the live rows (utterance-major, beam_size per utterance) and,
    per utterance, the hypotheses that have ended."""
    utt: Tensor                   # (N,) the utterance of each row
    ys: Tensor                    # (N, step + 1) <sos> and the labels so far
    score: Tensor                 # (N,) joint score; −inf for an empty slot
    att_acc: Tensor               # (N,) Σ log p_att so far
    ctc_state: object             # the CTC prefix scorer's state of each row (None without CTC)
    memory_lens: Tensor
    vocab: int | None             # V, known from the CTC posteriors or the decoder's first step
    ended: list[list[Hypothesis]]
    memory: Tensor | None = None  # the decoder's memory, made at step 0
    cache: object = None          # the decoder's cache
    labels: Tensor | None = None  # every label but blank and <sos/eos>, made once when all are candidates
    step: int = 0


@dataclass
class _Step:
    """One step's candidates per row: labels (N, K+1), <sos/eos> last; their attention and joint scores
    (N, K+1); the CTC prefix scorer's result for them (None without CTC)."""
    cand_all: Tensor
    att_all: Tensor
    joint: Tensor
    ctc: object


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

    @property
    def use_ctc(self) -> bool:
        return self.cfg.ctc_weight > 0.0

    @property
    def use_att(self) -> bool:
        return self.cfg.ctc_weight < 1.0

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
        cfg = self.cfg
        if self.use_ctc and ctc_log_probs is None:
            raise ValueError("ctc_weight > 0 needs ctc_log_probs")
        B, W, device = enc.shape[0], cfg.beam_size, enc.device
        enc_lens = enc_lens.to(device)
        maxlen, minlen = length_limits(enc_lens, cfg.maxlenratio, cfg.minlenratio)
        scorer = CTCPrefixScorer(ctc_log_probs, enc_lens, self.blank) if self.use_ctc else None
        # rows are utterance-major: row = b·W + w; at the start only w = 0 is alive
        utt = torch.arange(B, device=device).repeat_interleave(W)
        score = torch.full((B, W), NEG_INF, device=device)
        score[:, 0] = 0.0
        beams = _Beams(utt=utt, ys=torch.full((B * W, 1), self.eos, dtype=torch.long, device=device),
                       score=score.view(-1), att_acc=torch.zeros(B * W, device=device),
                       ctc_state=scorer.initial_state(utt) if scorer else None,
                       memory_lens=enc_lens[utt],   # the decoder's memory rows are made at step 0
                       vocab=ctc_log_probs.shape[-1] if ctc_log_probs is not None else None,
                       ended=[[] for _ in range(B)])
        while len(beams.utt):
            att = self._attention_log_probs(beams, enc, enc_lens)
            step = self._score_candidates(beams, att, scorer, minlen, maxlen)
            self._keep_best(beams, step)
            self._stop_finished(beams, maxlen)
        return [sorted(hyps, key=lambda h: h.rank_score(cfg.normalize_length), reverse=True)[:cfg.nbest]
                for hyps in beams.ended]

    def _attention_log_probs(self, beams: _Beams, enc: Tensor, enc_lens: Tensor) -> Tensor:
        """(N, V) the decoder's log probabilities of the next label for every row (zeros without it)."""
        W = self.cfg.beam_size
        if not self.use_att:
            return torch.zeros(len(beams.utt), beams.vocab, device=enc.device)
        if beams.step > 0:
            att, beams.cache = self.decoder.step(beams.ys, beams.memory, beams.memory_lens, beams.cache)
            return att.float()
        # all beam slots of an utterance hold the same <sos>: run the decoder once per utterance
        # (its cross-attention keys and values are the costly part), then copy to the slots
        att, cache = self.decoder.step(beams.ys[::W], enc, enc_lens, None)
        att = att.float()[beams.utt]
        beams.vocab = att.shape[-1]
        beams.cache, beams.memory, beams.memory_lens = self._follow(cache, beams.utt, enc.shape[0], enc, enc_lens)
        return att

    def _score_candidates(self, beams: _Beams, att: Tensor, scorer, minlen: Tensor, maxlen: Tensor) -> _Step:
        """Each row's candidates (labels other than blank and <sos/eos>, then <sos/eos> as the last
        column) and their joint scores, the length limits applied."""
        cfg, n_rows, device = self.cfg, len(beams.utt), att.device
        label_scores = att.clone()
        label_scores[:, self.blank] = NEG_INF
        label_scores[:, self.eos] = NEG_INF
        pre_beam = int(cfg.pre_beam_ratio * cfg.beam_size)
        if self.use_ctc and self.use_att and 0 < pre_beam < beams.vocab - 2:
            cand = label_scores.topk(pre_beam, dim=1).indices  # (N, K)
        else:
            if beams.labels is None:
                beams.labels = torch.tensor([c for c in range(beams.vocab) if c not in (self.blank, self.eos)],
                                            device=device)
            cand = beams.labels[None].expand(n_rows, -1)
        K = cand.shape[1]
        cand_all = torch.cat([cand, torch.full((n_rows, 1), self.eos, device=device, dtype=torch.long)], 1)
        att_all = att.gather(1, cand_all)  # (N, K+1)
        joint = (1.0 - cfg.ctc_weight) * att_all if self.use_att else torch.zeros_like(att_all)
        ctc = None
        if self.use_ctc:
            last = beams.ys[:, -1] if beams.step > 0 else None
            ctc = scorer.score(beams.ctc_state, beams.utt, last, cand, num_labels=beams.step)
            ctc_all = torch.cat([ctc.prefix, ctc.eos[:, None]], 1) - beams.ctc_state.prefix[:, None]
            joint = joint + cfg.ctc_weight * ctc_all
        joint = joint + cfg.penalty
        # length limits: no <sos/eos> before minlen, nothing but <sos/eos> once maxlen labels are out
        joint[:, K] = joint[:, K].masked_fill(beams.step < minlen[beams.utt], NEG_INF)
        joint[:, :K] = joint[:, :K].masked_fill((beams.step >= maxlen[beams.utt])[:, None], NEG_INF)
        return _Step(cand_all=cand_all, att_all=att_all, joint=joint, ctc=ctc)

    def _keep_best(self, beams: _Beams, st: _Step) -> None:
        """Per utterance the beam best of its rows × candidates: those that chose <sos/eos> end (into
        beams.ended), the others become the rows of the next step."""
        W, n_rows, device = self.cfg.beam_size, len(beams.utt), beams.score.device
        K = st.cand_all.shape[1] - 1
        total = (beams.score[:, None] + st.joint).view(n_rows // W, W * (K + 1))
        top_score, top_idx = total.topk(W, dim=1)  # (U, W), per utterance
        base = torch.arange(0, n_rows, W, device=device)[:, None]
        rows = (base + top_idx // (K + 1)).view(-1)
        cols = (top_idx % (K + 1)).view(-1)
        top_score = top_score.view(-1)
        is_eos = cols == K
        new_att = beams.att_acc[rows] + st.att_all[rows, cols]
        if self.use_ctc:
            new_ctc_prefix = torch.where(is_eos, st.ctc.eos[rows], st.ctc.prefix[rows, cols.clamp(max=K - 1)])

        # hypotheses that chose <sos/eos> end here (a −inf choice is a dead slot, not a hypothesis)
        finished_rows = (is_eos & torch.isfinite(top_score)).nonzero().flatten().tolist()
        if finished_rows:
            ys_cpu, sc, at = beams.ys.cpu(), top_score.cpu(), new_att.cpu()
            ctc_cpu = new_ctc_prefix.cpu() if self.use_ctc else None
            rows_cpu, utt_cpu = rows.tolist(), beams.utt.tolist()
            for m in finished_rows:
                beams.ended[utt_cpu[rows_cpu[m]]].append(Hypothesis(
                    tokens=ys_cpu[rows_cpu[m], 1:].tolist(), score=float(sc[m]), att_score=float(at[m]),
                    ctc_score=float(ctc_cpu[m]) if ctc_cpu is not None else 0.0))

        # the others go on; ended and dead choices keep their slot with score −inf
        beams.score = top_score.masked_fill(is_eos, NEG_INF)
        beams.ys = torch.cat([beams.ys[rows], st.cand_all[rows, cols][:, None]], dim=1)
        beams.att_acc = new_att
        if self.use_att:  # rows[m] is a hypothesis of row m's utterance
            beams.cache, beams.memory, beams.memory_lens = self._follow(beams.cache, rows, n_rows, beams.memory,
                                                                        beams.memory_lens)
        if self.use_ctc:
            beams.ctc_state = CTCPrefixScorer.select(st.ctc, rows, cols)
        beams.step += 1

    def _stop_finished(self, beams: _Beams, maxlen: Tensor) -> None:
        """Drops the utterances that are done: no live hypothesis, maxlen reached, or (without length
        normalisation) no live hypothesis can still beat its n-th ended one."""
        cfg, W, n_rows = self.cfg, self.cfg.beam_size, len(beams.utt)
        U = n_rows // W
        utt_ids = beams.utt.view(U, W)[:, 0]
        best_live = beams.score.view(U, W).max(dim=1).values
        done = ((beams.step > maxlen[utt_ids]) | ~torch.isfinite(best_live)).tolist()
        if not cfg.normalize_length:  # with length normalisation no bound holds; search on to maxlen
            bound_per_step = max(cfg.penalty, 0.0)
            bound = (best_live + bound_per_step * (maxlen[utt_ids] - beams.step + 1).clamp_min(0)).tolist()
            for u, b in enumerate(utt_ids.tolist()):
                if not done[u] and len(beams.ended[b]) >= cfg.nbest:
                    kth = sorted((h.score for h in beams.ended[b]), reverse=True)[cfg.nbest - 1]
                    done[u] = bound[u] < kth
        if not any(done):
            return
        keep_utt = ~torch.tensor(done, device=beams.score.device)
        keep_rows = keep_utt.repeat_interleave(W).nonzero().flatten()
        beams.utt, beams.ys = beams.utt[keep_rows], beams.ys[keep_rows]
        beams.score, beams.att_acc = beams.score[keep_rows], beams.att_acc[keep_rows]
        if self.use_att:
            beams.cache, beams.memory, beams.memory_lens = self._follow(
                beams.cache, keep_rows, n_rows, beams.memory, beams.memory_lens, keep_utt.nonzero().flatten())
        else:
            beams.memory_lens = beams.memory_lens[keep_rows]
        if self.use_ctc:
            beams.ctc_state.r, beams.ctc_state.prefix = (beams.ctc_state.r[:, :, keep_rows],
                                                         beams.ctc_state.prefix[keep_rows])

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
