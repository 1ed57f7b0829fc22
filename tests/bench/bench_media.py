"""Media path benchmark: Stream.tick frames/s, sender and receiver, on CPython.

    .venv/bin/python tests/bench/bench_media.py        (make bench)

Two Streams back to back in memory (no sockets): one sends a 1000 Hz tone
every tick, the other receives it through the jitter buffer and plays it.
Prints frames per second of each side and how many times real time that is
(50 frames/s is one call). Also the in-band DTMF detector's cost per frame,
and the echo canceller's (media/aec.py, speexdsp, 128 ms tail) and the
ducker's per 20 ms frame, with speech-like noise through a synthetic echo.
Only prints; never fails on time.
"""

import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from sipdoor.media import aec  # noqa: E402
from sipdoor.media.dtmf import GoertzelDetector  # noqa: E402
from sipdoor.media.duck import Ducker  # noqa: E402
from sipdoor.media.stream import Stream  # noqa: E402


class Rng:
    def __init__(self, seed):
        self.x = seed

    def getrandbits(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return ((self.x << 1) ^ (self.x >> 7)) & ((1 << n) - 1)


def neg(port, **kw):
    d = {"codec": "PCMU", "pt": 0, "clock": 8000, "dtmf_pt": 101, "ptime": 20,
         "remote_addr": "127.0.0.1", "remote_port": port, "rtcp_port": port + 1,
         "direction": "sendrecv", "hold": False, "recv_pt": 0, "recv_dtmf_pt": 101}
    d.update(kw)
    return d


def tone():
    out = bytearray(320)
    for i in range(160):
        v = int(10362 * math.sin(2 * math.pi * 1000 * i / 8000))
        out[2 * i] = v & 0xFF
        out[2 * i + 1] = (v >> 8) & 0xFF
    return bytes(out)


def main(frames=5000):
    pcm = tone()
    for codec, pt in (("PCMU", 0), ("PCMA", 8)):
        a = Stream(neg(5000, codec=codec, pt=pt, recv_pt=pt), Rng(1), 0)
        b = Stream(neg(4000, codec=codec, pt=pt, recv_pt=pt), Rng(2), 0)
        src = ("127.0.0.1", 4000)
        send = recv = 0.0
        for t in range(frames):
            now = 20 * t
            t0 = time.perf_counter()
            a.tick(now, pcm)
            dgs = a.datagrams_to_send()
            t1 = time.perf_counter()
            for data, dest, kind in dgs:
                if kind == "rtp":
                    b.receive_rtp(data, src, now)
            b.tick(now, None)
            b.datagrams_to_send()
            t2 = time.perf_counter()
            send += t1 - t0
            recv += t2 - t1
        print("%s  send (encode + RTP): %8.0f frames/s  (%5.0fx real time)" % (codec, frames / send, frames / send / 50))
        print("%s  receive (RTP + jitter buffer + decode): %8.0f frames/s  (%5.0fx real time)"
              % (codec, frames / recv, frames / recv / 50))
    det = GoertzelDetector()
    t0 = time.perf_counter()
    for _ in range(500):
        det.feed(pcm)
    dt = time.perf_counter() - t0
    print("in-band DTMF detector: %8.0f frames/s  (%5.0fx real time)" % (500 / dt, 500 / dt / 50))
    echo_costs()


def echo_costs(frames=1000):
    import random
    import struct

    rnd = random.Random(1)
    far = [struct.pack("<160h", *[int(rnd.gauss(0, 3000)) for _ in range(160)]) for _ in range(50)]
    near = []
    for i, f in enumerate(far):
        prev = struct.unpack("<160h", far[i - 1])
        cur = struct.unpack("<160h", f)
        near.append(struct.pack("<160h", *[(prev[j + 64] if j < 96 else cur[j - 96]) // 2 for j in range(160)]))
    duck = Ducker(20)
    mic = bytearray(320)
    t0 = time.perf_counter()
    for i in range(frames):
        duck.far(far[i % 50])
        mic[:] = near[i % 50]
        duck.near(mic)
    dt = time.perf_counter() - t0
    print("echo ducking: %6.1f us per 20 ms frame (%.2f%% of real time)" % (dt / frames * 1e6, dt / frames / 0.02 * 100))
    if not aec.AVAILABLE:
        print("echo cancelling: speexdsp not importable here")
        return
    for tail in (64, 128, 256):
        c = aec.make(160, tail, 8000)
        t0 = time.perf_counter()
        for i in range(frames):
            mic[:] = near[i % 50]
            c.near(mic, far[(i - 1) % 50])
        dt = time.perf_counter() - t0
        print("echo cancelling (speexdsp, %3d ms tail): %6.1f us per 20 ms frame (%.2f%% of real time)"
              % (tail, dt / frames * 1e6, dt / frames / 0.02 * 100))


if __name__ == "__main__":
    main()
