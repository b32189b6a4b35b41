"""Feature configuration: one dataclass, read from and written to YAML (conf/fbank.yaml).

The same config is copied into every dump dir (dump/<set>/conf/feats.yaml) and into every experiment
(exp/<tag>/feats.yaml), so inference computes exactly the features the model was trained on.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml
from echo.io import atomic

# Pitch extractors we ship: pyworld's DIO (+StoneMask) and Harvest, Kaldi's (echo.features.kaldi_pitch,
# a port: no package ships it since torchaudio 2.1 dropped compute_kaldi_pitch), and SwiftF0 (swift-f0, a
# small CNN; the most accurate in test/bench/bench_f0.py).
F0_METHODS = ("dio", "harvest", "kaldi", "swift")
SWIFT_F0_RANGE = (46.875, 2093.75)    # Hz: the band swift-f0 0.3.0's model covers (swift_f0.core.FMIN/FMAX)
# The pitch features appended with append_pitch: "echo" derives three from the F0 above (pitch.py);
# "kaldi" is Kaldi's process-kaldi-pitch-feats on Kaldi's pitch tracker (POV, normalised and delta log-pitch).
PITCH_FEATURES = ("echo", "kaldi")
# What DIO falls back on where it finds (almost) no voiced frame, as it does on some short utterances.
DIO_FALLBACKS = ("none", "kaldi", "harvest", "swift")


class FeatureError(ValueError):
    """A bad feature input or config; the message names the utterance or file when known."""


@dataclass
class FeatureConfig:
    sample_rate: int = 16000        # every input is resampled to this rate (Hz)
    n_mels: int = 80                # log-mel fbank bins
    frame_length_ms: float = 25.0   # analysis window
    frame_shift_ms: float = 10.0    # hop; also the F0 frame period
    dither: float = 0.0             # 0 keeps features reproducible (Kaldi's default is 1.0)
    f0_method: str = "dio"          # one of F0_METHODS
    f0_floor: float = 60.0          # Hz, lowest F0 searched
    f0_ceil: float = 500.0          # Hz, highest F0 searched
    append_pitch: bool = False      # append 3 pitch features to fbank (n_mels + 3 dims)
    pitch_features: str = "echo"    # which 3 (PITCH_FEATURES): echo's from the F0, or Kaldi's own
    dio_fallback: str = "none"      # DIO_FALLBACKS: tracker used where DIO finds too few voiced frames

    def __post_init__(self):
        if self.f0_method not in F0_METHODS:
            raise FeatureError(
                f"f0_method {self.f0_method!r} is not available; valid methods: {', '.join(F0_METHODS)}")
        if self.dio_fallback not in DIO_FALLBACKS:
            raise FeatureError(f"dio_fallback {self.dio_fallback!r} is not available; valid: "
                               f"{', '.join(DIO_FALLBACKS)}")
        if self.pitch_features not in PITCH_FEATURES:
            raise FeatureError(f"pitch_features {self.pitch_features!r} is not available; valid: "
                               f"{', '.join(PITCH_FEATURES)}")
        if self.sample_rate <= 0 or self.n_mels <= 0:
            raise FeatureError(f"sample_rate and n_mels must be positive, got {self.sample_rate}, {self.n_mels}")
        if not 0 < self.frame_shift_ms <= self.frame_length_ms:
            raise FeatureError(f"need 0 < frame_shift_ms <= frame_length_ms, got "
                               f"{self.frame_shift_ms}, {self.frame_length_ms}")
        if self.window_shift < 1:
            raise FeatureError(f"frame_shift_ms={self.frame_shift_ms} is under one sample at {self.sample_rate} Hz")
        if not 0 < self.f0_floor < self.f0_ceil:
            raise FeatureError(f"need 0 < f0_floor < f0_ceil, got {self.f0_floor}, {self.f0_ceil}")
        if self.f0_ceil >= self.sample_rate / 2:
            raise FeatureError(f"f0_ceil={self.f0_ceil} must be below the Nyquist rate {self.sample_rate / 2}")
        swift = self.f0_method == "swift" or (self.f0_method == "dio" and self.dio_fallback == "swift")
        if swift and not (SWIFT_F0_RANGE[0] <= self.f0_floor and self.f0_ceil <= SWIFT_F0_RANGE[1]):
            raise FeatureError(f"SwiftF0 covers {SWIFT_F0_RANGE[0]}-{SWIFT_F0_RANGE[1]} Hz: f0_floor={self.f0_floor} "
                               f"and f0_ceil={self.f0_ceil} must lie inside")
        kaldi_fallback = self.f0_method == "dio" and self.dio_fallback == "kaldi"
        if (self.uses_kaldi_pitch or kaldi_fallback) and (self.f0_ceil > 2000 or self.sample_rate < 2000):
            raise FeatureError(f"Kaldi's pitch tracker works at 4 kHz: it needs f0_ceil <= 2000 Hz (got "
                               f"{self.f0_ceil}) and a sample_rate of at least 2000 Hz (got {self.sample_rate})")

    @property
    def uses_kaldi_pitch(self) -> bool:
        """Whether every utterance needs Kaldi's pitch tracker (for the F0, the appended features, or both);
        DIO's fallback runs it only where DIO fails."""
        return self.f0_method == "kaldi" or (self.append_pitch and self.pitch_features == "kaldi")

    # Window sizes in samples, rounded down exactly as Kaldi does (static_cast<int32>).
    @property
    def window_size(self) -> int:
        return int(self.sample_rate * 0.001 * self.frame_length_ms)

    @property
    def window_shift(self) -> int:
        return int(self.sample_rate * 0.001 * self.frame_shift_ms)

    @property
    def feats_dim(self) -> int:
        return self.n_mels + (3 if self.append_pitch else 0)

    @classmethod
    def from_yaml(cls, *paths) -> "FeatureConfig":
        """The config of one YAML file, or of several laid over each other in order (a recipe's
        conf/fbank.yaml then conf/pitch.yaml: the one merge of feature configs in echo). Unknown keys and
        bad values are errors naming the file."""
        raw, names = {}, {f.name for f in dataclasses.fields(cls)}
        for path in map(Path, paths):
            try:
                part = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
                raise FeatureError(f"{path}: cannot read feature config: {e}") from e
            if not isinstance(part, dict):
                raise FeatureError(f"{path}: feature config must be a mapping of option: value")
            unknown = sorted(set(part) - names)
            if unknown:
                raise FeatureError(f"{path}: unknown feature option(s) {', '.join(unknown)}; "
                                   f"valid: {', '.join(sorted(names))}")
            raw.update(part)
        try:
            return cls(**raw)
        except (TypeError, ValueError) as e:
            raise FeatureError(f"{' + '.join(map(str, paths))}: {e}") from e

    def to_yaml(self, path) -> None:
        """Write atomically (temp file + rename) so a killed job never leaves half a config."""
        atomic.write_yaml(path, dataclasses.asdict(self))
