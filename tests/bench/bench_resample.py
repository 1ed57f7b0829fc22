"""Resampler benchmark: 48k<->8k cost per 20 ms frame, per implementation, on CPython.

    .venv/bin/python tests/bench/bench_resample.py        (make bench)

One frame is 20 ms: 960 samples at 48 kHz <-> 160 at 8 kHz; a 48 kHz-only
sound card needs one frame each way every 20 ms. For each implementation
this runtime has (resample.available(): plain, fast, and numpy when it
imports) prints the time per frame of Decimator (48k->8k) and Interpolator
(8k->48k), the share of the 20 ms frame that is, and both directions
together. Each figure is the best of several runs (the least disturbed by
other work on the machine). Only prints; never fails on time.
"""

import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from sipdoor.media import resample  # noqa: E402

FRAME_MS = 20.0


def pcm(n, rate):
    out = bytearray(2 * n)
    for i in range(n):
        v = int(8000 * math.sin(2 * math.pi * 1000 * i / rate) + 3000 * math.sin(2 * math.pi * 2710 * i / rate))
        out[2 * i] = v & 0xFF
        out[2 * i + 1] = (v >> 8) & 0xFF
    return bytes(out)


def ms_per_call(fn, seconds=0.15, repeats=5):
    best = None
    for _ in range(repeats):
        n = 0
        t0 = time.perf_counter()
        while True:
            for _ in range(10):
                fn()
            n += 10
            t = time.perf_counter() - t0
            if t >= seconds:
                break
        ms = 1000.0 * t / n
        best = ms if best is None or ms < best else best
    return best


def main():
    s48 = pcm(960, 48000)
    s8 = pcm(160, 8000)
    o8 = bytearray(320)
    o48 = bytearray(1920)
    np_version = resample._np.__version__ if resample._np is not None else "not importable"
    print("CPython %s, numpy %s; resample.IMPL = %s; %d taps, 960 <-> 160 samples per 20 ms frame"
          % (sys.version.split()[0], np_version, resample.IMPL, resample.TAPS))
    print("%-6s %-9s %10s %9s %9s" % ("impl", "direction", "ms/frame", "% of 20ms", "frames/s"))
    for impl in resample.available():
        dec = resample.Decimator(impl=impl)
        itp = resample.Interpolator(impl=impl)
        total = 0.0
        for name, fn in (("48k->8k", lambda: dec.process_into(s48, o8)),
                         ("8k->48k", lambda: itp.process_into(s8, o48))):
            ms = ms_per_call(fn)
            total += ms
            print("%-6s %-9s %10.4f %8.2f%% %9.0f" % (impl, name, ms, 100 * ms / FRAME_MS, 1000 / ms))
        print("%-6s %-9s %10.4f %8.2f%%" % (impl, "both", total, 100 * total / FRAME_MS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
