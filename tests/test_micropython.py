"""The MicroPython lane: every tests/fw module also runs under the real unix port.

The heap limit stands for a board's (DESIGN.md section 6).
"""

import glob
import os
import subprocess

import pytest

from conftest import ROOT, venv_tool

HEAP = "256K"
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "tests", "fw", "test_*.py")))


@pytest.mark.parametrize("module", MODULES)
def test_module_under_micropython(module):
    mp = venv_tool("micropython")
    proc = subprocess.run(
        [mp, "-X", "heapsize=" + HEAP, os.path.join(ROOT, "tests", "fw", "run.py"), module],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed, 0 failed" in proc.stdout
