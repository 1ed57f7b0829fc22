"""RTCP (RFC 3550 section 6 and appendix A), sans-IO.

Building: compound() gives one datagram SR or RR + SDES CNAME (+ BYE), as
6.1 requires. Parsing: parse() checks a compound packet as A.2 does and
returns a list of SenderReport / ReceiverReport / Sdes / Bye / Unknown;
anything malformed raises RtcpError.

Receiving statistics (ReceiverStats): the sequence bookkeeping of A.1
(without probation: the stream latches onto its first valid packet), loss
of A.3 and the interarrival jitter of A.8, kept in integers scaled by 16 as
A.8 suggests. RTT (6.4.1): A - LSR - DLSR, all in 1/65536 s.

Time: NTP timestamps are passed in as (seconds, fraction) integer pairs by
the caller (ntp_from_ms() helps), arrival times as clock ticks in ms. No
clock is read here. Floats are avoided: on a board they are 32-bit.
"""

import struct

from sipdoor.clock import ticks_diff

SR = 200
RR = 201
SDES = 202
BYE = 203
APP = 204

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
_RTP_SEQ_MOD = 1 << 16
_MAX_DROPOUT = 3000
_MAX_MISORDER = 100


class RtcpError(ValueError):
    pass


def ntp_from_ms(sec0, ms):
    """NTP (seconds, fraction) of sec0 (whole NTP seconds) plus ms."""
    s, r = divmod(ms, 1000)
    return (sec0 + s) & 0xFFFFFFFF, (r << 32) // 1000


def ntp_middle(sec, frac):
    """The middle 32 bits of a 64-bit NTP timestamp (LSR, 6.4.1)."""
    return ((sec & 0xFFFF) << 16) | (frac >> 16)


def rtt_ms(lsr, dlsr, now_sec, now_frac):
    """Round-trip time in ms from a report block about us, or None when the
    block holds no LSR. A negative result (clock trouble) is None too."""
    if not lsr:
        return None
    a = ntp_middle(now_sec, now_frac)
    d = (a - lsr - dlsr) & 0xFFFFFFFF
    if d & 0x80000000:
        return None
    return (d * 1000) >> 16


class ReportBlock:
    """One reception report (6.4.1). lost is the signed 24-bit cumulative
    count; jitter in timestamp units; lsr/dlsr as on the wire."""

    def __init__(self, ssrc, fraction=0, lost=0, highest=0, jitter=0, lsr=0, dlsr=0):
        self.ssrc = ssrc
        self.fraction = fraction
        self.lost = lost
        self.highest = highest
        self.jitter = jitter
        self.lsr = lsr
        self.dlsr = dlsr

    def pack(self):
        lost = self.lost
        if lost > 0x7FFFFF:
            lost = 0x7FFFFF
        elif lost < -0x800000:
            lost = -0x800000
        return struct.pack(">IIIIII", self.ssrc, ((self.fraction & 0xFF) << 24) | (lost & 0xFFFFFF),
                           self.highest & 0xFFFFFFFF, self.jitter & 0xFFFFFFFF,
                           self.lsr & 0xFFFFFFFF, self.dlsr & 0xFFFFFFFF)

    def __repr__(self):
        return "ReportBlock(%r)" % self.__dict__


class SenderReport:
    pt = SR

    def __init__(self, ssrc, ntp_sec, ntp_frac, rtp_ts, packets, octets, blocks=()):
        self.ssrc = ssrc
        self.ntp_sec = ntp_sec
        self.ntp_frac = ntp_frac
        self.rtp_ts = rtp_ts
        self.packets = packets
        self.octets = octets
        self.blocks = list(blocks)


class ReceiverReport:
    pt = RR

    def __init__(self, ssrc, blocks=()):
        self.ssrc = ssrc
        self.blocks = list(blocks)


class Sdes:
    pt = SDES

    def __init__(self, chunks):
        self.chunks = chunks  # list of (ssrc, {item type: bytes})

    def cname(self, ssrc):
        for s, items in self.chunks:
            if s == ssrc:
                return items.get(1)
        return None


class Bye:
    pt = BYE

    def __init__(self, ssrcs, reason=None):
        self.ssrcs = ssrcs
        self.reason = reason


class Unknown:
    def __init__(self, pt, body):
        self.pt = pt
        self.body = body


# -- building --------------------------------------------------------------


def _header(count, pt, body_len):
    """Common header; body_len (bytes after the 4-byte header) is a multiple of 4."""
    return struct.pack(">BBH", 0x80 | (count & 0x1F), pt, body_len // 4)


def build_sr(ssrc, ntp_sec, ntp_frac, rtp_ts, packets, octets, blocks=()):
    body = struct.pack(">IIIIII", ssrc, ntp_sec & 0xFFFFFFFF, ntp_frac & 0xFFFFFFFF,
                       rtp_ts & 0xFFFFFFFF, packets & 0xFFFFFFFF, octets & 0xFFFFFFFF)
    body += b"".join([b.pack() for b in blocks[:31]])
    return _header(len(blocks[:31]), SR, len(body)) + body


def build_rr(ssrc, blocks=()):
    body = struct.pack(">I", ssrc) + b"".join([b.pack() for b in blocks[:31]])
    return _header(len(blocks[:31]), RR, len(body)) + body


def build_sdes(ssrc, cname):
    """One chunk with CNAME (item 1), ended by a null item and padded to 32 bits."""
    if isinstance(cname, str):
        cname = cname.encode()
    cname = cname[:255]
    chunk = struct.pack(">IBB", ssrc, 1, len(cname)) + cname
    chunk += b"\x00" * (4 - len(chunk) % 4)  # at least one null octet
    return _header(1, SDES, len(chunk)) + chunk


def build_bye(ssrc, reason=None):
    body = struct.pack(">I", ssrc)
    if reason:
        if isinstance(reason, str):
            reason = reason.encode()
        reason = reason[:255]
        r = bytes([len(reason)]) + reason
        body += r + b"\x00" * ((4 - len(r) % 4) % 4)
    return _header(1, BYE, len(body)) + body


def compound(ssrc, cname, sender_info=None, blocks=(), bye=False, reason=None):
    """SR (when sender_info = (ntp_sec, ntp_frac, rtp_ts, packets, octets))
    or RR, then SDES CNAME, then BYE if asked: one datagram (6.1)."""
    blocks = list(blocks)
    if sender_info is not None:
        out = build_sr(ssrc, sender_info[0], sender_info[1], sender_info[2],
                       sender_info[3], sender_info[4], blocks)
    else:
        out = build_rr(ssrc, blocks)
    out += build_sdes(ssrc, cname)
    if bye:
        out += build_bye(ssrc, reason)
    return out


# -- parsing ---------------------------------------------------------------


def _blocks(data, off, count, end):
    out = []
    for _ in range(count):
        if off + 24 > end:
            raise RtcpError("report block overruns packet")
        ssrc, word, highest, jitter, lsr, dlsr = struct.unpack_from(">IIIIII", data, off)
        lost = word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        out.append(ReportBlock(ssrc, word >> 24, lost, highest, jitter, lsr, dlsr))
        off += 24
    return out


def _sdes(data, off, count, end):
    chunks = []
    for _ in range(count):
        if off + 4 > end:
            raise RtcpError("SDES chunk overruns packet")
        ssrc = struct.unpack_from(">I", data, off)[0]
        off += 4
        items = {}
        while True:
            if off >= end:
                raise RtcpError("SDES chunk not terminated")
            t = data[off]
            if t == 0:
                off = (off + 4) & ~3  # skip the null item and pad to 32 bits
                break
            if off + 2 > end or off + 2 + data[off + 1] > end:
                raise RtcpError("SDES item overruns packet")
            n = data[off + 1]
            items[t] = bytes(data[off + 2:off + 2 + n])
            off += 2 + n
        chunks.append((ssrc, items))
    return Sdes(chunks)


def _bye(data, off, count, end):
    if off + 4 * count > end:
        raise RtcpError("BYE overruns packet")
    ssrcs = list(struct.unpack_from(">%dI" % count, data, off)) if count else []
    off += 4 * count
    reason = None
    if off < end:
        n = data[off]
        if off + 1 + n > end:
            raise RtcpError("BYE reason overruns packet")
        reason = bytes(data[off + 1:off + 1 + n])
    return Bye(ssrcs, reason)


def parse(data):
    """The packets of one compound RTCP datagram (A.2 checks)."""
    n = len(data)
    if n < 8 or n & 3:
        raise RtcpError("bad length %d" % n)
    if data[1] not in (SR, RR):
        raise RtcpError("compound packet does not start with SR or RR")
    out = []
    off = 0
    while off < n:
        if n - off < 4:
            raise RtcpError("truncated header")
        b0 = data[off]
        pt = data[off + 1]
        if b0 >> 6 != 2:
            raise RtcpError("version %d" % (b0 >> 6))
        end = off + 4 + 4 * ((data[off + 2] << 8) | data[off + 3])
        if end > n:
            raise RtcpError("length overruns datagram")
        body_end = end
        if b0 & 0x20:
            if end != n:
                raise RtcpError("padding before the last packet")
            pad = data[end - 1]
            if pad == 0 or off + 4 + pad > end:
                raise RtcpError("bad padding")
            body_end = end - pad
        count = b0 & 0x1F
        p = off + 4
        if pt == SR:
            if p + 24 > body_end:
                raise RtcpError("short SR")
            v = struct.unpack_from(">IIIIII", data, p)
            out.append(SenderReport(v[0], v[1], v[2], v[3], v[4], v[5],
                                    _blocks(data, p + 24, count, body_end)))
        elif pt == RR:
            if p + 4 > body_end:
                raise RtcpError("short RR")
            ssrc = struct.unpack_from(">I", data, p)[0]
            out.append(ReceiverReport(ssrc, _blocks(data, p + 4, count, body_end)))
        elif pt == SDES:
            out.append(_sdes(data, p, count, body_end))
        elif pt == BYE:
            out.append(_bye(data, p, count, body_end))
        else:
            out.append(Unknown(pt, bytes(data[p:body_end])))
        off = end
    return out


# -- receiving statistics ----------------------------------------------------


class ReceiverStats:
    """What we know about one incoming source, for report blocks and stats."""

    def __init__(self, clock_rate=8000):
        self.rate = clock_rate
        self.reset()

    def reset(self, ssrc=None):
        self.ssrc = ssrc
        self.started = False
        self.max_seq = 0
        self.cycles = 0
        self.base_seq = 0
        self.bad_seq = _RTP_SEQ_MOD + 1
        self.received = 0
        self.octets = 0
        self.expected_prior = 0
        self.received_prior = 0
        self.jitter16 = 0  # A.8 jitter in timestamp units, times 16
        self._last_arrival = None
        self._last_ts = 0
        self.lsr = 0  # middle bits of the last SR's NTP time
        self._sr_at = None  # ticks when that SR came
        self.last_fraction = 0

    def _init_seq(self, seq):
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = _RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update_seq(self, seq):
        """A.1 without probation. False when the packet is to be ignored
        (a large jump not yet confirmed by its successor)."""
        if not self.started:
            self._init_seq(seq)
            self.started = True
            self.received = 1
            return True
        udelta = (seq - self.max_seq) & 0xFFFF
        if udelta < _MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += _RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= _RTP_SEQ_MOD - _MAX_MISORDER:
            if seq == self.bad_seq:
                # Two sequential packets after a jump: the source restarted.
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        # else: duplicate or reordered packet, counted below
        self.received += 1
        return True

    def update_jitter(self, ts, now):
        """A.8 with arrival time now (ms ticks), for audio packets only."""
        if self._last_arrival is not None and ts != self._last_ts:
            arrival = ticks_diff(now, self._last_arrival) * self.rate // 1000
            sent = ((ts - self._last_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            d = arrival - sent
            if d < 0:
                d = -d
            if d < 0x10000000:  # ignore absurd jumps (a restart or a pause)
                self.jitter16 += d - ((self.jitter16 + 8) >> 4)
        self._last_arrival = now
        self._last_ts = ts

    def on_packet(self, seq, ts, octets, now, audio=True):
        if not self.update_seq(seq):
            return False
        self.octets += octets
        if audio:
            self.update_jitter(ts, now)
        return True

    def on_sr(self, ntp_sec, ntp_frac, now):
        self.lsr = ntp_middle(ntp_sec, ntp_frac)
        self._sr_at = now

    @property
    def extended_max(self):
        return self.cycles + self.max_seq

    @property
    def expected(self):
        return self.extended_max - self.base_seq + 1 if self.started else 0

    @property
    def lost(self):
        """Cumulative lost (A.3), clamped to the signed 24-bit field."""
        lost = self.expected - self.received
        if lost > 0x7FFFFF:
            return 0x7FFFFF
        if lost < -0x800000:
            return -0x800000
        return lost

    @property
    def jitter(self):
        return self.jitter16 >> 4

    def jitter_ms(self):
        return (self.jitter16 >> 4) * 1000 // self.rate

    def report_block(self, now):
        """A report block for this source; moves the A.3 interval on."""
        expected = self.expected
        interval_expected = expected - self.expected_prior
        self.expected_prior = expected
        interval_received = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = interval_expected - interval_received
        if interval_expected == 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = (lost_interval << 8) // interval_expected
            if fraction > 255:
                fraction = 255
        self.last_fraction = fraction
        dlsr = 0
        if self._sr_at is not None:
            dlsr = (ticks_diff(now, self._sr_at) << 16) // 1000
            if dlsr < 0:
                dlsr = 0
        return ReportBlock(self.ssrc or 0, fraction, self.lost, self.extended_max & 0xFFFFFFFF,
                           self.jitter, self.lsr, dlsr)
