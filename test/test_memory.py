"""Training memory: train.log's per-epoch figures (current and peak RSS) and the allocator that keeps them flat
(jemalloc, preloaded by egs/TEMPLATE/path.sh). Whether memory actually stays flat over many epochs takes
minutes to show: test/bench/bench_memory.py measures it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from echo.train.trainer import malloc_in_use, memory_summary, peak_memory_mb

ROOT = Path(__file__).resolve().parents[1]
JEMALLOC_LD = subprocess.run("/sbin/ldconfig -p | awk '/libjemalloc\\.so\\.2 /{print $NF; exit}'", shell=True,
                             capture_output=True, text=True).stdout.strip()


def test_current_rss_grows_with_an_allocation_and_peak_stays_above_it():
    import mmap

    before = peak_memory_mb(torch.device("cpu"))
    # Fresh pages straight from the kernel: a malloc'd block may reuse free memory that an earlier test left
    # resident in the heap (the fragmentation this module is about), and then RSS does not move.
    block = mmap.mmap(-1, 64 * 2**20)
    block.write(b"\1" * len(block))      # touch every page
    during = peak_memory_mb(torch.device("cpu"))
    block.close()
    assert during["rss_mb"] - before["rss_mb"] > 48
    assert during["peak_rss_mb"] >= during["rss_mb"] - 1   # ru_maxrss lags statm by at most a page or so
    line = memory_summary(during)
    assert line.startswith(f"rss {during['rss_mb']:.0f} MiB, peak rss {during['peak_rss_mb']:.0f} MiB")


def _malloc_of_child(env: dict) -> str:
    code = "from echo.train.trainer import malloc_in_use; print(malloc_in_use())"
    base = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    return subprocess.run([sys.executable, "-c", code], env={**base, "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, text=True, check=True).stdout.strip()


def test_malloc_in_use_names_the_allocator():
    assert malloc_in_use() in ("glibc", "jemalloc", "tcmalloc")
    assert _malloc_of_child({}) == "glibc"
    if not JEMALLOC_LD:
        pytest.skip("jemalloc is not installed (tools/install_jemalloc.sh)")
    assert _malloc_of_child({"LD_PRELOAD": JEMALLOC_LD}) == "jemalloc"


@pytest.mark.parametrize("choice", ["jemalloc", "glibc"])
def test_path_sh_preloads_jemalloc_unless_told_not_to(choice):
    if choice == "jemalloc" and not JEMALLOC_LD:
        pytest.skip("jemalloc is not installed (tools/install_jemalloc.sh)")
    base = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ECHO_MALLOC_WARNED")}
    # a process started after path.sh has run (grep here, python in a recipe) maps the library or not
    r = subprocess.run(["bash", "-c", ". egs/TEMPLATE/path.sh && grep -c libjemalloc /proc/self/maps || true"],
                       cwd=ROOT, capture_output=True, text=True, env={**base, "ECHO_MALLOC": choice}, check=True)
    assert (int(r.stdout.split()[-1]) > 0) == (choice == "jemalloc")
    assert "path.sh: WARNING" not in r.stderr   # (install.sh may print pip's own warnings)
