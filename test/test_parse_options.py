"""utils/parse_options.sh (Kaldi semantics), and the shell tools used from a path with spaces."""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARSE_OPTIONS = ROOT / "utils" / "parse_options.sh"

SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
nj=4
stage=0
use_pitch=false
train_config=conf/train.yaml
help_message="Usage: $0 [options] <data-dir>
  --nj N              parallel jobs (default: $nj)
  --use-pitch BOOL    append pitch features"
. "{PARSE_OPTIONS}"
echo "nj=$nj stage=$stage use_pitch=$use_pitch train_config=$train_config"
echo "args=$#:$*"
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "script.sh"
    path.write_text(SCRIPT)
    path.chmod(0o755)

    def call(*args):
        return subprocess.run([str(path), *map(str, args)], capture_output=True, text=True,
                              cwd=tmp_path, timeout=30)
    return call


def test_dash_and_underscore_spellings(script):
    r = script("--nj", "8", "--train-config", "a b.yaml", "--use_pitch", "true", "data/x", "--nj", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["nj=8 stage=0 use_pitch=true train_config=a b.yaml",
                                     "args=3:data/x --nj 2"]   # parsing stops at the first argument
    r = script("--train_config", "c.yaml", "--stage", "3")
    assert r.stdout.splitlines()[0] == "nj=4 stage=3 use_pitch=false train_config=c.yaml"


def test_unknown_option_is_an_error_naming_it(script):
    r = script("--nj", "2", "--no-such-thing", "1", "data/x")
    assert r.returncode == 1 and r.stdout == ""
    assert "invalid option --no-such-thing" in r.stderr
    r = script("--9lives", "1")
    assert r.returncode == 1 and "invalid option --9lives" in r.stderr


def test_config_is_read_first_so_the_command_line_wins(script, tmp_path):
    conf = tmp_path / "my conf.sh"
    conf.write_text("nj=16\nstage=5\n")
    for args in (["--config", conf, "--nj", "2"], ["--nj", "2", "--config", conf]):
        r = script(*args, "data/x")
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["nj=2 stage=5 use_pitch=false train_config=conf/train.yaml",
                                         "args=1:data/x"]
    r = script("--config", tmp_path / "missing.conf")
    assert r.returncode == 1 and "missing.conf" in r.stderr


def test_booleans_take_only_true_or_false(script):
    r = script("--use-pitch", "yes")
    assert r.returncode == 1 and "--use-pitch takes true or false, got 'yes'" in r.stderr
    assert script("--use-pitch", "true").stdout.startswith("nj=4 stage=0 use_pitch=true")


def test_help_prints_help_message(script):
    r = script("--nj", "3", "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: ") and "--use-pitch BOOL    append pitch features" in r.stdout
    assert "(default: 4)" in r.stdout


def test_malformed_options(script):
    r = script("--nj=3")
    assert r.returncode == 1 and "--nj=3" in r.stderr
    r = script("--nj")
    assert r.returncode == 1 and "option --nj needs a value" in r.stderr
    r = script("--nj", "3", "--", "--stage", "x")
    assert r.stdout.splitlines() == ["nj=3 stage=0 use_pitch=false train_config=conf/train.yaml",
                                     "args=2:--stage x"]


def test_no_help_message_and_set_u(tmp_path):
    path = tmp_path / "bare.sh"
    path.write_text(f"set -euo pipefail\nx=1\n. '{PARSE_OPTIONS}'\necho x=$x rest=$#\n"
                    "set | grep -c '^_po_' || true\n")
    r = subprocess.run(["bash", str(path), "--x", "2", "a"], capture_output=True, text=True)
    assert r.stdout.split() == ["x=2", "rest=1", "0"]        # no helper variables left behind
    r = subprocess.run(["bash", str(path), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "No help found" in r.stdout


def test_shellcheck_passes():
    shellcheck = ROOT / "tools" / "venv" / "bin" / "shellcheck"
    if not shellcheck.exists():
        pytest.skip("shellcheck is installed into tools/venv by tools/install.sh")
    r = subprocess.run([str(shellcheck), str(PARSE_OPTIONS)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_recipe_style_script_in_a_path_with_spaces(tmp_path):
    """What test/run.sh and every recipe do: options, utils/ symlinked, run.py, data-dir tools."""
    recipe = tmp_path / "my corpus" / "asr 1"
    recipe.mkdir(parents=True)
    (recipe / "utils").symlink_to(ROOT / "utils")
    data = recipe / "data" / "train set"
    data.mkdir(parents=True)
    (data / "utt2spk").write_text("s1-a s1\ns1-b s1\ns2-a s2\n")
    (data / "text").write_text("s1-a hello\ns1-b hello world\ns2-a bye\n")
    (data / "wav.scp").write_text("".join(f"{u} {recipe}/wav/{u}.wav\n" for u in ("s1-a", "s1-b", "s2-a")))
    (recipe / "run.sh").write_text("""#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
nj=2
greeting=hi
. utils/parse_options.sh
data="$1"
utils/utt2spk_to_spk2utt.py "$data/utt2spk" > "$data/spk2utt"
utils/validate_data_dir.py --no-feats "$data"
utils/split_data.py "$data" "$nj"
utils/run.py JOB=1:"$nj" "exp/log dir/count.JOB.log" \\
  wc -l "$data/split$nj/JOB/text" \\| awk '{print "'"$greeting"'", $1}' \\> "exp/n.JOB.txt"
cat exp/n.*.txt
""")
    (recipe / "run.sh").chmod(0o755)
    r = subprocess.run([str(recipe / "run.sh"), "--greeting", "hello there", "data/train set"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "valid data dir: 3 utterances, 2 speakers" in r.stdout
    assert r.stdout.splitlines()[-2:] == ["hello there 2", "hello there 1"]
    assert (recipe / "exp" / "log dir" / "count.2.log").read_text().count("# Ended (code 0)") == 1
