"""G.711 benchmark: frames/s per variant and the ratio to C audioop, in one run.

    .venv/bin/python tests/bench/bench_g711.py        (make bench)

CPython part: every variant g711 offers here (plain, table, numpy when
importable) and the default variant's *_into, against audioop measured in the
same run, on 1 s of distinct speech-level 160-sample frames (20 ms at 8 kHz
each), best of many short timeit runs. Then the same module under the
MicroPython unix port (tests/bench/bench_g711_mp.py: plain, native, viper,
with allocation and heap figures). Prints figures only: timing never fails
it, and a missing audioop or micropython is reported, not raised.
"""

import math
import os
import random
import shutil
import subprocess
import sys
import timeit
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from sipdoor.media import g711  # noqa: E402

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
except ImportError:  # Python 3.13+ without the audioop-lts package
    audioop = None

FRAME = 160
FRAMES = 50  # 1 s of distinct 20 ms frames, cycled
ROUNDS = 5  # passes over all figures
RUNS_PER_ROUND = 3  # timeit runs per figure per pass; the best of all counts
RUN_SECONDS = 0.02  # length of one run
MP_HEAP = "256K"  # a board-sized heap, as in the MicroPython test lane


def speech_like_frames():
    """FRAMES frames of 160 int16 LE samples: tones under a syllable-rate envelope, plus noise.

    Distinct frames, not one frame repeated: audioop's encoder searches the
    segment table with data-dependent branches, and a CPU that sees the same
    160 samples thousands of times learns them, which real audio never allows.
    Peaks sit near -10 dBFS, a talker close to the door station's microphone.
    """
    rnd = random.Random(711)
    frames = []
    for f in range(FRAMES):
        out = bytearray()
        for i in range(FRAME):
            t = (f * FRAME + i) / 8000.0
            env = 0.25 + 0.75 * abs(math.sin(2 * math.pi * 4 * t))
            v = 5000 * math.sin(2 * math.pi * 210 * t) + 3000 * math.sin(2 * math.pi * 1130 * t)
            v += 1200 * math.sin(2 * math.pi * 2710 * t + 1.0)
            v = int(env * v + rnd.gauss(0, 150))
            out += max(-32768, min(32767, v)).to_bytes(2, "little", signed=True)
        frames.append(bytes(out))
    return frames


class Timing:
    """One figure: a timeit statement, calibrated once, sampled in several rounds.

    Sampling every figure a little in each round, rather than one figure at a
    time, keeps a burst of load on a shared machine from spoiling one row.
    """

    def __init__(self, stmt, **names):
        self.timer = timeit.Timer(stmt, globals=names)
        number = 1
        while self.timer.timeit(number) < RUN_SECONDS / 4:
            number *= 4
        self.number = max(1, int(number * RUN_SECONDS / max(self.timer.timeit(number), 1e-9)))
        self.best = float("inf")

    def sample(self, runs):
        self.best = min(self.best, min(self.timer.repeat(runs, self.number)) / self.number)


def cpython_table():
    pcm = speech_like_frames()
    codes = {"ulaw": [g711.ulaw_encode(p) for p in pcm], "alaw": [g711.alaw_encode(p) for p in pcm]}
    # audioop works in native byte order: its ratio is only fair (and right) on little-endian.
    have_ref = audioop is not None and sys.byteorder == "little"
    print("CPython %s (%s); g711.IMPL = %s; %d distinct 160-sample frames cycled; best of %d runs"
          % (sys.version.split()[0], sys.platform, g711.IMPL, FRAMES, ROUNDS * RUNS_PER_ROUND))
    if not have_ref:
        print("(audioop not available, or big-endian host: no ratios)")
    rows = []  # (law, direction, name, Timing)
    loops = {}  # the bare loop over each frame list, subtracted from its rows
    for law in ("ulaw", "alaw"):
        for direction in ("encode", "decode"):
            frames = pcm if direction == "encode" else codes[law]
            loops[(law, direction)] = Timing("for x in frames: pass", frames=frames)
            if have_ref:
                ref = getattr(audioop, "lin2" + law if direction == "encode" else law + "2lin")
                rows.append((law, direction, "audioop", Timing("for x in frames: fn(x, 2)", frames=frames, fn=ref)))
            for name in ("plain", "table", "numpy"):
                if name in g711.VARIANTS:
                    fn = getattr(g711.VARIANTS[name], law + "_" + direction)
                    rows.append((law, direction, name, Timing("for x in frames: fn(x)", frames=frames, fn=fn)))
            # What the 20 ms audio path calls: the default variant into a reused buffer.
            into = getattr(g711, law + "_" + direction + "_into")
            dst = bytearray(FRAME if direction == "encode" else 2 * FRAME)
            rows.append((law, direction, g711.IMPL + "/into",
                         Timing("for x in frames: fn(x, dst)", frames=frames, fn=into, dst=dst)))
    timings = list(loops.values()) + [row[3] for row in rows]
    for _ in range(ROUNDS):
        for timing in timings:
            timing.sample(RUNS_PER_ROUND)
    print("%-5s %-7s %-10s %12s %10s %11s" % ("law", "dir", "variant", "frames/s", "us/frame", "x audioop"))
    base = None
    for law, direction, name, timing in rows:
        secs = max(timing.best - loops[(law, direction)].best, 1e-12) / FRAMES
        if name == "audioop":
            base = secs
        _row(law, direction, name, secs, base)


def _row(law, direction, name, secs, base):
    ratio = "%.1f" % (secs / base) if base else "-"
    print("%-5s %-7s %-10s %12.0f %10.2f %11s" % (law, direction, name, 1 / secs, secs * 1e6, ratio))


def find_micropython():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(here):
        return here
    return shutil.which("micropython")


def micropython_table():
    mp = find_micropython()
    if not mp:
        print("MicroPython: no `micropython` next to %s or on PATH; skipped" % sys.executable)
        return
    script = os.path.join(ROOT, "tests", "bench", "bench_g711_mp.py")
    try:
        proc = subprocess.run([mp, "-X", "heapsize=" + MP_HEAP, script], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        print("MicroPython: could not run %s: %s" % (mp, e))
        return
    sys.stdout.write(proc.stdout)
    if proc.returncode:
        print("MicroPython bench exited with %d:\n%s" % (proc.returncode, proc.stderr))


def main():
    cpython_table()
    print()
    sys.stdout.flush()
    micropython_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
