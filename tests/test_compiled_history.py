"""The compiled kernels give the same bits whatever the process's history: compiled in this
process, or loaded from numba's on-disk cache (``cache=True``).

A numba function that calls another one exists in two compiled copies: the callee compiled on
its own, and the callee's code linked (and inlined) into the caller's cached object code. A
process that compiles the caller runs the first, one that loads the caller from the cache runs
the second. A sum the compiler may reorder (``fastmath`` ``reassoc``) is vectorised differently
in the two copies, so the KDE bounds of the Dask workers, which loaded the kernels from the
cache the reference run had written, differed from the reference in the last digit. Each case
runs twice in fresh interpreters on one empty cache directory: first compiled, then cached.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Prints the bits of one result as hex; argv[1] picks the kernel.
SCRIPT = """
import hashlib, sys
import numpy as np
rng = np.random.default_rng(0)
if sys.argv[1] == "kde":
    from infoplane.estimators.kde import mixture_log_sums
    h = np.tanh(2 * rng.standard_normal((1000, 6)))
    out = mixture_log_sums(h, rng.integers(0, 2, 1000), 0.1)
else:
    from infoplane.estimators.sp import noise_draws, sp_terms
    s = np.tanh(2 * rng.standard_normal((600, 3)))
    out = sp_terms(s, rng.integers(0, 2, 600), 0.3, noise_draws(600, 3, 4, 1))
print(hashlib.sha256(np.ascontiguousarray(out).tobytes()).hexdigest())
"""


def _run(kernel: str, cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, kernel], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize("kernel", ["kde", "sp"])
def test_fresh_compile_and_cached_kernels_give_the_same_bits(kernel, tmp_path):
    compiled = _run(kernel, tmp_path)
    assert any(tmp_path.rglob("*.nbc")), "the first run should have written the cache"
    assert _run(kernel, tmp_path) == compiled
