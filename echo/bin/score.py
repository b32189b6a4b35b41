"""Score hypotheses against references: WER and CER in sclite's layout, and RESULTS.md.

    python -m echo.bin.score --ref data/test/text --hyp exp/x/decode_test/text \\
        --utt2spk data/test/utt2spk --out exp/x/decode_test [--cer-remove-space] [--results exp/x]
    python -m echo.bin.score --results exp/x [--model exp/x/valid.acc.ave_5best.pt] [--config conf/train.yaml]

writes OUT/score_wer/{result.txt,result.json,ref.trn,hyp.trn} and the same under OUT/score_cer/,
prints Kaldi's one-line summaries, and with --results (re)writes EXP/RESULTS.md from every scored
EXP/decode_*/ dir. `--results EXP` alone only rewrites RESULTS.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from echo.data.datadir import read_kv_dict, write_kv
from echo.score.results import SKIPPED, skipped_utterances, write_results_md
from echo.score.sclite import write_result
from echo.score.wer import TextNormalizer, score


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m echo.bin.score", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", type=Path, help="Kaldi text file of references (utt_id transcript)")
    p.add_argument("--hyp", type=Path, help="Kaldi text file of hypotheses (utt_id transcript)")
    p.add_argument("--utt2spk", type=Path,
                   help="utt2spk for the per-speaker table (default: utt2spk beside --ref, if there)")
    p.add_argument("--out", type=Path, help="writes OUT/score_wer/ and OUT/score_cer/")
    p.add_argument("--lowercase", action="store_true", help="lower-case reference and hypothesis")
    p.add_argument("--remove-punctuation", action="store_true",
                   help="drop every Unicode punctuation character from both sides")
    p.add_argument("--cer-remove-space", action="store_true",
                   help="drop spaces before computing CER (languages written without word spaces)")
    p.add_argument("--missing-as-empty", action="store_true",
                   help="score a reference with no hypothesis as an empty hypothesis (default: error)")
    p.add_argument("--metrics", default="wer,cer", help="comma-separated subset of wer,cer (default: both)")
    p.add_argument("--results", type=Path, metavar="EXP",
                   help="after scoring, (re)write EXP/RESULTS.md over every scored EXP/decode_*/")
    p.add_argument("--model", type=Path,
                   help="with --results: the checkpoint to report when a decode dir does not record it")
    p.add_argument("--config", type=Path, help="with --results: the training config the experiment came from")
    return p


def read_table(path: Path, allow_empty: bool = True) -> dict[str, str]:
    """utt_id -> rest of line; an empty transcript (an utterance decoded to nothing) is allowed."""
    if not path.is_file():
        raise SystemExit(f"{path}: no such file")
    return read_kv_dict(path, allow_empty=allow_empty)


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    scoring = args.ref is not None or args.hyp is not None or args.out is not None
    if not scoring and args.results is None:
        get_parser().error("give --ref, --hyp and --out to score, and/or --results EXP")
    if scoring:
        if args.ref is None or args.hyp is None or args.out is None:
            get_parser().error("scoring needs all of --ref, --hyp and --out")
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
        bad = [m for m in metrics if m not in ("wer", "cer")]
        if bad or not metrics:
            get_parser().error(f"--metrics must be a subset of wer,cer; got {args.metrics!r}")
        refs, hyps = read_table(args.ref), read_table(args.hyp)
        skipped = skipped_utterances(args.hyp.parent, args.ref.parent)
        for utt in skipped:
            refs.pop(utt, None)
        if skipped:
            print(f"NOTE: {len(skipped)} utterance(s) left out on purpose (--skip-bad) are not scored; they are "
                  f"listed in score_*/{SKIPPED} and counted beside Snt in RESULTS.md", file=sys.stderr)
        missing = [u for u in refs if u not in hyps]
        extra = [u for u in hyps if u not in refs]
        if extra:
            raise SystemExit(f"{args.hyp}: {len(extra)} utterances are not in {args.ref} (e.g. {extra[:3]})")
        if missing:
            if not args.missing_as_empty:
                raise SystemExit(f"{args.hyp}: {len(missing)} utterances of {args.ref} have no hypothesis "
                                 f"(e.g. {missing[:3]}); use --missing-as-empty to score them as empty")
            print(f"WARNING: {len(missing)} utterances without a hypothesis are scored as empty "
                  f"(e.g. {missing[:3]})", file=sys.stderr)
            hyps.update({u: "" for u in missing})
        utt2spk_path = args.utt2spk or (args.ref.parent / "utt2spk")
        utt2spk = read_table(utt2spk_path, allow_empty=False) if utt2spk_path.is_file() else None
        if utt2spk is None:
            if args.utt2spk is not None:
                raise SystemExit(f"{args.utt2spk}: no such file")
            print(f"NOTE: no {utt2spk_path}; every utterance is counted under speaker 'all'", file=sys.stderr)
        for metric in metrics:
            normalizer = TextNormalizer(lowercase=args.lowercase, remove_punctuation=args.remove_punctuation,
                                        remove_space=metric == "cer" and args.cer_remove_space)
            result = score(refs, hyps, utt2spk, unit="word" if metric == "wer" else "char", normalizer=normalizer)
            write_result(result, args.out / f"score_{metric}", title=str(args.hyp))
            write_kv(args.out / f"score_{metric}" / SKIPPED, skipped)
            print(f"{result.summary_line()} {args.out / f'score_{metric}' / 'result.txt'}")
    if args.results is not None:
        print(f"wrote {write_results_md(args.results, args.model, args.config)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
