"""Call-progress and feedback tones as 20 ms PCM frames, allocation-free.

A tone is a cadence: segments of (frequencies, ms), () meaning silence,
played once or repeated. Each distinct set of frequencies is generated once
(math.sin, at first use) into bytes of 16-bit LE PCM at 8 kHz holding a
whole number of both its waveform period and frames, so looping it is
seamless; ToneSource then hands out memoryview slices of that buffer (made
once, at construction), one per tick, with no work per frame.

Buffers are cached per (frequencies, level, frame) in this module: they are
constant data, like the G.711 tables. The presets' frequencies were chosen
so each loop is at most 800 samples (1.6 KB); arbitrary frequencies may
need up to 8000 (16 KB).
"""

import math

RATE = 8000

# name -> (segments, repeat). Levels are set by ToneSource (level_dbfs).
PRESETS = {
    # ETSI / CEPT (425 Hz, e.g. most of Europe)
    "ringback": ((((425,), 1000), ((), 4000)), True),
    "busy": ((((425,), 500), ((), 500)), True),
    # North America (ANSI T1.401 precise tones)
    "ringback_us": ((((440, 480), 2000), ((), 4000)), True),
    "busy_us": ((((480, 620), 500), ((), 500)), True),
    # Local feedback: door opened / code accepted, wrong code, attention.
    "confirm": ((((880,), 100), ((), 60), ((1320,), 160)), False),
    "error": ((((620,), 200), ((), 60), ((440,), 400)), False),
    "warning": ((((1400,), 200), ((), 200), ((1400,), 200), ((), 200), ((1400,), 200)), False),
    # The bell pressed during a call (door monitor): a two-note chime.
    "bell": ((((660,), 300), ((), 40), ((520,), 400)), False),
}

_cache = {}


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def loop_samples(freqs, frame):
    """Samples in a buffer that repeats both the waveform and frames exactly."""
    g = RATE
    for f in freqs:
        g = _gcd(g, int(f))
    period = RATE // g
    return period * frame // _gcd(period, frame)


def tone_buffer(freqs, level_dbfs=-13, frame=160):
    """bytes of PCM: the sum of sines at freqs, peak at level_dbfs, looping."""
    key = (tuple(freqs), level_dbfs, frame)
    buf = _cache.get(key)
    if buf is not None:
        return buf
    n = loop_samples(freqs, frame) if freqs else frame
    out = bytearray(2 * n)
    if freqs:
        amp = 32767 * 10 ** (level_dbfs / 20) / len(freqs)
        w = [2 * math.pi * f / RATE for f in freqs]
        for i in range(n):
            s = 0.0
            for wk in w:
                s += math.sin(wk * i)
            v = int(round(amp * s))
            out[2 * i] = v & 0xFF
            out[2 * i + 1] = (v >> 8) & 0xFF
    buf = bytes(out)
    _cache[key] = buf
    return buf


def _views(buf, nbytes):
    """One memoryview per frame of buf, made once so next() allocates nothing."""
    m = memoryview(buf)
    return [m[i:i + nbytes] for i in range(0, len(buf), nbytes)]


class ToneSource:
    """Frames of one tone with its cadence.

    tone: a preset name or a sequence of (freqs, ms) segments. next() gives
    a memoryview of one frame (2 * frame bytes), or None once a tone that
    does not repeat has ended.
    """

    def __init__(self, tone, level_dbfs=-13, frame=160, repeat=None):
        if isinstance(tone, str):
            if tone not in PRESETS:
                raise ValueError("unknown tone %r" % tone)
            segments, rep = PRESETS[tone]
            self.name = tone
        else:
            segments, rep = tone, False
            self.name = "custom"
        self.repeat = rep if repeat is None else repeat
        frame_ms = frame * 1000 // RATE
        self._segs = []
        for freqs, ms in segments:
            frames = (ms + frame_ms // 2) // frame_ms
            if frames < 1:
                frames = 1
            self._segs.append((_views(tone_buffer(freqs, level_dbfs, frame), 2 * frame), frames))
        if not self._segs:
            raise ValueError("a tone needs at least one segment")
        self.frame_bytes = 2 * frame
        self.reset()

    def reset(self):
        self._seg = 0
        self._left = self._segs[0][1]
        self._pos = 0
        self.done = False

    def cycle_frames(self):
        """Frames in one cycle of the cadence."""
        return sum([n for _, n in self._segs])

    def next(self):
        if self.done:
            return None
        views = self._segs[self._seg][0]
        pos = self._pos
        out = views[pos]
        pos += 1
        self._pos = 0 if pos >= len(views) else pos
        self._left -= 1
        if self._left <= 0:
            self._seg += 1
            if self._seg >= len(self._segs):
                if not self.repeat:
                    self.done = True
                    return out
                self._seg = 0
            self._left = self._segs[self._seg][1]
            self._pos = 0
        return out
