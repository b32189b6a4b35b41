"""Text to speech with espeak-ng, deterministic and offline.

libespeak-ng and its data come from the PyPI package `espeakng-loader` (espeak-ng is GPL: it is
installed, never vendored here). The library runs in a small worker process
(echo/synth/espeak_worker.py) that forks a fresh child per request, because espeak-ng keeps
synthesis state in C statics that no API call resets: in one process, the same text synthesised twice
comes out different. Through this module the same arguments always give byte-identical samples.

    from echo.synth.espeak import synthesize, SAMPLE_RATE
    wave = synthesize("one two three", voice="en-us+f2", pitch=60, rate=160)  # float32 (N,) at 22050 Hz

Voices are espeak-ng names, `language[+variant]`: "en", "en-us", "en-gb-scotland", "cmn", ...,
with a variant from `list_variants()` ("m1".."m8", "f1".."f5", "klatt", "Andy", ...).
"""
import atexit
import json
import os
import subprocess
import sys
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 22050  # espeak-ng's native rate; checked against the engine at start-up

WORKER = Path(__file__).with_name("espeak_worker.py")


class EspeakError(RuntimeError):
    """The espeak-ng engine failed (not a problem of the arguments)."""


@lru_cache(maxsize=1)
def data_path() -> Path:
    import espeakng_loader
    return Path(espeakng_loader.get_data_path())


@lru_cache(maxsize=1)
def list_variants() -> tuple[str, ...]:
    """Voice variants that can follow '+' in a voice name (files of espeak-ng-data/voices/!v)."""
    return tuple(sorted(p.name for p in (data_path() / "voices" / "!v").iterdir() if p.is_file()))


@lru_cache(maxsize=1)
def list_languages() -> tuple[str, ...]:
    """Language names accepted before '+' (the `language` lines of espeak-ng-data/lang/**)."""
    names = set()
    for path in (data_path() / "lang").rglob("*"):
        if path.is_file():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                fields = line.split()
                if len(fields) >= 2 and fields[0] == "language":
                    names.add(fields[1])
    return tuple(sorted(names))


@lru_cache(maxsize=None)
def knows_phoneme(language: str, phoneme: str) -> bool:
    """Whether the phoneme table of espeak-ng's `language` has the mnemonic `phoneme` ("V", "T", "aI").

    Given phonemes its table lacks, espeak-ng drops the rest of the word without a word of warning, so
    this probes: "[[t'a <phoneme> t'a]]" must sound unlike both "[[t'a]]" and "[[t'a t'a]]".
    """
    def say(phonemes):
        return synthesize(f"[[{phonemes}]]", voice=language, phonemes=True)
    probe = say(f"t'a {phoneme} t'a")
    return not any(np.array_equal(probe, say(other)) for other in ("t'a", "t'a t'a"))


def check_args(text: str, voice: str, pitch: int, pitch_range: int, rate: int, word_gap: int):
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"nothing to synthesise: text={text!r}")
    language, _, variant = voice.partition("+")
    if not language:
        raise ValueError(f"voice {voice!r}: expected 'language[+variant]', e.g. 'en-us+m3'")
    if variant and variant not in list_variants():
        raise ValueError(f"unknown espeak-ng voice variant {variant!r} in voice {voice!r}; "
                         f"known variants: {' '.join(list_variants())}")
    for name, value, low, high in (("pitch", pitch, 0, 99), ("pitch_range", pitch_range, 0, 99),
                                   ("rate", rate, 80, 450), ("word_gap", word_gap, 0, 1000)):
        if int(value) != value or not low <= value <= high:
            raise ValueError(f"{name}={value!r} outside espeak-ng's range {low}..{high} (an integer)")


class Espeak:
    """One espeak-ng engine: a worker process, started on first use, restarted in a forked child.

    Thread-safe (one request at a time). `close()` stops the worker; so does the end of the process.
    """

    def __init__(self):
        self._proc = None
        self._owner_pid = None
        self._lock = threading.Lock()
        self.sample_rate = SAMPLE_RATE

    def _start(self):
        self._proc = subprocess.Popen([sys.executable, "-u", str(WORKER)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, close_fds=True)
        self._owner_pid = os.getpid()
        hello = self._read_header()
        if not hello.get("ok"):
            raise EspeakError(hello.get("error", "espeak-ng worker failed to start"))
        if hello["sample_rate"] != SAMPLE_RATE:
            raise EspeakError(f"espeak-ng runs at {hello['sample_rate']} Hz, expected {SAMPLE_RATE}")
        self.sample_rate = hello["sample_rate"]

    def _read_header(self) -> dict:
        line = self._proc.stdout.readline()
        if not line:
            code = self._proc.wait()
            self._proc = None
            raise EspeakError(f"espeak-ng worker {WORKER} exited with status {code}")
        return json.loads(line)

    def synthesize(self, text: str, voice: str = "en", pitch: int = 50, pitch_range: int = 50,
                   rate: int = 175, word_gap: int = 0, ssml: bool = False, phonemes: bool = False,
                   seed: int = 0) -> np.ndarray:
        """Speak `text`; returns float32 samples (N,) in [-1, 1) at `self.sample_rate` (22050 Hz).

        voice: "language[+variant]" (espeak-ng -v); pitch: 0..99 (-p, 50 = the voice's own);
        pitch_range: 0..99 (50 = the voice's own; 0 is monotone); rate: words per minute 80..450 (-s);
        word_gap: extra pause between words in units of 10 ms (-g); ssml: text is SSML (-m);
        phonemes: "[[...]]" in text is phoneme mnemonics ("[[s'Iks]]"), spoken through the voice's own
        phoneme table (without it, the brackets' content is read as words);
        seed: seed of espeak-ng's noise generator (breathy voices).
        """
        check_args(text, voice, pitch, pitch_range, rate, word_gap)
        request = dict(text=text, voice=voice, pitch=int(pitch), pitch_range=int(pitch_range), rate=int(rate),
                       word_gap=int(word_gap), ssml=bool(ssml), phonemes=bool(phonemes), seed=int(seed))
        with self._lock:
            if self._proc is None or self._owner_pid != os.getpid() or self._proc.poll() is not None:
                self._start()  # a forked copy of this object never shares the parent's worker
            try:
                self._proc.stdin.write(json.dumps(request).encode() + b"\n")
                self._proc.stdin.flush()
                reply = self._read_header()
                samples = self._proc.stdout.read(reply["nbytes"]) if reply.get("ok") else b""
            except (BrokenPipeError, OSError) as e:
                self._proc = None
                raise EspeakError(f"espeak-ng worker died: {e}") from e
        if not reply.get("ok"):
            error = ValueError if reply.get("kind") == "value" else EspeakError
            raise error(f"{reply['error']} (text {text!r})")
        if len(samples) != reply["nbytes"]:
            self.close()
            raise EspeakError(f"espeak-ng worker sent {len(samples)} of {reply['nbytes']} bytes")
        return np.frombuffer(samples, dtype=np.int16).astype(np.float32) / 32768.0

    def close(self):
        with self._lock:
            if self._proc is not None and self._owner_pid == os.getpid():
                self._proc.stdin.close()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
                self._proc.stdout.close()
            self._proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_engine = Espeak()
atexit.register(_engine.close)


def synthesize(text: str, voice: str = "en", pitch: int = 50, pitch_range: int = 50, rate: int = 175,
               word_gap: int = 0, ssml: bool = False, phonemes: bool = False, seed: int = 0) -> np.ndarray:
    """`Espeak.synthesize` on this process's shared engine: float32 (N,) at SAMPLE_RATE."""
    return _engine.synthesize(text, voice=voice, pitch=pitch, pitch_range=pitch_range, rate=rate,
                              word_gap=word_gap, ssml=ssml, phonemes=phonemes, seed=seed)
