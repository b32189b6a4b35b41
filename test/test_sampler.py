"""Bucketed batch sampler: frame budget, per-epoch shuffle from the seed, filters with counts, DDP shards."""
import numpy as np
import pytest

from echo.train.sampler import BucketBatchSampler

RNG = np.random.default_rng(0)
LENGTHS = RNG.integers(100, 1000, size=200).tolist()


def padded(batch, lengths):
    return len(batch) * max(lengths[i] for i in batch)


def test_greedy_packing_by_length():
    s = BucketBatchSampler([10, 30, 10, 10], batch_frames=30, shuffle=False)
    assert s.epoch_batches(1) == [[0, 2, 3], [1]]
    assert len(s) == s.num_batches == 2


def test_budget_and_every_utterance_once_per_epoch():
    s = BucketBatchSampler(LENGTHS, batch_frames=5000, seed=3)
    for epoch in (1, 2):
        s.set_epoch(epoch)
        batches = list(s)
        assert len(batches) == len(s)
        assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
        assert all(padded(b, LENGTHS) <= 5000 for b in batches)


def test_length_buckets_keep_padding_low():
    s = BucketBatchSampler(LENGTHS, batch_frames=5000, seed=0)
    real = sum(LENGTHS)
    total = sum(padded(b, LENGTHS) for b in s.epoch_batches(1))
    assert 1 - real / total < 0.10
    # the same batch sizes with utterances drawn at random waste far more
    order = RNG.permutation(len(LENGTHS))
    sizes = [len(b) for b in s.epoch_batches(1)]
    random_batches = np.split(order, np.cumsum(sizes)[:-1])
    assert 1 - real / sum(padded(b.tolist(), LENGTHS) for b in random_batches) > 0.2


def test_shuffle_depends_on_seed_and_epoch_only():
    a = BucketBatchSampler(LENGTHS, batch_frames=5000, seed=1)
    b = BucketBatchSampler(LENGTHS, batch_frames=5000, seed=1)
    c = BucketBatchSampler(LENGTHS, batch_frames=5000, seed=2)
    assert a.epoch_batches(4) == b.epoch_batches(4)          # a resumed run rebuilds the same epoch
    assert a.epoch_batches(4) != a.epoch_batches(5)
    assert a.epoch_batches(4) != c.epoch_batches(4)
    # the count of batches does not change with the shuffle
    assert {len(a.epoch_batches(e)) for e in range(1, 6)} == {a.num_batches}
    # no shuffle: the same batches every epoch
    v = BucketBatchSampler(LENGTHS, batch_frames=5000, shuffle=False)
    assert v.epoch_batches(1) == v.epoch_batches(7)


def test_resume_position_skips_consumed_batches():
    s = BucketBatchSampler(LENGTHS, batch_frames=5000, seed=0)
    full = s.rank_batches(3)
    s.set_epoch(3, start=5)
    assert list(s) == full[5:]
    assert len(s) == len(full)   # the epoch's length, whatever the start


def test_filters_are_counted_and_applied():
    frames = [50, 5000, 40, 12, 60, 3]
    tokens = [5, 5, 20, 1, 0, 1]
    s = BucketBatchSampler(frames, batch_frames=10000, num_tokens=tokens, max_frames=1000, subsampling=4)
    d = s.dropped
    # 5000 > max_frames; 3 frames give 0 encoder frames; 20 tokens > 40 // 4; empty transcript
    assert (d.too_long, d.too_short, d.too_many_tokens, d.no_tokens, d.total) == (1, 1, 1, 1, 4)
    assert sorted(i for b in s.epoch_batches(1) for i in b) == [0, 3]
    # exact encoder lengths from the model override frames // subsampling
    s = BucketBatchSampler(frames, batch_frames=10000, num_tokens=tokens, enc_frames=[4, 1, 30, 2, 14, 0])
    assert s.dropped.too_many_tokens == 2 and s.dropped.too_short == 1
    with pytest.raises(ValueError, match="no utterance left"):
        BucketBatchSampler([10], batch_frames=100, max_frames=5)


@pytest.mark.parametrize("world", [2, 3])
def test_ddp_shards_disjoint_and_equal(world):
    ranks = [BucketBatchSampler(LENGTHS, batch_frames=3000, seed=0, rank=r, world_size=world)
             for r in range(world)]
    shards = [r.rank_batches(2) for r in ranks]
    assert len({len(sh) for sh in shards}) == 1 and len(shards[0]) == len(ranks[0])
    everything = ranks[0].epoch_batches(2)
    n = len(everything)
    # the first n batches over ranks, in order, are each batch exactly once; the rest repeat the first ones
    interleaved = [shards[j % world][j // world] for j in range(len(shards[0]) * world)]
    assert interleaved[:n] == everything
    assert interleaved[n:] == everything[:len(interleaved) - n]
    # validation: no padding, each utterance exactly once over all ranks
    val = [BucketBatchSampler(LENGTHS, batch_frames=3000, shuffle=False, rank=r, world_size=world,
                              pad_to_equal=False) for r in range(world)]
    utts = sorted(i for v in val for b in v.rank_batches(1) for i in b)
    assert utts == list(range(len(LENGTHS)))
    assert sum(len(v) for v in val) == val[0].num_batches


def test_max_batch_size():
    s = BucketBatchSampler([10] * 10, batch_frames=1000, max_batch_size=3, shuffle=False)
    assert [len(b) for b in s.epoch_batches(1)] == [3, 3, 3, 1]
