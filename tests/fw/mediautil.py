"""Helpers for the media tests (both runtimes): a seeded rng, PCM makers, meters.

No `random` or `array` needed, so the same helpers run on a board-sized heap.
"""

import math


class Rng:
    """A small LCG with the getrandbits() the firmware asks of its rng."""

    def __init__(self, seed=1):
        self.x = seed & 0x7FFFFFFF

    def _next(self):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return self.x >> 15  # 16 good bits

    def getrandbits(self, n):
        assert 0 < n <= 32
        v = (self._next() << 16) | self._next()
        return v & ((1 << n) - 1)

    def randint(self, a, b):
        return a + self.getrandbits(16) % (b - a + 1)


def amp(dbfs):
    return 32767 * 10 ** (dbfs / 20)


def put_sample(buf, i, v):
    v = int(v)
    if v > 32767:
        v = 32767
    elif v < -32768:
        v = -32768
    buf[2 * i] = v & 0xFF
    buf[2 * i + 1] = (v >> 8) & 0xFF


def sample(buf, i):
    v = buf[2 * i] | (buf[2 * i + 1] << 8)
    return v - 0x10000 if v & 0x8000 else v


def samples(buf):
    return [sample(buf, i) for i in range(len(buf) // 2)]


def sines(n, freqs, dbfs, start=0, noise_dbfs=None, rng=None):
    """n samples (bytes, 16-bit LE) of the sum of sines, each at dbfs, plus
    uniform noise at noise_dbfs (RMS) when given."""
    out = bytearray(2 * n)
    a = amp(dbfs)
    na = amp(noise_dbfs) * 1.732 if noise_dbfs is not None else 0
    w = [2 * math.pi * f / 8000 for f in freqs]
    for i in range(n):
        v = 0.0
        for wk in w:
            v += a * math.sin(wk * (start + i))
        if na:
            v += na * (rng.getrandbits(16) / 32768.0 - 1.0)
        put_sample(out, i, v)
    return out


def frames(pcm, frame=160):
    """Split PCM bytes into frames of `frame` samples."""
    nb = 2 * frame
    return [pcm[i:i + nb] for i in range(0, len(pcm) - nb + 1, nb)]


def tone_power(pcm, freq):
    """Normalised power of freq in pcm (float Goertzel): about A**2 / 2 for a sine."""
    n = len(pcm) // 2
    c = 2 * math.cos(2 * math.pi * freq / 8000)
    s1 = s2 = 0.0
    for i in range(n):
        s0 = sample(pcm, i) + c * s1 - s2
        s2 = s1
        s1 = s0
    return 2 * (s1 * s1 + s2 * s2 - c * s1 * s2) / (n * n)


def rms(pcm):
    n = len(pcm) // 2
    if not n:
        return 0
    t = 0
    for i in range(n):
        v = sample(pcm, i)
        t += v * v
    return math.sqrt(t / n)


def no_banned_imports(rel, banned=("time", "random", "socket", "machine")):
    import support

    with open(support.repo_path(rel)) as f:
        for line in f:
            words = line.strip().replace(",", " ").split()
            if len(words) > 1 and words[0] in ("import", "from"):
                assert words[1].split(".")[0] not in banned, "%s: %s" % (rel, line)


def heap_locked(fn):
    """Run fn() under micropython.heap_lock (plain call on CPython); True if it
    did not allocate. (fn() would itself allocate on MicroPython.)"""
    try:
        import micropython
    except ImportError:
        fn()
        return True
    if not hasattr(micropython, "heap_lock"):
        fn()
        return True
    micropython.heap_lock()
    try:
        fn()
    except MemoryError:
        micropython.heap_unlock()
        return False
    micropython.heap_unlock()
    return True
