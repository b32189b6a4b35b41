"""egs/digits end to end (stages 0-5) on a miniature FSDD, a miniature Speech Commands and a few synthetic
utterances, augmentation on (conf/train_smoke.yaml), with one speaker held out; and its per-speaker /
per-voice report."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from corpus_fixtures import SC_SPEAKERS, synthesise_pool, write_speech_commands
from test_recipes import FSDD, ROOT, make_sandbox, run

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


def mini_fsdd(root: Path) -> Path:
    """recordings/ of two digits × indices 0 (test), 5 (dev), 10 (train) for each speaker: links to FSDD."""
    rec = root / "recordings"
    rec.mkdir(parents=True)
    for spk in SPEAKERS:
        for digit in (1, 2):
            for index in (0, 5, 10):
                name = f"{digit}_{spk}_{index}.wav"
                (rec / name).symlink_to(FSDD / "recordings" / name)
    return root


@pytest.mark.slow
def test_digits_recipe_holds_out_a_speaker_and_reports_each(tmp_path):
    if not (FSDD / "recordings").is_dir():
        pytest.skip(f"{FSDD} is absent")
    d = make_sandbox(tmp_path, "digits")
    (d / "conf" / "train.yaml").write_text((ROOT / "egs/digits/conf/train_smoke.yaml").read_text())
    env = {"FSDD": str(mini_fsdd(tmp_path / "fsdd")), "OMP_NUM_THREADS": "1",
           "SPEECH_COMMANDS": str(write_speech_commands(tmp_path / "sc", synthesise_pool()))}
    r = run(d, "--local-data-opts", "--heldout-speaker lucas --num-train 12 --num-dev 3 --num-test 4",
            "--train-args", "--num-workers 1", env=env)
    assert "Successfully finished" in r.stdout
    utt2spk = lambda s: dict(line.split() for line in (d / "data" / s / "utt2spk").read_text().splitlines())  # noqa: E731
    train_spk = set(utt2spk("train").values())
    assert "lucas" not in train_spk and {"george", "theo"} <= train_spk
    assert set(utt2spk("fsdd_heldout").values()) == {"lucas"} and len(utt2spk("fsdd_heldout")) == 6
    assert set(utt2spk("fsdd_test").values()) == set(SPEAKERS) and len(utt2spk("fsdd_test")) == 12
    assert len(utt2spk("synth_test")) == 4 and not set(utt2spk("synth_test").values()) & train_spk
    # Speech Commands' digits: its train speakers in train, its test speakers a test set of their own
    assert {f"sc-{h}" for h in SC_SPEAKERS["train"]} <= train_spk
    assert set(utt2spk("sc_test").values()) == {f"sc-{h}" for h in SC_SPEAKERS["test"]}
    assert len(utt2spk("sc_noise")) == 1
    exp = d / "exp" / "train"
    log = (exp / "train.log").read_text()
    assert "on the fly" in log                       # the training set was augmented audio
    results = (exp / "RESULTS.md").read_text()
    assert "### WER per speaker / voice" in results
    # every FSDD held-out utterance and each speaker of the upstream test has a row, with its counts
    heldout = json.loads((exp / "decode_fsdd_heldout/score_wer/result.json").read_text())
    row = next(line for line in results.splitlines() if line.startswith("|decode_fsdd_heldout|lucas|"))
    assert row.split("|")[3:5] == ["6", "6"] and int(row.split("|")[5]) == heldout["total"]["err"]
    for spk in SPEAKERS:
        assert f"|decode_fsdd_test|{spk}|2|2|" in results
    assert "|decode_synth_test|voice " in results
    assert "|decode_sc_test|Speech Commands speakers (pooled)|10|10|" in results

    # local/adapt_speaker.py: its first pass is the recipe's scored decode; an identity transform (0 epochs)
    # decodes the same again; one epoch of adaptation runs and reports both passes
    adapt = [sys.executable, "local/adapt_speaker.py", "exp/train", "dump/fsdd_heldout"]
    env = {**env, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(adapt + ["--epochs", "0"], cwd=d, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("fsdd_heldout: 6/6 first-pass hypotheses trained on; WER first pass "), line
    first_pass, second_pass = (float(x.split()[-2]) for x in line.split(";")[1].split(","))
    assert first_pass == second_pass
    assert abs(first_pass - heldout["total"]["err_rate"]) < 0.05, (line, heldout["total"])
    out = subprocess.run(adapt + ["--epochs", "1", "--transform", "full"], cwd=d, capture_output=True,
                         text=True, env=env, check=True)
    assert "fsdd_heldout: 6/6 first-pass" in out.stdout and "epoch 1: loss" in out.stderr
    out = subprocess.run(adapt + ["--epochs", "1", "--agree"], cwd=d, capture_output=True, text=True, env=env,
                         check=True)   # only the hypotheses greedy CTC agrees with (none, some or all of 6)
    assert re.match(r"fsdd_heldout: [0-6]/6 first-pass hypotheses trained on; WER first pass", out.stdout)


def test_unknown_heldout_speaker_is_an_error(tmp_path):
    if not (FSDD / "recordings").is_dir():
        pytest.skip(f"{FSDD} is absent")
    d = make_sandbox(tmp_path, "digits")
    r = run(d, "--stop-stage", "0", "--local-data-opts", "--heldout-speaker nobody --num-train 4 --num-dev 2 --num-test 2",
            env={"FSDD": str(mini_fsdd(tmp_path / "fsdd"))}, check=False)
    assert r.returncode != 0 and "nobody is not an FSDD speaker" in r.stderr


def fake_rotation(exp: Path, speaker: str, wers: dict[str, float]) -> Path:
    """exp/<tag>/decode_<set>/score_wer/result.json as echo.bin.score writes them (total and utterances)."""
    for s, wer in wers.items():
        f = exp / f"decode_{s}" / "score_wer" / "result.json"
        f.parent.mkdir(parents=True)
        spk = speaker if s == "fsdd_heldout" else "other"
        f.write_text(json.dumps({"total": {"err_rate": wer}, "utterances": [{"spk": spk}, {"spk": spk}]}))
    return exp


def test_rotation_table_gives_each_rotation_its_mean_and_worst(tmp_path):
    script = ROOT / "egs/digits/local/rotations.py"
    a = fake_rotation(tmp_path / "a", "george", {"fsdd_heldout": 22.0, "fsdd_test": 5.0, "synth_test": 4.0})
    b = fake_rotation(tmp_path / "b", "lucas", {"fsdd_heldout": 8.0, "fsdd_test": 3.0})
    r = subprocess.run([sys.executable, str(script), str(a), str(b)], capture_output=True,
                       text=True, check=True)
    lines = r.stdout.splitlines()
    assert "|george|22.0|5.0|4.0|" in lines and "|lucas|8.0|3.0|—|" in lines
    assert "|**mean** (2 rotations)|15.0|4.0|4.0|" in lines and "|**worst** (2 rotations)|22.0|5.0|4.0|" in lines
    # a rotation whose stage 5 has not run, or the same speaker twice, is an error, never a smaller mean
    (tmp_path / "c").mkdir()
    for args, message in (([a, tmp_path / "c"], "no scored fsdd_heldout"), ([a, a], "held out twice")):
        r = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True,
                           text=True)
        assert r.returncode != 0 and message in r.stderr, r.stderr


def test_rotation_comparison_pairs_the_same_speakers_and_gives_the_change_with_its_spread(tmp_path):
    script = ROOT / "egs/digits/local/rotations.py"
    before = [fake_rotation(tmp_path / f"b{i}", spk, {"fsdd_heldout": w, "fsdd_test": 5.0})
              for i, (spk, w) in enumerate((("george", 22.0), ("lucas", 12.0), ("theo", 14.0)))]
    after = [fake_rotation(tmp_path / f"a{i}", spk, {"fsdd_heldout": w, "fsdd_test": 4.0})
             for i, (spk, w) in enumerate((("theo", 15.0), ("george", 16.0), ("lucas", 9.0)))]
    r = subprocess.run([sys.executable, str(script), *map(str, after), "--against", *map(str, before)],
                       capture_output=True, text=True, check=True)
    lines = r.stdout.splitlines()
    # matched by held-out speaker, not by position; changes -6, -3, +1: mean -2.67, SE 3.51 / sqrt(3) = 2.03
    assert "|george|22.0 → 16.0|5.0 → 4.0|—|" in lines and "|theo|14.0 → 15.0|5.0 → 4.0|—|" in lines
    assert "|**mean** (3 rotations)|16.0 → 13.3|5.0 → 4.0|—|" in lines
    assert "|**worst** (3 rotations)|22.0 → 16.0|5.0 → 4.0|—|" in lines
    assert "|**change** (paired, ± SE)|-2.7 ± 2.0 (2/3 better)|-1.0 ± 0.0 (3/3 better)|—|" in lines
    r = subprocess.run([sys.executable, str(script), *map(str, after[:2]), "--against", *map(str, before)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "compare the same rotations" in r.stderr, r.stderr
