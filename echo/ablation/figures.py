"""The figures of an ablation report, exp/<ablation>/images/*.png: each drawn by echo/plot/ablation.py from the
runs (echo/ablation/runs.py); a figure that fails is named in ABLATION.md, never worth losing the table for.
"""
from __future__ import annotations

import traceback
from pathlib import Path

from echo.ablation.report import column_title, metric_columns
from echo.ablation.runs import Run
from echo.plot.ablation import (attention_figure, gates_figure, pick_utterance, plot_learning_curves, plot_metrics,
                                rotary_figures, spectrogram_figure)


def make_figures(runs: list[Run], images: Path, utt: str | None = None, max_frames: int = 400
                 ) -> tuple[list[Path], list[str]]:
    """Draw every figure the runs allow; returns (written PNGs, notes for ABLATION.md: the utterance shown,
    and each figure that failed, with why)."""
    written, notes = [], []

    def attempt(name, fn):
        try:
            out = fn()
            if out is not None:
                written.extend(out if isinstance(out, list) else [out])
        except Exception as e:   # a figure is not worth losing the table for; say what went wrong
            traceback.print_exc()
            notes.append(f"figure {name} failed: {type(e).__name__}: {e}")

    configs = list(dict.fromkeys(r.config for r in runs))
    histories = {c: [r.history for r in runs if r.config == c] for c in configs}
    attempt("curves.png", lambda: plot_learning_curves(histories, images / "curves.png"))
    cols = metric_columns(runs)
    multi_set = len({s for s, _ in cols}) > 1
    values = {column_title(k, multi_set): {c: [r.metrics[k] for r in runs if r.config == c and k in r.metrics]
                                           for c in configs} for k in cols}
    higher = {column_title(k, multi_set): v for r in runs for k, v in r.better.items()}
    attempt("metrics.png", lambda: plot_metrics(values, images / "metrics.png", higher_better=higher))

    first = {c: next(r for r in runs if r.config == c) for c in configs}
    attempt("gates.png", lambda: gates_figure(first, images))
    ref = first.get("baseline") or next(iter(first.values()))
    if ref.dump is None or not (ref.dump / "f0.scp").is_file():
        notes.append(f"no test dump found through {ref.name}/decode_*/decode_info.json: no spectrogram, "
                      "rotary or attention figure")
        return written, notes
    try:
        utt = pick_utterance(ref.dump, utt)
    except ValueError as e:
        raise SystemExit(f"--utt: {e}") from None
    notes.append(f"the figures show utterance `{utt}` of `{ref.decode_info.get('data', ref.dump)}`")
    attempt("spectrogram.png", lambda: spectrogram_figure(ref, utt, images, max_frames))
    attempt("rotary.png", lambda: rotary_figures(first, ref.dump, utt, images, max_frames))
    attempt("attention.png", lambda: attention_figure(first, utt, images, max_frames))
    return written, notes
