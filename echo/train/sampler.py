"""Length-bucketed batches with a budget in frames, shuffled per epoch, sharded for DDP.

Utterances are sorted by length and packed greedily so that a batch's padded size, utterances × the
longest utterance's frames, stays within `batch_frames`; similar lengths share a batch, so little of
it is padding. Each epoch the order of the batches (and the order among utterances of equal length)
is shuffled by a generator seeded with (seed, epoch) alone, so any rank, and any resumed run,
rebuilds exactly the same epoch from two integers. Under DDP each rank takes every world_size-th batch
of that list; the list is first padded by repeating its first batches so that every rank makes the
same number of steps (a rank that ran out early would hang the others in all-reduce).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class DropCounts:
    """Utterances left out of training, by reason (reported in train.log)."""
    too_long: int = 0          # more frames than max_frames
    too_short: int = 0         # no encoder frame left after subsampling
    too_many_tokens: int = 0   # more tokens than encoder frames (frames // subsampling): CTC cannot align
    no_tokens: int = 0         # empty transcript: nothing to learn, and the attention loss is undefined

    @property
    def total(self) -> int:
        return self.too_long + self.too_short + self.too_many_tokens + self.no_tokens


class BucketBatchSampler:
    """Yields lists of dataset indices: this rank's batches of one epoch.

    num_frames:    per-utterance input frames (EchoDataset.num_frames)
    batch_frames:  budget of padded frames per batch (B × T_max); an utterance longer than the budget
                   gets a batch of its own
    num_tokens:    per-utterance token counts, for the tokens-vs-frames filter (None: no filter)
    max_frames:    utterances longer than this are dropped (None or 0: keep all)
    subsampling:   the encoder's time reduction; an utterance needs tokens <= frames // subsampling
    enc_frames:    per-utterance encoder frames, exact (the model's output_lengths), instead of
                   frames // subsampling; utterances with none are dropped
    max_batch_size: at most this many utterances per batch (0: no limit)
    shuffle:       False keeps the length order and the same batches in every epoch (validation)
    pad_to_equal:  repeat batches so that every rank has as many (training); False gives each
                   utterance exactly once across ranks (validation)

    Call set_epoch(epoch, start) before iterating: `start` batches of this rank's epoch are skipped,
    which is how a run resumes mid-epoch.
    """

    def __init__(self, num_frames, batch_frames: int, *, num_tokens=None, max_frames: int | None = None,
                 subsampling: int = 4, enc_frames=None, max_batch_size: int = 0, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1, pad_to_equal: bool = True):
        if batch_frames <= 0:
            raise ValueError(f"batch_frames must be positive, got {batch_frames}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of size {world_size}")
        self.num_frames = np.asarray(num_frames, dtype=np.int64)
        self.batch_frames = int(batch_frames)
        self.max_batch_size = int(max_batch_size)
        self.shuffle, self.seed = shuffle, int(seed)
        self.rank, self.world_size, self.pad_to_equal = rank, world_size, pad_to_equal
        self.epoch, self.start = 1, 0

        keep = np.ones(len(self.num_frames), dtype=bool)
        self.dropped = DropCounts()
        if max_frames:
            too_long = self.num_frames > max_frames
            self.dropped.too_long = int(too_long.sum())
            keep &= ~too_long
        enc = (np.asarray(enc_frames, dtype=np.int64) if enc_frames is not None
               else self.num_frames // subsampling)
        too_short = keep & (enc <= 0)
        self.dropped.too_short = int(too_short.sum())
        keep &= ~too_short
        if num_tokens is not None:
            num_tokens = np.asarray(num_tokens, dtype=np.int64)
            empty = keep & (num_tokens == 0)
            too_many = keep & ~empty & (num_tokens > enc)
            self.dropped.no_tokens = int(empty.sum())
            self.dropped.too_many_tokens = int(too_many.sum())
            keep &= ~(empty | too_many)
        self.indices = np.flatnonzero(keep)
        if len(self.indices) == 0:
            raise ValueError(f"no utterance left after filtering ({self.dropped}); check max_frames "
                             f"and the token list")
        # The number of batches does not depend on the shuffle (see _pack), so it is fixed here.
        self._num_batches = len(self._pack(self.indices[np.argsort(self.num_frames[self.indices],
                                                                   kind="stable")]))

    def _pack(self, order: np.ndarray) -> list[list[int]]:
        """Greedy packing of indices sorted by ascending length: the last one added is the longest, so
        the padded size of a batch is len(batch) × frames[last]. Boundaries depend only on the sorted
        lengths, never on which of several equal-length utterances comes first."""
        batches, batch = [], []
        for i in order.tolist():
            n = len(batch) + 1
            full = (n * int(self.num_frames[i]) > self.batch_frames
                    or (self.max_batch_size and n > self.max_batch_size))
            if batch and full:
                batches.append(batch)
                batch = []
            batch.append(i)
        if batch:
            batches.append(batch)
        return batches

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """All batches of `epoch` (every rank's), in this epoch's order."""
        lengths = self.num_frames[self.indices]
        if not self.shuffle:
            return self._pack(self.indices[np.argsort(lengths, kind="stable")])
        rng = np.random.default_rng([self.seed, epoch])
        tiebreak = rng.permutation(len(self.indices))
        order = self.indices[np.lexsort((tiebreak, lengths))]   # by length, ties in random order
        batches = self._pack(order)
        return [batches[j] for j in rng.permutation(len(batches))]

    def rank_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of `epoch`."""
        batches = self.epoch_batches(epoch)
        if self.pad_to_equal and len(batches) % self.world_size:
            extra = self.world_size - len(batches) % self.world_size
            batches = batches + [batches[j % len(batches)] for j in range(extra)]
        return batches[self.rank::self.world_size]

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = int(epoch), int(start)

    def __iter__(self):
        yield from self.rank_batches(self.epoch)[self.start:]

    def __len__(self) -> int:
        """Batches of this rank in a whole epoch (whatever `start` is)."""
        if self.pad_to_equal:
            return -(-self._num_batches // self.world_size)
        return len(range(self.rank, self._num_batches, self.world_size))

    @property
    def num_batches(self) -> int:
        """Batches of one epoch over all ranks, before padding."""
        return self._num_batches
