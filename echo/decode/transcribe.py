"""Transcribing audio with a packed model: the library behind echo-transcribe and echo.load_model.

    t = Transcriber.load("model.echo", beam_size=4)
    records = t.transcribe(["a.wav", "recordings/", array_16k])     # one dict per source, in order

Each source is read (any format soundfile reads, any rate and channel count: averaged to mono, resampled
with soxr), cut into chunks of at most MAX_CHUNK_SECONDS at quiet points, and turned into features by
echo.features.extract.extract_features with the model's own feature config and CMVN: exactly what the
dump stage computes. Chunks of all sources are decoded together in batches of similar durations; each
chunk's best hypothesis is force-aligned over its CTC posteriors (echo.decode.align) for word times.

A record (what --format json writes, one per source):
    id, path, duration (s), transcript, nbest [{text, tokens, score}], words [{word, start, end}],
    chunks [{start, end, text}] (more than one chunk only), rtf, error (None, or why it has no transcript)
Word times are None where the CTC alignment is impossible (a model trained without CTC, ctc_weight 0).
The n-best of a source cut into chunks holds one entry: the chunks' best hypotheses joined.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from echo.decode.align import FrameTimes, ctc_align, frame_energy_db, snap_to_speech, word_spans
from echo.decode.inputs import MAX_CHUNK_SECONDS, Source, chunk_bounds, expand_inputs, load_source
from echo.decode.options import resolve_options, search_config
from echo.decode.recognizer import Recognizer
from echo.features.config import FeatureError
from echo.features.extract import extract_features

log = logging.getLogger("echo.transcribe")
BATCH_SECONDS = 480.0     # padded audio per batch at most (besides batch_size): bounds memory on long chunks


@dataclass
class Chunk:
    source: int           # index into the sources
    start: float          # seconds into the source
    feats: torch.Tensor   # (T, D), CMVN applied
    f0: torch.Tensor      # (T,)
    energy_db: np.ndarray  # (10 ms frames,) of the chunk's audio, for word boundaries
    result: dict = field(default_factory=dict)


class Transcriber:
    """A Recognizer from a packed model, and the per-source bookkeeping of transcription."""

    def __init__(self, rec: Recognizer, opts: dict, max_chunk_seconds: float = MAX_CHUNK_SECONDS,
                 snap: bool = True):
        """snap: move word boundaries from the CTC spans out to the edges of the speech around them."""
        self.rec, self.opts, self.max_chunk_seconds, self.snap = rec, opts, max_chunk_seconds, snap
        self.times = FrameTimes.of(rec.model, rec.feat_conf)
        self.min_samples = self._min_samples()

    @classmethod
    def load(cls, path, device="cpu", max_chunk_seconds: float = MAX_CHUNK_SECONDS, **overrides) -> "Transcriber":
        """The packed model at path; overrides: decoding options (beam_size=4, mode="greedy_ctc", ...)
        over the decode config packed with it."""
        from echo.io.packed import read_packed

        obj = read_packed(path)
        opts = resolve_options(overrides, base=obj["decode"])
        rec = Recognizer.from_packed(obj, search_config(opts), opts["mode"], device)
        return cls(rec, opts, max_chunk_seconds)

    def _min_samples(self) -> int:
        """Fewest samples whose features leave the encoder at least one frame."""
        conf, sub = self.rec.feat_conf, self.rec.model.encoder.subsampling
        frames = next(t for t in range(1, 1000) if int(sub.output_lengths(torch.tensor([t]))[0]) > 0)
        return conf.window_size + (frames - 1) * conf.window_shift

    # ---- sources to chunks of features -----------------------------------------------------------------
    def prepare(self, src: Source, index: int) -> tuple[list[Chunk], dict]:
        """Read and featurise one source: its chunks and its record so far (error set if it failed)."""
        rate = self.rec.feat_conf.sample_rate
        record = dict(id=src.id, path=src.path, duration=None, transcript=None, nbest=[], words=None,
                      rtf=None, error=None)
        t0 = time.perf_counter()
        try:
            wave = load_source(src, rate)
            record["duration"] = round(len(wave) / rate, 3)
            if len(wave) < self.min_samples:
                raise FeatureError(f"{len(wave) / rate * 1000:.0f} ms of audio is too short to decode (the model "
                                   f"needs at least {self.min_samples / rate * 1000:.0f} ms)")
            chunks = []
            for first, last in chunk_bounds(wave, rate, self.max_chunk_seconds, self.min_samples):
                piece = wave[first:last]
                feats, f0 = extract_features(piece, self.rec.feat_conf)
                feats = torch.from_numpy(np.asarray(feats, dtype=np.float32))
                if self.rec.cmvn is not None:
                    feats = self.rec.cmvn(feats)
                chunks.append(Chunk(index, first / rate, feats, torch.from_numpy(np.asarray(f0, dtype=np.float32)),
                                    frame_energy_db(piece, rate)))
        except FeatureError as e:    # AudioError included: unreadable, corrupt, empty, too short
            reason = " ".join(str(e).split())
            record["error"] = reason if src.id in reason else f"{src.id}: {reason}"
            return [], record
        record["_seconds"] = time.perf_counter() - t0
        return chunks, record

    # ---- decoding ------------------------------------------------------------------------------------
    def batches(self, chunks: list[Chunk]):
        """Chunks of similar durations together: at most batch_size, and BATCH_SECONDS of padded audio."""
        order = sorted(chunks, key=lambda c: -len(c.feats))
        max_frames = BATCH_SECONDS * 1000.0 / self.rec.feat_conf.frame_shift_ms
        batch: list[Chunk] = []
        for c in order:
            if batch and (len(batch) >= self.opts["batch_size"] or len(batch[0].feats) * (len(batch) + 1) > max_frames):
                yield batch
                batch = []
            batch.append(c)
        if batch:
            yield batch

    def decode_batch(self, batch: list[Chunk]) -> float:
        """Decode `batch`, filling each chunk's result; returns the seconds it took."""
        t0 = time.perf_counter()
        lens = torch.tensor([len(c.feats) for c in batch])
        feats = torch.nn.utils.rnn.pad_sequence([c.feats for c in batch], batch_first=True)
        f0 = torch.nn.utils.rnn.pad_sequence([c.f0 for c in batch], batch_first=True)
        nbests, log_probs, enc_lens = self.rec.decode(feats, lens, f0, posteriors=True)
        for b, (c, hyps) in enumerate(zip(batch, nbests)):
            c.result = self.chunk_result(c, hyps, log_probs[b, :int(enc_lens[b])])
        return time.perf_counter() - t0

    def chunk_result(self, c: Chunk, hyps, log_probs: torch.Tensor) -> dict:
        rec, tok = self.rec, self.rec.tokenizer
        nbest = [dict(text=rec.text(h), tokens=rec.token_strings(h), score=round(float(h.score), 4)) for h in hyps]
        words = None
        if hyps and rec.model.cfg.ctc_weight > 0:
            best = hyps[0]
            spans = ctc_align(log_probs, best.tokens, rec.blank)
            if spans is not None:
                strings = rec.token_strings(best)
                text_of = (lambda pieces: tok.sp.decode(pieces)) if tok.token_type == "bpe" else None
                ctc_words = [(w, self.times.start(f), self.times.end(last))
                             for w, f, last in word_spans(strings, spans, tok.token_type, text_of)]
                words = [dict(word=w, start=round(c.start + a, 3), end=round(c.start + b, 3))
                         for w, a, b in (snap_to_speech(ctc_words, c.energy_db) if self.snap else ctc_words)]
        return dict(nbest=nbest, words=words)

    def finish(self, record: dict, chunks: list[Chunk], decode_seconds: float) -> dict:
        """Join a source's chunks into its record."""
        seconds = record.pop("_seconds", 0.0) + decode_seconds
        results = [c.result for c in chunks]
        texts = [r["nbest"][0]["text"] if r["nbest"] else "" for r in results]
        record["transcript"] = " ".join(t for t in texts if t)
        if len(chunks) == 1:
            record["nbest"] = results[0]["nbest"]
        else:
            record["nbest"] = [dict(text=record["transcript"],
                                    tokens=[t for r in results if r["nbest"] for t in r["nbest"][0]["tokens"]],
                                    score=round(sum(r["nbest"][0]["score"] for r in results if r["nbest"]), 4))]
            ends = [c.start for c in chunks[1:]] + [record["duration"]]
            record["chunks"] = [dict(start=round(c.start, 3), end=round(e, 3), text=t)
                                for c, e, t in zip(chunks, ends, texts)]
        if all(r["words"] is not None for r in results):
            words = [w for r in results for w in r["words"]]
            for w in words:
                w["end"] = min(w["end"], record["duration"])
            record["words"] = words
        record["rtf"] = round(seconds / record["duration"], 4) if record["duration"] else None
        return record

    def transcribe_sources(self, sources: list[Source], group: int | None = None):
        """Yield (index, record) for every source, decoding `group` sources' chunks at a time."""
        group = group or 8 * self.opts["batch_size"]
        for k in range(0, len(sources), group):
            prepared = [self.prepare(src, k + i) for i, src in enumerate(sources[k:k + group])]
            chunks = [c for cs, _ in prepared for c in cs]
            share = {}
            for batch in self.batches(chunks):
                seconds = self.decode_batch(batch)
                frames = sum(len(c.feats) for c in batch)
                for c in batch:   # the batch's time, shared by frames
                    share[c.source] = share.get(c.source, 0.0) + seconds * len(c.feats) / frames
            for i, (cs, record) in enumerate(prepared):
                if record["error"] is None:
                    record = self.finish(record, cs, share.get(k + i, 0.0))
                else:
                    record.pop("_seconds", None)
                yield k + i, record

    def transcribe(self, inputs) -> list[dict]:
        """Records (see the module doc) of every input: paths, folders, wav.scp files, (N,) arrays at the
        model's sample rate or (array, rate) pairs. Failures are records with `error` set, never raised."""
        if isinstance(inputs, (str, np.ndarray)) or not hasattr(inputs, "__iter__"):
            inputs = [inputs]
        sources, notes = expand_inputs(list(inputs))
        for note in notes:
            log.warning("%s", note)
        return [r for _, r in self.transcribe_sources(sources)]


# ---- several processes --------------------------------------------------------------------------------
_WORKER: Transcriber | None = None


def _init_worker(model_path: str, overrides: dict, max_chunk_seconds: float, num_threads: int) -> None:
    global _WORKER
    torch.set_num_threads(max(1, num_threads))
    _WORKER = Transcriber.load(model_path, max_chunk_seconds=max_chunk_seconds, **overrides)


def _work(unit: list[tuple[int, Source]]) -> list[tuple[int, dict]]:
    indices, sources = zip(*unit)
    return [(indices[i], r) for i, r in _WORKER.transcribe_sources(list(sources))]


def transcribe_parallel(model_path, sources: list[Source], overrides: dict, nj: int, num_threads: int = 1,
                        max_chunk_seconds: float = MAX_CHUNK_SECONDS, unit_size: int = 16, progress=None):
    """Yield (index, record) of every source, decoded by nj processes (each loads the model once and runs
    num_threads torch threads) over units of unit_size sources; progress(n) is called as units finish."""
    import multiprocessing as mp

    units = [list(enumerate(sources))[k:k + unit_size] for k in range(0, len(sources), unit_size)]
    ctx = mp.get_context("spawn")   # torch is not fork-safe once its thread pools exist
    with ctx.Pool(nj, initializer=_init_worker,
                  initargs=(str(model_path), overrides, max_chunk_seconds, num_threads)) as pool:
        for results in pool.imap_unordered(_work, units):
            yield from results
            if progress is not None:
                progress(len(results))
