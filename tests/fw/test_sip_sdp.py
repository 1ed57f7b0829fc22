"""sip/sdp.py: SDP parse/serialize (RFC 4566) and offer/answer (RFC 3264).

The samples are written in the style of what baresip, linphone, Asterisk and
a FRITZ!Box send (own text, not captures). Runs under pytest (CPython) and
tests/fw/run.py (MicroPython).
"""

from support import raises

from sipdoor.sip.sdp import (
    NotAcceptable,
    SdpError,
    Session,
    formats,
    is_hold,
    make_answer,
    make_offer,
    parse,
    parse_answer,
    same_version,
)


class FakeRandom:
    def __init__(self, start=42):
        self.n = start

    def getrandbits(self, bits):
        assert bits <= 32
        self.n += 1
        return self.n & ((1 << bits) - 1)


def crlf(text):
    return "\r\n".join(text.strip().split("\n")) + "\r\n"


BARESIP = crlf("""
v=0
o=- 1185633451 3212343345 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
m=audio 10318 RTP/AVP 96 9 0 8 101
b=AS:80
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=label:1
a=ssrc:1428337419 cname:sip:flat@pbx.example
a=rtcp-rsize
a=ptime:20
""")

LINPHONE = crlf("""
v=0
o=flat 2145 1342 IN IP4 192.168.1.30
s=Talk
c=IN IP4 192.168.1.30
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
a=record:off
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=fmtp:97 vbr=on
a=rtpmap:98 speex/8000
a=fmtp:98 vbr=on
a=fmtp:18 annexb=yes
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
m=video 9078 RTP/AVP 96 97
a=rtpmap:96 VP8/90000
a=rtpmap:97 H264/90000
a=fmtp:97 profile-level-id=42801F
a=rtcp-fb:* trr-int 1000
""")

ASTERISK = crlf("""
v=0
o=- 1735512399 1735512399 IN IP4 10.0.0.5
s=Asterisk
c=IN IP4 10.0.0.5
t=0 0
m=audio 14380 RTP/AVP 8 0 3 101
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:3 GSM/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
""")

# The same call, put on hold by Asterisk with a re-INVITE (version + 1).
ASTERISK_HOLD = ASTERISK.replace("1735512399 1735512399", "1735512399 1735512400").replace(
    "a=sendrecv", "a=sendonly")

FRITZBOX = crlf("""
v=0
o=user 32161280 32161280 IN IP4 192.168.178.1
s=call
c=IN IP4 192.168.178.1
t=0 0
m=audio 7078 RTP/AVP 9 8 0 2 101
a=rtpmap:9 G722/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:2 G726-32/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtcp:7079
a=sendrecv
a=ptime:30
""")

# An old (RFC 2543) phone: static types without rtpmap, hold by c=0.0.0.0.
OLD_HOLD = crlf("""
v=0
o=phone 1 2 IN IP4 10.1.1.9
s=session
c=IN IP4 0.0.0.0
t=0 0
m=audio 5004 RTP/AVP 0 8
""")

# Best-effort SRTP: the SAVP stream first, plain RTP/AVP as an alternative.
SRTP_AND_PLAIN = crlf("""
v=0
o=- 77 77 IN IP6 2001:db8::7
s=-
c=IN IP6 2001:db8::7
t=0 0
m=audio 40000 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
m=audio 40002 RTP/AVP 0 101
a=rtpmap:101 telephone-event/8000
""")

WEBRTC = crlf("""
v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:abcd
a=fingerprint:sha-256 00:11:22
a=rtpmap:111 opus/48000/2
""")

SAMPLES = [BARESIP, LINPHONE, ASTERISK, ASTERISK_HOLD, FRITZBOX, OLD_HOLD, SRTP_AND_PLAIN, WEBRTC]


# -- parsing and serializing ------------------------------------------------------


def test_parse_fields():
    s = parse(LINPHONE.encode())
    assert s.origin.username == "flat" and s.origin.sess_id == "2145" and s.origin.version == 1342
    assert s.origin.addrtype == "IP4" and s.origin.addr == "192.168.1.30"
    assert s.name == "Talk"
    assert s.conn.addr == "192.168.1.30"
    assert s.get("record") == "off"
    assert len(s.media) == 2
    a, v = s.media
    assert (a.kind, a.port, a.proto) == ("audio", 7078, "RTP/AVP")
    assert a.fmts == ["96", "97", "98", "0", "8", "18", "101", "99", "100"]
    assert v.kind == "video" and v.port == 9078
    assert s.audio() is a
    assert a.get_all("rtcp-fb") == ["* trr-int 1000", "* ccm tmmbr"]
    f = formats(a)
    assert (0, "PCMU", 8000, 1) in f and (96, "opus", 48000, 2) in f
    assert (18, "G729", 8000, 1) in f  # static type known without rtpmap


def test_round_trip_keeps_unknown_lines():
    for text in SAMPLES:
        s = parse(text)
        out = s.to_text()
        assert out.endswith("\r\n") and "\n" not in out.replace("\r\n", "")
        assert parse(out).to_text() == out
    out = parse(BARESIP).to_text()
    for line in ("b=AS:80", "a=ssrc:1428337419 cname:sip:flat@pbx.example", "a=rtcp-rsize",
                 "a=fmtp:96 stereo=1;sprop-stereo=1"):
        assert line + "\r\n" in out
    # Already canonical samples come back byte for byte.
    assert parse(ASTERISK).to_text() == ASTERISK
    assert parse(FRITZBOX).to_bytes() == FRITZBOX.encode()


def test_lenient_where_harmless():
    s = parse("v=0\no=- 1 1 IN IP4 10.0.0.1\n\nc=IN IP4 10.0.0.1  \nm=audio 4000 RTP/AVP 0\n\n")
    assert s.name == "-" and s.media[0].port == 4000
    out = s.to_text()
    assert "s=-\r\n" in out and "t=0 0\r\n" in out  # required lines filled in
    s = parse("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=\r\nt=0 0\r\nx=private\r\n"
              "m=audio 4000/2 RTP/AVP 0\r\ni=door\r\nc=IN IP4 224.2.1.1/127\r\n")
    m = s.media[0]
    assert m.nports == 2 and m.conn.addr == "224.2.1.1" and m.conn.suffix == "/127"
    out = s.to_text()
    assert "x=private\r\n" in out and "m=audio 4000/2 RTP/AVP 0\r\ni=door\r\nc=IN IP4 224.2.1.1/127\r\n" in out


MALFORMED = [
    "",
    "\r\n\r\n",
    "o=- 1 1 IN IP4 10.0.0.1\r\n",
    "v=1\r\no=- 1 1 IN IP4 10.0.0.1\r\n",
    "v=0\r\ns=-\r\n",
    "v=0\r\n",
    "v=0\r\nv=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n",
    "v=0\r\no=- 1 1 IN IP4\r\n",
    "v=0\r\no=- 1 one IN IP4 10.0.0.1\r\n",
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\no=- 1 1 IN IP4 10.0.0.1\r\n",
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nc=IN IP4\r\n",
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nc=IN IP4 /127\r\n",
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nm=audio\r\n",
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nm=audio abc RTP/AVP 0\r\n",
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nm=audio 70000 RTP/AVP 0\r\n",
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nm=audio 4000/x RTP/AVP 0\r\n",
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ngarbage\r\n",
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nA=uppercase\r\n",
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\na=\r\n",
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\na=:x\r\n",
    b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=\xff\xfe\r\n",
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n" + "a=x\r\n" * 300,
    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n" + "m=audio 0 RTP/AVP 0\r\n" * 17,
]


def test_malformed_sdp_is_a_clear_400():
    for text in MALFORMED:
        e = raises(SdpError, parse, text)
        assert e.status == 400 and e.reason, text
        # The same through the offer/answer entry point.
        e = raises(SdpError, make_answer, text, "10.0.0.9", 4000)
        assert e.status == 400


BAD_MEDIA = [
    # rtpmap we cannot read
    "m=audio 4000 RTP/AVP 0\r\na=rtpmap:abc PCMU/8000\r\n",
    "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n",
    "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/fast\r\n",
    "m=audio 4000 RTP/AVP 0\r\na=rtpmap\r\n",
    "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000/x\r\n",
]


def test_malformed_media_is_a_clear_400():
    head = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    for media in BAD_MEDIA:
        e = raises(SdpError, make_answer, head + media, "10.0.0.9", 4000, session_id=1)
        assert e.status == 400, media
    # No c= anywhere for the audio stream.
    e = raises(SdpError, make_answer, "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n"
               "m=audio 4000 RTP/AVP 0\r\n", "10.0.0.9", 4000, session_id=1)
    assert e.status == 400


def test_mangled_samples_never_crash():
    # Every cut and a few corruptions of every sample: parse or SdpError, nothing else.
    for text in SAMPLES:
        for cut in range(0, len(text), 5):
            for t in (text[:cut], text[:cut] + "\x00" + text[cut + 1:],
                      text[:cut] + "=" + text[cut:], text[:cut] + "\n" + text[cut + 2:]):
                try:
                    make_answer(t, "10.0.0.9", 4000, session_id=1)
                except SdpError:
                    pass
                try:
                    parse_answer(OUR_OFFER, t)
                except SdpError:
                    pass


# -- offers ----------------------------------------------------------------------------

OUR_OFFER = crlf("""
v=0
o=- 12345 1 IN IP4 192.168.1.50
s=sipdoor
c=IN IP4 192.168.1.50
t=0 0
m=audio 4000 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
""")


def test_make_offer_exact_text():
    s = make_offer("192.168.1.50", 4000, session_id=12345)
    assert isinstance(s, Session)
    assert s.to_text() == OUR_OFFER
    assert s.to_bytes() == OUR_OFFER.encode()


def test_make_offer_options():
    s = make_offer("2001:db8::50", 4002, codecs=["pcma"], dtmf_pt=None, ptime=30,
                   direction="recvonly", rng=FakeRandom())
    t = s.to_text()
    assert "o=- 43 1 IN IP6 2001:db8::50\r\n" in t
    assert "c=IN IP6 2001:db8::50\r\n" in t
    assert "m=audio 4002 RTP/AVP 8\r\n" in t and "telephone-event" not in t
    assert "a=ptime:30\r\na=recvonly\r\n" in t
    raises(ValueError, make_offer, "10.0.0.1", 4000, ["G729"], 101, 20, "sendrecv", 1)
    raises(ValueError, make_offer, "10.0.0.1", 4000, [], 101, 20, "sendrecv", 1)
    raises(ValueError, make_offer, "10.0.0.1", 4000, ["PCMU"], 13, 20, "sendrecv", 1)
    raises(ValueError, make_offer, "10.0.0.1", 4000, ["PCMU"], 101, 20, "both", 1)
    raises(ValueError, make_offer, "10.0.0.1", 4000)  # neither session_id nor rng


def test_reoffer_bumps_version_only_on_change():
    first = make_offer("192.168.1.50", 4000, session_id=12345)
    same = make_offer("192.168.1.50", 4000, previous=first)
    assert same.origin.version == 1 and same.to_text() == first.to_text()
    assert same_version(first, same)
    hold = make_offer("192.168.1.50", 4000, direction="sendonly", previous=first)
    assert hold.origin.version == 2 and hold.origin.sess_id == "12345"
    assert "a=sendonly" in hold.to_text()
    assert not same_version(first, hold)
    resume = make_offer("192.168.1.50", 4000, previous=hold)
    assert resume.origin.version == 3 and "a=sendrecv" in resume.to_text()
    # o= stays the same line even when our address changed (RFC 3264 8).
    moved = make_offer("192.168.1.77", 4000, previous=resume)
    assert "o=- 12345 4 IN IP4 192.168.1.50\r\n" in moved.to_text()
    assert "c=IN IP4 192.168.1.77\r\n" in moved.to_text()
    s = parse(ASTERISK)
    s.bump()
    assert s.origin.version == 1735512400
    assert same_version(ASTERISK_HOLD, s) and not same_version(ASTERISK, ASTERISK_HOLD)


# -- answering ---------------------------------------------------------------------------


def test_answer_baresip_uses_our_preference_and_their_numbers():
    ans, neg = make_answer(BARESIP, "192.168.1.50", 4000, session_id=999)
    assert neg == {
        "codec": "PCMU", "pt": 0, "clock": 8000, "dtmf_pt": 101, "ptime": 20,
        "remote_addr": "192.168.1.20", "remote_port": 10318, "rtcp_port": 10319,
        "direction": "sendrecv", "hold": False, "recv_pt": 0, "recv_dtmf_pt": 101,
    }
    assert ans.to_text() == crlf("""
v=0
o=- 999 1 IN IP4 192.168.1.50
s=sipdoor
c=IN IP4 192.168.1.50
t=0 0
m=audio 4000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
""")
    # Our preference, not theirs, picks among the common codecs.
    ans, neg = make_answer(BARESIP, "192.168.1.50", 4000, codecs=["PCMA", "PCMU"], session_id=1)
    assert neg["codec"] == "PCMA" and neg["pt"] == 8
    assert "m=audio 4000 RTP/AVP 8 101\r\n" in ans.to_text()


def test_answer_linphone_rejects_video_and_picks_8k_events():
    ans, neg = make_answer(LINPHONE.encode(), "192.168.1.50", 4000, session_id=1)
    assert neg["codec"] == "PCMU" and neg["dtmf_pt"] == 100  # not the 48000 or 16000 one
    assert len(ans.media) == 2
    t = ans.to_text()
    assert "m=audio 4000 RTP/AVP 0 100\r\n" in t
    assert t.endswith("m=video 0 RTP/AVP 96 97\r\n")  # rejected, formats echoed (RFC 3264 6)


def test_answer_asterisk_and_its_hold():
    ans, neg = make_answer(ASTERISK, "192.168.1.50", 4000, session_id=5)
    assert neg["codec"] == "PCMU" and neg["dtmf_pt"] == 101 and not neg["hold"]
    assert neg["remote_addr"] == "10.0.0.5" and neg["remote_port"] == 14380
    assert not is_hold(ASTERISK)
    assert is_hold(ASTERISK_HOLD)
    ans2, neg2 = make_answer(ASTERISK_HOLD, "192.168.1.50", 4000, previous=ans)
    assert neg2["hold"] and neg2["direction"] == "recvonly"
    assert "a=recvonly" in ans2.to_text() and ans2.origin.version == 2
    ans3, neg3 = make_answer(ASTERISK, "192.168.1.50", 4000, previous=ans2)
    assert not neg3["hold"] and neg3["direction"] == "sendrecv" and ans3.origin.version == 3
    # A refresh re-INVITE with the same SDP gets the same answer, same version.
    ans4, neg4 = make_answer(ASTERISK, "192.168.1.50", 4000, previous=ans3)
    assert ans4.origin.version == 3


def test_answer_fritzbox_ptime_and_rtcp():
    ans, neg = make_answer(FRITZBOX, "192.168.178.20", 4000, session_id=5)
    assert neg["codec"] == "PCMU" and neg["pt"] == 0 and neg["dtmf_pt"] == 101
    assert neg["ptime"] == 30  # we send what the box asked for
    assert neg["rtcp_port"] == 7079
    assert "a=ptime:20" in ans.to_text()  # and ask for ours


def test_answer_old_phone_static_types_and_2543_hold():
    ans, neg = make_answer(OLD_HOLD, "10.1.1.50", 4000, codecs=["PCMA", "PCMU"], session_id=5)
    assert neg["codec"] == "PCMA" and neg["pt"] == 8 and neg["dtmf_pt"] is None
    assert neg["hold"] and neg["direction"] == "recvonly"
    assert is_hold(OLD_HOLD)
    assert "m=audio 4000 RTP/AVP 8\r\n" in ans.to_text()


def test_answer_skips_srtp_stream_takes_plain_one():
    ans, neg = make_answer(SRTP_AND_PLAIN, "2001:db8::50", 4000, session_id=5)
    assert neg["remote_addr"] == "2001:db8::7" and neg["remote_port"] == 40002
    assert neg["dtmf_pt"] == 101
    t = ans.to_text()
    assert "m=audio 0 RTP/SAVP 0\r\nm=audio 4000 RTP/AVP 0 101\r\n" in t
    assert "c=IN IP6 2001:db8::50\r\n" in t


def test_not_acceptable_is_488():
    e = raises(NotAcceptable, make_answer, WEBRTC, "10.0.0.9", 4000, session_id=1)
    assert e.status == 488 and "UDP/TLS/RTP/SAVPF" in e.reason
    only_g722 = ASTERISK.replace("m=audio 14380 RTP/AVP 8 0 3 101", "m=audio 14380 RTP/AVP 9 101")
    e = raises(NotAcceptable, make_answer, only_g722, "10.0.0.9", 4000, session_id=1)
    assert e.status == 488 and e.reason == "No common codec"
    assert isinstance(e, SdpError)
    wide = ASTERISK.replace("PCMA/8000", "PCMA/16000").replace("m=audio 14380 RTP/AVP 8 0 3 101",
                                                               "m=audio 14380 RTP/AVP 8 101")
    raises(NotAcceptable, make_answer, wide, "10.0.0.9", 4000, session_id=1)
    video_only = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n"
    assert raises(NotAcceptable, make_answer, video_only, "10.0.0.9", 4000, session_id=1).reason \
        == "No audio stream"
    disabled = ASTERISK.replace("m=audio 14380", "m=audio 0")
    raises(NotAcceptable, make_answer, disabled, "10.0.0.9", 4000, session_id=1)


DIRECTION_TABLE = [
    # offer, ours, answer attribute, negotiated direction (ours), hold
    ("sendrecv", "sendrecv", "sendrecv", "sendrecv", False),
    ("sendonly", "sendrecv", "recvonly", "recvonly", True),
    ("recvonly", "sendrecv", "sendonly", "sendonly", False),
    ("inactive", "sendrecv", "inactive", "inactive", True),
    ("sendrecv", "sendonly", "sendonly", "sendonly", False),
    ("sendrecv", "recvonly", "recvonly", "recvonly", False),
    ("sendonly", "sendonly", "inactive", "inactive", True),
    ("recvonly", "recvonly", "inactive", "inactive", False),
    ("sendrecv", "inactive", "inactive", "inactive", False),
]


def test_direction_negotiation_media_and_session_level():
    for offer_dir, ours, attr, neg_dir, hold in DIRECTION_TABLE:
        media_level = ASTERISK.replace("a=sendrecv", "a=" + offer_dir)
        session_level = ASTERISK.replace("a=sendrecv\r\n", "").replace(
            "t=0 0\r\n", "t=0 0\r\na=%s\r\n" % offer_dir)
        for offer in (media_level, session_level):
            ans, neg = make_answer(offer, "10.0.0.9", 4000, direction=ours, session_id=1)
            assert ans.media[0].direction() == attr, (offer_dir, ours)
            assert neg["direction"] == neg_dir and neg["hold"] == hold, (offer_dir, ours)
    # Media level wins over session level.
    both = ASTERISK.replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n")
    assert make_answer(both, "10.0.0.9", 4000, session_id=1)[1]["direction"] == "sendrecv"


def test_dtmf_needs_digit_events_and_8k_dynamic_type():
    base = ASTERISK
    cases = [
        ("a=fmtp:101 0-16", 101),
        ("a=fmtp:101 0-11", 101),
        ("a=fmtp:101 0-9,10,11,16", 101),
        ("a=fmtp:101 16", None),  # flash only
        ("a=fmtp:101 0-5", None),
        ("a=fmtp:101 nonsense", None),
    ]
    for fmtp_line, want in cases:
        offer = base.replace("a=fmtp:101 0-16", fmtp_line)
        assert make_answer(offer, "10.0.0.9", 4000, session_id=1)[1]["dtmf_pt"] == want, fmtp_line
    no_fmtp = base.replace("a=fmtp:101 0-16\r\n", "")
    assert make_answer(no_fmtp, "10.0.0.9", 4000, session_id=1)[1]["dtmf_pt"] == 101
    low = base.replace(" 101", " 13").replace(":101", ":13")
    assert make_answer(low, "10.0.0.9", 4000, session_id=1)[1]["dtmf_pt"] is None


def test_dynamic_pcmu_and_odd_ptime():
    offer = ASTERISK.replace("m=audio 14380 RTP/AVP 8 0 3 101", "m=audio 14380 RTP/AVP 97 101") \
        .replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:97 pcmu/8000").replace("a=ptime:20", "a=ptime:20.000") \
        .replace("a=maxptime:150", "a=maxptime:10")
    ans, neg = make_answer(offer, "10.0.0.9", 4000, session_id=1)
    assert neg["codec"] == "PCMU" and neg["pt"] == 97 and neg["ptime"] == 10


# -- answers to our offers ---------------------------------------------------------------


def test_parse_answers_from_real_peers():
    offer = make_offer("192.168.1.50", 4000, session_id=12345)
    fritz = crlf("""
v=0
o=user 32161281 32161281 IN IP4 192.168.178.1
s=call
c=IN IP4 192.168.178.1
t=0 0
m=audio 7080 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtcp:7081
a=sendrecv
a=ptime:20
""")
    neg = parse_answer(offer, fritz)
    assert neg["codec"] == "PCMA" and neg["pt"] == 8 and neg["recv_pt"] == 8
    assert neg["dtmf_pt"] == 101 and neg["remote_port"] == 7080 and neg["rtcp_port"] == 7081
    assert neg["direction"] == "sendrecv" and not neg["hold"]
    # baresip answering with its own telephone-event number: send with it, receive ours.
    bare = BARESIP.replace("m=audio 10318 RTP/AVP 96 9 0 8 101", "m=audio 10318 RTP/AVP 0 100") \
        .replace("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15",
                 "a=rtpmap:100 telephone-event/8000\r\na=fmtp:100 0-15")
    neg = parse_answer(offer.to_bytes(), bare)
    assert neg["codec"] == "PCMU" and neg["dtmf_pt"] == 100 and neg["recv_dtmf_pt"] == 101


def test_parse_answer_direction_hold_and_errors():
    offer = make_offer("192.168.1.50", 4000, session_id=12345)
    ans, _ = make_answer(offer, "10.0.0.5", 5000, session_id=7)
    assert parse_answer(offer, ans)["direction"] == "sendrecv"
    held = ans.to_text().replace("a=sendrecv", "a=sendonly")
    neg = parse_answer(offer, held)
    assert neg["direction"] == "recvonly" and neg["hold"]
    old = ans.to_text().replace("c=IN IP4 10.0.0.5", "c=IN IP4 0.0.0.0")
    neg = parse_answer(offer, old)
    assert neg["direction"] == "recvonly" and neg["hold"]
    # We put the peer on hold: its recvonly is the expected answer, not a hold of us.
    hold_offer = make_offer("192.168.1.50", 4000, direction="sendonly", previous=offer)
    hold_ans, _ = make_answer(hold_offer, "10.0.0.5", 5000, previous=ans)
    neg = parse_answer(hold_offer, hold_ans)
    assert neg["direction"] == "sendonly" and not neg["hold"]
    rejected = ans.to_text().replace("m=audio 5000", "m=audio 0")
    assert raises(NotAcceptable, parse_answer, offer, rejected).status == 488
    other = ans.to_text().replace("RTP/AVP 0 101", "RTP/AVP 9 101").replace("0 PCMU", "9 G722")
    raises(NotAcceptable, parse_answer, offer, other)
    extra = ans.to_text() + "m=video 0 RTP/AVP 96\r\n"
    assert raises(SdpError, parse_answer, offer, extra).status == 400
    for bad in MALFORMED[:5]:
        raises(SdpError, parse_answer, offer, bad)


def test_answer_without_dtmf_or_with_bad_address():
    offer = make_offer("192.168.1.50", 4000, session_id=12345)
    plain = crlf("""
v=0
o=- 1 1 IN IP4 10.0.0.5
s=-
c=IN IP4 10.0.0.5
t=0 0
m=audio 5000 RTP/AVP 0
""")
    neg = parse_answer(offer, plain)
    assert neg["dtmf_pt"] is None and neg["recv_dtmf_pt"] is None and neg["ptime"] == 20
    for addr in ("10.0.0.5;rm -rf", "[::1]", "a b"):
        bad = plain.replace("c=IN IP4 10.0.0.5", "c=IN IP4 " + addr)
        if " " in addr:
            raises(SdpError, parse, bad)
        else:
            assert raises(SdpError, parse_answer, offer, bad).status == 400
            assert raises(SdpError, make_answer, bad, "10.0.0.9", 4000, session_id=1).status == 400
    host = plain.replace("c=IN IP4 10.0.0.5", "c=IN IP4 phone.example")
    assert parse_answer(offer, host)["remote_addr"] == "phone.example"
    atm = plain.replace("c=IN IP4 10.0.0.5", "c=ATM NSAP 47.0005")
    assert raises(NotAcceptable, parse_answer, offer, atm).status == 488
