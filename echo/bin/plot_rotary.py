"""Draw how encoder frames see each other under the rotary embedding, standard θ against F0-driven θ,
for the F0 of a real utterance (or a synthetic glide), to PNG.

    python -m echo.bin.plot_rotary --wav ../shared/data/fsdd/recordings/3_jackson_0.wav --out rotary.png
    python -m echo.bin.plot_rotary --synthetic --out rotary_glide.png
    python -m echo.bin.plot_rotary --wav a.wav --model exp/<tag>/valid.acc.ave_3best.pt --out learned.png

F0 comes from echo.features.extract.extract_features (the same code as dump and inference) with the
feature config given by --feats-conf (a trained model's exp/<tag>/feats.yaml, or the defaults).
"""
import argparse
import sys

import numpy as np

from echo.features.config import FeatureConfig
from echo.model.subsampling import LAYERS, Conv2dSubsampling


def synthetic_f0(frames: int = 240) -> np.ndarray:
    """A rising-falling glide 110 -> 260 -> 140 Hz with two unvoiced gaps, at the fbank frame rate."""
    t = np.linspace(0.0, 1.0, frames)
    f0 = 110 + 150 * np.sin(np.pi * t) ** 2 * (1 - 0.4 * t)
    f0[(t > 0.3) & (t < 0.36)] = 0.0
    f0[(t > 0.7) & (t < 0.74)] = 0.0
    return f0.astype(np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--wav", help="audio file (any rate; resampled to the feature config's rate)")
    src.add_argument("--synthetic", action="store_true", help="use a synthetic F0 glide instead of audio")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--feats-conf", help="FeatureConfig YAML (default: FeatureConfig())")
    p.add_argument("--model", help="a trained model (.pt): plot its rotary (learned θ0, g) and subsampling")
    p.add_argument("--head-dim", type=int, default=36, help="per-head dimension (2K)")
    p.add_argument("--theta-gain", type=float, default=1.0, help="g in θ(F) = θ0·(1 + g·F/220 Hz)")
    p.add_argument("--theta0-standard", type=float, default=10000.0)
    p.add_argument("--theta0-mel", type=float, default=220.0)
    p.add_argument("--max-omega", type=float, default=None, help="cap on ω_k (e.g. 3.1416)")
    p.add_argument("--subsampling", type=int, choices=sorted(LAYERS), default=4)
    p.add_argument("--max-frames", type=int, default=400, help="crop the input to this many fbank frames")
    args = p.parse_args(argv)

    from echo.plot.rotary import plot_rotary  # matplotlib only once the arguments are fine

    conf = FeatureConfig.from_yaml(args.feats_conf) if args.feats_conf else FeatureConfig()
    if args.synthetic:
        f0, title = synthetic_f0(), "synthetic F0 glide"
    else:
        from echo.features.audio import load_audio
        from echo.features.extract import extract_features
        _, f0 = extract_features(load_audio(args.wav, conf.sample_rate), conf)
        title = f"{args.wav} ({conf.f0_method} F0)"
    f0 = f0[: args.max_frames]

    rotary, subsampling = None, args.subsampling
    if args.model:
        from echo.model.echo import load_model
        model = load_model(args.model)
        rotary, subsampling = model.encoder.rotary, model.cfg.subsampling
        title += f" — {args.model}"
    sub = Conv2dSubsampling(8, 2, subsampling, 1)
    if len(f0) < sub.window:
        sys.exit(f"plot_rotary: {len(f0)} frames of F0 is too short for subsampling ×{subsampling}")
    out = plot_rotary(f0, args.out, title, conf.frame_shift_ms, args.head_dim, args.theta_gain, sub.window,
                      sub.stride, theta0={"standard": args.theta0_standard, "mel": args.theta0_mel},
                      max_omega=args.max_omega, rotary=rotary)
    voiced = f0 > 0
    print(f"plot_rotary: {len(f0)} frames, {int(voiced.sum())} voiced"
          + (f" (mean {float(f0[voiced].mean()):.1f} Hz)" if voiced.any() else "") + f" -> {out}")


if __name__ == "__main__":
    main()
