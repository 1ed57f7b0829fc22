"""pytest set-up: firmware/ and tests/fw/ on sys.path, shared fixtures."""

import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
sys.path.insert(0, FIRMWARE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fw"))


def venv_tool(name):
    """Path of a command from the project venv (or PATH). Missing means failure, not skip."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(candidate):
        return candidate
    found = shutil.which(name)
    if not found:
        raise AssertionError("%s is not installed: run `make test`, which installs it" % name)
    return found


@pytest.fixture
def stack():
    """What a test started (peers, stations, brokers, receivers), stopped
    last first whatever the outcome: a Station is killed, anything else
    stopped or closed. stack(thing) returns thing."""
    started = []

    def add(thing):
        started.append(thing)
        return thing

    yield add
    for thing in reversed(started):
        end = getattr(thing, "kill", None) or getattr(thing, "stop", None) or thing.close
        try:
            end()
        except Exception:  # one stuck peer must not leave the others running
            pass
