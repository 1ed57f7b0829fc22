"""The user agent during a call on a fake wire: hold, glare, INFO, OPTIONS,
MESSAGE, and what it answers on its own (both runtimes)."""

from sipwire import A, B, connect, two_uas

from sipdoor.sip import events as ev
from sipdoor.sip.message import parse


def test_hold_and_resume_by_peer():
    wire, a, b = two_uas()
    h, hb = connect(wire, a, b)
    wire.take(A)
    wire.take(B)
    assert b.hold(hb, wire.now())
    wire.run(100)
    held = wire.take(A, ev.CallHeld)
    assert held and held[0].by == "peer"
    assert held[0].negotiated["direction"] == "recvonly"
    us = wire.take(B, ev.CallHeld)
    assert us and us[0].by == "us"
    assert b.resume(hb, wire.now())
    wire.run(100)
    assert wire.take(A, ev.CallResumed)[0].negotiated["direction"] == "sendrecv"
    assert wire.take(B, ev.CallResumed)
    assert a.calls[h].state == "confirmed"


def test_reinvite_glare_gets_491():
    wire, a, b = two_uas()
    h, hb = connect(wire, a, b)
    wire.take(A)
    wire.take(B)
    wire.run(40000)  # let the set-up transactions end: two stations share one small heap here
    a.hold(h, wire.now())
    b.hold(hb, wire.now())
    wire.run(100)
    assert wire.sent(A, "SIP/2.0 491") or wire.sent(B, "SIP/2.0 491")
    wire.run(10000)  # the loser retries after 2.1-4 s
    assert a.calls[h].held_by_us or b.calls[hb].held_by_us


def test_info_dtmf_and_options_and_message():
    wire, a, b = two_uas()
    h, hb = connect(wire, a, b)
    a.send_info_dtmf(h, "5", wire.now())
    a.send_info_dtmf(h, "#", wire.now())
    wire.run(100)
    got = wire.take(B, ev.DtmfReceived)
    assert [(d.digit, d.source) for d in got] == [("5", "info"), ("#", "info")]
    a.send_message("sip:door@127.0.0.1:5070", "hello door", wire.now())
    wire.run(100)
    msg = wire.take(B, ev.MessageReceived)
    assert msg[0].text == "hello door"
    assert wire.take(A, ev.MessageSent)[0].status == 200


def test_out_of_dialog_requests_answered():
    wire, a, b = two_uas()
    replies = []
    wire.add(("127.0.0.1", 5999), lambda data, src, now: data.startswith(b"SIP/2.0 400") or
             replies.append(parse(data)))

    def send(text):
        b.receive_datagram(text.encode(), ("127.0.0.1", 5999), wire.now())
        wire.settle()
        return replies.pop()

    base = ("%s sip:door@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK%s\r\n"
            "From: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:door@127.0.0.1>%s\r\nCall-ID: %s\r\n"
            "CSeq: 1 %s\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n")
    r = send(base % ("OPTIONS", "o1", "", "c1", "OPTIONS", ""))
    assert r.status == 200 and "INVITE" in r.get("allow") and r.to.tag
    r = send(base % ("BYE", "b1", ";tag=zz", "c2", "BYE", ""))
    assert r.status == 481
    r = send(base % ("SUBSCRIBE", "s1", "", "c3", "SUBSCRIBE", ""))
    assert r.status == 405 and "INVITE" in r.get("allow")
    r = send(base % ("INVITE", "i1", "", "c4", "INVITE", "Require: 100rel\r\n"))
    assert r.status == 420 and r.get("unsupported") == "100rel"
    r = send((base % ("MESSAGE", "m1", "", "c5", "MESSAGE", "Max-Forwards: 0\r\n")).replace(
        "Max-Forwards: 70\r\n", ""))
    assert r.status == 483
    b.receive_datagram(b"INVITE sip:door@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKq"
                       b"\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", ("127.0.0.1", 5999), wire.now())
    wire.settle()
    assert wire.sent(B, "SIP/2.0 400 Missing From")
    assert not b.calls


def test_bad_sdp_offer_gets_488():
    wire, a, b = two_uas()
    replies = []
    wire.add(("127.0.0.1", 5999), lambda data, src, now: replies.append(parse(data)))
    body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9\r\n"
    text = ("INVITE sip:door@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKg7\r\n"
            "From: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:door@127.0.0.1>\r\nCall-ID: g7\r\nCSeq: 1 INVITE\r\n"
            "Contact: <sip:x@127.0.0.1:5999>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n"
            "Content-Length: %d\r\n\r\n%s") % (len(body), body)
    b.receive_datagram(text.encode(), ("127.0.0.1", 5999), wire.now())
    wire.settle()
    inc = wire.take(B, ev.IncomingCall)[0]
    b.answer(inc.call, wire.now())
    wire.settle()
    assert replies[-1].status == 488
    assert wire.take(B, ev.CallEnded)[0].status == 488
