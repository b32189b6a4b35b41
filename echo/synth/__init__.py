"""Offline synthetic speech with espeak-ng (through espeakng-loader) for the synthetic recipes."""
