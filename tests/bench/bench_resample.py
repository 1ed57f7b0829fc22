"""Resampler benchmark: 48k<->8k frames/s per implementation, on CPython.

    .venv/bin/python tests/bench/bench_resample.py        (make bench)

One frame is 20 ms: 960 samples at 48 kHz <-> 160 at 8 kHz. Prints frames
per second of Decimator and Interpolator for each implementation this
runtime has, and how many times real time that is (50 frames/s is one
call). Only prints; never fails on time.
"""

import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from sipdoor.media import resample  # noqa: E402


def pcm(n, rate):
    out = bytearray(2 * n)
    for i in range(n):
        v = int(8000 * math.sin(2 * math.pi * 1000 * i / rate) + 3000 * math.sin(2 * math.pi * 2710 * i / rate))
        out[2 * i] = v & 0xFF
        out[2 * i + 1] = (v >> 8) & 0xFF
    return bytes(out)


def rate_of(fn, seconds=0.5):
    n = 0
    t0 = time.perf_counter()
    while True:
        for _ in range(10):
            fn()
        n += 10
        t = time.perf_counter() - t0
        if t >= seconds:
            return n / t


def main():
    impls = ["plain"] + (["fast"] if resample.IMPL == "fast" else [])
    s48 = pcm(960, 48000)
    s8 = pcm(160, 8000)
    o8 = bytearray(320)
    o48 = bytearray(1920)
    print("CPython %s; resample.IMPL = %s; %d taps, 960 <-> 160 samples per 20 ms frame"
          % (sys.version.split()[0], resample.IMPL, resample.TAPS))
    print("%-6s %-12s %10s %10s %8s" % ("impl", "direction", "frames/s", "us/frame", "x real"))
    for impl in impls:
        dec = resample.Decimator(impl=impl)
        itp = resample.Interpolator(impl=impl)
        for name, fn in (("48k->8k", lambda: dec.process_into(s48, o8)),
                         ("8k->48k", lambda: itp.process_into(s8, o48))):
            fps = rate_of(fn)
            print("%-6s %-12s %10.0f %10.1f %8.1f" % (impl, name, fps, 1e6 / fps, fps / 50))
    return 0


if __name__ == "__main__":
    sys.exit(main())
