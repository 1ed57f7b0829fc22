"""Stream tests: two Streams back to back through a fake wire with a fake clock."""

import mediautil
import support
from sipdoor.clock import ticks_add, ticks_diff
from sipdoor.media import rtcp, rtp
from sipdoor.media import stream as stream_mod
from sipdoor.media.stream import DtmfReceived, MediaStats, MediaTimeout, Stream

A = ("10.0.0.1", 4000)
B = ("10.0.0.2", 5000)
TONE = mediautil.sines(160, [1000], -10)  # 1000 Hz: 8 samples a period, so one frame loops


def neg(remote, **kw):
    d = {"codec": "PCMU", "pt": 0, "clock": 8000, "dtmf_pt": 101, "ptime": 20,
         "remote_addr": remote[0], "remote_port": remote[1], "rtcp_port": remote[1] + 1,
         "direction": "sendrecv", "hold": False, "recv_pt": 0, "recv_dtmf_pt": 101}
    d.update(kw)
    return d


class Wire:
    """Carries datagrams between streams by address, after delay_ms, losing
    every loss-th packet; nat maps a stream's real address to what others see."""

    def __init__(self, delay_ms=0, loss=0):
        self.ends = {}  # (host, rtp port) -> stream
        self.delay_ms = delay_ms
        self.loss = loss
        self.nat = {}
        self.queue = []
        self.count = {}  # RTP datagrams per sender
        self.sent = []  # (sender addr, data, dest, kind) of the last pump, for inspection

    def add(self, addr, stream):
        self.ends[addr] = stream

    def pump(self, now):
        self.sent = []
        for addr in self.ends:
            s = self.ends[addr]
            for data, dest, kind in s.datagrams_to_send():
                self.sent.append((addr, data, dest, kind))
                if kind == "rtp":
                    n = self.count.get(addr, 0) + 1
                    self.count[addr] = n
                    if self.loss and n % self.loss == 0:
                        continue
                src = self.nat.get(addr, addr)
                if kind == "rtcp":
                    src = (src[0], src[1] + 1)
                self.queue.append((ticks_add(now, self.delay_ms), data, src, dest, kind))
        keep = []
        for item in self.queue:
            at, data, src, dest, kind = item
            if ticks_diff(now, at) < 0:
                keep.append(item)
                continue
            port = dest[1] - 1 if kind == "rtcp" else dest[1]
            target = None
            for addr in self.ends:
                seen = self.nat.get(addr, addr)
                if (seen[0], seen[1]) == (dest[0], port) or (addr[0], addr[1]) == (dest[0], port):
                    target = self.ends[addr]
            if target is None:
                continue
            if kind == "rtcp":
                target.receive_rtcp(data, src, now)
            else:
                target.receive_rtp(data, src, now)
        self.queue = keep


def pair(wire=None, a_kw=None, b_kw=None, **kw):
    rng = mediautil.Rng(42)
    a = Stream(neg(B, **(a_kw or {})), rng, 0, **kw)
    b = Stream(neg(A, **(b_kw or {})), rng, 0, **kw)
    wire = wire or Wire()
    wire.add(A, a)
    wire.add(B, b)
    return a, b, wire


def run(a, b, wire, start, ticks, a_pcm=TONE, b_pcm=None, on_tick=None):
    """ticks of 20 ms; returns (A's events, B's events, B's last output frame copy)."""
    ev_a = []
    ev_b = []
    out_b = None
    for t in range(ticks):
        now = ticks_add(start, 20 * t)
        a.tick(now, a_pcm)
        out_b = bytes(b.tick(now, b_pcm))
        wire.pump(now)
        if on_tick is not None:
            on_tick(now, out_b)
        ev_a += a.events()
        ev_b += b.events()
    return ev_a, ev_b, out_b


def rtp_sent(wire, sender):
    return [d for s, d, dest, kind in wire.sent if s == sender and kind == "rtp"]


def test_back_to_back_tone_with_rtcp_and_stats():
    wire = Wire(delay_ms=40)
    a, b, _ = pair(wire)
    acc = [0.0, 0.0, 0.0, 0]

    def measure(now, out):
        if now >= 2000:
            acc[0] += mediautil.tone_power(out, 1000)
            acc[1] += mediautil.tone_power(out, 1500)
            acc[3] += 1

    ev_a, ev_b, out = run(a, b, wire, 0, 600, on_tick=measure)
    want = mediautil.amp(-10) ** 2 / 2
    p1000 = acc[0] / acc[3]
    assert abs(p1000 - want) < want * 0.1, (p1000, want)
    assert acc[1] / acc[3] < want * 0.01
    sb = b.stats()
    assert sb["packets_in"] >= 595 and sb["lost"] == 0 and sb["late"] == 0
    assert sb["bytes_in"] == 160 * sb["packets_in"]
    assert sb["jitter_ms"] == 0
    sa = a.stats()
    assert sa["packets_out"] == 600 and sa["bytes_out"] == 96000
    # RTT from B's report about A's SR: two wire delays, to a tick.
    assert sa["rtt_ms"] is not None and 60 <= sa["rtt_ms"] <= 110, sa["rtt_ms"]
    stats = [e for e in ev_b if isinstance(e, MediaStats)]
    assert len(stats) == 2
    d = stats[-1].to_dict()
    assert d["event"] == "media_stats" and d["packets_in"] > 0 and "jitter_ms" in d and "rtt_ms" in d
    assert not [e for e in ev_a + ev_b if isinstance(e, MediaTimeout)]
    # A sends SR (it sent RTP), with CNAME.
    assert a.counters["rtcp_out"] >= 1 and b.counters["rtcp_in"] >= 1


def test_rtp_packets_on_the_wire():
    a, b, wire = pair()
    a.tick(0, TONE)
    a.tick(20, TONE)
    dg = a.datagrams_to_send()
    assert len(dg) == 2 and dg[0][1] == B and dg[0][2] == "rtp"
    h0 = rtp.parse(dg[0][0])
    h1 = rtp.parse(dg[1][0])
    assert h0.marker and not h1.marker
    assert h0.pt == 0 and h0.length == 160
    assert h1.seq == (h0.seq + 1) & 0xFFFF and h1.ts == (h0.ts + 160) & 0xFFFFFFFF
    assert h0.ssrc == h1.ssrc == a.sender.ssrc
    assert a.datagrams_to_send() == []


def test_hold_stops_sending_and_resume_sets_the_marker():
    a, b, wire = pair()
    run(a, b, wire, 0, 50)
    # We put B on hold: A only receives; B is told it is held (sendonly for B).
    a.update(neg(B, direction="recvonly"))
    b.update(neg(A, direction="sendonly", hold=True))
    sent = []
    for t in range(50, 2500):
        now = 20 * t
        a.tick(now, TONE)
        b.tick(now, None)
        wire.pump(now)
        sent += rtp_sent(wire, A)
    assert sent == []
    assert b.counters["packets_out"] > 2000  # B still sends (music on hold)
    ev = a.events() + b.events()
    assert not [e for e in ev if isinstance(e, MediaTimeout)]  # held side expects nothing
    a.update(neg(B))
    b.update(neg(A))
    a.tick(50000, TONE)
    wire.pump(50000)
    first = rtp.parse(rtp_sent(wire, A)[0])
    assert first.marker


def test_inactive_and_no_address_send_nothing():
    a, b, wire = pair(a_kw={"direction": "inactive"})
    run(a, b, wire, 0, 20)
    assert a.counters["packets_out"] == 0
    assert b.counters["packets_in"] == 0
    c = Stream(neg(("0.0.0.0", 4000)), mediautil.Rng(1), 0)
    c.tick(0, TONE)
    assert c.datagrams_to_send() == []


def test_mute_stops_audio_and_unmute_sets_the_marker():
    a, b, wire = pair()
    run(a, b, wire, 0, 5)
    a.mute(True)
    run(a, b, wire, 100, 10)
    assert a.counters["packets_out"] == 5
    a.mute(False)
    a.tick(400, TONE)
    wire.pump(400)
    assert rtp.parse(rtp_sent(wire, A)[0]).marker


def test_latching_follows_nat_and_ignores_a_third_source():
    wire = Wire()
    a, b, _ = pair(wire)
    wire.nat[B] = ("192.0.2.7", 40000)  # B is behind NAT: its packets come from here
    stranger = rtp.Sender(mediautil.Rng(77))
    junk = bytearray(172)
    acc = [0.0, 0]

    def inject(now, out):
        # A third party sprays RTP at A from another address and SSRC.
        stranger.header(junk, 0, 160)
        a.receive_rtp(bytes(junk), ("203.0.113.9", 6666), now)
        if now > 1000:
            acc[0] += mediautil.tone_power(a.jb.pcm, 1000)
            acc[1] += 1

    # B sends the tone, A sends silence; junk goes to A before and after latching.
    a.receive_rtp(b"\x80junk", ("203.0.113.9", 6666), 0)  # invalid: does not latch
    run(a, b, wire, 0, 100, a_pcm=None, b_pcm=TONE, on_tick=inject)
    assert a.latched == ("192.0.2.7", 40000)
    assert a.rtp_dest() == ("192.0.2.7", 40000)
    assert a.counters["ignored"] >= 99
    # A's packets go to the NATed address, and the wire still delivers them to B.
    assert b.counters["packets_in"] > 90
    want = mediautil.amp(-10) ** 2 / 2
    assert abs(acc[0] / acc[1] - want) < want * 0.1  # A hears B only
    # RTCP latched from the same host, to the port it came from.
    run(a, b, wire, 2000, 400, a_pcm=None, b_pcm=TONE)
    assert a.rtcp_latched == ("192.0.2.7", 40001)
    # A re-INVITE to a new address unlatches.
    a.update(neg(("10.0.0.3", 7000)))
    assert a.latched is None and a.rtp_dest() == ("10.0.0.3", 7000)


def _spray(stream, sender, src, now, count=1):
    pkt = bytearray(172)
    for _ in range(count):
        sender.header(pkt, 0, 160)
        stream.receive_rtp(bytes(pkt), src, now)


def test_the_sdp_address_wins_over_a_source_that_latched_first():
    # A LAN host sprays in-sequence RTP before the phone starts: after
    # PROBATION packets it looks like a NATed peer and A latches to it...
    a, b, wire = pair()
    stranger = rtp.Sender(mediautil.Rng(77))
    _spray(a, stranger, ("10.0.0.66", 6666), 0, stream_mod.PROBATION)
    assert a.latched == ("10.0.0.66", 6666)
    # ...until the phone at the address its SDP gave sends: that wins at once.
    heard = [0.0, 0]

    def inject(now, out):
        _spray(a, stranger, ("10.0.0.66", 6666), now)
        if now > 400:
            heard[0] += mediautil.tone_power(a.jb.pcm, 1000)
            heard[1] += 1

    run(a, b, wire, 20, 50, a_pcm=None, b_pcm=TONE, on_tick=inject)
    assert a.latched == B and a.latched_ssrc == b.sender.ssrc
    assert a.rtp_dest() == B
    want = mediautil.amp(-10) ** 2 / 2
    assert abs(heard[0] / heard[1] - want) < want * 0.1  # A hears the phone only


def test_an_unsignalled_source_needs_packets_in_sequence_to_latch():
    a, b, wire = pair()
    one, two = rtp.Sender(mediautil.Rng(1)), rtp.Sender(mediautil.Rng(2))
    pkt = bytearray(172)
    for i in range(20):  # out of sequence: never latches
        one.header(pkt, 0, 160)
        pkt[2], pkt[3] = (i * 7) & 0xFF, 0
        a.receive_rtp(bytes(pkt), ("10.0.0.66", 6666), i * 20)
    for i in range(stream_mod.PROBATION - 1):  # in sequence, not yet enough
        _spray(a, two, ("10.0.0.77", 7777), i * 20)
    assert a.latched is None and a.counters["packets_in"] == 0
    _spray(a, two, ("10.0.0.77", 7777), 100)  # NAT: the PROBATION-th in sequence latches
    assert a.latched == ("10.0.0.77", 7777) and a.latched_ssrc == two.ssrc
    # Many addresses at once stay bounded.
    for port in range(1000, 1100):
        _spray(a, one, ("10.0.0.88", port), 200)
    assert len(a._candidates) <= stream_mod.MAX_CANDIDATES


def test_new_ssrc_is_taken_only_after_the_old_one_goes_quiet():
    a, b, wire = pair()
    run(a, b, wire, 0, 10, a_pcm=None, b_pcm=TONE)
    other = rtp.Sender(mediautil.Rng(5))
    pkt = bytearray(172)
    other.header(pkt, 0, 160)
    a.receive_rtp(bytes(pkt), B, 200)
    assert a.latched_ssrc == b.sender.ssrc
    other.header(pkt, 0, 160)
    a.receive_rtp(bytes(pkt), B, 200 + 1500)  # B's old SSRC silent for 1.5 s
    assert a.latched_ssrc == other.ssrc


def test_rfc4733_dtmf_both_ways_paced_and_deduplicated():
    a, b, wire = pair()
    run(a, b, wire, 0, 10)
    a.send_dtmf("1234#", 200)
    assert a.dtmf_pending()
    seqs = []
    kinds = []

    def watch(now, out):
        for d in rtp_sent(wire, A):
            h = rtp.parse(d)
            seqs.append(h.seq)
            kinds.append(h.pt)

    ev_a, ev_b, _ = run(a, b, wire, 200, 100, on_tick=watch)
    keys = [e for e in ev_b if isinstance(e, DtmfReceived)]
    assert [e.digit for e in keys] == ["1", "2", "3", "4", "#"]
    assert all(e.source == "rfc4733" for e in keys)
    assert keys[0].to_dict() == {"event": "dtmf", "digit": "1", "source": "rfc4733"}
    # One packet per tick: events replace audio, sequence numbers stay continuous.
    assert len(seqs) == 100
    assert all(((seqs[i + 1] - seqs[i]) & 0xFFFF) == 1 for i in range(99))
    assert kinds.count(101) == 5 * 7 and kinds[0] == 101
    assert not a.dtmf_pending()
    support.raises(ValueError, a.send_dtmf, "12z", 2200)


def test_inband_dtmf_without_telephone_event():
    no_te = {"dtmf_pt": None, "recv_dtmf_pt": None}
    a, b, wire = pair(a_kw=no_te, b_kw=no_te)
    run(a, b, wire, 0, 10, a_pcm=None)
    a.send_dtmf("159#", 200)
    ev_a, ev_b, _ = run(a, b, wire, 200, 80, a_pcm=None)
    keys = [e for e in ev_b if isinstance(e, DtmfReceived)]
    assert [e.digit for e in keys] == ["1", "5", "9", "#"]
    assert all(e.source == "inband" for e in keys)
    assert a.counters["dtmf_out"] == 4


def test_media_timeout_once_per_silence():
    a, b, wire = pair(timeout_s=3)
    ev = []
    for t in range(400):  # 8 s: B hears nothing from A at all
        now = 20 * t
        b.tick(now, None)
        ev += b.events()
    timeouts = [e for e in ev if isinstance(e, MediaTimeout)]
    assert len(timeouts) == 1 and timeouts[0].seconds == 3
    # Media comes, then stops again: one more.
    ev_a, ev_b, _ = run(a, b, wire, 8000, 50)
    ev = []
    for t in range(200):
        now = 9000 + 20 * t
        b.tick(now, None)
        ev += b.events()
    assert len([e for e in ev + ev_b if isinstance(e, MediaTimeout)]) == 1


def test_timers_can_be_driven_without_ticks():
    a, b, wire = pair()
    a.tick(0, TONE)
    a.datagrams_to_send()
    t = a.get_timer()
    assert 2500 <= t <= 5000  # RTCP: 5 s randomised 0.5..1.5, or the 5 s stats
    dg = []
    while not dg:
        a.handle_timer(t)
        dg = a.datagrams_to_send()
        t = a.get_timer()
    assert t <= 30000  # the media timeout is on the timer too
    assert [k for d, dest, k in dg] == ["rtcp"] and dg[0][1] == ("10.0.0.2", 5001)
    pk = rtcp.parse(dg[0][0])
    assert pk[0].pt == rtcp.SR and pk[0].ssrc == a.sender.ssrc and pk[0].packets == 1
    assert pk[1].cname(a.sender.ssrc) == a.cname.encode()
    assert [e.kind for e in a.events()] == ["media_stats"]


def test_close_sends_bye_and_goes_quiet():
    a, b, wire = pair()
    run(a, b, wire, 0, 20)
    a.close(400)
    dg = a.datagrams_to_send()
    assert len(dg) == 1 and dg[0][2] == "rtcp"
    assert [p.pt for p in rtcp.parse(dg[0][0])] == [rtcp.SR, rtcp.SDES, rtcp.BYE]
    b.receive_rtcp(dg[0][0], ("10.0.0.1", 4001), 420)
    assert b.peer_bye
    assert a.get_timer() is None
    assert bytes(a.tick(440, TONE)) == bytes(320)
    a.close(460)
    assert a.datagrams_to_send() == []


def test_pcma_and_wrong_payload_types():
    pcma = {"codec": "PCMA", "pt": 8, "recv_pt": 8}
    a, b, wire = pair(a_kw=pcma, b_kw=pcma)
    acc = [0.0, 0]

    def measure(now, out):
        if now > 500:
            acc[0] += mediautil.tone_power(out, 1000)
            acc[1] += 1

    run(a, b, wire, 0, 60, on_tick=measure)
    want = mediautil.amp(-10) ** 2 / 2
    assert abs(acc[0] / acc[1] - want) < want * 0.1
    # PCMU (pt 0) is not what was agreed: counted and dropped.
    pkt = bytearray(172)
    rtp.pack_header(pkt, 0, 1, 2, b.sender.ssrc)
    before = b.counters["invalid"]
    b.receive_rtp(bytes(pkt), A, 1300)
    assert b.counters["invalid"] == before + 1
    support.raises(ValueError, Stream, neg(A, codec="G729"), mediautil.Rng(1), 0)


def test_loss_on_the_wire_is_reported_and_concealed():
    wire = Wire(loss=20)  # every 20th RTP datagram (of both)
    a, b, _ = pair(wire, jitter_min_ms=40)
    run(a, b, wire, 0, 600)
    s = b.stats()
    assert 28 <= s["lost"] <= 30, s
    assert s["concealed"] >= 28
    assert s["loss_pct"] > 3


def test_update_changes_codec_and_ptime():
    a, b, wire = pair()
    run(a, b, wire, 0, 10)
    a.update(neg(B, ptime=30, codec="PCMA", pt=8, recv_pt=8))
    b.update(neg(A, ptime=30, codec="PCMA", pt=8, recv_pt=8))
    assert a.ptime == 30 and a.frame == 240
    tone30 = TONE + TONE[:160]
    acc = [0.0, 0]
    for t in range(60):
        now = 200 + 30 * t
        a.tick(now, tone30)
        out = b.tick(now, None)
        assert len(out) == 480
        wire.pump(now)
        if t > 10:
            acc[0] += mediautil.tone_power(out, 1000)
            acc[1] += 1
    want = mediautil.amp(-10) ** 2 / 2
    assert abs(acc[0] / acc[1] - want) < want * 0.1


def test_short_long_and_missing_frames_are_tolerated():
    a, b, wire = pair()
    for pcm in (None, TONE[:100], TONE + TONE, b"", bytearray(TONE), memoryview(TONE)):
        a.tick(0, pcm)
    lens = [len(rtp.parse(d).payload(d)) for d, dest, k in a.datagrams_to_send()]
    assert lens == [160] * 6


def test_tick_allocation_is_small_on_micropython():
    try:
        import gc
        import micropython  # noqa: F401
    except ImportError:
        return
    a, b, wire = pair()
    run(a, b, wire, 0, 50)
    b.mute(True)
    b.datagrams_to_send()
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for t in range(50, 100):
        now = 20 * t
        a.tick(now, TONE)
        for data, dest, kind in a.datagrams_to_send():
            b.receive_rtp(data, A, now)
        b.tick(now, None)
    per_tick = (gc.mem_alloc() - before) // 50
    gc.enable()
    # About 420 bytes: the datagram's bytes copy (192 with its header), its
    # tuple and list, one payload memoryview, for one sender and one receiver.
    assert per_tick < 500, per_tick
