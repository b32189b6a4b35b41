"""What test_synth_{digits,tones,prosody}.py share: loading a recipe's local/ scripts, a small corpus
generated once per test module, and the checks every synthetic corpus must pass."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from echo.data.datadir import read_kv
from echo.data.validate import validate_data_dir
from echo.features.config import FeatureConfig

ROOT = Path(__file__).resolve().parents[1]
SETS = ("train", "dev", "test")
SEED = 5  # of the module's corpus

needs_parse_options = pytest.mark.skipif(not (ROOT / "utils" / "parse_options.sh").is_file(),
                                         reason="utils/parse_options.sh missing")


def load_local(recipe: Path, script: str = "make_corpus"):
    """egs/<recipe>/local/<script>.py as a module (local/ is no package)."""
    spec = importlib.util.spec_from_file_location(f"{recipe.name}_{script}", recipe / "local" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recipe_feature_config(recipe: Path) -> FeatureConfig:
    """The recipe's conf/fbank.yaml and conf/pitch.yaml, as asr.sh's dump stage reads them."""
    return FeatureConfig.from_yaml(recipe / "conf" / "fbank.yaml", recipe / "conf" / "pitch.yaml")


def corpus_fixture(make_corpus, sizes: list[str]):
    """A module-scoped fixture: <tmp>/data written by make_corpus.main(sizes) with seed SEED and 2 jobs."""
    @pytest.fixture(scope="module")
    def corpus(tmp_path_factory):
        data = tmp_path_factory.mktemp(make_corpus.__name__) / "data"
        make_corpus.main(sizes + ["--seed", str(SEED), "--nj", "2", "--data", str(data)])
        return data
    return corpus


def wav_bytes(data: Path, name: str) -> dict[str, bytes]:
    return {utt: Path(path).read_bytes() for utt, path in read_kv(data / name / "wav.scp")}


def voice_variants(data: Path, name: str) -> set[str]:
    """The espeak-ng voice variants of set `name`, from data/local/<name>.synth.tsv."""
    rows = (data / "local" / f"{name}.synth.tsv").read_text().splitlines()
    header = rows[0].split("\t")
    return {dict(zip(header, r.split("\t")))["voice"].split("+")[1] for r in rows[1:]}


def assert_valid_data_dirs(data: Path, counts: dict[str, int]):
    """Each set is a valid data dir of counts[set] utterances, sorted, with speaker-prefixed utt ids."""
    for name, count in counts.items():
        d = data / name
        validate_data_dir(d, no_feats=True)
        utts = [u for u, _ in read_kv(d / "wav.scp")]
        assert len(utts) == count and utts == sorted(utts, key=str.encode)
        for utt, spk in read_kv(d / "utt2spk"):
            assert utt.startswith(spk + "-")


def assert_test_voices_unseen(make_corpus, data: Path):
    assert not set(make_corpus.TRAIN_VARIANTS) & set(make_corpus.TEST_VARIANTS)
    seen = voice_variants(data, "train") | voice_variants(data, "dev")
    unseen = voice_variants(data, "test")
    assert seen <= set(make_corpus.TRAIN_VARIANTS) and unseen <= set(make_corpus.TEST_VARIANTS)
    assert not seen & unseen


def assert_same_seed_same_corpus_with_one_job(make_corpus, sizes: list[str], corpus: Path, tmp_path: Path):
    """Rendering the module's corpus again with --nj 1 gives the same transcripts, speakers and WAV bytes."""
    again = tmp_path / "data"
    make_corpus.main(sizes + ["--seed", str(SEED), "--nj", "1", "--data", str(again)])
    for name in SETS:
        for f in ("text", "utt2spk"):
            assert (again / name / f).read_text() == (corpus / name / f).read_text()
        assert wav_bytes(again, name) == wav_bytes(corpus, name)


def assert_data_sh_takes_kaldi_options(recipe: Path, tmp_path: Path, *options: str):
    """local/data.sh, run in a sandbox that links the recipe's local/ and utils/, writes the asked-for
    set sizes into ./data and refuses an unknown option."""
    for name in ("local", "utils"):
        (tmp_path / name).symlink_to(recipe / name)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    run = subprocess.run(["local/data.sh", "--num-train", "2", "--num-dev", "1", "--num-test", "1", "--nj", "1",
                          *options], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for name, count in (("train", 2), ("dev", 1), ("test", 1)):
        assert len(read_kv(tmp_path / "data" / name / "text")) == count
    bad = subprocess.run(["local/data.sh", "--no-such-option", "1"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0


def write_decoded_test_set(root: Path, ref: str, hyp: str) -> Path:
    """root/dump/test/text and root/exp/x/decode_test/text, as asr.sh leaves them; returns root/exp/x."""
    for path, text in ((root / "dump" / "test" / "text", ref), (root / "exp" / "x" / "decode_test" / "text", hyp)):
        path.parent.mkdir(parents=True)
        path.write_text(text)
    return root / "exp" / "x"


def run_local_score(recipe: Path, cwd: Path) -> subprocess.CompletedProcess:
    """local/score.py --exp exp/x, run in `cwd` (which holds dump/ and exp/x/); asserts it succeeds."""
    run = subprocess.run([sys.executable, str(recipe / "local" / "score.py"), "--exp", "exp/x"], cwd=cwd,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run
