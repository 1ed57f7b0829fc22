"""RTP header tests (RFC 3550 5.1, 5.3.1): pack, parse, sender state."""

import mediautil
from sipdoor.media import rtp


def _packet(payload=b"abcd", pt=0, seq=1, ts=2, ssrc=3, marker=False):
    buf = bytearray(12 + len(payload))
    rtp.pack_header(buf, pt, seq, ts, ssrc, marker)
    buf[12:] = payload
    return buf


def test_pack_then_parse_round_trip():
    buf = _packet(b"\x01\x02\x03", pt=8, seq=0xBEEF, ts=0xDEADBEEF, ssrc=0x12345678, marker=True)
    assert buf[:12] == b"\x80\x88\xbe\xef\xde\xad\xbe\xef\x12\x34\x56\x78"
    h = rtp.parse(buf)
    assert h is not None
    assert (h.marker, h.pt, h.seq, h.ts, h.ssrc) == (True, 8, 0xBEEF, 0xDEADBEEF, 0x12345678)
    assert (h.offset, h.length, h.padding, h.csrc_count, h.extension) == (12, 3, 0, 0, None)
    assert bytes(h.payload(buf)) == b"\x01\x02\x03"


def test_csrc_extension_and_padding_are_skipped():
    # V=2 P=1 X=1 CC=2; two CSRCs; extension profile 0xBEDE with 1 word; payload; 3 padding bytes.
    data = bytearray(b"\xb2\x00\x00\x07" + b"\x00\x00\x00\x10" + b"\x00\x00\x00\x20")
    data += b"\x00\x00\x00\x01\x00\x00\x00\x02"  # CSRCs
    data += b"\xbe\xde\x00\x01" + b"\x11\x22\x33\x44"  # extension header + 1 word
    data += b"PAY" + b"\x00\x00\x03"
    h = rtp.Header()
    assert h.parse(data)
    assert h.csrc_count == 2 and h.csrcs(data) == [1, 2]
    assert h.extension == 0xBEDE
    assert h.padding == 3
    assert bytes(h.payload(data)) == b"PAY"
    assert (h.seq, h.ts, h.ssrc) == (7, 16, 32)


def test_invalid_packets_are_refused_not_raised():
    h = rtp.Header()
    good = _packet()
    cases = [
        (b"\x80\x00\x00", "short"),
        (b"\x40" + bytes(good[1:]), "version"),
        (b"\x81" + bytes(good[1:12]), "short"),  # CSRC missing
        (b"\x90" + bytes(good[1:12]), "extension"),
        (b"\x90" + bytes(good[1:12]) + b"\x00\x00\x00\x05", "short"),  # extension longer than packet
        (b"\xa0" + bytes(good[1:]) + b"\x00", "padding"),  # padding count 0
        (b"\xa0" + bytes(good[1:]) + b"\x09", "padding"),  # more padding than payload
        (b"\x80\xc8" + bytes(good[2:]), "rtcp"),  # an SR on the RTP port
    ]
    for data, why in cases:
        assert not h.parse(data), data
        assert h.error == why, (data, h.error)
        assert rtp.parse(data) is None
    assert h.parse(good) and h.error is None


def test_header_only_packet_has_empty_payload():
    h = rtp.parse(_packet(b""))
    assert h.length == 0 and bytes(h.payload(_packet(b""))) == b""


def test_sender_starts_random_and_counts():
    a = rtp.Sender(mediautil.Rng(1))
    b = rtp.Sender(mediautil.Rng(2))
    assert (a.ssrc, a.seq, a.ts) != (b.ssrc, b.seq, b.ts)
    assert 0 <= a.seq <= 0xFFFF and 0 <= a.ts <= 0xFFFFFFFF and 0 <= a.ssrc <= 0xFFFFFFFF
    again = rtp.Sender(mediautil.Rng(1))
    assert (again.ssrc, again.seq, again.ts) == (a.ssrc, a.seq, a.ts)


def test_sender_marker_on_talk_spurt_and_wrapping():
    s = rtp.Sender(mediautil.Rng(3), ssrc=0xCAFEBABE)
    s.seq = 0xFFFE
    s.ts = 0xFFFFFF60
    buf = bytearray(172)
    seen = []
    for i in range(4):
        if i == 2:
            s.start_spurt()
        s.header(buf, 0, 160)
        s.advance(160)
        h = rtp.parse(buf)
        seen.append((h.marker, h.seq, h.ts, h.ssrc))
    assert seen == [
        (True, 0xFFFE, 0xFFFFFF60, 0xCAFEBABE),
        (False, 0xFFFF, 0, 0xCAFEBABE),
        (True, 0, 160, 0xCAFEBABE),
        (False, 1, 320, 0xCAFEBABE),
    ]
    assert s.packets == 4 and s.octets == 640


def test_sender_explicit_timestamp_and_marker_for_events():
    s = rtp.Sender(mediautil.Rng(4))
    buf = bytearray(16)
    s.header(buf, 0, 160)  # uses up the spurt marker
    s.header(buf, 101, 4, ts=1234, marker=True)
    h = rtp.parse(buf)
    assert (h.pt, h.ts, h.marker) == (101, 1234, True)
    s.header(buf, 101, 4, ts=1234, marker=False)
    assert not rtp.parse(buf).marker


def test_distances_wrap():
    assert rtp.seq_diff(2, 0xFFFE) == 4
    assert rtp.seq_diff(0xFFFE, 2) == -4
    assert rtp.ts_diff(16, 0xFFFFFFF0) == 32
    assert rtp.ts_diff(0xFFFFFFF0, 16) == -32


def test_is_rtcp_demultiplexes():
    assert rtp.is_rtcp(b"\x80\xc8")
    assert rtp.is_rtcp(b"\x81\xc9")
    assert not rtp.is_rtcp(b"\x80\x00")
    assert not rtp.is_rtcp(b"\x80\xe5")  # marker + pt 101: telephone-event


def test_pack_and_parse_do_not_allocate_on_micropython():
    buf = bytearray(172)
    h = rtp.Header()
    rtp.pack_header(buf, 0, 1, 2, 3)
    h.parse(buf)

    def work():
        for i in range(10):
            rtp.pack_header(buf, 0, i, 1000, 0x1234)
            h.parse(buf)

    assert mediautil.heap_locked(work)


def test_module_imports_no_clock_io_or_hardware():
    for name in ("rtp", "rtcp", "jitter", "dtmf", "tones", "stream"):
        mediautil.no_banned_imports("firmware/sipdoor/media/%s.py" % name)
