"""DTMF: RFC 4733 telephone-events in and out, and in-band tones in and out.

- Receiver: one key press is one event, whatever the number of packets: all
  packets of an event share its RTP timestamp (RFC 4733 2.5.1.1), so the
  first packet with a new timestamp reports the key and the updates and the
  three redundant end packets (2.5.1.4) are ignored.
- Sender: queue a string ("1234#"); each tick asks next_packet() whether a
  telephone-event packet replaces the audio packet of that tick: start with
  the marker bit, one update per ptime with a growing duration, the end
  packet three times, then a pause (audio flows again) before the next key.
- GoertzelDetector: in-band keys in 16-bit PCM (for peers without
  telephone-event). Blocks of 205 (or 160) samples; the eight row and column
  powers by Goertzel in integers; a key needs one strong row and one strong
  column, limited twist, both clearly above their neighbours, most of the
  block's energy in the two tones, for >= 40 ms, and a gap before the next.
- ToneGenerator: the two sines of a key into a PCM frame, for sending keys
  in-band when the peer has no telephone-event.
"""

import math

ROWS = (697, 770, 852, 941)
COLS = (1209, 1336, 1477, 1633)
KEYPAD = "123A456B789C*0#D"  # KEYPAD[4 * row + col]
EVENT_KEYS = "0123456789*#ABCD"  # RFC 4733 3.2: event code -> key
DIGITS = EVENT_KEYS


def event_code(key):
    """RFC 4733 event code of a key ("0"-"9", "*", "#", "A"-"D")."""
    i = EVENT_KEYS.find(key.upper()) if len(key) == 1 else -1
    if i < 0:
        raise ValueError("not a DTMF key: %r" % key)
    return i


def check_keys(keys):
    """keys upper-cased, or ValueError naming the first bad character."""
    keys = keys.upper()
    for k in keys:
        event_code(k)
    return keys


# -- RFC 4733 receive ------------------------------------------------------


class DtmfReceiver:
    """Telephone-event packets -> keys, one per key press (keyed by timestamp)."""

    def __init__(self, history=8):
        self._seen = [None] * history  # timestamps of recent events, a ring
        self._next = 0
        self.last_duration = 0

    def reset(self):
        for i in range(len(self._seen)):
            self._seen[i] = None

    def receive(self, payload, ts):
        """The key of a new event, or None (repeat, end, unknown event, short)."""
        if len(payload) < 4:
            return None
        self.last_duration = (payload[2] << 8) | payload[3]
        if ts in self._seen:
            return None
        event = payload[0]
        if event >= len(EVENT_KEYS):
            return None  # flash and other events: not a key
        self._seen[self._next] = ts
        self._next = (self._next + 1) % len(self._seen)
        return EVENT_KEYS[event]


# -- RFC 4733 send ---------------------------------------------------------


class DtmfSender:
    """Paces queued keys out as telephone-event packets, one per tick."""

    def __init__(self, frame=160, duration_ms=100, pause_ms=100, volume=10, clock=8000):
        self.frame = frame
        self.duration = duration_ms * clock // 1000
        if self.duration < frame:
            self.duration = frame
        if self.duration > 0xFFFF:
            self.duration = 0xFFFF
        self.pause_ticks = (pause_ms * clock // 1000 + frame - 1) // frame
        self.volume = volume & 0x3F
        self.payload = bytearray(4)
        self._queue = ""
        self._event = None
        self.clear()

    def clear(self):
        self._queue = ""
        self._event = None
        self._pause = 0
        self._ends = 0
        self._dur = 0
        self.event_ts = 0

    def queue(self, keys):
        self._queue += check_keys(keys)

    def busy(self):
        """True while a key, its end packets, its pause or more keys are pending."""
        return bool(self._queue) or self._event is not None or self._pause > 0

    def tone_on(self):
        """After next_packet(): True when this tick is inside the key's duration
        (start, updates, first end), False for the redundant end packets."""
        return self._event is not None and self._ends <= 1

    def next_packet(self, ts):
        """For the tick whose audio would start at ts: None (send audio), or
        (marker, event_ts) with self.payload holding the 4 payload bytes."""
        if self._event is None:
            if self._pause > 0:
                self._pause -= 1
                return None
            if not self._queue:
                return None
            self._event = event_code(self._queue[0])
            self._queue = self._queue[1:]
            self.event_ts = ts
            self._dur = self.frame
            self._ends = 0
            self._write(False)
            return True, ts
        if self._ends == 0:
            self._dur += self.frame
            if self._dur >= self.duration:
                self._dur = self.duration
                self._ends = 1
                self._write(True)
            else:
                self._write(False)
            return False, self.event_ts
        self._ends += 1
        self._write(True)
        if self._ends >= 3:
            self._event = None
            self._pause = self.pause_ticks
        return False, self.event_ts

    def _write(self, end):
        p = self.payload
        p[0] = self._event
        p[1] = (0x80 if end else 0) | self.volume
        p[2] = (self._dur >> 8) & 0xFF
        p[3] = self._dur & 0xFF


# -- in-band detection ------------------------------------------------------


class GoertzelDetector:
    """In-band DTMF keys in 8 kHz 16-bit LE PCM; feed() any frame size."""

    def __init__(self, block=205, rate=8000, min_level_dbfs=-30, twist_db=8,
                 reverse_twist_db=4, min_on_ms=40, min_off_ms=20, tone_ratio=0.6):
        self.block = block
        self._x = [0] * block
        self._n = 0
        self._coef = [int(round(2 * math.cos(2 * math.pi * f / rate) * 16384)) for f in ROWS + COLS]
        # Goertzel power of a full-block sine of amplitude A is (A * N / 2) ** 2.
        a = 32767 * 10 ** (min_level_dbfs / 20)
        self._min_power = int((a * block / 2) ** 2)
        # Twist limits as integer ratios over 100.
        self._twist = int(100 * 10 ** (twist_db / 10))
        self._rtwist = int(100 * 10 ** (reverse_twist_db / 10))
        self._ratio = int(tone_ratio * 100)
        self._on_blocks = (min_on_ms * rate // 1000 + block - 1) // block
        self._off_blocks = (min_off_ms * rate // 1000 + block - 1) // block
        if self._off_blocks < 1:
            self._off_blocks = 1
        self._p = [0] * 8
        self.reset()

    def reset(self):
        self._n = 0
        self._cur = None
        self._run = 0
        self._off = self._off_blocks
        self._armed = True

    def feed(self, pcm):
        """Scan one frame; the key detected in it, or None."""
        x = self._x
        n = self._n
        block = self.block
        found = None
        for j in range(0, len(pcm) - 1, 2):
            v = pcm[j] | (pcm[j + 1] << 8)
            x[n] = v - 0x10000 if v & 0x8000 else v
            n += 1
            if n == block:
                n = 0
                k = self._decide(self._classify())
                if k is not None:
                    found = k
        self._n = n
        return found

    def _classify(self):
        """The key this block holds, or None."""
        x = self._x
        energy = 0
        for v in x:
            energy += v * v
        p = self._p
        for i in range(8):
            c = self._coef[i]
            s1 = 0
            s2 = 0
            for v in x:
                s0 = v + ((c * s1) >> 14) - s2
                s2 = s1
                s1 = s0
            p[i] = s1 * s1 + s2 * s2 - ((c * s1) >> 14) * s2
        r = _best(p, 0)
        c = _best(p, 4)
        pr = p[r]
        pc = p[c]
        if pr < self._min_power or pc < self._min_power:
            return None
        if pc * self._twist < pr * 100 or pr * self._rtwist < pc * 100:
            return None
        for i in range(4):
            if i != r and p[i] * 4 > pr:  # 6 dB above the other rows
                return None
            if i + 4 != c and p[i + 4] * 4 > pc:
                return None
        # 2 P / N is the energy of a sine in the block: most must be the two tones.
        if 2 * (pr + pc) * 100 < self._ratio * self.block * energy:
            return None
        return KEYPAD[4 * r + c - 4]

    def _decide(self, key):
        if key is None:
            self._off += 1
            self._run = 0
            self._cur = None
            if self._off >= self._off_blocks:
                self._armed = True
            return None
        self._off = 0
        if key == self._cur:
            self._run += 1
        else:
            self._cur = key
            self._run = 1
        if self._armed and self._run >= self._on_blocks:
            self._armed = False
            return key
        return None


def _best(p, base):
    b = base
    for i in range(base + 1, base + 4):
        if p[i] > p[b]:
            b = i
    return b


# -- in-band generation -------------------------------------------------------

_SINE_BITS = 9  # 512-entry table
_PHASE_FRAC = 16


class ToneGenerator:
    """Sums of sines into 16-bit LE PCM frames from a phase accumulator and a
    small sine table, so no float maths runs per sample."""

    def __init__(self, rate=8000, level_dbfs=-10):
        n = 1 << _SINE_BITS
        amp = 32767 * 10 ** (level_dbfs / 20)
        self._tab = [int(round(amp * math.sin(2 * math.pi * i / n))) for i in range(n)]
        self.rate = rate
        self._inc = [0, 0]
        self._ph = [0, 0]

    def set_key(self, key):
        """Generate the key's row and column tones (None: silence)."""
        if key is None:
            self.set_freqs(())
            return
        i = KEYPAD.find(key.upper())
        if i < 0:
            raise ValueError("not a DTMF key: %r" % key)
        self.set_freqs((ROWS[i >> 2], COLS[i & 3]))

    def set_freqs(self, freqs):
        scale = 1 << (_SINE_BITS + _PHASE_FRAC)
        self._inc = [f * scale // self.rate for f in freqs]
        self._ph = [0] * len(freqs)

    def fill(self, out):
        """Write len(out) // 2 samples into out (a bytearray)."""
        tab = self._tab
        incs = self._inc
        ph = self._ph
        mask = (1 << (_SINE_BITS + _PHASE_FRAC)) - 1
        k = len(incs)
        a = ph[0] if k > 0 else 0
        b = ph[1] if k > 1 else 0
        ia = incs[0] if k > 0 else 0
        ib = incs[1] if k > 1 else 0
        for j in range(0, len(out) - 1, 2):
            v = 0
            if k > 0:
                v = tab[a >> _PHASE_FRAC]
                a = (a + ia) & mask
            if k > 1:
                v += tab[b >> _PHASE_FRAC]
                b = (b + ib) & mask
            out[j] = v & 0xFF
            out[j + 1] = (v >> 8) & 0xFF
        if k > 0:
            ph[0] = a
        if k > 1:
            ph[1] = b
        return out
