"""RTCP tests: SR/RR/SDES/BYE on the wire, A.1/A.3 loss, A.8 jitter, RTT."""

import support
from sipdoor.clock import ticks_add
from sipdoor.media import rtcp


def test_sender_report_round_trip_with_blocks():
    blocks = [rtcp.ReportBlock(0x11111111, 25, 10, 0x1002A, 37, 0xABCD1234, 0x8000),
              rtcp.ReportBlock(0x22222222, 0, -3, 5, 0, 0, 0)]
    data = rtcp.compound(0xDEADBEEF, "door@example", (0xE1000000, 0x80000000, 0xFFFFFFF0, 1000, 160000), blocks)
    assert len(data) % 4 == 0
    assert data[0] == 0x82 and data[1] == rtcp.SR
    got = rtcp.parse(data)
    assert [p.pt for p in got] == [rtcp.SR, rtcp.SDES]
    sr = got[0]
    assert (sr.ssrc, sr.ntp_sec, sr.ntp_frac, sr.rtp_ts, sr.packets, sr.octets) == (
        0xDEADBEEF, 0xE1000000, 0x80000000, 0xFFFFFFF0, 1000, 160000)
    b = sr.blocks
    assert len(b) == 2
    assert (b[0].ssrc, b[0].fraction, b[0].lost, b[0].highest, b[0].jitter, b[0].lsr, b[0].dlsr) == (
        0x11111111, 25, 10, 0x1002A, 37, 0xABCD1234, 0x8000)
    assert b[1].lost == -3  # signed 24-bit (more duplicates than losses)
    assert got[1].cname(0xDEADBEEF) == b"door@example"


def test_receiver_report_sdes_and_bye():
    data = rtcp.compound(7, b"x", None, [], bye=True, reason="hangup")
    got = rtcp.parse(data)
    assert [p.pt for p in got] == [rtcp.RR, rtcp.SDES, rtcp.BYE]
    assert got[0].ssrc == 7 and got[0].blocks == []
    assert got[1].chunks == [(7, {1: b"x"})]
    assert got[2].ssrcs == [7] and got[2].reason == b"hangup"
    # Lengths are in 32-bit words minus one.
    assert rtcp.build_rr(7) == b"\x80\xc9\x00\x01\x00\x00\x00\x07"
    assert rtcp.build_bye(7) == b"\x81\xcb\x00\x01\x00\x00\x00\x07"


def test_sdes_padding_for_every_cname_length():
    for n in range(0, 12):
        cname = "c" * n
        data = rtcp.build_rr(1) + rtcp.build_sdes(1, cname)
        assert len(data) % 4 == 0
        assert rtcp.parse(data)[1].cname(1) == cname.encode()


def test_unknown_packets_are_kept_and_padding_handled():
    app = b"\x80\xcc\x00\x02" + b"\x00\x00\x00\x01" + b"NAME"
    data = rtcp.build_rr(1) + app
    got = rtcp.parse(data)
    assert got[1].pt == rtcp.APP and got[1].body == b"\x00\x00\x00\x01NAME"
    # Padding on the last packet: 4 bytes, counted in the length.
    padded = rtcp.build_rr(1) + b"\xa0\xcb\x00\x02\x00\x00\x00\x01\x00\x00\x00\x04"
    padded = bytearray(padded)
    padded[8] = 0xA1  # BYE with SC=1 and padding
    got = rtcp.parse(bytes(padded))
    assert got[1].ssrcs == [1] and got[1].reason is None


def test_malformed_compounds_raise_rtcp_error():
    rr = rtcp.build_rr(1)
    cases = [
        b"",
        rr[:6],
        b"\x80\xca" + rr[2:],  # must start with SR or RR
        b"\x40" + rr[1:],  # version 1
        rr[:3] + b"\x05" + rr[4:],  # length beyond the datagram
        b"\xa0" + rr[1:] + rtcp.build_bye(1),  # padding before the last packet
        b"\x81\xc9\x00\x01\x00\x00\x00\x01",  # says one block, holds none
        rr + b"\x81\xcb\x00\x00",  # BYE with one SSRC missing
        rr + b"\x81\xca\x00\x02\x00\x00\x00\x01\x01\x09abc",  # SDES item overruns
    ]
    for data in cases:
        support.raises(rtcp.RtcpError, rtcp.parse, data)
    assert isinstance(rtcp.RtcpError("x"), ValueError)


def test_ntp_helpers():
    assert rtcp.ntp_from_ms(100, 1500) == (101, 1 << 31)
    assert rtcp.ntp_from_ms(0xFFFFFFFF, 1000) == (0, 0)
    assert rtcp.ntp_middle(0x12345678, 0x9ABCDEF0) == 0x56789ABC


def test_rtt_from_lsr_and_dlsr():
    # Our SR left at T; the peer held it 0.5 s; the RR arrives at T + 0.6 s.
    sec0 = rtcp.NTP_EPOCH_OFFSET + 1700000000
    t_sent = rtcp.ntp_from_ms(sec0, 0)
    lsr = rtcp.ntp_middle(t_sent[0], t_sent[1])
    dlsr = 65536 // 2
    now = rtcp.ntp_from_ms(sec0, 600)
    assert abs(rtcp.rtt_ms(lsr, dlsr, now[0], now[1]) - 100) <= 1
    assert rtcp.rtt_ms(0, dlsr, now[0], now[1]) is None  # no SR seen yet
    assert rtcp.rtt_ms(lsr, 65536, now[0], now[1]) is None  # negative: clock trouble


def _feed(stats, seqs, start_ms=0, step_ms=20, delays=None):
    t = start_ms
    for i, seq in enumerate(seqs):
        d = delays[i] if delays else 0
        stats.on_packet(seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, 160, ticks_add(t, d), True)
        t += step_ms


def test_loss_cumulative_and_fraction_a3():
    st = rtcp.ReceiverStats()
    seqs = [s for s in range(100) if s not in (10, 20, 30, 40, 50, 60, 70, 80, 90, 99 + 1)]
    _feed(st, seqs)
    assert st.expected == 100 and st.received == 91
    b = st.report_block(2000)
    assert b.lost == 9
    assert b.fraction == 9 * 256 // 100
    assert b.highest == 99
    # The next interval loses nothing: fraction goes back to 0, cumulative stays.
    _feed(st, range(100, 150), 2000)
    b = st.report_block(3000)
    assert b.fraction == 0 and b.lost == 9
    # Duplicates make the cumulative count negative, as A.3 allows.
    _feed(st, [149, 149, 149, 149, 149, 149, 149, 149, 149, 149], 3000)
    assert st.report_block(4000).lost == -1


def test_sequence_wrap_extends_the_highest_number():
    st = rtcp.ReceiverStats()
    _feed(st, [0xFFFA + i for i in range(12)])
    assert st.cycles == 1 << 16
    assert st.extended_max == (1 << 16) + 5
    assert st.lost == 0
    assert st.report_block(0).highest == (1 << 16) + 5


def test_big_jump_needs_a_second_packet_to_restart_a1():
    st = rtcp.ReceiverStats()
    _feed(st, range(10))
    assert not st.update_seq(20000)  # one stray packet: ignored
    assert st.max_seq == 9
    assert st.update_seq(20001)  # its successor confirms the restart
    assert st.base_seq == 20001 and st.max_seq == 20001


def test_jitter_is_zero_for_steady_arrivals_a8():
    st = rtcp.ReceiverStats()
    _feed(st, range(200))
    assert st.jitter == 0 and st.jitter_ms() == 0


def test_jitter_converges_on_alternating_delay_a8():
    # Every other packet 10 ms late: |D| = 80 timestamp units each time.
    st = rtcp.ReceiverStats()
    _feed(st, range(400), delays=[10 if i % 2 else 0 for i in range(400)])
    assert 78 <= st.jitter <= 80, st.jitter
    assert st.jitter_ms() == 9 or st.jitter_ms() == 10
    assert st.report_block(0).jitter == st.jitter


def test_jitter_survives_tick_wrap():
    st = rtcp.ReceiverStats()
    from sipdoor.clock import TICKS_MAX
    _feed(st, range(100), start_ms=TICKS_MAX - 1000)
    assert st.jitter == 0


def test_dlsr_counts_from_the_last_sr():
    st = rtcp.ReceiverStats()
    _feed(st, range(5))
    st.on_sr(0x12345678, 0x9ABCDEF0, 1000)
    b = st.report_block(ticks_add(1000, 250))
    assert b.lsr == 0x56789ABC
    assert b.dlsr == 65536 // 4
    assert rtcp.ReceiverStats().report_block(0).dlsr == 0
