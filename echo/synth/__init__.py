"""Offline synthetic speech with espeak-ng (through espeakng-loader) for the synthetic recipes.

espeak.py         deterministic text-to-speech: synthesize(text, voice, pitch, pitch_range, rate, ssml, seed)
espeak_worker.py  the process that runs libespeak-ng (one fork per request; see espeak.py)
corpus.py         Speaker/Utterance specs rendered to 16-bit WAVs and Kaldi data dirs, in parallel
"""
