"""What every corpus preparation script (egs/<corpus>/local/prepare_*.py) shares: the rule for bad
files, the audio check, and writing one set as a Kaldi data dir with echo.data.datadir's writers.

Bad files (a transcript line whose audio is missing, audio without a transcript, audio that does not
decode, a file that does not belong in the layout) are an error naming the file, at the first one;
with skip_bad they are skipped, counted, and listed in <data>/local/<tag>.skipped ("path<TAB>reason"),
so nothing is lost silently.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from echo.data.datadir import c_sorted, utt2spk_to_spk2utt, write_kv
from echo.data.validate import validate_data_dir
from echo.io.atomic import write_text


class CorpusError(RuntimeError):
    """The corpus tree is not in the layout the recipe expects; the message names the file."""


@dataclass
class Problems:
    skip_bad: bool = False
    found: list = field(default_factory=list)   # (path, reason)

    def bad(self, path, reason: str) -> None:
        if not self.skip_bad:
            raise CorpusError(f"{path}: {reason} (rerun with --skip-bad true to skip such files, counted "
                              "and listed)")
        self.found.append((str(path), reason))

    def write(self, data: Path, tag: str) -> Path | None:
        """<data>/local/<tag>.skipped with every skipped file (removed when there is none)."""
        out = Path(data) / "local" / f"{tag}.skipped"
        if not self.found:
            out.unlink(missing_ok=True)
            return None
        write_text(out, "".join(f"{p}\t{r}\n" for p, r in sorted(self.found)))
        print(f"{tag}: skipped {len(self.found)} bad file(s), listed in {out}")
        return out


def audio_duration(path, problems: Problems) -> float | None:
    """Seconds of audio in path; None (after problems.bad) when soundfile cannot decode its header or
    it holds no samples. Reads the header only: damage further in is caught by the feature stage."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as e:
        problems.bad(path, f"audio does not decode: {e}")
        return None
    if info.frames <= 0 or info.samplerate <= 0:
        problems.bad(path, "audio holds no samples")
        return None
    return info.frames / info.samplerate


@dataclass
class Utt:
    utt_id: str
    speaker: str
    wav: str          # a wav.scp entry: a path (read as shipped: sph, flac, wav, mp3)
    text: str
    duration: float


def write_set(d: Path, utts: list[Utt]) -> str:
    """data/<set>/{wav.scp,text,utt2spk,spk2utt,utt2dur}, C-sorted, replacing what was there; validated."""
    if not utts:
        raise CorpusError(f"{d}: no utterance left for this set")
    ids = [u.utt_id for u in utts]
    if len(set(ids)) != len(ids):
        dup = next(i for i in c_sorted(ids) if ids.count(i) > 1)
        raise CorpusError(f"{d}: utterance id {dup} occurs twice in the corpus")
    if d.is_dir():   # files of an earlier run (splitN/, utt2num_frames, ...) must not survive
        shutil.rmtree(d)
    d.mkdir(parents=True)
    utt2spk = {u.utt_id: u.speaker for u in utts}
    write_kv(d / "wav.scp", [(u.utt_id, u.wav) for u in utts])
    write_kv(d / "text", [(u.utt_id, u.text) for u in utts])
    write_kv(d / "utt2spk", utt2spk)
    write_kv(d / "spk2utt", utt2spk_to_spk2utt(utt2spk))
    write_kv(d / "utt2dur", [(u.utt_id, f"{u.duration:.3f}") for u in utts])
    summary = validate_data_dir(d, no_feats=True)
    print(summary)
    return summary
