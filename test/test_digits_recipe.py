"""egs/digits end to end (stages 0-5) on a miniature FSDD and a few synthetic utterances, augmentation on
(conf/train_smoke.yaml), with one speaker held out; and its per-speaker / per-voice report."""
import json
import subprocess
from pathlib import Path

import pytest

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
    env = {"FSDD": str(mini_fsdd(tmp_path / "fsdd")), "OMP_NUM_THREADS": "1"}
    r = run(d, "--local-data-opts", "--heldout-speaker lucas --num-train 12 --num-dev 3 --num-test 4",
            "--train-args", "--num-workers 1", env=env)
    assert "Successfully finished" in r.stdout
    utt2spk = lambda s: dict(line.split() for line in (d / "data" / s / "utt2spk").read_text().splitlines())  # noqa: E731
    train_spk = set(utt2spk("train").values())
    assert "lucas" not in train_spk and {"george", "theo"} <= train_spk
    assert set(utt2spk("fsdd_heldout").values()) == {"lucas"} and len(utt2spk("fsdd_heldout")) == 6
    assert set(utt2spk("fsdd_test").values()) == set(SPEAKERS) and len(utt2spk("fsdd_test")) == 12
    assert len(utt2spk("synth_test")) == 4 and not set(utt2spk("synth_test").values()) & train_spk
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


def test_unknown_heldout_speaker_is_an_error(tmp_path):
    if not (FSDD / "recordings").is_dir():
        pytest.skip(f"{FSDD} is absent")
    d = make_sandbox(tmp_path, "digits")
    r = run(d, "--stop-stage", "0", "--local-data-opts", "--heldout-speaker nobody --num-train 4 --num-dev 2 --num-test 2",
            env={"FSDD": str(mini_fsdd(tmp_path / "fsdd"))}, check=False)
    assert r.returncode != 0 and "nobody is not an FSDD speaker" in r.stderr
