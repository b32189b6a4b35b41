"""echo.synth.espeak: deterministic espeak-ng synthesis through espeakng-loader."""
import multiprocessing

import numpy as np
import pyworld
import pytest

from echo.synth.espeak import SAMPLE_RATE, Espeak, list_languages, list_variants, synthesize


def f0_of(wave: np.ndarray) -> np.ndarray:
    """Voiced F0 values (Hz) of a 22.05 kHz waveform, pyworld DIO + StoneMask."""
    x = wave.astype(np.float64)
    f0, t = pyworld.dio(x, SAMPLE_RATE, f0_floor=50.0, f0_ceil=600.0, frame_period=10.0)
    f0 = pyworld.stonemask(x, f0, t, SAMPLE_RATE)
    return f0[f0 > 0]


def test_sample_rate_and_dtype():
    wave = synthesize("one two three")
    assert SAMPLE_RATE == 22050
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 0.5 < len(wave) / SAMPLE_RATE < 3.0  # three words at 175 wpm
    assert 0.05 < np.abs(wave).max() <= 1.0
    with Espeak() as engine:
        engine.synthesize("one")
        assert engine.sample_rate == 22050


def test_same_inputs_give_identical_samples_whatever_came_before():
    # m1 has pitch flutter and f2 breath noise and echo: the state espeak-ng keeps between calls
    first = synthesize("seven oh five", voice="en+m1", pitch=40, rate=160)
    synthesize("nine nine nine eight", voice="en+f2", pitch=70)
    synthesize("one", voice="en-us+klatt4")
    again = synthesize("seven oh five", voice="en+m1", pitch=40, rate=160)
    assert np.array_equal(first, again)
    with Espeak() as other_engine:  # another worker process
        assert np.array_equal(first, other_engine.synthesize("seven oh five", voice="en+m1", pitch=40, rate=160))


def _synth_in_child(queue):
    queue.put(synthesize("two four six", voice="en+m3").tobytes())


def test_forked_child_gets_its_own_engine_with_the_same_output():
    parent = synthesize("two four six", voice="en+m3")  # the parent's worker is running now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_synth_in_child, args=(queue,))
    child.start()
    out = queue.get(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert np.array_equal(np.frombuffer(out, np.float32), parent)
    assert np.array_equal(synthesize("two four six", voice="en+m3"), parent)  # parent's worker still fine


def test_voices_and_pitch_change_f0():
    male = np.median(f0_of(synthesize("one two three", voice="en+m3")))
    female = np.median(f0_of(synthesize("one two three", voice="en+f2")))
    assert 70 < male < 150 and female > 1.4 * male
    low = np.median(f0_of(synthesize("one two three", voice="en+m3", pitch=20)))
    high = np.median(f0_of(synthesize("one two three", voice="en+m3", pitch=80)))
    assert high > 1.5 * low  # espeak's -p spans about an octave either side of 50


def test_pitch_range_zero_is_monotone():
    flat = f0_of(synthesize("one two three four five", voice="en+m3", pitch_range=0))
    wide = f0_of(synthesize("one two three four five", voice="en+m3", pitch_range=99))
    assert np.std(np.log(flat)) < 0.05 < np.std(np.log(wide))


def test_rate_changes_duration():
    slow = synthesize("one two three four", rate=100)
    fast = synthesize("one two three four", rate=300)
    assert len(slow) > 1.8 * len(fast)


def speech_extent(wave: np.ndarray) -> int:
    """Samples from the first to the last one above -40 dBFS (SSML adds a trailing pause)."""
    loud = np.nonzero(np.abs(wave) > 0.01)[0]
    return int(loud[-1] - loud[0])


def test_ssml_tags_are_markup_not_words():
    plain = speech_extent(synthesize("one"))
    assert abs(speech_extent(synthesize("<speak>one</speak>", ssml=True)) - plain) < 0.02 * SAMPLE_RATE
    read_aloud = speech_extent(synthesize("<speak>one</speak>", ssml=False))  # the tags get spelled out
    assert read_aloud > plain + 0.5 * SAMPLE_RATE
    pause = speech_extent(synthesize('<speak>one <break time="800ms"/> two</speak>', ssml=True))
    assert pause > speech_extent(synthesize("one two")) + 0.5 * SAMPLE_RATE


def test_seed_drives_breath_noise_only():
    a = synthesize("four", voice="en+f2", seed=1)
    assert np.array_equal(a, synthesize("four", voice="en+f2", seed=1))
    assert not np.array_equal(a, synthesize("four", voice="en+f2", seed=2))


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown espeak-ng voice 'xx-nowhere'"):
        synthesize("one", voice="xx-nowhere")
    with pytest.raises(ValueError, match="variant 'm99'"):
        synthesize("one", voice="en+m99")
    with pytest.raises(ValueError, match="pitch=120"):
        synthesize("one", pitch=120)
    with pytest.raises(ValueError, match="rate=10"):
        synthesize("one", rate=10)
    with pytest.raises(ValueError, match="nothing to synthesise"):
        synthesize("  ")
    assert len(synthesize("one")) > 0  # the engine survives errors


def test_voice_lists():
    assert {"m1", "m8", "f1", "f5", "klatt"} <= set(list_variants())
    assert {"en", "en-us", "cmn", "cmn-latn-pinyin"} <= set(list_languages())


def test_phoneme_input_is_said_through_the_voice_table():
    # espeak-ng's own transcription of "six" said as phonemes is the word; without the flag the brackets'
    # content is read as letters
    assert np.array_equal(synthesize("[[s'Iks]]", voice="en-us", phonemes=True), synthesize("six", voice="en-us"))
    assert not np.array_equal(synthesize("[[s'Iks]]", voice="en-us"), synthesize("six", voice="en-us"))
    # a phoneme the Greek table lacks ends the word: the probe finds it
    from echo.synth.espeak import knows_phoneme
    assert knows_phoneme("en-us", "I") and not knows_phoneme("el", "I") and knows_phoneme("el", "i")
