"""The whole station's cost: CPU idle and in a call, and MicroPython's heap.

Starts the station (sim board, peer-to-peer, on 127.0.0.1) under CPython and
under the MicroPython unix port (compiled .mpy, as on a board), lets it idle,
then has it call tools/sipcall (answering on 127.0.0.1) for a call with a
tone both ways. Prints CPU seconds per minute idle and in the call (from
/proc, the station process only) and, for MicroPython, the heap lines the
station logs. Only prints; never fails on time.

    .venv/bin/python tests/bench/bench_station.py [call seconds]
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from peers import free_udp_port as free_port  # noqa: E402  (tests/peers.py: the tests' own helper)
BIN = os.path.dirname(sys.executable)
HEAP = "448K"  # the smallest heap calls were measured to run in (tests/test_sip_interop.py)
IDLE_S = 5


def cpu_seconds(pid):
    """User + system CPU of a process so far, from /proc (Linux)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


def tone_wav(path, seconds):
    import math
    import struct
    import wave

    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 1000 * i / 8000)))
                               for i in range(8000 * seconds)))


def wait_json(proc, event, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if json.loads(line).get("event") == event:
            return True
    return False


def run(runtime, cmd, tmp, call_s):
    phone_port = free_port()
    config = json.load(open(os.path.join(ROOT, "firmware", "config.example.json")))
    config["sip"]["listen"] = "127.0.0.1:%d" % free_port()
    config["buttons"]["call"]["targets"] = ["sip:101@127.0.0.1:%d" % phone_port]
    path = os.path.join(tmp, "config-%s.json" % runtime)
    with open(path, "w") as f:
        json.dump(config, f)
    tone = os.path.join(tmp, "tone.wav")
    if not os.path.exists(tone):
        tone_wav(tone, 2)
    err = open(os.path.join(tmp, "stderr-%s.txt" % runtime), "w+")
    station = subprocess.Popen(cmd + ["--config", path, "--audio-in", tone], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
    phone = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "sipcall.py"), "answer", "--listen",
                              "127.0.0.1:%d" % phone_port, "--answer-after", "0", "--audio-in", tone,
                              "--hangup-after", str(call_s), "--wait", "60"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        if not wait_json(station, "ready", 30):
            return "%-16s did not start: %s" % (runtime, open(err.name).read()[-300:])
        time.sleep(1)
        c0 = cpu_seconds(station.pid)
        time.sleep(IDLE_S)
        idle = (cpu_seconds(station.pid) - c0) * 60.0 / IDLE_S
        station.stdin.write("tap call\n")
        station.stdin.flush()
        if not wait_json(station, "call_answered", 20):
            return "%-16s the call was not answered" % runtime
        c0, t0 = cpu_seconds(station.pid), time.time()
        ended = wait_json(station, "call_ended", call_s + 20)
        in_call = (cpu_seconds(station.pid) - c0) * 60.0 / (time.time() - t0)
        station.stdin.write("quit\n")
        station.stdin.flush()
        station.wait(20)
        log = open(err.name).read()
        heap = "; ".join(re.findall(r"heap (?:after start-up|peak)[^\n]*", log)) or "-"
        return "%-16s %9.2f %12.2f   %s%s" % (runtime, idle, in_call, heap, "" if ended else " (no call_ended)")
    finally:
        for p in (phone, station):
            if p.poll() is None:
                p.kill()
                p.wait()
        err.close()


def main(argv):
    call_s = int(argv[0]) if argv else 10
    tmp = tempfile.mkdtemp(prefix="sipdoor-bench-")
    try:
        compiled = os.path.join(tmp, "mpy")
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "mpy.py"), compiled], check=True,
                       capture_output=True)
        shutil.copy(os.path.join(ROOT, "firmware", "main.py"), compiled)
        print("The station on the sim board calling tools/sipcall on 127.0.0.1 for %d s (tones both ways)" % call_s)
        print("%-16s %9s %12s   %s" % ("runtime", "idle CPU", "in-call CPU", "MicroPython heap (-X heapsize=%s)" % HEAP))
        print("%-16s %9s %12s" % ("", "s/min", "s/min"))
        print(run("CPython", [sys.executable, os.path.join(ROOT, "firmware", "main.py")], tmp, call_s))
        print(run("MicroPython", [os.path.join(BIN, "micropython"), "-X", "heapsize=" + HEAP,
                                  os.path.join(compiled, "main.py")], tmp, call_s))
    finally:
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main(sys.argv[1:])
