"""The MicroPython lane: every tests/fw module also runs under the real unix port.

The heap limit stands for a board's (DESIGN.md section 6). Firmware and
tests run as .mpy files compiled with mpy-cross, as on a board: compiling
the SIP stack from source needs more heap than running it.
"""

import glob
import os
import subprocess
import sys

import pytest

from conftest import ROOT, venv_tool

HEAP = "256K"
# Modules that hold two complete user agents and their transactions in one
# heap (a station needs one): the glare test needs about 270K on the 64-bit port.
HEAP_FOR = {"test_sip_ua_midcall": "320K"}
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "tests", "fw", "test_*.py")))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpy")
    py = sys.executable
    for src, dst in (("firmware", "fw"), (os.path.join("tests", "fw"), "tests")):
        subprocess.run([py, os.path.join(ROOT, "tools", "mpy.py"), str(out / dst), os.path.join(ROOT, src)],
                       check=True, capture_output=True, text=True)
    return out


@pytest.mark.parametrize("module", MODULES)
def test_module_under_micropython(module, compiled):
    mp = venv_tool("micropython")
    proc = subprocess.run(
        [mp, "-X", "heapsize=" + HEAP_FOR.get(module, HEAP), os.path.join(ROOT, "tests", "fw", "run.py"),
         "--path", str(compiled / "fw"), "--path", str(compiled / "tests"), module],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed, 0 failed" in proc.stdout
