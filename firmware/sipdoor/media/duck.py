"""Half-duplex echo ducking, sans-IO: while the far end talks, quieten the mic.

A door station's speaker and microphone sit a few centimetres apart, so the
resident hears themselves back. The Ducker watches each decoded frame about
to be played (far()) and, while its peak is above threshold_dbfs and for
hang_ms after, attenuates the microphone frame about to be sent (near()) by
depth_db. Frames are 16-bit LE PCM in a bytearray changed in place.

Cheap enough for the 20 ms path on a board: the far level is the peak of
the samples' high bytes (no multiply); attenuation is one multiply and shift per sample, and
depth_db >= 60 is plain silence (a slice copy). No allocation per frame.
"""

def _db_gain_q14(db):
    # Q14, so sample * gain stays a small int on a 32-bit board (< 2**30)
    g = int(16384 * 10 ** (-db / 20) + 0.5)
    return g if g < 16384 else 16384


class Ducker:
    def __init__(self, depth_db=20, threshold_dbfs=-36, hang_ms=300, frame_ms=20):
        if depth_db < 0:
            raise ValueError("depth_db must be >= 0")
        self.depth_db = depth_db
        self.threshold_dbfs = threshold_dbfs
        self.hang_frames = (hang_ms + frame_ms - 1) // frame_ms if frame_ms > 0 else 0
        self._gain = _db_gain_q14(depth_db)
        self._mute = depth_db >= 60
        # Compared with a sample's high byte (amplitude / 256): at least 1.
        t = int(32767 * 10 ** (threshold_dbfs / 20)) >> 8
        self._thr = t if t > 0 else 1
        self._hang = 0
        self.active = False
        self.ducked_frames = 0

    def reset(self):
        self._hang = 0
        self.active = False

    def level(self, pcm):
        """Peak of the frame in high-byte units (0..128)."""
        peak = 0
        n = len(pcm)
        for i in range(1, n, 2):
            b = pcm[i]
            if b > 127:
                b = 255 - b  # |v| >> 8 of a negative sample, within one
            if b > peak:
                peak = b
        return peak

    def far(self, pcm):
        """Feed one frame the speaker plays; True while the mic is ducked."""
        if pcm is not None and self.level(pcm) >= self._thr:
            self._hang = self.hang_frames + 1
        elif self._hang > 0:
            self._hang -= 1
        self.active = self._hang > 0
        return self.active

    def near(self, pcm, silence=None):
        """Attenuate the mic frame in place if ducking; True if it did."""
        if not self.active:
            return False
        self.ducked_frames += 1
        n = len(pcm) & ~1
        if self._mute:
            if silence is not None and len(silence) == len(pcm):
                pcm[:] = silence
            else:
                for i in range(n):
                    pcm[i] = 0
            return True
        g = self._gain
        for i in range(0, n, 2):
            v = pcm[i] | (pcm[i + 1] << 8)
            if v & 0x8000:
                v -= 0x10000
            v = (v * g) >> 14
            pcm[i] = v & 0xFF
            pcm[i + 1] = (v >> 8) & 0xFF
        return True
