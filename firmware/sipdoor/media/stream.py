"""One call's media, sans-IO: G.711 over RTP with RTCP, DTMF and a jitter buffer.

The loop drives a Stream and moves its bytes:

    s = Stream(negotiated, rng, now)           # negotiated: sdp.make_answer / parse_answer
    s.receive_rtp(data, src, now)              # each datagram from the RTP socket
    s.receive_rtcp(data, src, now)             # ... and from the RTCP socket
    pcm_out = s.tick(now, pcm_in)              # every s.ptime ms: one frame in, one out
    for data, addr, kind in s.datagrams_to_send(): ...   # kind "rtp" or "rtcp"
    for ev in s.events(): ...                  # DtmfReceived, MediaStats, MediaTimeout
    s.get_timer() / s.handle_timer(now)        # RTCP, stats, timeout (tick also runs them)

Rules:
- Symmetric RTP (RFC 4961 style latching): the peer's source address and
  SSRC are fixed by its first valid packet from the address its SDP gave,
  or, for a peer behind NAT, by PROBATION packets in sequence (same SSRC)
  from one other address. The SDP address always wins: a stray source that
  latched first is replaced as soon as the signalled one sends (so a LAN
  host spraying RTP cannot take over a call to a directly reachable phone).
  Packets from anywhere else are dropped and from then on we send to the
  latched address (NAT). A new SSRC from the latched address is taken only
  after the old one has been silent for relatch_ms (a PBX switching media).
  update() with a new address unlatches. RTCP latches the same way, from
  the RTP peer's host.
- Direction is ours (sdp "direction"): we send only for sendrecv/sendonly and
  play only for sendrecv/recvonly. Sending resumes with the marker bit.
- DTMF queued with send_dtmf() replaces the audio packets while it is sent
  (RFC 4733 2.5.1); without a negotiated telephone-event it is sent as tones.
  Keys are received from telephone-events, or in-band by Goertzel when the
  peer has no telephone-event (inband_dtmf="auto").
- Loss: the jitter buffer conceals up to conceal_ms (repeat and fade) and
  plays on through up to hold_ms of missing packets before re-buffering.
- The timestamp clock runs on every tick, sent or not, so it follows time.
- RTCP: SR (when we sent since the last report) or RR, with SDES CNAME,
  every rtcp_interval_s (randomised 0.5..1.5, RFC 3550 6.2); close() sends
  one with BYE. NTP time is the caller's wall clock (wall(), seconds) at
  start plus elapsed ticks; only its consistency matters for RTT.
- tick() returns a buffer that is reused: play or copy it before the next tick.
"""

from sipdoor.clock import ticks_add, ticks_diff
from sipdoor.hal.base import Event
from sipdoor.media import g711, rtcp, rtp
from sipdoor.media.dtmf import EVENT_KEYS, DtmfReceiver, DtmfSender, GoertzelDetector, ToneGenerator, check_keys
from sipdoor.media.jitter import JitterBuffer

_CN_PT = 13  # comfort noise (RFC 3389): accepted and ignored
_MAX_QUEUED = 16  # datagrams kept when nobody drains them (then the oldest go)
_MAX_EVENTS = 32
PROBATION = 4  # packets in sequence before latching to an address the SDP did not give (80 ms)
MAX_CANDIDATES = 4  # unsignalled sources tracked at once


class DtmfReceived(Event):
    kind = "dtmf"

    def __init__(self, digit, source="rfc4733"):
        self.digit = digit
        self.source = source


class MediaStats(Event):
    kind = "media_stats"

    def __init__(self, stats):
        for k in stats:
            setattr(self, k, stats[k])


class MediaTimeout(Event):
    kind = "media_timeout"

    def __init__(self, seconds):
        self.seconds = seconds


def _codec(name):
    name = (name or "").upper()
    if name == "PCMU":
        return g711.ulaw_encode_into, g711.ulaw_decode_into
    if name == "PCMA":
        return g711.alaw_encode_into, g711.alaw_decode_into
    raise ValueError("unsupported codec %r" % name)


def _valid_addr(addr, port):
    return bool(addr) and addr not in ("0.0.0.0", "::") and bool(port)


class Stream:
    def __init__(self, negotiated, rng, now, log=None, jitter_min_ms=20, jitter_max_ms=200,
                 timeout_s=30, stats_interval_s=5, rtcp_interval_s=5, cname=None, wall=None,
                 inband_dtmf="auto", dtmf_duration_ms=100, dtmf_pause_ms=100, relatch_ms=1000,
                 conceal_ms=60, hold_ms=100):
        self.log = log
        self.rng = rng
        self.jitter_min_ms = jitter_min_ms
        self.jitter_max_ms = jitter_max_ms
        self.timeout_ms = int(timeout_s * 1000)
        self.stats_ms = int(stats_interval_s * 1000)
        self.rtcp_ms = int(rtcp_interval_s * 1000)
        self.relatch_ms = relatch_ms
        self.conceal_ms = conceal_ms
        self.hold_ms = hold_ms
        self.inband_dtmf = inband_dtmf
        self._dtmf_duration_ms = dtmf_duration_ms
        self._dtmf_pause_ms = dtmf_pause_ms
        self.sender = rtp.Sender(rng)
        self.cname = cname or "%08x@sipdoor" % rng.getrandbits(32)
        self.rx = rtcp.ReceiverStats()
        self._hdr = rtp.Header()
        self._dtmf_rx = DtmfReceiver()
        self._tone = None  # ToneGenerator, made when first needed
        self._detector = None
        self._out = []
        self._events = []
        self._now = now
        self._ms = 0  # ms since start, from ticks (for NTP time)
        self._ntp0 = rtcp.NTP_EPOCH_OFFSET + (int(wall()) if wall is not None else 0)
        self.muted = False
        self.closed = False
        self._quiet = True  # not sent since the last tick: the next packet is a spurt
        self.latched = None
        self.latched_ssrc = None
        self.rtcp_latched = None
        self._candidates = {}  # unsignalled source -> (ssrc, last seq, packets in sequence)
        self._last_rx = None
        self._rx_base = now  # timeout counts from here when nothing came
        self._timed_out = False
        self.rtt_ms = None
        self.peer_bye = False
        self._last_sr_packets = 0
        self.counters = {"packets_in": 0, "bytes_in": 0, "packets_out": 0, "bytes_out": 0,
                         "ignored": 0, "invalid": 0, "stun": 0, "rtcp_in": 0, "rtcp_out": 0,
                         "dtmf_in": 0, "dtmf_out": 0, "dropped_out": 0}
        self.frame = 0
        self.negotiated = None
        self._apply(negotiated)
        self._next_rtcp = ticks_add(now, self._rtcp_delay())
        self._next_stats = ticks_add(now, self.stats_ms)

    # -- set-up ----------------------------------------------------------------

    def _say(self, msg, *args):
        if self.log is not None:
            self.log.info("media: " + msg, *args)

    def _apply(self, n):
        old = self.negotiated or {}
        self.negotiated = dict(n)
        clock = n.get("clock") or 8000
        self.clock = clock
        self.codec = (n.get("codec") or "").upper()
        enc, dec = _codec(self.codec)
        self._encode = enc
        self.pt = n["pt"]
        self.dtmf_pt = n.get("dtmf_pt")
        self.recv_pt = n.get("recv_pt", self.pt)
        self.recv_dtmf_pt = n.get("recv_dtmf_pt", self.dtmf_pt)
        self.ptime = n.get("ptime") or 20
        direction = n.get("direction") or "sendrecv"
        self.direction = direction
        self.can_send = direction in ("sendrecv", "sendonly")
        self.can_recv = direction in ("sendrecv", "recvonly")
        self.hold = bool(n.get("hold"))
        self.remote = (n.get("remote_addr"), n.get("remote_port"))
        self.rtcp_port = n.get("rtcp_port")
        frame = self.ptime * clock // 1000
        if frame != self.frame:
            self.frame = frame
            self._pkt = bytearray(rtp.HEADER_LEN + frame)
            self._payload = memoryview(self._pkt)[rtp.HEADER_LEN:]
            self._pcm_tmp = bytearray(2 * frame)
            self._silence = bytes(2 * frame)
            self.jb = JitterBuffer(dec, frame, clock, self.jitter_min_ms, self.jitter_max_ms,
                                   conceal_frames=self.conceal_ms // self.ptime,
                                   hold_frames=self.hold_ms // self.ptime)
            pending = self._dtmf_tx._queue if hasattr(self, "_dtmf_tx") else ""
            self._dtmf_tx = DtmfSender(frame, self._dtmf_duration_ms, self._dtmf_pause_ms, clock=clock)
            self._dtmf_tx._queue = pending
            self._detector = None
        elif old.get("codec", "").upper() != self.codec:
            self.jb.decode_into = dec
            self.jb.reset()
        self._silence_codes = bytearray(frame)
        enc(self._silence, self._silence_codes)
        if (old.get("remote_addr"), old.get("remote_port")) != self.remote and old:
            self._say("remote moved to %s:%s, unlatching", self.remote[0], self.remote[1])
            self.latched = None
            self.latched_ssrc = None
            self.rtcp_latched = None
            self._candidates = {}
            self.jb.reset()
        use_inband = self.inband_dtmf is True or (self.inband_dtmf == "auto" and self.recv_dtmf_pt is None)
        if use_inband and self._detector is None:
            self._detector = GoertzelDetector(block=205 if frame % 160 else 160)
        elif not use_inband:
            self._detector = None

    def update(self, negotiated):
        """Apply a re-INVITE's outcome: hold/resume, new address, codec or ptime."""
        was_sending = self.can_send
        self._apply(negotiated)
        if self.can_send and not was_sending:
            self._quiet = True
        self._rx_base = self._now
        self._last_rx = None
        self._timed_out = False

    def mute(self, flag):
        """Stop (True) or resume (False) sending audio; receiving goes on."""
        flag = bool(flag)
        if not flag and self.muted:
            self._quiet = True
        self.muted = flag

    # -- time ------------------------------------------------------------------

    def _clock(self, now):
        d = ticks_diff(now, self._now)
        if d > 0:
            self._ms += d
            self._now = now

    def _ntp(self):
        return rtcp.ntp_from_ms(self._ntp0, self._ms)

    def _rtcp_delay(self):
        """rtcp_ms times a random 0.5..1.5 (RFC 3550 6.2), never synchronised."""
        return self.rtcp_ms * (512 + self.rng.getrandbits(10)) // 1024

    # -- destinations ------------------------------------------------------------

    def rtp_dest(self):
        if self.latched is not None:
            return self.latched
        if _valid_addr(self.remote[0], self.remote[1]):
            return self.remote
        return None

    def rtcp_dest(self):
        if self.rtcp_latched is not None:
            return self.rtcp_latched
        host = self.latched[0] if self.latched is not None else self.remote[0]
        if _valid_addr(host, self.rtcp_port) and self.rtcp_port != self.remote[1]:
            return (host, self.rtcp_port)
        return None

    # -- receiving -------------------------------------------------------------------

    def receive_rtp(self, data, src, now):
        self._clock(now)
        if self.closed:
            return
        h = self._hdr
        c = self.counters
        if data and data[0] < 4:
            # STUN (RFC 7983 demultiplexing: first byte 0-3), e.g. linphone's
            # Binding Requests that keep its NAT binding open: not RTP, not junk.
            c["stun"] += 1
            return
        if not h.parse(data):
            c["invalid"] += 1
            return
        pt = h.pt
        dtmf = pt == self.recv_dtmf_pt or pt == self.dtmf_pt
        if not dtmf and pt != self.recv_pt and pt != self.pt:
            if pt != _CN_PT:
                c["invalid"] += 1
            return
        if self.latched is None or (src != self.latched and src == self.remote):
            if not self._may_latch(src, h):
                c["ignored"] += 1
                return
            if self.latched is not None:
                self.rtcp_latched = None
                self.jb.reset()
            self.latched = src
            self.latched_ssrc = h.ssrc
            self.rx.reset(h.ssrc)
            self._dtmf_rx.reset()
            self._candidates = {}
            self._say("latched RTP to %s:%s ssrc %08x", src[0], src[1], h.ssrc)
        elif src != self.latched:
            c["ignored"] += 1
            return
        elif h.ssrc != self.latched_ssrc:
            if self._last_rx is not None and ticks_diff(now, self._last_rx) < self.relatch_ms:
                c["ignored"] += 1
                return
            self._say("new ssrc %08x from %s:%s", h.ssrc, src[0], src[1])
            self.latched_ssrc = h.ssrc
            self.rx.reset(h.ssrc)
            self._dtmf_rx.reset()
        self._last_rx = now
        self._timed_out = False
        c["packets_in"] += 1
        c["bytes_in"] += h.length
        self.rx.on_packet(h.seq, h.ts, h.length, now, not dtmf)
        if not self.can_recv:
            return
        if dtmf:
            key = self._dtmf_rx.receive(h.payload(data), h.ts)
            if key is not None:
                c["dtmf_in"] += 1
                self._event(DtmfReceived(key, "rfc4733"))
        else:
            self.jb.put(h.seq, h.ts, h.payload(data), now, h.ssrc)

    def _may_latch(self, src, h):
        """True for the SDP address at once; for another source after
        PROBATION packets in sequence with one SSRC (a peer behind NAT)."""
        if src == self.remote:
            return True
        cands = self._candidates
        seen = cands.get(src)
        if seen is not None and seen[0] == h.ssrc and (h.seq - seen[1]) & 0xFFFF == 1:
            count = seen[2] + 1
        else:
            count = 1
        if seen is None and len(cands) >= MAX_CANDIDATES:
            cands.clear()  # a spray from many addresses: start over, bounded
        cands[src] = (h.ssrc, h.seq, count)
        return count >= PROBATION

    def receive_rtcp(self, data, src, now):
        self._clock(now)
        if self.closed:
            return
        if self.rtcp_latched is None:
            host = self.latched[0] if self.latched is not None else self.remote[0]
            if src[0] != host:
                self.counters["ignored"] += 1
                return
        elif src != self.rtcp_latched:
            self.counters["ignored"] += 1
            return
        try:
            packets = rtcp.parse(data)
        except rtcp.RtcpError:
            self.counters["invalid"] += 1
            return
        if self.rtcp_latched is None:
            self.rtcp_latched = src
        self.counters["rtcp_in"] += 1
        peer = self.latched_ssrc
        for p in packets:
            if p.pt == rtcp.SR and (peer is None or p.ssrc == peer):
                self.rx.on_sr(p.ntp_sec, p.ntp_frac, now)
            if p.pt in (rtcp.SR, rtcp.RR):
                for b in p.blocks:
                    if b.ssrc == self.sender.ssrc:
                        sec, frac = self._ntp()
                        rtt = rtcp.rtt_ms(b.lsr, b.dlsr, sec, frac)
                        if rtt is not None:
                            self.rtt_ms = rtt
            elif p.pt == rtcp.BYE and peer is not None and peer in p.ssrcs:
                self.peer_bye = True
                self._say("peer sent RTCP BYE")

    # -- the 20 ms tick -----------------------------------------------------------------

    def tick(self, now, pcm_in=None):
        """Send one frame (pcm_in, None = silence) and return one frame to play."""
        self._clock(now)
        if self.closed:
            return self._silence
        self._send(pcm_in)
        if self.can_recv:
            out = self.jb.pop(now)
            det = self._detector
            if det is not None:
                key = det.feed(out)
                if key is not None:
                    self.counters["dtmf_in"] += 1
                    self._event(DtmfReceived(key, "inband"))
        else:
            out = self._silence
        if self._due(now):
            self.handle_timer(now)
        return out

    def _send(self, pcm):
        s = self.sender
        frame = self.frame
        dest = self.rtp_dest()
        if not self.can_send or self.muted or dest is None:
            self._quiet = True
            s.advance(frame)
            return
        if self._quiet:
            s.start_spurt()
            self._quiet = False
        pkt = self._pkt
        tx = self._dtmf_tx
        d = tx.next_packet(s.ts) if tx.busy() else None
        c = self.counters
        if d is not None and self.dtmf_pt is not None:
            marker, ets = d
            s.header(pkt, self.dtmf_pt, 4, ets, marker)
            pkt[12:16] = tx.payload
            self._queue((bytes(pkt[:16]), dest, "rtp"))
            if marker:
                c["dtmf_out"] += 1
            c["packets_out"] += 1
            c["bytes_out"] += 4
            s.advance(frame)
            return
        if d is not None:
            # No telephone-event: the key goes out as its two tones.
            if self._tone is None:
                self._tone = ToneGenerator(self.clock)
            if d[0]:
                self._tone.set_key(EVENT_KEYS[tx.payload[0]])
                c["dtmf_out"] += 1
            pcm = self._pcm_tmp
            if tx.tone_on():
                self._tone.fill(pcm)
            else:
                pcm[:] = self._silence
        payload = self._payload
        if pcm is None:
            payload[:] = self._silence_codes
        else:
            n = len(pcm)
            if n == 2 * frame:
                self._encode(pcm, payload)
            elif n > 2 * frame:
                self._encode(memoryview(pcm)[:2 * frame], payload)
            else:
                n &= ~1
                k = self._encode(memoryview(pcm)[:n], payload)
                payload[k:] = self._silence_codes[k:]
        s.header(pkt, self.pt, frame)
        self._queue((bytes(pkt), dest, "rtp"))
        c["packets_out"] += 1
        c["bytes_out"] += frame
        s.advance(frame)

    # -- DTMF out ------------------------------------------------------------------------

    def send_dtmf(self, digits, now=None):
        """Queue keys ("0"-"9", "*", "#", "A"-"D"); they are paced out by tick()."""
        if now is not None:
            self._clock(now)
        self._dtmf_tx.queue(check_keys(digits))

    def dtmf_pending(self):
        return self._dtmf_tx.busy()

    # -- timers ---------------------------------------------------------------------------

    def _timeout_at(self):
        if self.closed or not self.can_recv or self.hold or self._timed_out or not self.timeout_ms:
            return None
        base = self._last_rx if self._last_rx is not None else self._rx_base
        return ticks_add(base, self.timeout_ms)

    def get_timer(self):
        """The earliest tick at which handle_timer() has work, or None."""
        if self.closed:
            return None
        t = self._next_rtcp
        x = self._next_stats
        if ticks_diff(x, t) < 0:
            t = x
        x = self._timeout_at()
        if x is not None and ticks_diff(x, t) < 0:
            t = x
        return t

    def _due(self, now):
        t = self.get_timer()
        return t is not None and ticks_diff(now, t) >= 0

    def handle_timer(self, now):
        self._clock(now)
        if self.closed:
            return
        if ticks_diff(now, self._next_rtcp) >= 0:
            self._send_rtcp(now)
            self._next_rtcp = ticks_add(now, self._rtcp_delay())
        if ticks_diff(now, self._next_stats) >= 0:
            self._event(MediaStats(self.stats()))
            self._next_stats = ticks_add(now, self.stats_ms)
        t = self._timeout_at()
        if t is not None and ticks_diff(now, t) >= 0:
            self._timed_out = True
            self._say("no RTP for %d s", self.timeout_ms // 1000)
            self._event(MediaTimeout(self.timeout_ms // 1000))

    def _send_rtcp(self, now, bye=False, reason=None):
        dest = self.rtcp_dest()
        if dest is None:
            return
        s = self.sender
        info = None
        if s.packets != self._last_sr_packets:
            sec, frac = self._ntp()
            info = (sec, frac, s.ts, s.packets, s.octets)
            self._last_sr_packets = s.packets
        blocks = [self.rx.report_block(now)] if self.rx.started else []
        data = rtcp.compound(s.ssrc, self.cname, info, blocks, bye, reason)
        self._queue((data, dest, "rtcp"))
        self.counters["rtcp_out"] += 1

    # -- output ----------------------------------------------------------------------------

    def _queue(self, item):
        out = self._out
        if len(out) >= _MAX_QUEUED:
            out.pop(0)
            self.counters["dropped_out"] += 1
        out.append(item)

    def _event(self, ev):
        if len(self._events) < _MAX_EVENTS:
            self._events.append(ev)

    def datagrams_to_send(self):
        out = self._out
        if not out:
            return out
        self._out = []
        return out

    def events(self):
        ev = self._events
        if not ev:
            return ev
        self._events = []
        return ev

    def close(self, now):
        """End the stream: one last RTCP report with BYE; nothing after that."""
        self._clock(now)
        if self.closed:
            return
        self._send_rtcp(now, True)
        self.closed = True

    def stats(self):
        c = self.counters
        rx = self.rx
        expected = rx.expected
        lost = rx.lost if rx.started else 0
        jb = self.jb.stats
        d = {
            "codec": self.codec,
            "packets_in": c["packets_in"], "bytes_in": c["bytes_in"],
            "packets_out": c["packets_out"], "bytes_out": c["bytes_out"],
            "lost": lost,
            "loss_pct": (lost * 1000 // expected) / 10 if expected > 0 and lost > 0 else 0,
            "jitter_ms": rx.jitter_ms(),
            "rtt_ms": self.rtt_ms,
            "late": jb["late"], "duplicate": jb["duplicate"], "concealed": jb["concealed"],
            "jitter_buffer_ms": self.jb.target_ms(),
            "ignored": c["ignored"], "invalid": c["invalid"], "stun": c["stun"],
            "dtmf_in": c["dtmf_in"], "dtmf_out": c["dtmf_out"],
        }
        return d
