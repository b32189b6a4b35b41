"""echo: pitch-aware speech recognition (an encoder-decoder transformer whose rotary
position embedding is driven by the speaker's F0), with Kaldi-style recipes."""

__version__ = "0.1.0"
