"""G.711 figures under MicroPython: frames/s of the *_into entry points per variant.

    micropython -X heapsize=256K tests/bench/bench_g711_mp.py

Started by tests/bench/bench_g711.py. Prints figures only, never fails on time.
Uses the *_into functions (what the 20 ms audio path calls) and reports the
bytes each frame allocates, which should be 0.
"""

import gc
import sys
import time

HERE = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
sys.path.insert(0, HERE + "/../../firmware")

gc.collect()
_heap_before = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
from sipdoor.media import g711  # noqa: E402

gc.collect()
_heap_module = (gc.mem_alloc() - _heap_before) if hasattr(gc, "mem_alloc") else 0

FRAME = 160
TARGET_US = 20000  # length of one timed run
ROUNDS = 8  # passes over all figures; each figure keeps its best run
RUNS_PER_ROUND = 2


def speech_like_frame():
    """A deterministic 160-sample frame at speech level, int16 little-endian."""
    pcm = bytearray(2 * FRAME)
    x = 12345
    for i in range(FRAME):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        # Triangle wave (period 40) plus noise, peaks near +-9000.
        tri = (i % 40) * 400 - 8000 if (i % 40) < 20 else (40 - i % 40) * 400 - 8000
        v = (tri + ((x >> 16) & 0x7FF) - 1024) & 0xFFFF
        pcm[2 * i] = v & 0xFF
        pcm[2 * i + 1] = v >> 8
    return bytes(pcm)


def run(fn, src, dst, n):
    t0 = time.ticks_us()
    for _ in range(n):
        fn(src, dst)
    return time.ticks_diff(time.ticks_us(), t0)


class Figure:
    """One row: calibrated once, then sampled in every round (bursts of load
    on a shared machine then spoil one sample, not one row)."""

    def __init__(self, law, direction, name, fn, src, dst):
        self.label = (law, direction, name)
        self.fn = fn
        self.src = src
        self.dst = dst
        n = 10
        while True:
            dt = run(fn, src, dst, n)
            if dt >= TARGET_US // 4 or n >= 1 << 20:
                break
            n *= 4
        self.n = max(1, n * TARGET_US // max(dt, 1))
        self.best_us = None

    def sample(self):
        for _ in range(RUNS_PER_ROUND):
            dt = run(self.fn, self.src, self.dst, self.n)
            if self.best_us is None or dt < self.best_us:
                self.best_us = dt

    def fps(self):
        return self.n * 1000000 // max(self.best_us, 1)

    def alloc_per_frame(self):
        """Bytes allocated per call (gc off meanwhile); -1 when unknown."""
        if not hasattr(gc, "mem_alloc"):
            return -1
        gc.collect()
        gc.disable()
        a0 = gc.mem_alloc()
        run(self.fn, self.src, self.dst, 100)
        used = gc.mem_alloc() - a0
        gc.enable()
        return used // 100


def main():
    pcm = speech_like_frame()
    codes = g711.ulaw_encode(pcm)
    enc_dst = bytearray(FRAME)
    dec_dst = bytearray(2 * FRAME)
    order = [name for name in ("plain", "native", "viper") if name in g711.VARIANTS]
    figures = []
    for law in ("ulaw", "alaw"):
        for direction, src, dst in (("encode", pcm, enc_dst), ("decode", codes, dec_dst)):
            for name in order:
                fn = getattr(g711.VARIANTS[name], law + "_" + direction + "_into")
                figures.append(Figure(law, direction, name, fn, src, dst))
    for _ in range(ROUNDS):
        for fig in figures:
            fig.sample()
    print("MicroPython %s, %s; g711.IMPL = %s; 160-sample frame, *_into entry points; best of %d runs"
          % (".".join([str(v) for v in sys.implementation.version[:3]]), sys.platform, g711.IMPL,
             ROUNDS * RUNS_PER_ROUND))
    print("%-5s %-7s %-7s %12s %10s %9s %13s" % ("law", "dir", "variant", "frames/s", "us/frame", "x plain", "alloc B/frame"))
    base = None
    for fig in figures:
        law, direction, name = fig.label
        fps = fig.fps()
        if name == order[0]:
            base = fps
        alloc = fig.alloc_per_frame()
        print("%-5s %-7s %-7s %12d %10.2f %9.1f %13s" % (
            law, direction, name, fps, 1000000.0 / max(fps, 1), fps / max(base, 1),
            alloc if alloc >= 0 else "n/a"))
    if hasattr(gc, "mem_alloc"):
        gc.collect()
        print("heap: g711 + tables %d B after import (from .py; frozen tables cost none); "
              "%d B in use, %d B free now" % (_heap_module, gc.mem_alloc(), gc.mem_free()))


main()
