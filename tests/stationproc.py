"""Start firmware/main.py as a real process (CPython or MicroPython) for black-box tests."""

import atexit
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import tempfile
import time

from conftest import ROOT, venv_tool
from peers import free_udp_port

MAIN = os.path.join(ROOT, "firmware", "main.py")


_compiled = []


def compiled_firmware():
    """firmware/ compiled to .mpy once per test run (tools/mpy.py), with the
    source main.py beside it: MicroPython runs the station as a board does."""
    if not _compiled:
        out = tempfile.mkdtemp(prefix="sipdoor-mpy-")
        atexit.register(shutil.rmtree, out, True)
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "mpy.py"), out], check=True,
                       capture_output=True, text=True)
        _compiled.append(out)
    return _compiled[0]


# The whole station (SIP stack, app, HAL) as .mpy needs about 260K of code
# alone on the 64-bit unix port (roughly half that on a 32-bit ESP32).
STATION_HEAP = os.environ.get("SIPDOOR_MP_HEAP", "512K")  # the variable: for measuring by hand


def station_cmd(name, heap=None):
    """The command that runs the station: the venv's python on the sources,
    or micropython on the compiled package with a board-sized heap."""
    if name == "cpython":
        return [venv_tool("python"), MAIN]
    main = os.path.join(compiled_firmware(), "main.py")
    return [venv_tool("micropython"), "-X", "heapsize=" + (heap or STATION_HEAP), main]


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
    """A running station with its stdin/stdout pipes and JSON events.

    Threads drain stdout (into a queue of lines) and stderr, so a silent or
    stuck station fails wait_for() at its timeout instead of blocking the
    test run, and a chatty stderr never fills its pipe.
    """

    def __init__(self, runtime, config_path, *args, env=None):
        """env: the process's whole environment (default: this one's)."""
        self.proc = subprocess.Popen(station_cmd(runtime) + ["--config", config_path] + list(args),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=ROOT, env=env)
        self.events = []
        self._lines = queue.Queue()
        self._err = []
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._readers:
            t.start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)  # end of output

    def _read_stderr(self):
        for line in self.proc.stderr:
            self._err.append(line)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_for(self, predicate, timeout=10.0):
        """Read JSON events until one matches; fail with what was seen."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                self._lines.put(None)
                break
            event = json.loads(line)  # every stdout line must be JSON
            self.events.append(event)
            if predicate(event):
                return event
        raise AssertionError("no matching event; saw %r; stderr %r" % (self.events, self.stderr_now()))

    def stderr_now(self):
        return "".join(self._err)[-4000:]

    def finish(self, timeout=10):
        """Close stdin, wait for exit; return (exit code, remaining events, stderr)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=timeout)
        for t in self._readers:
            t.join(5)
        rest = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is not None and line.strip():
                rest.append(json.loads(line))
        self.events.extend(rest)
        return self.proc.returncode, rest, "".join(self._err)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
