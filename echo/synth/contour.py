"""Tone contour variation: resynthesise each syllable with the WORLD vocoder (pyworld) on a drawn F0 contour.

A model trained on espeak-ng's Mandarin learns one synthesiser's four contours; real speakers realise
tones differently in shape, range and timing. With contour variation each syllable is spoken alone by
espeak-ng (same voice, rate and range as the utterance), analysed with WORLD (DIO + StoneMask F0,
CheapTrick envelope, D4C aperiodicity) and resynthesised with a new F0 on its voiced frames, drawn per
syllable within what its tone allows, then the syllables are joined with short pauses. The spectral
envelope (the voice, the vowel) is kept; only the pitch changes.

Contours are drawn on Chao's five-level scale (1 low .. 5 high) over the syllable's voiced span,
normalised time u in [0, 1], as piecewise-linear key points (Chao's tone letters: 55, 35, 214, 51):
    tone 1  high level   5 → 5            each level ± LEVEL_JITTER
    tone 2  rising       3 → (dip) → 5    the turning point at u in TONE2_TURN, a dip of up to ½ level
    tone 3  dipping      2 → 1 → +0..3    the low point at u in TONE3_LOW; the final rise (0 to 3 levels)
                                          is often cut short ("half third tone", as in running speech)
    tone 4  falling      5 → 1..2
then time-warped (u → u^γ, γ in TIME_WARP: the movement early or late in the syllable), and mapped to
Hz as F0 = ref·2^((c − 3)·k/12) with k semitones per Chao level drawn per utterance in SEMITONES_PER_LEVEL
(range scaling: a narrow 5 st to a wide 15 st tone space) and ref the median F0 of the voice's own
rendering times a register shift in REGISTER_SEMITONES. Not modelled: creak on tone 3, tone sandhi
across syllables, and coarticulation between syllables (each is spoken alone).

Every draw comes from numpy's generator seeded by the utterance's seed: the same seed gives the same audio.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyworld

FRAME_PERIOD_MS = 5.0
F0_FLOOR, F0_CEIL = 50.0, 600.0
LEVEL_JITTER = 0.4                  # Chao levels, each key point
TONE2_TURN = (0.0, 0.4)
TONE3_LOW = (0.35, 0.7)
TIME_WARP = (0.7, 1.4)
SEMITONES_PER_LEVEL = (1.25, 3.75)  # 5..15 semitones from level 1 to level 5
REGISTER_SEMITONES = (-3.0, 3.0)
PAUSE_S = (0.02, 0.08)              # between syllables
TRIM_BELOW = 0.01                   # of the syllable's peak: the silence espeak-ng puts around a word


@dataclass(frozen=True)
class ContourStyle:
    """An utterance's drawn tone space: semitones per Chao level and register shift in semitones."""
    semitones_per_level: float
    register_semitones: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "ContourStyle":
        return cls(float(rng.uniform(*SEMITONES_PER_LEVEL)), float(rng.uniform(*REGISTER_SEMITONES)))


def tone_keypoints(tone: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(u, level) key points of one syllable's contour in Chao levels, drawn within what `tone` allows."""
    def j(level: float) -> float:
        return level + float(rng.uniform(-LEVEL_JITTER, LEVEL_JITTER))
    if tone == 1:
        return np.array([0.0, 1.0]), np.array([j(5.0), j(5.0)])
    if tone == 2:
        turn = float(rng.uniform(*TONE2_TURN))
        start = j(3.0)
        return np.array([0.0, max(turn, 1e-3), 1.0]), np.array([start, start - float(rng.uniform(0, 0.5)), j(5.0)])
    if tone == 3:
        low = float(rng.uniform(*TONE3_LOW))
        bottom = j(1.0)
        return np.array([0.0, low, 1.0]), np.array([j(2.0), bottom, bottom + float(rng.uniform(0.0, 3.0))])
    if tone == 4:
        return np.array([0.0, 1.0]), np.array([j(5.0), float(rng.uniform(1.0, 2.0))])
    raise ValueError(f"tone must be 1..4, got {tone}")


def draw_contour(tone: int, n_frames: int, ref_hz: float, style: ContourStyle,
                 rng: np.random.Generator) -> np.ndarray:
    """(n_frames,) F0 in Hz over a syllable's voiced span: the tone's key points, time-warped, mapped to Hz."""
    u_key, levels = tone_keypoints(tone, rng)
    gamma = float(rng.uniform(*TIME_WARP))
    u = np.linspace(0.0, 1.0, n_frames) ** gamma if n_frames > 1 else np.zeros(1)
    level = np.interp(u, u_key, levels)
    semitones = (level - 3.0) * style.semitones_per_level + style.register_semitones
    return np.clip(ref_hz * 2.0 ** (semitones / 12.0), F0_FLOOR, F0_CEIL)


def world_analysis(wave: np.ndarray, fs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(N,) float -> WORLD (f0, time axis, spectral envelope, aperiodicity) at FRAME_PERIOD_MS."""
    x = np.ascontiguousarray(wave, dtype=np.float64)
    f0, t = pyworld.dio(x, fs, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_PERIOD_MS)
    f0 = pyworld.stonemask(x, f0, t, fs)
    return f0, t, pyworld.cheaptrick(x, f0, t, fs), pyworld.d4c(x, f0, t, fs)


def trim_silence(wave: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(wave) >= TRIM_BELOW * np.abs(wave).max())
    return wave[loud[0]:loud[-1] + 1] if len(loud) else wave


def resynthesise_syllable(wave: np.ndarray, fs: int, tone: int, ref_hz: float, style: ContourStyle,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One syllable's waveform -> (resynthesised waveform, drawn F0 per WORLD frame (0 where unvoiced)).

    The drawn contour covers the frames from the first to the last voiced one (short unvoiced gaps inside
    are voiced by it, so the tone stays one movement)."""
    f0, t, sp, ap = world_analysis(wave, fs)
    voiced = np.flatnonzero(f0 > 0)
    new_f0 = np.zeros_like(f0)
    if len(voiced):
        first, last = voiced[0], voiced[-1]
        new_f0[first:last + 1] = draw_contour(tone, last - first + 1, ref_hz, style, rng)
    out = pyworld.synthesize(new_f0, sp, ap, fs, frame_period=FRAME_PERIOD_MS)
    return out[:len(wave)], new_f0


def syllable_tones(text: str) -> list[tuple[str, int]]:
    """'ma1 shi4' -> [('ma1', 1), ('shi4', 4)]: numbered pinyin, the tone is the last digit."""
    out = []
    for syl in text.split():
        if not syl[-1].isdigit() or not 1 <= int(syl[-1]) <= 4:
            raise ValueError(f"syllable {syl!r} of {text!r} does not end in a tone number 1-4")
        out.append((syl, int(syl[-1])))
    return out


def varied_utterance(text: str, speak, fs: int, rng: np.random.Generator
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Speak each syllable of `text` with speak(syllable) -> float wave at fs, give it a drawn contour,
    join them with short pauses. Returns (wave, drawn F0 of each syllable at FRAME_PERIOD_MS)."""
    syllables = [(trim_silence(np.asarray(speak(syl), dtype=np.float64)), tone) for syl, tone in syllable_tones(text)]
    own = np.concatenate([world_analysis(w, fs)[0] for w, _ in syllables])
    ref_hz = float(np.median(own[own > 0])) if (own > 0).any() else 120.0
    style = ContourStyle.draw(rng)
    pieces, contours = [], []
    for i, (wave, tone) in enumerate(syllables):
        out, drawn = resynthesise_syllable(wave, fs, tone, ref_hz, style, rng)
        if i:
            pieces.append(np.zeros(round(float(rng.uniform(*PAUSE_S)) * fs)))
        pieces.append(out)
        contours.append(drawn)
    return np.concatenate(pieces), contours
