"""Word timings from CTC: forced alignment of a hypothesis over the CTC posteriors, and encoder frames to seconds.

    spans = ctc_align(log_probs[:T'], tokens)          # per token its [first, last] encoder frame, or None
    words = word_spans(token_strings, spans, "bpe")      # [(word, first frame, last frame)]
    times = FrameTimes.of(model, feat_conf)              # encoder frame -> seconds

The alignment is the Viterbi path over the blank-extended sequence b y1 b y2 ... yL b (2L + 1 states):
a state moves on by one, or skips the blank between two different labels, or stays. A token's span is
the frames its own state holds on the best path (CTC spikes: often one frame). Word boundaries come
from the token units: every token is a word (word units), a token starting with '▁' starts a word
(sentencepiece), '<space>' separates words (char units).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from echo.text.tokenizer import SPACE

SP_SPACE = "\u2581"


def ctc_align(log_probs, tokens: list[int], blank: int = 0) -> list[tuple[int, int]] | None:
    """log_probs (T, V) of one utterance (no padding), tokens (L,) -> per token (first, last) frame of
    the best CTC path that emits exactly `tokens`; None when no path fits in T frames."""
    lp = torch.as_tensor(log_probs).detach().float().cpu().numpy()
    T, L = lp.shape[0], len(tokens)
    if L == 0:
        return []
    repeats = sum(1 for a, b in zip(tokens, tokens[1:]) if a == b)
    if T < L + repeats:
        return None
    labels = np.full(2 * L + 1, blank, dtype=np.int64)
    labels[1::2] = tokens
    S = len(labels)
    emit = lp[:, labels]                                     # (T, S)
    # a skip s-2 -> s is allowed into a label state whose label differs from the label two states back
    no_skip = np.ones(S, dtype=bool)
    no_skip[3::2] = labels[3::2] == labels[1:-2:2]
    no_skip[:2] = True
    score = np.full(S, -np.inf)
    score[0], score[1] = emit[0, 0], emit[0, 1]
    back = np.zeros((T, S), dtype=np.int8)                   # 0 stay, 1 from s-1, 2 from s-2
    cand = np.empty((3, S))
    for t in range(1, T):   # numpy, not torch: on arrays this small each torch call costs 10x more
        cand[0] = score
        cand[1, 0], cand[1, 1:] = -np.inf, score[:-1]
        cand[2, :2], cand[2, 2:] = -np.inf, score[:-2]
        cand[2, no_skip] = -np.inf
        arg = cand.argmax(axis=0)
        back[t] = arg
        score = cand[arg, np.arange(S)] + emit[t]
    end = S - 1 if score[S - 1] >= score[S - 2] else S - 2
    if not np.isfinite(score[end]):
        return None
    states = np.empty(T, dtype=np.int64)
    s = end
    for t in range(T - 1, -1, -1):
        states[t] = s
        s -= int(back[t, s])
    spans = []
    for k in range(L):
        frames = np.nonzero(states == 2 * k + 1)[0]
        spans.append((int(frames[0]), int(frames[-1])))
    return spans


def word_spans(token_strings: list[str], spans: list[tuple[int, int]], token_type: str,
               text_of=None) -> list[tuple[str, int, int]]:
    """Group token spans into words: [(word, first frame, last frame)]. text_of(list of token strings)
    turns a word's tokens into its text (default: joined, '▁' removed)."""
    words: list[tuple[list[str], int, int]] = []
    start_new = True
    for tok, (first, last) in zip(token_strings, spans):
        if token_type == "char" and tok == SPACE:
            start_new = True
            continue
        if token_type == "word" or (token_type == "bpe" and tok.startswith(SP_SPACE)) or start_new or not words:
            if token_type == "bpe" and tok == SP_SPACE:   # a lone '▁' starts the next word, holds no letter
                start_new = True
                continue
            words.append(([tok], first, last))
        else:
            pieces, f, _ = words[-1]
            words[-1] = (pieces + [tok], f, last)
        start_new = False
    join = text_of or (lambda pieces: "".join(pieces).replace(SP_SPACE, ""))
    return [(join(pieces), f, last) for pieces, f, last in words]


@dataclass(frozen=True)
class FrameTimes:
    """Encoder frame j (after the conv subsampling) -> seconds.

    Feature frame t covers samples [t·hop, t·hop + win) (snip_edges, echo/features/fbank.py); encoder frame
    j sees feature frames [j·stride, j·stride + window) (echo/model/subsampling.py: no padding), so its
    receptive field is [j·stride·hop, (j·stride + window − 1)·hop + win) samples and its centre is
    j·stride·hop + ((window − 1)·hop + win) / 2. Frame j is given the stride-long interval around that
    centre: it starts at centre − stride·hop/2 and ends where frame j + 1 starts.
    """
    stride_s: float      # seconds between encoder frames
    centre0_s: float     # centre of encoder frame 0's receptive field

    @classmethod
    def of(cls, model, feat_conf) -> "FrameTimes":
        sub = model.encoder.subsampling
        hop = feat_conf.window_shift / feat_conf.sample_rate
        win = feat_conf.window_size / feat_conf.sample_rate
        return cls(stride_s=sub.stride * hop, centre0_s=((sub.window - 1) * hop + win) / 2)

    def start(self, j: int) -> float:
        return max(0.0, self.centre0_s + (j - 0.5) * self.stride_s)

    def end(self, j: int) -> float:
        return self.centre0_s + (j + 0.5) * self.stride_s


# ---- snapping CTC word spans to the speech around them ------------------------------------------------
# A CTC model emits a word's token as a spike somewhere inside the word (on tone words: 40-120 ms after it
# starts), so the aligned span marks where the word is, not where it begins and ends. The boundaries are
# taken from the audio instead: from the span, outwards through frames louder than a threshold between the
# recording's noise floor and its speech level, never past the neighbouring words' spans.
ENERGY_HOP_S = 0.01
SNAP_LEVEL = 0.25            # threshold = floor + SNAP_LEVEL · (speech level − floor), in dB
MIN_DYNAMIC_RANGE_DB = 10.0  # below this, no pauses to find: the CTC spans are kept as they are


def frame_energy_db(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """(N,) -> (N // hop,) log energy in dB of 10 ms frames."""
    hop = max(1, int(sample_rate * ENERGY_HOP_S))
    n = len(wave) // hop
    if n == 0:
        return np.zeros(0)
    e = np.square(np.asarray(wave[:n * hop], dtype=np.float64)).reshape(n, hop).mean(axis=1)
    return 10.0 * np.log10(e + 1e-10)


def snap_to_speech(words: list[tuple[str, float, float]], energy_db: np.ndarray) -> list[tuple[str, float, float]]:
    """words [(word, start s, end s)] from the CTC spans -> the same words with start and end moved out to
    the edges of the loud region around each span, bounded by the neighbours' spans."""
    if len(energy_db) == 0 or not words:
        return words
    floor, level = np.percentile(energy_db, 10), np.percentile(energy_db, 95)
    if level - floor < MIN_DYNAMIC_RANGE_DB:
        return words
    loud = energy_db > floor + SNAP_LEVEL * (level - floor)
    n = len(loud)

    def frame(t: float) -> int:
        return min(n - 1, max(0, int(t / ENERGY_HOP_S)))

    starts = []
    for i, (_, start, _) in enumerate(words):
        lo = frame(words[i - 1][2]) if i else 0                 # not before the previous word's span ends
        a = frame(start)
        while a > lo and loud[a - 1]:
            a -= 1
        starts.append(min(start, a * ENERGY_HOP_S))
    out = []
    for i, (w, start, end) in enumerate(words):
        hi = frame(starts[i + 1]) - 1 if i + 1 < len(words) else n - 1   # nor past the next word's start
        b = frame(end)
        while b < hi and loud[b + 1]:
            b += 1
        new_end = (b + 1) * ENERGY_HOP_S if loud[b] else end
        out.append((w, starts[i], max(end, new_end) if i + 1 == len(words) else
                    min(max(end, new_end), max(end, starts[i + 1]))))
    return out
