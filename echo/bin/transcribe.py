"""Transcribe audio files with a packed model (installed as the command echo-transcribe).

    python -m echo.bin.transcribe --model model.echo INPUT... [--out FILE] [--format text|json|ctm|srt]
    echo-transcribe --model exp/<tag>/model.echo recordings/ --format json --out recordings.jsonl --nj 2
    find . -name '*.flac' | echo-transcribe --model model.echo -

INPUT is any mix of audio files (anything soundfile reads: wav, flac, mp3, ogg, sph, ...), folders
(searched recursively for .wav .flac .mp3 .ogg .sph), Kaldi wav.scp files (paths or `cmd |` pipes), and
`-` for a list of paths on standard input. Any sample rate and channel count: channels are averaged,
audio is resampled to the model's rate, and features are computed by the dump stage's own code with the
model's feature config and CMVN. Audio longer than --max-chunk-seconds (30 s) is cut at quiet points and
decoded in chunks, joined with word times offset; nothing is truncated.

Formats: text (<path><TAB><transcript>), json (JSON Lines, one object per input: transcript, n-best with
scores, duration, RTF, word start/end times; failures too, with "error"), ctm (<id> 1 <start> <dur>
<word>), srt (subtitles; with several inputs --out is a folder that gets <name>.srt per input). Word
times come from the CTC forced alignment of the final hypothesis.

A file that cannot be read, or is too short to decode, is named on stderr (and in the JSON) and the others
are transcribed; the exit status is the number of such files (at most 125). Decoding options default to
the decode config packed with the model; --beam-size, --ctc-weight, --mode, ... override them.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

MAX_EXIT = 125


def say(message: str) -> None:
    """A line for the user on stderr (not through logging: its configuration belongs to the caller)."""
    print(f"echo-transcribe: {message}", file=sys.stderr, flush=True)


def get_parser() -> argparse.ArgumentParser:
    from echo.decode.formats import FORMATS
    from echo.decode.inputs import MAX_CHUNK_SECONDS
    from echo.decode.options import add_search_arguments

    p = argparse.ArgumentParser(prog="echo-transcribe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, type=Path, help="packed model (python -m echo.bin.pack)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders, wav.scp files, or -")
    p.add_argument("--out", type=Path, help="output file (default: standard output); a folder for srt with "
                                            "several inputs")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("--nj", type=int, default=1, help="processes (each loads the model once)")
    p.add_argument("--num-threads", type=int, default=0,
                   help="torch threads per process (0: torch's default with --nj 1, else 1)")
    p.add_argument("--ngpu", type=int, default=0, help="0: CPU; 1: the first CUDA device (--nj 1 only)")
    p.add_argument("--max-chunk-seconds", type=float, default=MAX_CHUNK_SECONDS,
                   help="longest piece of audio decoded at once; longer audio is cut at quiet points")
    p.add_argument("--config", type=Path, help="decoding options as YAML, over the model's own")
    add_search_arguments(p)
    return p


class OrderedWriter:
    """Writes records in input order as they arrive in any order; text goes to stdout as it comes, or to
    --out in one atomic write at the end (a killed run leaves no partial file under that name)."""

    def __init__(self, fmt: str, out: Path | None, n_sources: int):
        from echo.decode.formats import format_record

        self.fmt, self.out, self.format_record = fmt, out, format_record
        self.srt_dir = out if fmt == "srt" and n_sources > 1 else None
        if fmt == "srt" and n_sources > 1 and out is None:
            raise SystemExit("echo-transcribe: --format srt with several inputs needs --out FOLDER "
                             "(one .srt per input)")
        self.pending, self.next, self.parts, self.srt_names = {}, 0, [], set()

    def add(self, index: int, record: dict) -> None:
        self.pending[index] = record
        while self.next in self.pending:
            self._emit(self.pending.pop(self.next))
            self.next += 1

    def _emit(self, record: dict) -> None:
        text = self.format_record(record, self.fmt)
        if self.srt_dir is not None:
            if record["error"] is None:
                from echo.io import atomic

                name = Path(record["id"]).stem or "audio"
                unique, k = name, 1
                while unique in self.srt_names:
                    k += 1
                    unique = f"{name}.{k}"
                self.srt_names.add(unique)
                atomic.write_text(self.srt_dir / f"{unique}.srt", text)
        elif self.out is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            self.parts.append(text)

    def close(self) -> None:
        if self.out is not None and self.srt_dir is None:
            from echo.io import atomic

            atomic.write_text(self.out, "".join(self.parts))


def run(args) -> int:
    import torch

    from echo.decode.inputs import expand_inputs
    from echo.decode.options import OPTIONS, read_config
    from echo.decode.transcribe import Transcriber, transcribe_parallel
    from echo.io import atomic

    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    overrides = read_config(args.config) if args.config else {}
    overrides.update({k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None})
    t0 = time.perf_counter()
    try:   # the model first: a wrong --model is one line before any input is looked at
        transcriber = Transcriber.load(args.model, "cuda" if args.ngpu > 0 else "cpu", args.max_chunk_seconds,
                                       **overrides)
    except (FileNotFoundError, atomic.CorruptFileError, ValueError) as e:
        raise SystemExit(f"echo-transcribe: {' '.join(str(e).split())}") from None
    load_seconds = time.perf_counter() - t0
    try:
        sources, notes = expand_inputs(args.inputs, stdin=sys.stdin)
    except (OSError, ValueError) as e:
        raise SystemExit(f"echo-transcribe: {' '.join(str(e).split())}") from None
    for note in notes:
        say(note)
    if not sources:
        raise SystemExit("echo-transcribe: no audio to transcribe in " + " ".join(args.inputs))
    writer = OrderedWriter(args.format, args.out, len(sources))
    nj = max(1, min(args.nj, len(sources)))

    from tqdm import tqdm

    bar = tqdm(total=len(sources), unit="file", disable=not sys.stderr.isatty(), file=sys.stderr)
    if nj == 1:
        results = ((i, r) for i, r in transcriber.transcribe_sources(sources) if bar.update(1) or True)
    else:
        results = transcribe_parallel(args.model, sources, overrides, nj, args.num_threads or 1,
                                      args.max_chunk_seconds, progress=bar.update)
    failed, audio = [], 0.0
    for index, record in results:
        if record["error"] is not None:
            failed.append(record["id"])
            bar.write(f"echo-transcribe: cannot transcribe {record['error']}", file=sys.stderr)
        else:
            audio += record["duration"]
        writer.add(index, record)
    bar.close()
    writer.close()
    elapsed = time.perf_counter() - t0
    say(f"{len(sources) - len(failed)} of {len(sources)} inputs transcribed ({audio:.1f} s of audio) in "
        f"{elapsed:.1f} s (model loaded in {load_seconds:.2f} s; RTF {elapsed / audio if audio else float('nan'):.4f}, "
        f"{nj} process(es))" + (f"; {len(failed)} failed: {' '.join(failed[:10])}" if failed else ""))
    return min(len(failed), MAX_EXIT)


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="echo-transcribe: %(message)s", stream=sys.stderr)
    if args.nj < 1:
        raise SystemExit("echo-transcribe: --nj must be >= 1")
    if args.nj > 1 and args.ngpu > 0:
        raise SystemExit("echo-transcribe: --ngpu runs one process: use --nj 1 (batches keep the GPU busy)")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
