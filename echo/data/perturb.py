"""Kaldi-style speed perturbation of a data dir: a new data dir whose audio is the old one played
`factor` times as fast, resampled when it is read (echo.features.audio), so no audio is written.

Like Kaldi's utils/perturb_data_dir_speed.sh: utterance, speaker and recording ids get the prefix
`sp<factor>-` (speaker-prefixed utt ids stay speaker-prefixed, and a perturbed copy is a new speaker),
wav.scp entries get sox's `speed` effect (echo applies it itself, sox is not needed), segments and
durations (utt2dur, reco2dur) are divided by the factor, utt2uniq maps each copy to its original.
Run it on a data dir before features are dumped: feats.scp and friends would describe other audio.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from echo.data.datadir import DataDirError, read_kv_dict, read_segments, utt2spk_to_spk2utt, write_kv
from echo.data.validate import validate_data_dir
from echo.features.audio import speed_entry

FEATURE_FILES = ("feats.scp", "f0.scp", "utt2num_frames", "cmvn.scp")
RENAMED_KEYS = ("text", "utt2lang", "spk2gender")   # copied with their keys prefixed


def _seconds(value: str, factor: float) -> str:
    return f"{float(value) / factor:.4f}"


def perturb_data_dir_speed(factor: str, src, dest) -> str:
    """Write dest as src at speed `factor` (a string such as "0.9": it is also the id prefix sp0.9-);
    dest is replaced as a whole; returns the validation summary."""
    src, dest = Path(src), Path(dest)
    f = float(factor)
    if not f > 0:
        raise DataDirError(f"perturb_data_dir_speed: factor must be positive, got {factor}")
    if dest.resolve() == src.resolve():
        raise DataDirError(f"perturb_data_dir_speed: destination {dest} is the source")
    present = [n for n in FEATURE_FILES if (src / n).is_file()]
    if present:
        raise DataDirError(f"{src}: has {', '.join(present)}; perturb the data dir before dumping features")
    prefix = f"sp{factor}-"
    utt2spk = read_kv_dict(src / "utt2spk")
    out: dict[str, dict[str, str]] = {
        "utt2spk": {prefix + u: prefix + s for u, s in utt2spk.items()},
        "wav.scp": {prefix + r: speed_entry(e, factor) for r, e in read_kv_dict(src / "wav.scp").items()},
    }
    if (src / "segments").is_file():
        out["segments"] = {prefix + u: f"{prefix}{reco} {start / f:.4f} {'-1' if end == -1 else f'{end / f:.4f}'}"
                           for u, (reco, start, end) in read_segments(src / "segments").items()}
    for name in RENAMED_KEYS:
        if (src / name).is_file():
            out[name] = {prefix + k: v for k, v in read_kv_dict(src / name, allow_empty=True).items()}
    for name in ("utt2dur", "reco2dur"):
        if (src / name).is_file():
            out[name] = {prefix + k: _seconds(v, f) for k, v in read_kv_dict(src / name).items()}
    uniq = read_kv_dict(src / "utt2uniq") if (src / "utt2uniq").is_file() else {u: u for u in utt2spk}
    out["utt2uniq"] = {prefix + u: uniq.get(u, u) for u in utt2spk}
    out["spk2utt"] = utt2spk_to_spk2utt(out["utt2spk"])

    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for name, table in out.items():
            write_kv(tmp / name, table)
        summary = validate_data_dir(tmp, no_feats=True, no_text=not (src / "text").is_file())
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary.replace(str(tmp), str(dest))
