"""Loop tick figures: how late the 20 ms media tick runs on the real clock, and CPU cost.

Runs the firmware's Loop with a real poll for a few seconds under CPython and
under the MicroPython unix port, and prints lateness percentiles and CPU time
per minute. Only prints; never fails on time.

    .venv/bin/python tests/bench/bench_loop.py [seconds]
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# The measuring script runs unchanged in both interpreters.
SCRIPT = r"""
import sys, time
sys.path.insert(0, ROOT + "/firmware")
from sipdoor.clock import Clock, ticks_diff, ticks_add
from sipdoor.loop import Loop
from sipdoor.net import Poller

seconds = SECONDS
clock = Clock()
loop = Loop(clock, Poller())
late = []
start = ticks_add(clock.now(), 20)
state = [0]

def tick():
    due = ticks_add(start, state[0] * 20)
    late.append(ticks_diff(clock.now(), due))
    state[0] += 1
    if state[0] >= seconds * 50:
        loop.stop(0)

cpu0 = time.process_time() if hasattr(time, "process_time") else None
loop.every(20, tick, start)
loop.run()
cpu = (time.process_time() - cpu0) if cpu0 is not None else -1
late.sort()
n = len(late)
print("%d %d %d %d %.3f" % (n, late[n // 2], late[(n * 99) // 100], late[-1], cpu))
"""


def measure(cmd, seconds):
    code = "ROOT = %r\nSECONDS = %d\n" % (ROOT, seconds) + SCRIPT
    proc = subprocess.run(cmd + ["-c", code], capture_output=True, text=True, timeout=seconds * 5 + 30)
    if proc.returncode != 0:
        return None, proc.stderr.strip().splitlines()[-1:]
    n, p50, p99, worst, cpu = proc.stdout.split()
    return (int(n), int(p50), int(p99), int(worst), float(cpu)), None


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    mp = os.path.join(os.path.dirname(sys.executable), "micropython")
    runs = [("CPython %d.%d" % sys.version_info[:2], [sys.executable])]
    if os.path.exists(mp):
        runs.append(("MicroPython unix", [mp, "-X", "heapsize=256K"]))
    print("20 ms media tick on the real clock, %d s per runtime (lateness of each tick vs its absolute deadline)"
          % seconds)
    print("%-18s %7s %8s %8s %8s %14s" % ("runtime", "ticks", "p50 ms", "p99 ms", "max ms", "CPU s/min"))
    for name, cmd in runs:
        fig, err = measure(cmd, seconds)
        if fig is None:
            print("%-18s failed: %s" % (name, err))
            continue
        n, p50, p99, worst, cpu = fig
        cpu_min = "%.3f" % (cpu * 60 / seconds) if cpu >= 0 else "n/a"
        print("%-18s %7d %8d %8d %8d %14s" % (name, n, p50, p99, worst, cpu_min))


main()
