"""The project's fixed shape: top level, CI entry point, documented keys."""

import json
import os
import re

from conftest import ROOT

TOP = {"README.md", "firmware", "boards", "tools", "tests", "Makefile", "flash.sh", "LICENSE", ".ci",
       ".gitignore", ".git"}
GENERATED = {".venv", "build", "config.json", ".pytest_cache", ".hypothesis"}


def test_top_level_is_fixed():
    extra = set(os.listdir(ROOT)) - TOP - GENERATED
    assert not extra, "unexpected top-level entries: %s" % sorted(extra)
    for name in ("README.md", "firmware", "boards", "tools", "tests", "Makefile", "flash.sh", "LICENSE"):
        assert os.path.exists(os.path.join(ROOT, name)), name


def test_ci_runs_exactly_make_test():
    text = open(os.path.join(ROOT, ".ci", "run")).read()
    commands = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    assert commands[-1] == "make test"


def test_readme_starts_with_the_two_commands():
    head = open(os.path.join(ROOT, "README.md")).read()[:1500]
    assert "make run" in head and "make test" in head


def _keys(spec, prefix=""):
    for name, field in spec.items():
        key = prefix + name
        yield key
        if field.fields:
            for k in _keys(field.fields, key + "."):
                yield k
        if field.entries is not None and field.entries.fields:
            for k in _keys(field.entries.fields, key + ".<name>."):
                yield k


def test_every_board_key_is_documented():
    from sipdoor import board

    doc = open(os.path.join(ROOT, "boards", "README.md")).read()
    missing = [k for k in _keys(board.SPEC) if "`%s`" % k not in doc]
    assert not missing, "boards/README.md does not document: %s" % missing


def test_every_config_key_is_documented():
    from sipdoor import config

    doc = open(os.path.join(ROOT, "README.md")).read()
    missing = [k for k in _keys(config.SPEC) if "`%s`" % k not in doc]
    assert not missing, "README.md does not document: %s" % missing


def test_flash_sh_prints_usage():
    import subprocess

    proc = subprocess.run([os.path.join(ROOT, "flash.sh"), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "flash.sh esp32" in proc.stdout
