"""The attention decoder: causal pre-norm transformer, ordinary rotary in self-attention, cross-attention
to the encoder output (rotary there only with rope_in_cross), and an incremental `step` with a cache for
autoregressive decoding.

step() returns exactly what forward() gives at the same position (tested). Its cache remembers the
tokens and memory it was built from; if a caller passes tokens or memory the cache does not match
(hypotheses reordered without reorder_cache), step recomputes from scratch rather than return a wrong
answer. Beam search should call Decoder.reorder_cache(cache, index) after selecting hypotheses.

Grouped memory (grouped_memory = True): step() also takes memory with fewer rows than tokens, N = M·G,
hypothesis n attending memory row n // G (the G beam slots of an utterance, utterance-major). The
cross-attention keys and values are then computed and kept once per utterance rather than copied to
every hypothesis, and a step's G single-token queries of an utterance go through one attention call
against them (rather than G·M calls of one query each): in a batched beam-10 search these copies
and calls took more time than anything else in the decoder.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from echo.model.attention import MultiHeadAttention, additive_mask, key_allowed
from echo.model.encoder import feed_forward
from echo.model.rotary import Rotation, standard_rotation

KV = tuple[Tensor, Tensor]


def extend(past: Tensor, rows: Tensor | None, new: Tensor) -> Tensor:
    """Keys or values past (N_old, H, t, dh) of hypotheses `rows` (None: all, in order) followed by
    new (N, H, t', dh). Gathering straight into the result copies the past once instead of twice
    (index_select, then cat), which is what the cache costs a beam search at every step."""
    if rows is None:
        return torch.cat([past, new], dim=2)
    if torch.is_grad_enabled() and (past.requires_grad or new.requires_grad):  # out= has no autograd
        return torch.cat([past.index_select(0, rows), new], dim=2)
    N, H, t, dh = new.shape
    out = new.new_empty(N, H, past.shape[2] + t, dh)
    torch.index_select(past, 0, rows, out=out[:, :, :past.shape[2]])
    out[:, :, past.shape[2]:] = new
    return out


class DecoderLayer(nn.Module):
    """x (N, t, d) -> (N, t, d), plus this call's self-attention keys/values (past included)."""

    def __init__(self, d_model: int, n_heads: int, ff_dim: int, dropout: float):
        super().__init__()
        self.self_norm = nn.LayerNorm(d_model)
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.cross_norm = nn.LayerNorm(d_model)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.mlp_norm = nn.LayerNorm(d_model)
        self.mlp = feed_forward(d_model, ff_dim, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, rotation: Rotation, self_mask: Tensor | None, past: KV | None,
                cross_rotation: Rotation | None, memory_kv: KV, cross_mask: Tensor,
                group: int = 1, past_rows: Tensor | None = None) -> tuple[Tensor, KV]:
        h = self.self_norm(x)
        q = self.self_attn.project_q(h, rotation)
        k, v = self.self_attn.project_kv(h, rotation)
        if past is not None:
            k, v = extend(past[0], past_rows, k), extend(past[1], past_rows, v)
        if past is not None and q.shape[2] == 1 and not self.training:
            # one new token sees every cached key, so no mask; for these (N, H, 1, t) scores a plain
            # matmul softmax is ~1.6x faster than SDPA on CPU (measured with 160 rows, t = 25)
            attn = torch.softmax((q * self.self_attn.head_dim ** -0.5) @ k.transpose(-1, -2), dim=-1) @ v
            N, H, _, dh = attn.shape
            x = x + self.self_attn.out(attn.reshape(N, 1, H * dh))
        else:
            x = x + self.dropout(self.self_attn.attend(q, k, v, self_mask))
        q = self.cross_attn.project_q(self.cross_norm(x), cross_rotation)
        if group > 1:
            # the G hypotheses of a memory row as G·t queries of one attention call: (N, H, t, dh) ->
            # (M, H, G·t, dh); attend's output (M, G·t, d) is then row-major (g, t), i.e. (N, t, d)
            N, H, t, dh = q.shape
            q = q.view(N // group, group, H, t, dh).transpose(1, 2).reshape(N // group, H, group * t, dh)
            x = x + self.dropout(self.cross_attn.attend(q, *memory_kv, cross_mask).view(N, t, -1))
        else:
            x = x + self.dropout(self.cross_attn.attend(q, *memory_kv, cross_mask))
        x = x + self.dropout(self.mlp(self.mlp_norm(x)))
        return x, (k, v)


class Decoder(nn.Module):
    """tokens (N, L) with <sos> first -> logits (N, L, V) for the next token at each position."""

    grouped_memory = True  # step() accepts memory rows shared by groups of hypotheses (module docstring)

    def __init__(self, vocab_size: int, d_model: int, n_heads: int, n_layers: int, ff_dim: int,
                 dropout: float, theta: float = 10000.0, rope_in_cross: bool = False):
        super().__init__()
        self.vocab_size, self.head_dim = vocab_size, d_model // n_heads
        self.theta, self.rope_in_cross = theta, rope_in_cross
        self.embed = nn.Embedding(vocab_size, d_model)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(DecoderLayer(d_model, n_heads, ff_dim, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, vocab_size)

    def memory_kv(self, memory: Tensor) -> list[KV]:
        """Per layer, cross-attention keys/values (N, H, T', dh) of the encoder output."""
        rotation = standard_rotation(memory.shape[1], self.head_dim, self.theta, device=memory.device) \
            if self.rope_in_cross else None
        return [layer.cross_attn.project_kv(memory, rotation) for layer in self.layers]

    def run(self, tokens: Tensor, start: int, memory_kv: list[KV], cross_mask: Tensor,
            past: list[KV] | None, group: int = 1, past_rows: Tensor | None = None) -> tuple[Tensor, list[KV]]:
        """Tokens at positions start .. start+t−1 (N, t) -> hidden (N, t, d), self-attention caches;
        memory_kv and cross_mask have N / group rows (hypothesis n uses row n // group); hypothesis n
        continues past row past_rows[n] (None: row n)."""
        t = tokens.shape[1]
        rotation = standard_rotation(t, self.head_dim, self.theta, offset=start, device=tokens.device)
        cross_rotation = rotation if self.rope_in_cross else None
        # query at position start+i sees keys 0 .. start+i (the past and itself, never the future)
        allowed = (torch.arange(start + t, device=tokens.device)[None, :]
                   <= torch.arange(start, start + t, device=tokens.device)[:, None])[None, None]
        x = self.dropout(self.embed(tokens))
        self_mask = additive_mask(allowed, x.dtype)
        present = []
        for i, layer in enumerate(self.layers):
            x, kv = layer(x, rotation, self_mask, past[i] if past is not None else None,
                          cross_rotation, memory_kv[i], cross_mask, group, past_rows)
            present.append(kv)
        return self.norm(x), present

    def forward(self, tokens: Tensor, memory: Tensor, memory_lens: Tensor) -> Tensor:
        """tokens (N, L), memory (N, T', d), memory_lens (N,) -> logits (N, L, V)."""
        cross_mask = additive_mask(key_allowed(memory_lens, memory.shape[1]), memory.dtype)
        hidden, _ = self.run(tokens, 0, self.memory_kv(memory), cross_mask, None)
        return self.out(hidden)

    @staticmethod
    def _cache_matches(cache: dict | None, tokens: Tensor, memory: Tensor, memory_lens: Tensor) -> bool:
        if cache is None:
            return False
        prefix = tokens[:, :-1]
        return (cache["tokens"].shape == prefix.shape and torch.equal(cache["tokens"], prefix)
                and cache["memory"].shape == memory.shape
                and (cache["memory"] is memory or torch.equal(cache["memory"], memory))
                and torch.equal(cache["memory_lens"], memory_lens))

    def step(self, tokens: Tensor, memory: Tensor, memory_lens: Tensor,
             cache: dict | None = None) -> tuple[Tensor, dict]:
        """tokens (N, t) (<sos> first), memory (M, T', d), memory_lens (M,) with N = M·G (G = 1: one row
        per hypothesis; else grouped, see the module docstring), cache from the previous step or None
        -> log-probs (N, V) float32 of token t+1, the cache for the next step."""
        N, t = tokens.shape
        M = memory.shape[0]
        if (M == 0) != (N == 0) or (M and N % M):
            raise ValueError(f"{N} hypotheses cannot share {M} memory rows in equal groups")
        group = N // M if M else 1
        if self._cache_matches(cache, tokens, memory, memory_lens):
            new, start, past, past_rows = tokens[:, -1:], t - 1, cache["self"], cache.get("self_rows")
            memory_kv, cross_mask = cache["cross"], cache["cross_mask"]
        else:
            new, start, past, past_rows = tokens, 0, None, None
            memory_kv = self.memory_kv(memory)
            cross_mask = additive_mask(key_allowed(memory_lens, memory.shape[1]), memory.dtype)
        hidden, present = self.run(new, start, memory_kv, cross_mask, past, group, past_rows)
        log_probs = F.log_softmax(self.out(hidden[:, -1]).float(), dim=-1)
        cache = {"tokens": tokens, "memory": memory, "memory_lens": memory_lens, "self": present,
                 "self_rows": None, "cross": memory_kv, "cross_mask": cross_mask}
        return log_probs, cache

    @staticmethod
    def select_hyps(cache: dict, rows: Tensor, memory_rows: Tensor | None = None) -> dict:
        """The cache of hypotheses `rows` (N_new,) indices into its rows, with memory rows `memory_rows`
        (indices into its memory rows; None: the memory part stays as it is, which is right when every
        rows[n] uses the same memory row as n, e.g. a grouped cache reordered within each group).

        The self-attention keys and values are not copied here: the selection is remembered in
        "self_rows" and the next step gathers them while appending its own (see `extend`)."""
        pending = cache.get("self_rows")
        out = dict(cache, tokens=cache["tokens"].index_select(0, rows),
                   self_rows=rows if pending is None else pending.index_select(0, rows))
        if memory_rows is not None:
            def pick(x):
                return x.index_select(0, memory_rows)
            out.update(memory=pick(cache["memory"]), memory_lens=pick(cache["memory_lens"]),
                       cross=[(pick(k), pick(v)) for k, v in cache["cross"]], cross_mask=pick(cache["cross_mask"]))
        return out

    @staticmethod
    def reorder_cache(cache: dict, index: Tensor) -> dict:
        """Select hypotheses (N_new,) indices into the cache's rows (beam search bookkeeping). A grouped
        cache comes back with one memory row per hypothesis (any index is allowed)."""
        group = cache["tokens"].shape[0] // max(cache["memory"].shape[0], 1)
        return Decoder.select_hyps(cache, index, index // group if group > 1 else index)
