"""The real-corpus recipes (an4, mini_librispeech, librispeech_100, aishell, commonvoice) on miniature
corpora in their exact upstream layouts (test/corpus_fixtures.py describes each layout), stages 0-5
with conf/train_smoke.yaml; stage 0's download from a 127.0.0.1 server; bad corpus trees.

Every run points the download URLs at a closed local port, so a stage 0 that reached for the network on
a complete tree would fail.
"""
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from corpus_fixtures import (SC_SPEAKERS, synthesise_pool, write_aishell, write_an4, write_commonvoice, write_librispeech,
                             write_speech_commands)
from echo.data import download as dl
from echo.data.datadir import read_kv, read_kv_dict
from echo.data.validate import validate_data_dir
from http_fixture import FileServer
from synth_helpers import load_local

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = {"OPENSLR_URL": "http://127.0.0.1:9/resources", "AN4_URL": "http://127.0.0.1:9/an4_sphere.tar.gz"}
SMOKE = ("--train-config", "conf/train_smoke.yaml", "--nj", "1", "--inference-nj", "1")


@pytest.fixture(scope="module")
def pool():
    return synthesise_pool()


def sandbox(tmp_path: Path, recipe: str) -> Path:
    """A copy of egs/<recipe> under tmp_path whose links (asr.sh, path.sh, utils, ...) point into this tree."""
    src, dst = ROOT / "egs" / recipe, tmp_path / "egs" / recipe
    dst.mkdir(parents=True)
    for item in src.iterdir():
        if item.name in ("data", "dump", "exp", "downloads"):
            continue
        if item.is_symlink() and item.parent.name != "local":
            (dst / item.name).symlink_to(item.resolve())
        elif item.is_dir():
            shutil.copytree(item, dst / item.name, symlinks=False)
        else:
            shutil.copy2(item, dst / item.name)
    return dst


def run(d: Path, *args, env=None, check=True) -> subprocess.CompletedProcess:
    e = {**os.environ, "OMP_NUM_THREADS": "1", **OFFLINE, **(env or {})}
    r = subprocess.run(["./run.sh", *args], cwd=d, capture_output=True, text=True, env=e, timeout=600)
    if check:
        assert r.returncode == 0, f"run.sh {' '.join(args)} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r


def assert_sets(d: Path, counts: dict[str, int]):
    for name, n in counts.items():
        validate_data_dir(d / "data" / name, no_feats=True)
        assert len(read_kv(d / "data" / name / "utt2spk")) == n, name


def assert_scored(d: Path, test_sets, metric="wer"):
    results = (d / "exp/train_smoke/RESULTS.md").read_text()
    for s in test_sets:
        assert f"|decode_{s}|" in results, results
        assert "Sum/Avg" in (d / f"exp/train_smoke/decode_{s}/score_{metric}/result.txt").read_text()


# ------------------------------------------------------------------------------------------- stages 0-5

@pytest.mark.slow
def test_an4_stages_0_to_5(tmp_path, pool):
    corpus = tmp_path / "corpus"
    write_an4(corpus, pool)
    d = sandbox(tmp_path, "an4")
    run(d, *SMOKE, "--nbpe", "20", "--local-data-opts", "--num-dev 2", env={"AN4": str(corpus)})
    assert_sets(d, {"train_nodev": 6, "train_dev": 2, "test": 3})
    text = read_kv_dict(d / "data/train_dev/text")
    assert text == {"fash-an100-b": "SIX", "fash-an103-b": "ONE"}          # <s> </s> gone, <spk>-<rest>
    assert read_kv_dict(d / "data/test/utt2spk")["fcaw-cen100-b"] == "fcaw"
    assert read_kv_dict(d / "data/test/wav.scp")["fcaw-cen100-b"].endswith("an4test_clstk/fcaw/cen100-fcaw-b.sph")
    assert_scored(d, ("train_dev", "test"))


@pytest.mark.slow
def test_mini_librispeech_stages_0_to_5_with_speed_perturbation(tmp_path, pool):
    corpus = write_librispeech(tmp_path / "corpus", pool, {"train-clean-5": 6, "dev-clean-2": 2})
    d = sandbox(tmp_path, "mini_librispeech")
    run(d, *SMOKE, "--nbpe", "20", env={"MINI_LIBRISPEECH": str(corpus)})
    assert_sets(d, {"train_clean_5": 6, "dev_clean_2": 2, "train_clean_5_sp": 18})
    utt2spk = read_kv_dict(d / "data/train_clean_5_sp/utt2spk")
    assert utt2spk["sp0.9-100-2000-0000"] == "sp0.9-100-2000" and utt2spk["100-2000-0000"] == "100-2000"
    trans = (corpus / "LibriSpeech/dev-clean-2/110/2010/110-2010.trans.txt").read_text().splitlines()[0]
    assert read_kv_dict(d / "data/dev_clean_2/text")["110-2010-0000"] == trans.split(" ", 1)[1]   # as it is
    frames = read_kv_dict(d / "dump/train_clean_5_sp/utt2num_frames")
    for utt in ("100-2000-0000", "101-2001-0001"):
        assert int(frames[f"sp0.9-{utt}"]) > int(frames[utt]) > int(frames[f"sp1.1-{utt}"])
    assert_scored(d, ("dev_clean_2",))


@pytest.mark.slow
def test_librispeech_100_stages_0_to_5(tmp_path, pool):
    parts = {"train-clean-100": 6, "dev-clean": 2, "dev-other": 2, "test-clean": 2, "test-other": 2}
    corpus = write_librispeech(tmp_path / "corpus", pool, parts)
    d = sandbox(tmp_path, "librispeech_100")
    # Two of its four test sets keep CI short (each decode loads torch and the model again; aishell and
    # commonvoice decode only their test set for the same reason).
    run(d, *SMOKE, "--nbpe", "20", "--speed-perturb-factors", "", "--test-sets", "test_clean test_other",
        env={"LIBRISPEECH": str(corpus)})
    assert_sets(d, {"train_clean_100": 6, "dev": 4, "dev_clean": 2, "dev_other": 2, "test_clean": 2, "test_other": 2})
    assert_scored(d, ("test_clean", "test_other"))


@pytest.mark.slow
def test_aishell_stages_0_to_5_from_the_shipped_per_speaker_tarballs(tmp_path, pool):
    corpus = write_aishell(tmp_path / "corpus", pool)
    d = sandbox(tmp_path, "aishell")
    r = run(d, *SMOKE, "--speed-perturb-factors", "", "--test-sets", "test", env={"AISHELL": str(corpus)})
    assert "6 archive(s) unpacked" in r.stdout
    assert_sets(d, {"train": 8, "dev": 2, "test": 3})
    text = read_kv_dict(d / "data/train/text")
    line = next(x for x in (corpus / "data_aishell/transcript/aishell_transcript_v0.8.txt").read_text().splitlines()
                if x.startswith("BAC009S0003W0123 "))
    assert len(line.split()) == 3 and text["BAC009S0003W0123"] == "".join(line.split()[1:])   # spaces removed
    assert all(" " not in t for t in text.values())
    assert (d / "data/local/train.no_transcript").read_text().strip().endswith("S0002/BAC009S0002W0999.wav")
    assert_scored(d, ("test",), metric="cer")
    # Stage 0 again: the tarballs are found unpacked (and stay), nothing is downloaded.
    r = run(d, "--stop-stage", "0", env={"AISHELL": str(corpus)})
    assert "0 archive(s) unpacked" in r.stdout and (corpus / "data_aishell/wav/S0002.tar.gz").is_file()


@pytest.mark.slow
def test_commonvoice_stages_0_to_5(tmp_path, pool):
    corpus = write_commonvoice(tmp_path / "corpus" / "en", pool, lang="en")
    d = sandbox(tmp_path, "commonvoice")
    run(d, *SMOKE, "--lang", "en", "--nbpe", "20", "--speed-perturb-factors", "", "--test-sets", "test_en",
        env={"COMMONVOICE": str(corpus)})
    assert_sets(d, {"train_en": 8, "dev_en": 2, "test_en": 3})
    texts = set(read_kv_dict(d / "data/train_en/text").values())
    assert "nine it's fine" in texts and all(t == t.lower() and "?" not in t and "," not in t for t in texts)
    assert_scored(d, ("test_en",))


def test_commonvoice_without_a_release_says_where_to_get_it(tmp_path):
    d = sandbox(tmp_path, "commonvoice")
    r = run(d, "--stop-stage", "0", env={"COMMONVOICE": ""}, check=False)
    assert r.returncode != 0
    assert "https://commonvoice.mozilla.org/datasets" in r.stderr and "COMMONVOICE=" in r.stderr


# ------------------------------------------------------------------------------------- download stage

def tgz_of(directory: Path, arcname: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(directory, arcname=arcname)
    return buf.getvalue()


@pytest.mark.slow
def test_an4_stage_0_downloads_then_reruns_offline(tmp_path, pool):
    made = write_an4(tmp_path / "made", pool)
    root = tmp_path / "AN4"
    d = sandbox(tmp_path, "an4")
    with FileServer({"/databases/an4/an4_sphere.tar.gz": tgz_of(made, "an4")}, cut_after=20000) as srv:
        env = {"AN4": str(root), "AN4_URL": f"{srv.url}/databases/an4/an4_sphere.tar.gz"}
        r = run(d, "--stop-stage", "0", "--local-data-opts", "--num-dev 2", env=env)
    assert "resuming" in r.stderr and "an4_sphere.tar.gz unpacked" in r.stdout
    assert (root / "an4/etc/an4_train.transcription").is_file() and not (root / "an4_sphere.tar.gz").exists()
    r = run(d, "--stop-stage", "0", "--local-data-opts", "--num-dev 2", env=env)   # the server is gone
    assert "already holds an4; nothing to do" in r.stdout
    assert_sets(d, {"train_nodev": 6, "train_dev": 2, "test": 3})


def test_offline_download_names_the_url_and_variable(tmp_path):
    d = sandbox(tmp_path, "mini_librispeech")
    r = run(d, "--stop-stage", "0", env={"MINI_LIBRISPEECH": str(tmp_path / "empty")}, check=False)
    assert r.returncode != 0
    assert "http://127.0.0.1:9/resources/31/train-clean-5.tar.gz" in r.stderr and "set MINI_LIBRISPEECH" in r.stderr
    assert not (tmp_path / "empty" / "LibriSpeech").exists()


# ------------------------------------------------------------------------------------- bad corpus trees

def prepare(recipe: str, script: str, corpus: Path, data: Path, skip: bool, *extra):
    """Run egs/<recipe>/local/<script>.py in-process; returns its SystemExit message or None."""
    module = load_local(ROOT / "egs" / recipe, script)
    args = {"prepare_an4": ["--an4", str(corpus / "an4")], "prepare_librispeech": ["--root", str(corpus), "--part",
            "train-clean-5", "--set", "train_clean_5"], "prepare_aishell": ["--aishell", str(corpus / "data_aishell")],
            "prepare_commonvoice": ["--cv", str(corpus), "--lang", "en"],
            "prepare_speech_commands": ["--corpus", str(corpus)]}[script]
    try:
        module.main(args + ["--data", str(data), "--skip-bad", "true" if skip else "false", *extra])
    except SystemExit as e:
        return str(e.code)
    return None


def garbage(path: Path):
    path.write_bytes(b"this is not audio\n" * 50)


def bad_an4(corpus, kind):
    spk = corpus / "an4/wav/an4_clstk/fbbh"
    return {"missing": lambda: (spk / "an101-fbbh-b.sph").unlink() or "an4_train.transcription:2",
            "untranscribed": lambda: shutil.copy(spk / "an101-fbbh-b.sph", spk / "an999-fbbh-b.sph") and "an999-fbbh-b.sph",
            "undecodable": lambda: garbage(spk / "an101-fbbh-b.sph") or "an101-fbbh-b.sph",
            "extra": lambda: (spk / "notes.txt").write_text("x") and "notes.txt"}[kind]()


def bad_librispeech(corpus, kind):
    ch = corpus / "LibriSpeech/train-clean-5/101/2001"
    return {"missing": lambda: (ch / "101-2001-0001.flac").unlink() or "101-2001.trans.txt:1",
            "untranscribed": lambda: shutil.copy(ch / "101-2001-0001.flac", ch / "101-2001-0099.flac") and "101-2001-0099.flac",
            "undecodable": lambda: garbage(ch / "101-2001-0001.flac") or "101-2001-0001.flac",
            "extra": lambda: (ch / "101-2001-0001.txt").write_text("x") and "101-2001-0001.txt"}[kind]()


def bad_aishell(corpus, kind):
    spk = corpus / "data_aishell/wav/train/S0003"
    return {"undecodable": lambda: garbage(spk / "BAC009S0003W0123.wav") or "BAC009S0003W0123.wav",
            "extra": lambda: (spk / "BAC009S0003W0123.txt").write_text("x") and "BAC009S0003W0123.txt"}[kind]()


def bad_commonvoice(corpus, kind):
    clips = corpus / "clips"
    return {"missing": lambda: (clips / "common_voice_en_1001.mp3").unlink() or "train.tsv:3",
            "untranscribed": lambda: shutil.copy(clips / "common_voice_en_1001.mp3", clips / "x.mp3") and "x.mp3",
            "undecodable": lambda: garbage(clips / "common_voice_en_1001.mp3") or "common_voice_en_1001.mp3",
            "extra": lambda: (clips / "readme.txt").write_text("x") and "readme.txt"}[kind]()


def bad_speech_commands(corpus, kind):
    one = corpus / "one"
    return {"missing": lambda: (one / "5e6f7a8b_nohash_0.wav").unlink() or "validation_list.txt:2",
            "undecodable": lambda: garbage(one / "0a1b2c3d_nohash_0.wav") or "0a1b2c3d_nohash_0.wav",
            "extra": lambda: (one / "notes.txt").write_text("x") and "notes.txt"}[kind]()


CASES = [("an4", "prepare_an4", write_an4, bad_an4, "train", k) for k in ("missing", "untranscribed", "undecodable", "extra")]
CASES += [("mini_librispeech", "prepare_librispeech", lambda r, p: write_librispeech(r, p, {"train-clean-5": 4}),
           bad_librispeech, "train_clean_5", k) for k in ("missing", "untranscribed", "undecodable", "extra")]
CASES += [("aishell", "prepare_aishell", lambda r, p: write_aishell(r, p, unpacked=True), bad_aishell, "aishell", k)
          for k in ("undecodable", "extra")]
CASES += [("commonvoice", "prepare_commonvoice", write_commonvoice, bad_commonvoice, "commonvoice_en", k)
          for k in ("missing", "untranscribed", "undecodable", "extra")]
CASES += [("digits", "prepare_speech_commands", write_speech_commands, bad_speech_commands, "speech_commands", k)
          for k in ("missing", "undecodable", "extra")]


@pytest.mark.parametrize("recipe,script,write,spoil,tag,kind", CASES, ids=[f"{c[0]}-{c[5]}" for c in CASES])
def test_bad_file_is_an_error_naming_it_or_a_counted_skip(tmp_path, pool, recipe, script, write, spoil, tag, kind):
    corpus = tmp_path / "corpus"
    write(corpus, pool)
    named = spoil(corpus, kind)
    error = prepare(recipe, script, corpus, tmp_path / "data", False)
    assert error is not None and named in error and "--skip-bad true" in error, error
    assert prepare(recipe, script, corpus, tmp_path / "data2", True) is None
    skipped = (tmp_path / "data2" / "local" / f"{tag}.skipped").read_text().splitlines()
    assert len(skipped) == 1 and named in skipped[0], skipped


def test_aishell_audio_without_transcript_and_transcript_without_audio_are_counted(tmp_path, pool):
    corpus = write_aishell(tmp_path / "corpus", pool, unpacked=True)
    (corpus / "data_aishell/wav/test/S0006/BAC009S0006W0122.wav").unlink()
    assert prepare("aishell", "prepare_aishell", corpus, tmp_path / "data", False) is None
    local = tmp_path / "data" / "local"
    assert (local / "transcript.no_audio").read_text() == "BAC009S0006W0122\n"
    assert (local / "train.no_transcript").read_text().count("\n") == 1
    assert len(read_kv(tmp_path / "data/test/text")) == 2


@pytest.mark.slow
def test_skip_bad_through_local_data_opts(tmp_path, pool):
    corpus = tmp_path / "corpus"
    write_an4(corpus, pool)
    garbage(corpus / "an4/wav/an4_clstk/fbbh/an101-fbbh-b.sph")
    d = sandbox(tmp_path, "an4")
    r = run(d, "--stop-stage", "0", "--local-data-opts", "--num-dev 2", env={"AN4": str(corpus)}, check=False)
    assert r.returncode != 0 and "an101-fbbh-b.sph" in r.stdout + r.stderr
    r = run(d, "--stop-stage", "0", "--local-data-opts", "--num-dev 2 --skip-bad true", env={"AN4": str(corpus)})
    assert "skipped 1 bad file(s)" in r.stdout and "an101-fbbh-b.sph" in (d / "data/local/train.skipped").read_text()
    assert_sets(d, {"train_nodev": 5, "train_dev": 2})


# -------------------------------------------------------------------- Speech Commands (egs/digits)

def test_speech_commands_digits_split_by_the_upstream_lists(tmp_path, pool):
    corpus = write_speech_commands(tmp_path / "sc", pool)
    assert prepare("digits", "prepare_speech_commands", corpus, tmp_path / "data", False) is None
    spk = {s: set(read_kv_dict(tmp_path / "data" / s / "utt2spk").values()) for s in ("train", "dev", "test")}
    assert spk == {s: {f"sc-{h}" for h in hashes} for s, hashes in SC_SPEAKERS.items()}
    text = read_kv_dict(tmp_path / "data/test/text")
    assert len(text) == 10 and text["sc-9c0d1e2f-one-0"] == "one"           # "yes" is not a digit
    assert len(read_kv(tmp_path / "data/train/text")) == 20
    wav = read_kv_dict(tmp_path / "data/noise/wav.scp")
    assert list(wav) == ["noise-white_noise"] and Path(wav["noise-white_noise"]).is_file()


def test_speech_commands_listed_in_dev_and_test_is_an_error(tmp_path, pool):
    corpus = write_speech_commands(tmp_path / "sc", pool)
    with open(corpus / "testing_list.txt", "a") as f:
        f.write("two/5e6f7a8b_nohash_0.wav\n")                       # also in validation_list.txt
    error = prepare("digits", "prepare_speech_commands", corpus, tmp_path / "data", False)
    assert error is not None and "validation_list.txt (line 3)" in error and "testing_list.txt (line 12)" in error


def test_speech_commands_speaker_in_two_sets_is_an_error(tmp_path, pool):
    corpus = write_speech_commands(tmp_path / "sc", pool)
    (corpus / "testing_list.txt").write_text((corpus / "testing_list.txt").read_text().replace(
        "one/9c0d1e2f_nohash_0.wav", "one/0a1b2c3d_nohash_0.wav"))   # one train speaker's file now in test
    error = prepare("digits", "prepare_speech_commands", corpus, tmp_path / "data", False)
    assert error is not None and "speaker sc-0a1b2c3d has recordings in both train and test" in error


def test_speech_commands_archive_in_the_upstream_layout_is_downloaded_and_prepared(tmp_path, pool):
    made = write_speech_commands(tmp_path / "made", pool)
    tgz = tgz_of(made, ".")                      # members ./one/..., as download.tensorflow.org ships it
    module = load_local(ROOT / "egs/digits", "prepare_speech_commands")
    root = tmp_path / "downloads" / "speech_commands_v0.02"
    with FileServer({"/data/speech_commands_v0.02.tar.gz": tgz}) as srv:
        module.ARCHIVE = dl.Archive(f"{srv.url}/data/speech_commands_v0.02.tar.gz",
                                    f"sha256:{hashlib.sha256(tgz).hexdigest()}", module.ARCHIVE.provides)
        module.main(["--corpus", str(root), "--data", str(tmp_path / "data"), "--download"])
    assert (root / "testing_list.txt").is_file() and (root / "_background_noise_/white_noise.wav").is_file()
    assert not (root / "speech_commands_v0.02.tar.gz").exists()
    assert len(read_kv(tmp_path / "data/dev/text")) == 10
    module.main(["--corpus", str(root), "--data", str(tmp_path / "data2"), "--download"])   # no server: none needed
    assert read_kv(tmp_path / "data2/train/wav.scp") == read_kv(tmp_path / "data/train/wav.scp")
