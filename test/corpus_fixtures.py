"""Miniature corpora in the exact upstream layouts of AN4, (mini) LibriSpeech, AISHELL-1 and Common Voice,
written from one pool of speech synthesised offline with espeak-ng (a handful of utterances per set).

Layouts, from each corpus's own documentation:
- AN4 (an4_sphere.tar.gz, CMU; its README): an4/etc/an4_{train,test}.transcription with lines
  "<s> WORDS </s> (an251-fash-b)", an4/etc/an4_{train,test}.fileids with "an4_clstk/fash/an251-fash-b" in
  the same order, an4/wav/{an4_clstk,an4test_clstk}/<spk>/<name>.sph (16 kHz 16-bit NIST SPHERE, written
  by soundfile), an4/README.
- LibriSpeech (OpenSLR 12/31; README.TXT): LibriSpeech/<part>/<spk>/<chapter>/<spk>-<chapter>-<nnnn>.flac
  and <spk>-<chapter>.trans.txt ("<spk>-<chapter>-<nnnn> UPPER CASE TEXT"), LibriSpeech/README.TXT.
- AISHELL-1 (OpenSLR 33; data_aishell.tgz): data_aishell/transcript/aishell_transcript_v0.8.txt
  ("BAC009S0002W0122 而 对 楼市 ...", word-segmented) and data_aishell/wav/<spk>.tar.gz, each holding
  <set>/<spk>/BAC009<spk>W<nnnn>.wav (16 kHz). The transcript has lines for every set; one wav has no line.
  (The audio is the English pool with Chinese-digit transcripts: a pipeline test, not a Mandarin one.)
- Common Voice (a release's <lang>/ directory): {train,dev,test,validated,other}.tsv, tab-separated with
  the header of release 17 (client_id path sentence_id sentence sentence_domain up_votes down_votes age
  gender accents variant locale segment), clips/common_voice_<lang>_<n>.mp3 at 48 kHz (soundfile 0.13 /
  libsndfile 1.2 write MPEG Layer III here). other.tsv names a clip that is in no set.
- Google Speech Commands v0.02 (speech_commands_v0.02.tar.gz; its README.md): <word>/<hash>_nohash_<n>.wav
  (16 kHz, <hash> 8 hex digits naming the speaker), validation_list.txt and testing_list.txt with lines
  "<word>/<hash>_nohash_<n>.wav", _background_noise_/*.wav (+ README.md), LICENSE, README.md. Non-digit
  words ("yes") sit beside the digits and are listed too. (The audio is the pool's, not the folder's word.)
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

RATE = 16000
WORDS = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
HANZI = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九")
POOL_SIZE = 12


def pool_texts() -> list[tuple[int, ...]]:
    """Digit sequences of the pool: utterance i says WORDS[d] for d in pool_texts()[i]."""
    rng = np.random.default_rng(12)
    return [tuple(int(d) for d in rng.integers(0, 10, size=1 + i % 3)) for i in range(POOL_SIZE)]


def synthesise_pool() -> list[tuple[np.ndarray, tuple[int, ...]]]:
    """POOL_SIZE utterances (float32 at 16 kHz, digits), two espeak-ng voices."""
    from echo.synth.espeak import SAMPLE_RATE, synthesize
    pool = []
    for i, digits in enumerate(pool_texts()):
        wave = synthesize(" ".join(WORDS[d].lower() for d in digits), voice="en-us+m3" if i % 2 else "en-us+f2",
                          rate=190, seed=i)
        wave = soxr.resample(wave, SAMPLE_RATE, RATE).astype(np.float32)
        pool.append((0.8 * wave / max(1e-6, float(np.abs(wave).max())), digits))
    return pool


def english(digits) -> str:
    return " ".join(WORDS[d] for d in digits)


# ------------------------------------------------------------------------------------------------ AN4

def write_an4(root: Path, pool, sets=(("train", "an4_clstk", 8), ("test", "an4test_clstk", 3))) -> Path:
    """root/an4/ as an4_sphere.tar.gz unpacks; returns root/an4."""
    an4 = root / "an4"
    (an4 / "etc").mkdir(parents=True)
    (an4 / "README").write_text("AN4 miniature (test fixture)\n")
    k = 0
    for name, wav_dir, n in sets:
        trans, ids = [], []
        for i in range(n):
            wave, digits = pool[k % len(pool)]
            k += 1
            spk = ("fash", "fbbh", "mgah")[i % 3] if name == "train" else ("fcaw", "menk")[i % 2]
            base = f"{'an' if name == 'train' else 'cen'}{100 + i}-{spk}-b"
            path = an4 / "wav" / wav_dir / spk / f"{base}.sph"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, wave, RATE, format="NIST", subtype="PCM_16")
            trans.append(f"<s> {english(digits)} </s> ({base})")
            ids.append(f"{wav_dir}/{spk}/{base}")
        (an4 / "etc" / f"an4_{name}.transcription").write_text("\n".join(trans) + "\n")
        (an4 / "etc" / f"an4_{name}.fileids").write_text("\n".join(ids) + "\n")
    return an4


# ----------------------------------------------------------------------------------------- LibriSpeech

def write_librispeech(root: Path, pool, parts: dict[str, int]) -> Path:
    """root/LibriSpeech/<part>/<spk>/<chapter>/ for each part (n utterances, 2 speakers); returns root."""
    libri = root / "LibriSpeech"
    libri.mkdir(parents=True, exist_ok=True)
    (libri / "README.TXT").write_text("LibriSpeech miniature (test fixture)\n")
    k = 0
    for p, (part, n) in enumerate(parts.items()):
        chapters = {}
        for i in range(n):
            wave, digits = pool[k % len(pool)]
            k += 1
            spk, chapter = str(100 + 10 * p + i % 2), str(2000 + 10 * p + i % 2)
            d = libri / part / spk / chapter
            d.mkdir(parents=True, exist_ok=True)
            utt = f"{spk}-{chapter}-{i:04d}"
            sf.write(d / f"{utt}.flac", wave, RATE, format="FLAC", subtype="PCM_16")
            chapters.setdefault(d, []).append(f"{utt} {english(digits)}")
        for d, lines in chapters.items():
            (d / f"{d.parent.name}-{d.name}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


# ------------------------------------------------------------------------------------------- AISHELL

def write_aishell(root: Path, pool, sets=(("train", 8), ("dev", 2), ("test", 3)), unpacked=False) -> Path:
    """root/data_aishell/ as data_aishell.tgz unpacks (wav/<spk>.tar.gz), or with the wavs unpacked."""
    base = root / "data_aishell"
    (base / "transcript").mkdir(parents=True)
    (base / "wav").mkdir()
    lines, k, spk_no = [], 0, 2
    for name, n in sets:
        speakers = {}
        for i in range(n):
            wave, digits = pool[k % len(pool)]
            k += 1
            spk = f"S{spk_no + i % 2:04d}"
            utt = f"BAC009{spk}W{122 + i:04d}"
            speakers.setdefault(spk, []).append((utt, wave))
            lines.append(f"{utt} {' '.join(HANZI[d] for d in digits)}")
        spk_no += 2
        for spk, utts in speakers.items():
            if spk == "S0002":   # upstream ships audio the transcript has no line for
                utts = utts + [(f"BAC009{spk}W0999", pool[0][0])]
            if unpacked:
                for utt, wave in utts:
                    path = base / "wav" / name / spk / f"{utt}.wav"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(path, wave, RATE, subtype="PCM_16")
                continue
            with tarfile.open(base / "wav" / f"{spk}.tar.gz", "w:gz") as tar:
                for utt, wave in utts:
                    buf = io.BytesIO()
                    sf.write(buf, wave, RATE, format="WAV", subtype="PCM_16")
                    info = tarfile.TarInfo(f"{name}/{spk}/{utt}.wav")
                    info.size = buf.tell()
                    buf.seek(0)
                    tar.addfile(info, buf)
    (base / "transcript" / "aishell_transcript_v0.8.txt").write_text("\n".join(sorted(lines)) + "\n")
    return root


# --------------------------------------------------------------------------------------- Common Voice

CV_HEADER = ("client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes", "age",
             "gender", "accents", "variant", "locale", "segment")


def cv_sentence(digits, i) -> str:
    words = [WORDS[d].lower() for d in digits]
    words[0] = words[0].capitalize()
    return " ".join(words) + ("?" if i % 2 else ", it's fine.")


def write_commonvoice(root: Path, pool, lang="en", sets=(("train", 8), ("dev", 2), ("test", 3))) -> Path:
    """root = the release's <lang>/ directory: *.tsv and clips/*.mp3 (48 kHz)."""
    (root / "clips").mkdir(parents=True)
    k, rows_other = 0, []
    for name, n in sets:
        rows = []
        for i in range(n):
            wave, digits = pool[k % len(pool)]
            clip = f"common_voice_{lang}_{1000 + k}.mp3"
            k += 1
            sf.write(root / "clips" / clip, soxr.resample(wave, RATE, 48000), 48000, format="MP3")
            client = f"{'ab' if i % 2 else 'cd'}{k % 3}" + "0" * 62
            rows.append((client, clip, f"s{k}", cv_sentence(digits, i), "", "2", "0", "", "", "", "", lang, ""))
        _write_tsv(root / f"{name}.tsv", rows)
    clip = f"common_voice_{lang}_9999.mp3"     # a clip of other.tsv only: not in any set, not an error
    sf.write(root / "clips" / clip, soxr.resample(pool[0][0], RATE, 48000), 48000, format="MP3")
    rows_other.append(("ef" + "0" * 62, clip, "s0", "Zero.", "", "0", "1", "", "", "", "", lang, ""))
    _write_tsv(root / "other.tsv", rows_other)
    return root


def _write_tsv(path: Path, rows) -> None:
    path.write_text("\t".join(CV_HEADER) + "\n" + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")


# ------------------------------------------------------------------------------------ Speech Commands

SC_SPEAKERS = {"train": ("0a1b2c3d", "1f2e3d4c"), "dev": ("5e6f7a8b",), "test": ("9c0d1e2f",)}


def write_speech_commands(root: Path, pool) -> Path:
    """root = the unpacked archive: per speaker one recording of each digit word and of "yes"; a noise file."""
    lists, k = {"dev": [], "test": []}, 0
    for split, speakers in SC_SPEAKERS.items():
        for spk in speakers:
            for word in (*(w.lower() for w in WORDS), "yes"):
                rel = f"{word}/{spk}_nohash_0.wav"
                (root / word).mkdir(parents=True, exist_ok=True)
                sf.write(root / rel, pool[k % len(pool)][0], RATE, subtype="PCM_16")
                k += 1
                if split in lists:
                    lists[split].append(rel)
    (root / "validation_list.txt").write_text("".join(f"{r}\n" for r in lists["dev"]))
    (root / "testing_list.txt").write_text("".join(f"{r}\n" for r in lists["test"]))
    noise = root / "_background_noise_"
    noise.mkdir()
    rng = np.random.default_rng(3)
    sf.write(noise / "white_noise.wav", (0.1 * rng.standard_normal(2 * RATE)).astype(np.float32), RATE,
             subtype="PCM_16")
    (noise / "README.md").write_text("background noise\n")
    (root / "LICENSE").write_text("CC BY 4.0\n")
    (root / "README.md").write_text("Speech Commands\n")
    return root
