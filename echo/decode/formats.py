"""Writing transcription records (echo.decode.transcribe) as text, JSON, CTM or SRT.

    text   <path>\\t<transcript>, one line per transcribed source
    json   one JSON object per line (JSON Lines): every record, failures included (with "error")
    ctm    <id> 1 <start> <duration> <word> per word (NIST CTM; whitespace in an id becomes '_')
    srt    SubRip cues of up to MAX_CUE_WORDS words / MAX_CUE_SECONDS, split at pauses of PAUSE_SECONDS
"""
from __future__ import annotations

import json
import re

FORMATS = ("text", "json", "ctm", "srt")
MAX_CUE_WORDS = 12
MAX_CUE_SECONDS = 6.0
PAUSE_SECONDS = 1.0


def text_line(record: dict) -> str:
    return f"{record['path'] or record['id']}\t{record['transcript']}\n"


def json_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def ctm_lines(record: dict) -> str:
    rid = re.sub(r"\s", "_", record["id"])
    return "".join(f"{rid} 1 {w['start']:.3f} {max(0.0, w['end'] - w['start']):.3f} {w['word']}\n"
                   for w in record["words"] or [])


def _timestamp(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def srt_cues(words: list[dict]) -> list[list[dict]]:
    cues: list[list[dict]] = []
    for w in words:
        if (not cues or len(cues[-1]) >= MAX_CUE_WORDS or w["start"] - cues[-1][-1]["end"] > PAUSE_SECONDS
                or w["end"] - cues[-1][0]["start"] > MAX_CUE_SECONDS):
            cues.append([])
        cues[-1].append(w)
    return cues


def srt_document(record: dict) -> str:
    """The SubRip subtitles of one record; a record without word times gets one cue over its duration."""
    words = record["words"]
    if words is None:
        words = [dict(word=record["transcript"], start=0.0, end=record["duration"])] if record["transcript"] else []
    blocks = []
    for n, cue in enumerate(srt_cues(words), 1):
        blocks.append(f"{n}\n{_timestamp(cue[0]['start'])} --> {_timestamp(cue[-1]['end'])}\n"
                      + " ".join(w["word"] for w in cue) + "\n")
    return "\n".join(blocks)


def format_record(record: dict, fmt: str) -> str:
    """What `fmt` writes for one record ('' for a failed source, except in JSON)."""
    if fmt == "json":
        return json_line(record)
    if record["error"] is not None:
        return ""
    return {"text": text_line, "ctm": ctm_lines, "srt": srt_document}[fmt](record)
