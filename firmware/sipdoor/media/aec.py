"""Acoustic echo cancellation through libspeexdsp: CPython only, optional.

A Pi door station with an open speaker and microphone can cancel the echo
instead of only ducking it (duck.py): speexdsp's adaptive (MDF) filter
learns the speaker-to-microphone path from the frame last played (far) and
subtracts its estimate from the microphone frame (near).

Comes from the PyPI package `speexdsp` (a SWIG binding that builds against
Debian's libspeexdsp-dev). Where it cannot be imported (MicroPython, or a
Pi without it) AVAILABLE is False and make() returns None, so callers keep
the Ducker. The binding runs the linear canceller only (its residual echo
suppressor is compiled out), and it reads exactly frame_samples samples from
each argument whatever their length: EchoCanceller checks the lengths first.

Frames are 16-bit LE PCM, frame_samples long (160 = 20 ms at 8 kHz).
"""

try:
    import speexdsp as _speexdsp
except ImportError:  # MicroPython, or the package is not installed
    _speexdsp = None

AVAILABLE = _speexdsp is not None


class EchoCanceller:
    """tail_ms: the longest echo path the filter models (speaker to mic,
    plus the sound card's buffering); 128 ms suits a door station box."""

    def __init__(self, frame_samples=160, tail_ms=128, rate=8000):
        if _speexdsp is None:
            raise ImportError("speexdsp is not installed")
        self.frame_samples = frame_samples
        self.frame_bytes = 2 * frame_samples
        self.tail = rate * tail_ms // 1000
        self.rate = rate
        self._st = _speexdsp.EchoCanceller.create(frame_samples, self.tail, rate)
        self._silence = bytes(self.frame_bytes)
        self.frames = 0

    def process(self, near, far):
        """The mic frame with the echo of `far` removed (bytes). far None
        means the speaker played nothing (silence)."""
        if far is None:
            far = self._silence
        if len(near) != self.frame_bytes or len(far) != self.frame_bytes:
            raise ValueError("frames must be %d bytes" % self.frame_bytes)
        self.frames += 1
        return self._st.process(bytes(near), bytes(far))

    def near(self, mic, far):
        """Cancel in place in the mic bytearray (like Ducker.near)."""
        mic[:] = self.process(mic, far)
        return True

    def reset(self):
        self._st = _speexdsp.EchoCanceller.create(self.frame_samples, self.tail, self.rate)


def make(frame_samples=160, tail_ms=128, rate=8000):
    """An EchoCanceller, or None where speexdsp is not available."""
    if not AVAILABLE:
        return None
    return EchoCanceller(frame_samples, tail_ms, rate)
