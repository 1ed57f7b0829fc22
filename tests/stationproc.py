"""Start firmware/main.py as a real process (CPython or MicroPython) for black-box tests."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

from conftest import ROOT, venv_tool

MAIN = os.path.join(ROOT, "firmware", "main.py")


_compiled = []


def compiled_firmware():
    """firmware/ compiled to .mpy once per test run (tools/mpy.py), with the
    source main.py beside it: MicroPython runs the station as a board does."""
    if not _compiled:
        out = tempfile.mkdtemp(prefix="sipdoor-mpy-")
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "mpy.py"), out], check=True,
                       capture_output=True, text=True)
        _compiled.append(out)
    return _compiled[0]


# The whole station (SIP stack, app, HAL) as .mpy needs about 260K of code
# alone on the 64-bit unix port (roughly half that on a 32-bit ESP32).
STATION_HEAP = "512K"


def station_cmd(name, heap=STATION_HEAP):
    """The command that runs the station: the venv's python on the sources,
    or micropython on the compiled package with a board-sized heap."""
    if name == "cpython":
        return [venv_tool("python"), MAIN]
    return [venv_tool("micropython"), "-X", "heapsize=" + heap, os.path.join(compiled_firmware(), "main.py")]


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_config(tmp_path, **overrides):
    config = json.load(open(os.path.join(ROOT, "firmware", "config.example.json")))
    config["sip"]["listen"] = "127.0.0.1:%d" % free_udp_port()
    for key, value in overrides.items():
        config[key] = value
    path = os.path.join(str(tmp_path), "config.json")
    with open(path, "w") as f:
        json.dump(config, f)
    return path


class Station:
    """A running station with its stdin/stdout pipes and JSON events."""

    def __init__(self, runtime, config_path, *args):
        self.proc = subprocess.Popen(station_cmd(runtime) + ["--config", config_path] + list(args),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        self.events = []

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_for(self, predicate, timeout=10.0):
        """Read JSON events until one matches; fail with what was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            event = json.loads(line)  # every stdout line must be JSON
            self.events.append(event)
            if predicate(event):
                return event
        raise AssertionError("no matching event; saw %r; stderr %r" % (self.events, self.stderr_now()))

    def stderr_now(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read()

    def finish(self, timeout=10):
        """Close stdin, wait for exit; return (exit code, remaining events, stderr)."""
        out, err = self.proc.communicate(timeout=timeout)
        rest = [json.loads(line) for line in out.splitlines() if line.strip()]
        self.events.extend(rest)
        return self.proc.returncode, rest, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
