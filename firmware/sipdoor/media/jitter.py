"""Adaptive jitter buffer for one G.711 stream, sans-IO.

Packets go in as they arrive (put), decoded frames of the loop's size come
out once per tick (pop). Storage is a fixed set of slots holding encoded
payloads (one byte per sample for G.711), so the 20 ms path only copies.

Playout is by RTP timestamp, not by packet: a tick asks for the samples
[play_ts, play_ts + frame) and takes them from whichever packets cover
them, so the peer's ptime need not match ours.

- Start (and after an underrun): wait until `target` ms are buffered, then
  play from the oldest packet. Re-anchoring on the packet that arrived late
  is what grows the delay when the network gets worse.
- target = min_ms..max_ms, from the peak transit variation seen (decaying
  over ~10 s) and the RFC 3550 A.8 jitter; when more than target + one
  frame has stayed buffered for a second, one frame is dropped to shrink
  the delay again; beyond max_ms it is dropped at once.
- A packet whose samples have all been played is late; one with a sequence
  number already seen (window of 32) or the same timestamp as a buffered one
  is a duplicate; both are dropped and counted.
- A missing frame with packets behind it is lost: the last frame is played
  again, fading to silence over conceal_frames frames (repeat-and-fade;
  media.stream uses 3, 60 ms as in G.711 Appendix I); more misses in a row
  are silence. An empty buffer is taken as loss too for up to hold_frames
  frames (the next packet may be just behind a lost one, and playing on
  keeps the timeline); missing more than that, or the newest packet coming
  in behind the play point meanwhile (the sender is late, not lossy), is an
  underrun: silence until it refills to the target, then play from the
  oldest packet.
- A new SSRC, or a sequence or timestamp jump too big to be reordering or
  loss, flushes the buffer and starts again (resync).
"""

from sipdoor.clock import ticks_diff

_TS_MASK = 0xFFFFFFFF
_IDLE = 0  # nothing played yet, or refilling after an underrun
_PLAYING = 1
_SEQ_JUMP = 100  # packets: more than this apart is a new stream
_TS_JUMP_MS = 2000  # likewise for timestamps (a peer's silence is shorter)
_SHRINK_TICKS = 50  # ticks (about 1 s) over target before dropping a frame


def _tsd(a, b):
    return ((a - b + 0x80000000) & _TS_MASK) - 0x80000000


def _seqd(a, b):
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


class JitterBuffer:
    """decode_into(codes, dst) is a media.g711 *_decode_into function.

    frame: samples per pop (the loop's tick); slot_bytes: the largest
    payload kept (longer packets are truncated; default 40 ms or one frame);
    slots: how many packets fit (by default max_ms of 20 ms packets and some
    reordering room: 16 slots, 5 KB at the defaults; a peer sending 10 ms
    packets is then held to about 160 ms).
    """

    def __init__(self, decode_into, frame=160, clock=8000, min_ms=20, max_ms=200,
                 slot_bytes=None, slots=None, conceal_frames=1, hold_frames=1):
        if min_ms < 0 or max_ms < min_ms:
            raise ValueError("jitter buffer needs 0 <= min_ms <= max_ms")
        self.decode_into = decode_into
        self.conceal_frames = conceal_frames if conceal_frames > 0 else 1
        self.hold_frames = hold_frames if hold_frames > 0 else 1
        self.frame = frame
        self.rate = clock
        self.min_ms = min_ms
        self.max_ms = max_ms
        if slot_bytes is None:
            slot_bytes = frame if frame > 320 else 320
        n = slots or (max_ms // 20 + 6)
        self.nslots = n
        self._data = [bytearray(slot_bytes) for _ in range(n)]
        # One frame of each slot, made once: the usual packet (one whole frame,
        # on the play point) is decoded through these without allocating.
        self._fview = [memoryview(b)[:frame] for b in self._data]
        self._len = [0] * n  # 0 = free slot
        self._ts = [0] * n
        self._seq = [0] * n
        self.pcm = bytearray(2 * frame)  # what pop() returns, reused
        self._last = bytearray(2 * frame)  # last good frame, for concealment
        self._have_last = False
        self._scratch = bytearray(2 * frame)
        self._zeros = bytes(2 * frame)
        self.stats = {"received": 0, "played": 0, "late": 0, "duplicate": 0, "lost": 0,
                      "concealed": 0, "underruns": 0, "overflow": 0, "resyncs": 0,
                      "dropped": 0, "held": 0}
        self.reset()

    def reset(self):
        """Forget everything buffered (new source, codec or address)."""
        for i in range(self.nslots):
            self._len[i] = 0
        self.state = _IDLE
        self.ssrc = None
        self.play_ts = 0
        self.floor_ts = None  # everything before this has been played
        self.max_seq = None
        self.seen = 0  # bit i: max_seq - i has been received
        self.count = 0
        self._last_arrival = None
        self._last_pts = 0
        self.jitter16 = 0  # A.8, samples * 16
        self.peak16 = 0  # peak |D|, samples * 16, decaying
        self._misses = 0
        self._over = 0
        self._idle_ticks = 0

    # -- delay target --------------------------------------------------------

    def target_ms(self):
        j = self.jitter16 >> 4
        p = self.peak16 >> 4
        need = 2 * j if 2 * j > p else p
        ms = need * 1000 // self.rate + self.frame * 1000 // self.rate
        if ms < self.min_ms:
            return self.min_ms
        if ms > self.max_ms:
            return self.max_ms
        return ms

    def depth_ms(self):
        """Buffered audio ahead of the play point, in ms."""
        end = self._end()
        if end is None:
            return 0
        start = self.play_ts if self.state == _PLAYING else self._oldest()
        d = _tsd(end, start)
        return d * 1000 // self.rate if d > 0 else 0

    def _estimate(self, ts, now):
        if self._last_arrival is not None and ts != self._last_pts:
            d = ticks_diff(now, self._last_arrival) * self.rate // 1000 - _tsd(ts, self._last_pts)
            if d < 0:
                d = -d
            if d < self.rate * 4:  # a longer gap is a pause, not jitter
                self.jitter16 += d - ((self.jitter16 + 8) >> 4)
                d16 = d << 4
                self.peak16 -= self.peak16 >> 9
                if d16 > self.peak16:
                    self.peak16 = d16
        self._last_arrival = now
        self._last_pts = ts

    # -- slots ---------------------------------------------------------------

    def _end(self):
        """Timestamp just after the newest buffered sample, or None."""
        end = None
        for i in range(self.nslots):
            n = self._len[i]
            if n:
                e = (self._ts[i] + n) & _TS_MASK
                if end is None or _tsd(e, end) > 0:
                    end = e
        return end

    def _oldest(self):
        best = None
        for i in range(self.nslots):
            if self._len[i] and (best is None or _tsd(self._ts[i], best) < 0):
                best = self._ts[i]
        return best

    def _oldest_slot(self):
        best = -1
        for i in range(self.nslots):
            if self._len[i] and (best < 0 or _tsd(self._ts[i], self._ts[best]) < 0):
                best = i
        return best

    def _free(self, i):
        self._len[i] = 0
        self.count -= 1

    # -- in ------------------------------------------------------------------

    def put(self, seq, ts, payload, now, ssrc=None):
        """Buffer one audio packet; returns "ok", "late", "duplicate" or "resync"
        (the packet was kept and started a new stream)."""
        st = self.stats
        st["received"] += 1
        result = "ok"
        if self.max_seq is not None and (
                (ssrc is not None and ssrc != self.ssrc)
                or abs(_seqd(seq, self.max_seq)) > _SEQ_JUMP
                or (self.floor_ts is not None
                    and abs(_tsd(ts, self.floor_ts)) > _TS_JUMP_MS * self.rate // 1000)):
            self.reset()
            st["resyncs"] += 1
            result = "resync"
        self.ssrc = ssrc
        # Duplicate by sequence number, in a 64-packet window.
        newest = True
        if self.max_seq is None:
            self.max_seq = seq
            self.seen = 1
        else:
            d = _seqd(seq, self.max_seq)
            newest = d > 0
            if d > 0:
                self.seen = ((self.seen << d) | 1) & 0xFFFFFFFF if d < 32 else 1
                self.max_seq = seq
            elif -d < 32:
                bit = 1 << -d
                if self.seen & bit:
                    st["duplicate"] += 1
                    return "duplicate"
                self.seen |= bit
        n = len(payload)
        if n == 0:
            return result
        if self.floor_ts is not None and _tsd((ts + n) & _TS_MASK, self.floor_ts) <= 0:
            if not (newest and self.state == _PLAYING and self.count == 0 and self._misses):
                st["late"] += 1
                return "late"
            # Held on after a miss, but the next packet came late, not lost:
            # the sender is behind. An underrun after all: play from it.
            st["underruns"] += 1
            self.state = _IDLE
            self._idle_ticks = 0
            self.floor_ts = ts
        free = -1
        for i in range(self.nslots):
            if self._len[i]:
                if self._ts[i] == ts:
                    st["duplicate"] += 1
                    return "duplicate"
            elif free < 0:
                free = i
        self._estimate(ts, now)
        if free < 0:
            # Full: the oldest packet makes room (the newest audio matters most).
            free = self._oldest_slot()
            self._free(free)
            st["overflow"] += 1
        buf = self._data[free]
        if n > len(buf):
            n = len(buf)
        buf[:n] = payload[:n] if n < len(payload) else payload
        self._len[free] = n
        self._ts[free] = ts
        self._seq[free] = seq
        self.count += 1
        return result

    # -- out -----------------------------------------------------------------

    def _fill(self, start, out):
        """Decode the samples [start, start + frame) that are buffered into out;
        returns how many samples were found. Frees fully played slots."""
        frame = self.frame
        got = 0
        for i in range(self.nslots):
            n = self._len[i]
            if not n:
                continue
            off = _tsd(start, self._ts[i])  # where the frame starts inside this packet
            if off >= n:
                self._free(i)  # entirely before the frame: played (or skipped)
                continue
            if off <= -frame:
                continue  # entirely after this frame
            if off == 0 and n == frame:
                self.decode_into(self._fview[i], out)
                self._free(i)
                got += frame
                continue
            a = off if off > 0 else 0  # first sample of the packet used
            b = off + frame if off + frame < n else n
            dst = a - off  # its position in the frame
            self.decode_into(memoryview(self._data[i])[a:b], memoryview(out)[2 * dst:2 * (dst + b - a)])
            got += b - a
            if b == n:
                self._free(i)
        return got

    def _conceal(self, out):
        """Repeat the last frame, fading out linearly over conceal_frames
        frames; silence after that."""
        m = self._misses
        n = self.conceal_frames
        if 1 <= m <= n and self._have_last:
            self.stats["concealed"] += 1
            last = self._last
            frame = self.frame
            total = n * frame
            left = total - (m - 1) * frame  # gain numerator at the frame's first sample
            j = 0
            for i in range(frame):
                v = last[j] | (last[j + 1] << 8)
                if v & 0x8000:
                    v -= 0x10000
                v = v * (left - i) // total
                out[j] = v & 0xFF
                out[j + 1] = (v >> 8) & 0xFF
                j += 2
        else:
            out[:] = self._zeros

    def pop(self, now=None):
        """The next frame of PCM (16-bit LE), valid until the next pop."""
        out = self.pcm
        frame = self.frame
        st = self.stats
        if self.state == _IDLE:
            oldest = self._oldest()
            ready = False
            if oldest is not None:
                buffered = _tsd(self._end(), oldest) * 1000 // self.rate
                self._idle_ticks += 1
                ready = buffered >= self.target_ms() or (
                    self._idle_ticks * frame * 1000 // self.rate >= self.max_ms)
            if not ready:
                self._misses += 1
                self._conceal(out)
                return out
            self.state = _PLAYING
            self.play_ts = oldest
            self._idle_ticks = 0
        # Too much delay: drop a frame now (beyond max) or after a while (beyond target).
        depth = self.depth_ms()
        frame_ms = frame * 1000 // self.rate
        if depth > self.max_ms + frame_ms:
            self._skip(depth - self.target_ms())
        elif depth > self.target_ms() + frame_ms:
            self._over += 1
            if self._over >= _SHRINK_TICKS:
                self._skip(frame_ms)
        else:
            self._over = 0
        self._scratch[:] = self._zeros
        got = self._fill(self.play_ts, self._scratch)
        start = self.play_ts
        self.play_ts = (start + frame) & _TS_MASK
        self.floor_ts = self.play_ts
        if got:
            out[:] = self._scratch
            self._last[:] = out
            self._have_last = True
            self._misses = 0
            st["played"] += 1
            return out
        self._misses += 1
        if self.count == 0 and self._misses >= self.hold_frames:
            # Nothing behind the gap for a while: the sender is late (or paused). Refill.
            st["underruns"] += 1
            self.state = _IDLE
            self._idle_ticks = 0
        elif self.count == 0:
            st["held"] += 1  # lost, or the start of an underrun: not known yet
        else:
            st["lost"] += 1
        self._conceal(out)
        return out

    def _skip(self, ms):
        """Move the play point on by whole frames covering ms (at least one)."""
        frame = self.frame
        n = ms * self.rate // 1000
        frames = (n + frame - 1) // frame
        if frames < 1:
            frames = 1
        self.play_ts = (self.play_ts + frames * frame) & _TS_MASK
        self.stats["dropped"] += frames
        self._over = 0
        # Free what is now entirely behind the play point.
        for i in range(self.nslots):
            if self._len[i] and _tsd(self.play_ts, self._ts[i]) >= self._len[i]:
                self._free(i)
