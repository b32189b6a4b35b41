"""egs/synth_tones: the synthetic Mandarin tones really differ in F0, and the corpus is well formed.

The F0 check renders single syllables exactly as the corpus does (echo.synth.corpus.render), takes
F0 with the recipe's own feature config (echo.features, pyworld DIO) and asserts the shape of each
tone: 1 level and highest, 2 rising, 3 dipping (a fall, then a rise) and lowest, 4 falling.
"""
import numpy as np
import pytest
import soundfile

from echo.data.datadir import read_kv
from echo.features.extract import extract_features
from echo.score.tones import has_adjacent_tone3, split_tone
from echo.synth.corpus import Speaker, Utterance, render

from synth_helpers import (ROOT, SETS, assert_data_sh_takes_kaldi_options, assert_same_seed_same_corpus_with_one_job,
                           assert_test_voices_unseen, assert_valid_data_dirs, corpus_fixture, load_local,
                           needs_parse_options, recipe_feature_config, run_local_score,
                           write_decoded_test_set)

RECIPE = ROOT / "egs" / "synth_tones"
make_corpus = load_local(RECIPE)
SIZES = ["--num-train", "12", "--num-dev", "3", "--num-test", "6"]


# --- the tones in F0 --------------------------------------------------------------------------------

def syllable_log_f0(syllable: str, variant: str, pitch: int, pitch_range: int, rate: int) -> np.ndarray:
    """log F0 (Hz) of the voiced frames of one syllable, rendered as the corpus renders it."""
    utt = Utterance(utt_id="x", speaker=Speaker(make_corpus.LANGUAGE, variant, pitch), text=syllable,
                    say=syllable, rate=rate, pitch_range=pitch_range, gain=0.5, lead_s=0.3, trail_s=0.3,
                    noise_dbfs=-70.0, seed=1)
    conf = recipe_feature_config(RECIPE)
    wave = render(utt, conf.sample_rate).astype(np.float32) / 32768.0
    f0 = extract_features(wave, conf)[1]
    voiced = f0[f0 > 0]
    assert len(voiced) >= 10, f"{syllable} ({variant}, -p {pitch}): only {len(voiced)} voiced frames"
    return np.log(voiced)


def contour_shape(logf0: np.ndarray) -> dict:
    """Numbers describing a syllable's log-F0 contour (T,):

    slope: mean of the last third minus mean of the first third (> 0 rising, < 0 falling);
    mean: mean log F0 (the register);
    dip_pos: where (0..1) the lowest point after the first quarter lies;
    fall_into_dip / rise_after_dip: how far the contour falls to that point from its highest
    point before it, and rises after it (a dipping tone has both).
    """
    n = len(logf0)
    third = n // 3
    low = n // 4 + int(np.argmin(logf0[n // 4:]))
    return dict(slope=float(logf0[-third:].mean() - logf0[:third].mean()), mean=float(logf0.mean()),
                dip_pos=low / (n - 1), fall_into_dip=float(logf0[:low + 1].max() - logf0[low]),
                rise_after_dip=float(logf0[low:].max() - logf0[low]))


# Voices from both sides of the split; -p 60, the lowest pitch range of the corpus (the smallest
# excursions it has) and a middle speaking rate. Margins measured on these: tone 2 rises by 0.13-0.24
# in log F0, tone 4 falls by 0.10-0.28, tone 1 rises by at most 0.6 of tone 2's rise.
TONE_VOICES = ("m5", "Gene", "m4", "f2", "shelby",        # training voices
               "m7", "norbert", "f5", "Alicia", "grandma")  # test voices


@pytest.mark.parametrize("variant", TONE_VOICES)
def test_the_four_tones_have_their_f0_shapes(variant):
    assert variant in make_corpus.TRAIN_VARIANTS + make_corpus.TEST_VARIANTS
    lowest_range = make_corpus.VARIATION.pitch_range[0]
    s = {t: contour_shape(syllable_log_f0(f"ma{t}", variant, pitch=60, pitch_range=lowest_range, rate=150))
         for t in (1, 2, 3, 4)}
    report = {t: {k: round(v, 3) for k, v in x.items()} for t, x in s.items()}
    # tone 2 rises, tone 4 falls, by more than 8% of F0 (0.08 in log F0)
    assert s[2]["slope"] > 0.08, report
    assert s[4]["slope"] < -0.08, report
    # tone 1 is level: it moves less than tone 2 rises (espeak-ng's 55 drifts up a little) ...
    assert abs(s[1]["slope"]) < 0.75 * s[2]["slope"], report
    assert abs(s[1]["slope"]) < 0.2, report
    # ... and the highest of the four, tone 3 the lowest
    assert s[1]["mean"] > max(s[t]["mean"] for t in (2, 3, 4)), report
    assert s[3]["mean"] < min(s[t]["mean"] for t in (1, 2, 4)), report
    # tone 3 dips: a fall into a low point inside the syllable, then a rise out of it
    assert 0.3 < s[3]["dip_pos"] < 0.9, report
    assert s[3]["fall_into_dip"] > 0.03 and s[3]["rise_after_dip"] > 0.06, report
    # a rising tone has no such dip before its end
    assert s[2]["fall_into_dip"] < s[3]["fall_into_dip"], report


def test_third_tone_sandhi_is_why_two_third_tones_never_meet():
    """espeak-ng says "ma3 ma3" exactly like "ma2 ma3": the transcript would not be recoverable."""
    from echo.synth.espeak import synthesize
    voice = f"{make_corpus.LANGUAGE}+m3"
    assert np.array_equal(synthesize("ma3 ma3", voice=voice), synthesize("ma2 ma3", voice=voice))
    assert not np.array_equal(synthesize("ma3 ma1", voice=voice), synthesize("ma2 ma1", voice=voice))


# --- the corpus ------------------------------------------------------------------------------------

def test_drawn_transcripts_never_put_two_third_tones_side_by_side():
    utts = make_corpus.draw_set("train", 3000, make_corpus.speakers(make_corpus.TRAIN_VARIANTS), 777, 0)
    texts = [u.text for u in utts]
    assert not any(has_adjacent_tone3(t) for t in texts)
    syllables = [s for t in texts for s in t.split()]
    assert {len(t.split()) for t in texts} == {2, 3, 4}
    assert {split_tone(s)[0] for s in syllables} == set(make_corpus.SYLLABLES)
    tones = np.bincount([split_tone(s)[1] for s in syllables], minlength=5)[1:]
    # every tone is common; tone 3 a little less (it may not follow itself)
    assert tones.min() > 0.18 * len(syllables) and tones.argmin() == 2, tones
    # the helper itself: neighbours only
    assert has_adjacent_tone3("ma1 ni3 hao3") and not has_adjacent_tone3("ni3 ma1 hao3")


corpus = corpus_fixture(make_corpus, SIZES)


def test_data_dirs_are_valid_with_toned_pinyin_transcripts(corpus):
    assert_valid_data_dirs(corpus, {"train": 12, "dev": 3, "test": 6})
    for name in SETS:
        for _, text in read_kv(corpus / name / "text"):
            syllables = text.split()
            assert 2 <= len(syllables) <= 4 and not has_adjacent_tone3(text)
            for s in syllables:
                base, tone = split_tone(s)
                assert base in make_corpus.SYLLABLES and tone in (1, 2, 3, 4), s
        for _, path in read_kv(corpus / name / "wav.scp"):
            info = soundfile.info(path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")


def test_test_voices_are_never_heard_in_training(corpus):
    assert_test_voices_unseen(make_corpus, corpus)


def test_same_seed_gives_byte_identical_audio_whatever_nj(corpus, tmp_path):
    assert_same_seed_same_corpus_with_one_job(make_corpus, SIZES, corpus, tmp_path)


@needs_parse_options
def test_data_sh_takes_kaldi_options(tmp_path):
    assert_data_sh_takes_kaldi_options(RECIPE, tmp_path)


def test_local_score_writes_tone_results_and_a_results_section(tmp_path):
    exp = write_decoded_test_set(tmp_path, "u1 ma1 shi4 yu2\nu2 li3 ba1\n", "u1 ma1 shi2 yu2 ni3\nu2 li3 ba1\n")
    (exp / "RESULTS.md").write_text("# RESULTS\n")
    for _ in range(2):  # scoring again replaces the section
        run = run_local_score(RECIPE, tmp_path)
    assert run.stdout.startswith("%TER 20.00 [ 1 / 5 syllables with the right base ] %SylER 20.00 [ 1 / 5, 1 ins")
    results = (exp / "RESULTS.md").read_text()
    assert results.startswith("# RESULTS\n") and results.count("### TER") == 1
    assert "|decode_test|2|5|20.0|5|1|20.0|" in results
    assert (exp / "decode_test" / "score_tone" / "result.json").is_file()
