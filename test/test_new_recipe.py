"""egs/TEMPLATE/new_recipe.sh makes a recipe that links the shared pieces and fails clearly until its
local/data.sh is written."""
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_new_recipe_is_linked_and_its_skeleton_fails_clearly(tmp_path):
    egs = tmp_path / "egs"
    shutil.copytree(ROOT / "egs" / "TEMPLATE", egs / "TEMPLATE")
    shutil.copytree(ROOT / "egs" / "aishell", egs / "aishell", symlinks=True)
    for name in ("utils", "tools", "echo", "setup.py"):
        (tmp_path / name).symlink_to(ROOT / name)
    script = egs / "TEMPLATE" / "new_recipe.sh"
    r = subprocess.run([str(script), "mycorpus", "--like", "aishell"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    d = egs / "mycorpus"
    for link in ("asr.sh", "path.sh", "cmd.sh", "ablation.sh", "utils"):
        assert (d / link).is_symlink() and (d / link).exists(), link
    assert (d / "asr.sh").resolve() == (egs / "TEMPLATE" / "asr.sh").resolve()
    assert (d / "conf" / "train.yaml").read_text() == (ROOT / "egs/aishell/conf/train.yaml").read_text()
    assert "MYCORPUS=${MYCORPUS:-}" in (d / "db.sh").read_text()
    assert os.access(d / "run.sh", os.X_OK) and os.access(d / "local" / "data.sh", os.X_OK)
    r = subprocess.run(["./run.sh", "--stop-stage", "0"], cwd=d, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "still the skeleton made by new_recipe.sh" in r.stderr
    # Refusals: an existing recipe, an unknown --like, a bad name.
    for args, msg in ((["mycorpus"], "already exists"), (["other", "--like", "nope"], "no recipe 'nope'"),
                      (["bad-name"], "letters, digits and _")):
        r = subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)
    assert sorted(p.name for p in egs.iterdir()) == ["TEMPLATE", "aishell", "mycorpus"]   # no temporaries left
