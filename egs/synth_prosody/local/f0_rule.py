#!/usr/bin/env python3
"""How far F0 alone tells a question from a statement: a one-line rule, as a reference for the models.

    local/f0_rule.py data/test [data/dev ...] [--threshold 0.08]

For each utterance, F0 as the recipe computes it (conf/fbank.yaml + conf/pitch.yaml, echo.features),
log F0 of the voiced frames smoothed by a 5-frame median; "rise" = the last 3 smoothed frames
(median) minus the lowest of the last 30 (300 ms of voicing). Rise > threshold: "?", else ".".
Prints one JSON line per set: accuracy of that guess against the transcript's final mark, and the
10/50/90th percentiles of the rise for each mark.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

from echo.data.datadir import read_kv, read_kv_dict
from echo.features.audio import load_audio
from echo.features.config import FeatureConfig
from echo.features.extract import extract_features
from echo.score.punct import final_punct


def end_rise(f0: np.ndarray, frames: int = 30) -> float:
    logf0 = np.log(f0[f0 > 0])
    if len(logf0) < 5:
        return 0.0  # (almost) nothing voiced: no rise
    smooth = np.median(np.lib.stride_tricks.sliding_window_view(logf0, 5), axis=1)[-frames:]
    return float(np.median(smooth[-3:]) - smooth.min())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="+", type=Path, help="Kaldi data dirs with wav.scp and text")
    p.add_argument("--threshold", type=float, default=0.08, help="rise in log F0 above which to guess '?'")
    p.add_argument("--conf", type=Path, nargs=2, default=[Path("conf/fbank.yaml"), Path("conf/pitch.yaml")])
    args = p.parse_args(argv)
    conf = FeatureConfig.from_yaml(*args.conf)
    for data in args.data:
        text = read_kv_dict(data / "text")
        rises = {".": [], "?": []}
        correct = 0
        for utt, entry in read_kv(data / "wav.scp"):
            mark = final_punct(text[utt])
            if mark is None:
                sys.exit(f"{data / 'text'}: utterance {utt} does not end in '.' or '?'")
            rise = end_rise(extract_features(load_audio(entry, conf.sample_rate), conf)[1])
            rises[mark].append(rise)
            correct += ("?" if rise > args.threshold else ".") == mark
        n = sum(len(r) for r in rises.values())
        print(json.dumps(dict(data=str(data), utterances=n, threshold=args.threshold,
                              accuracy=round(100.0 * correct / n, 2),
                              rise_percentiles_10_50_90={m: np.round(np.percentile(r, [10, 50, 90]), 3).tolist()
                                                         for m, r in rises.items() if r})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
