"""The attention decoder: causal pre-norm transformer, ordinary rotary in self-attention, cross-attention
to the encoder output (rotary there only with rope_in_cross), and an incremental `step` with a cache for
autoregressive decoding.

step() returns exactly what forward() gives at the same position (tested). Its cache remembers the
tokens and memory it was built from; if a caller passes tokens or memory the cache does not match
(hypotheses reordered without reorder_cache), step recomputes from scratch rather than return a wrong
answer. Beam search should call Decoder.reorder_cache(cache, index) after selecting hypotheses.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from echo.model.attention import MultiHeadAttention, additive_mask, key_allowed
from echo.model.encoder import feed_forward
from echo.model.rotary import Rotation, standard_rotation

KV = tuple[Tensor, Tensor]


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
                cross_rotation: Rotation | None, memory_kv: KV, cross_mask: Tensor) -> tuple[Tensor, KV]:
        h = self.self_norm(x)
        q = self.self_attn.project_q(h, rotation)
        k, v = self.self_attn.project_kv(h, rotation)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        x = x + self.dropout(self.self_attn.attend(q, k, v, self_mask))
        q = self.cross_attn.project_q(self.cross_norm(x), cross_rotation)
        x = x + self.dropout(self.cross_attn.attend(q, *memory_kv, cross_mask))
        x = x + self.dropout(self.mlp(self.mlp_norm(x)))
        return x, (k, v)


class Decoder(nn.Module):
    """tokens (N, L) with <sos> first -> logits (N, L, V) for the next token at each position."""

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
            past: list[KV] | None) -> tuple[Tensor, list[KV]]:
        """Tokens at positions start .. start+t−1 (N, t) -> hidden (N, t, d), self-attention caches."""
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
                          cross_rotation, memory_kv[i], cross_mask)
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
        """tokens (N, t) (<sos> first), memory (N, T', d), memory_lens (N,), cache from the previous step
        or None -> log-probs (N, V) float32 of token t+1, the cache for the next step."""
        N, t = tokens.shape
        if self._cache_matches(cache, tokens, memory, memory_lens):
            new, start, past = tokens[:, -1:], t - 1, cache["self"]
            memory_kv, cross_mask = cache["cross"], cache["cross_mask"]
        else:
            new, start, past = tokens, 0, None
            memory_kv = self.memory_kv(memory)
            cross_mask = additive_mask(key_allowed(memory_lens, memory.shape[1]), memory.dtype)
        hidden, present = self.run(new, start, memory_kv, cross_mask, past)
        log_probs = F.log_softmax(self.out(hidden[:, -1]).float(), dim=-1)
        cache = {"tokens": tokens, "memory": memory, "memory_lens": memory_lens, "self": present,
                 "cross": memory_kv, "cross_mask": cross_mask}
        return log_probs, cache

    @staticmethod
    def reorder_cache(cache: dict, index: Tensor) -> dict:
        """Select hypotheses (N_new,) indices into the cache's rows (beam search bookkeeping)."""
        def pick(x):
            return x.index_select(0, index)
        return {"tokens": pick(cache["tokens"]), "memory": pick(cache["memory"]),
                "memory_lens": pick(cache["memory_lens"]),
                "self": [(pick(k), pick(v)) for k, v in cache["self"]],
                "cross": [(pick(k), pick(v)) for k, v in cache["cross"]],
                "cross_mask": pick(cache["cross_mask"])}
