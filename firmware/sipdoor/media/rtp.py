"""RTP (RFC 3550 section 5): fixed header in and out, sans-IO.

pack_header() writes the 12-byte fixed header into a caller's buffer (the
start of a preallocated packet), so sending a frame allocates nothing.
Header.parse() reads a datagram into a reused Header object and finds the
payload after the CSRC list and any header extension, minus padding; it
returns False instead of raising, because junk on a media port is normal.

Sender holds one outgoing stream's SSRC, sequence number and timestamp; all
three start random (RFC 3550 5.1) from the injected rng, whose getrandbits
is asked for at most 32 bits (the MicroPython limit).
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


HEADER_LEN = const(12)
VERSION = const(2)
_SEQ_MASK = const(0xFFFF)
TS_MASK = 0xFFFFFFFF  # not const(): above a small int on 32-bit boards


def seq_diff(a, b):
    """Signed distance from sequence number b to a, modulo 2**16."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def ts_diff(a, b):
    """Signed distance from timestamp b to a, modulo 2**32."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def is_rtcp(data):
    """RFC 5761 4: second byte 192..223 is RTCP (SR 200, RR 201, ...), which
    as RTP would be marker + payload type 64..95; such types are never RTP."""
    return len(data) > 1 and 192 <= data[1] <= 223


def pack_header(buf, pt, seq, ts, ssrc, marker=False):
    """Write version 2, no padding/extension/CSRC, into buf[0:12]; returns 12."""
    buf[0] = 0x80
    buf[1] = (pt & 0x7F) | (0x80 if marker else 0)
    buf[2] = (seq >> 8) & 0xFF
    buf[3] = seq & 0xFF
    buf[4] = (ts >> 24) & 0xFF
    buf[5] = (ts >> 16) & 0xFF
    buf[6] = (ts >> 8) & 0xFF
    buf[7] = ts & 0xFF
    buf[8] = (ssrc >> 24) & 0xFF
    buf[9] = (ssrc >> 16) & 0xFF
    buf[10] = (ssrc >> 8) & 0xFF
    buf[11] = ssrc & 0xFF
    return HEADER_LEN


def _u32(b, i):
    return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]


class Header:
    """One parsed RTP header; reuse the object for every packet.

    After parse(data): marker, pt, seq, ts, ssrc, csrc_count, extension
    (the profile word, or None), padding (bytes removed) and the payload
    as data[offset:offset + length].
    """

    def __init__(self):
        self.marker = False
        self.pt = 0
        self.seq = 0
        self.ts = 0
        self.ssrc = 0
        self.csrc_count = 0
        self.extension = None
        self.padding = 0
        self.offset = 0
        self.length = 0
        self.error = None

    def parse(self, data):
        """Fill self from data; False (and self.error says why) when invalid."""
        n = len(data)
        if n < HEADER_LEN:
            self.error = "short"
            return False
        b0 = data[0]
        if b0 >> 6 != VERSION:
            self.error = "version"
            return False
        if is_rtcp(data):
            self.error = "rtcp"
            return False
        cc = b0 & 0x0F
        off = HEADER_LEN + 4 * cc
        ext = None
        if b0 & 0x10:
            # Extension (5.3.1): 16-bit profile word, 16-bit length in words.
            if off + 4 > n:
                self.error = "extension"
                return False
            ext = (data[off] << 8) | data[off + 1]
            off += 4 + 4 * ((data[off + 2] << 8) | data[off + 3])
        if off > n:
            self.error = "short"
            return False
        pad = 0
        if b0 & 0x20:
            # Padding (5.1): the last octet counts the padding, itself included.
            pad = data[n - 1]
            if pad == 0 or off + pad > n:
                self.error = "padding"
                return False
        b1 = data[1]
        self.marker = bool(b1 & 0x80)
        self.pt = b1 & 0x7F
        self.seq = (data[2] << 8) | data[3]
        self.ts = _u32(data, 4)
        self.ssrc = _u32(data, 8)
        self.csrc_count = cc
        self.extension = ext
        self.padding = pad
        self.offset = off
        self.length = n - off - pad
        self.error = None
        return True

    def csrcs(self, data):
        return [_u32(data, HEADER_LEN + 4 * i) for i in range(self.csrc_count)]

    def payload(self, data):
        """The payload as a memoryview into data (no copy)."""
        return memoryview(data)[self.offset:self.offset + self.length]


def parse(data):
    """A new Header for data, or None when it is not a valid RTP packet."""
    h = Header()
    return h if h.parse(data) else None


class Sender:
    """Sequence, timestamp and SSRC of one outgoing RTP stream.

    Every packet takes the next sequence number; the timestamp is the media
    clock of its first sample. start_spurt() asks for the marker bit on the
    next audio packet (RFC 3551 4.1: first packet of a talk spurt, which for
    us is the start of sending and every resume after hold or mute).
    """

    def __init__(self, rng, ssrc=None):
        self.ssrc = rng.getrandbits(32) if ssrc is None else ssrc
        self.seq = rng.getrandbits(16)
        self.ts = rng.getrandbits(32)
        self.packets = 0
        self.octets = 0
        self.last_ts = self.ts  # timestamp of the last packet sent (for SR)
        self._spurt = True

    def start_spurt(self):
        self._spurt = True

    def advance(self, samples):
        """Move the media clock on by one frame, sent or not."""
        self.ts = (self.ts + samples) & TS_MASK

    def header(self, buf, pt, payload_len, ts=None, marker=None):
        """Pack the header of the next packet into buf; returns 12.

        ts defaults to the current media clock; marker defaults to "first
        packet of a talk spurt". Counts the packet for RTCP.
        """
        if ts is None:
            ts = self.ts
        if marker is None:
            marker = self._spurt
            self._spurt = False
        pack_header(buf, pt, self.seq, ts, self.ssrc, marker)
        self.seq = (self.seq + 1) & _SEQ_MASK
        self.packets += 1
        self.octets += payload_len
        self.last_ts = ts
        return HEADER_LEN
