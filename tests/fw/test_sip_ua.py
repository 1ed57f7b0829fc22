"""The user agent end to end on a fake wire: two stations on a fake clock,
call set-up, cancel, loss and retransmission (both runtimes)."""

from sipwire import A, B, connect, kinds, two_uas

from sipdoor.sip import events as ev
from sipdoor.sip.message import parse


def test_call_answer_and_hangup_from_caller():
    wire, a, b = two_uas()
    h, hb = connect(wire, a, b)
    got = wire.take(A)
    assert kinds(got) == ["call_answered"]
    assert got[0].negotiated["codec"] == "PCMU"
    assert got[0].negotiated["remote_port"] == b.calls[hb].rtp_port
    answered = wire.take(B, ev.CallAnswered)
    assert answered and not answered[0].outgoing
    assert b.calls[hb].state == "confirmed"
    assert a.hangup(h, wire.now())
    wire.run(100)
    assert kinds(wire.take(A)) == ["call_ended"]
    ended = wire.take(B, ev.CallEnded)
    assert ended[0].reason == "hangup_remote"
    wire.run(40000)
    assert not a.calls and not b.calls
    assert len(a.layer) == 0 and len(b.layer) == 0


def test_hangup_from_callee_and_ack_is_built_from_the_dialog():
    wire, a, b = two_uas()
    h, hb = connect(wire, a, b)
    ack = wire.sent(A, "ACK sip:door@127.0.0.1:5070")
    assert len(ack) == 1
    invite = parse(wire.sent(A, "INVITE ")[0])
    ackmsg = parse(ack[0])
    assert ackmsg.cseq.seq == invite.cseq.seq and ackmsg.via.branch != invite.via.branch
    assert ackmsg.to.tag is not None
    b.hangup(hb, wire.now())
    wire.run(100)
    assert wire.take(A, ev.CallEnded)[0].reason == "hangup_remote"
    assert wire.take(B, ev.CallEnded)[0].reason == "hangup_local"


def test_reject_busy():
    wire, a, b = two_uas()
    a.call("sip:door@127.0.0.1:5070", wire.now())
    wire.settle()
    inc = wire.take(B, ev.IncomingCall)[0]
    assert inc.trusted  # peer-to-peer: anyone may call; the app checks allow
    b.reject(inc.call, 486, wire.now())
    wire.run(100)
    ended = wire.take(A, ev.CallEnded)
    assert ended[0].reason == "busy" and ended[0].status == 486
    assert wire.sent(A, "ACK ")  # the transaction ACKs a non-2xx
    wire.run(40000)
    assert not a.calls and not b.calls and len(a.layer) == 0 and len(b.layer) == 0


def test_cancel_while_ringing():
    wire, a, b = two_uas()
    h = a.call("sip:door@127.0.0.1:5070", wire.now())
    wire.settle()
    inc = wire.take(B, ev.IncomingCall)[0]
    b.ringing(inc.call, wire.now())
    wire.run(10)
    assert kinds(wire.take(A)) == ["call_ringing"]
    a.hangup(h, wire.now())
    wire.run(100)
    assert wire.take(A, ev.CallEnded)[0].reason == "cancelled"
    assert wire.take(B, ev.CallEnded)[0].reason == "cancelled"
    assert wire.sent(B, "SIP/2.0 487")
    wire.run(40000)
    assert not a.calls and not b.calls and len(a.layer) == 0 and len(b.layer) == 0


def test_cancel_before_any_provisional_waits_for_one():
    wire, a, b = two_uas()
    h = a.call("sip:door@127.0.0.1:5070", wire.now())
    a.hangup(h, wire.now())  # nothing heard yet: CANCEL must wait (9.1)
    wire.settle()
    assert not wire.sent(A, "CANCEL ")
    inc = wire.take(B, ev.IncomingCall)[0]
    b.ringing(inc.call, wire.now())
    wire.run(10)
    assert wire.sent(A, "CANCEL ")
    assert wire.take(B, ev.CallEnded)[0].reason == "cancelled"


def test_answer_crossing_cancel_is_acked_and_hung_up():
    wire, a, b = two_uas()
    h = a.call("sip:door@127.0.0.1:5070", wire.now())
    wire.settle()
    inc = wire.take(B, ev.IncomingCall)[0]
    b.ringing(inc.call, wire.now())
    wire.run(10)
    wire.drop(lambda s, d, data: s == A and data.startswith(b"CANCEL"))
    a.hangup(h, wire.now())
    b.answer(inc.call, wire.now())
    wire.drop(None)
    wire.run(1000)
    assert wire.sent(A, "BYE ")
    assert wire.take(B, ev.CallEnded)[0].reason == "hangup_remote"
    assert not a.calls


def test_lost_200_is_retransmitted_and_lost_ack_resent():
    wire, a, b = two_uas()
    lost = {"ok": 0, "ack": 0}

    def dropper(s, d, data):
        if s == B and data.startswith(b"SIP/2.0 200") and b"INVITE" in data and lost["ok"] < 1:
            lost["ok"] += 1
            return True
        if s == A and data.startswith(b"ACK") and lost["ack"] < 1:
            lost["ack"] += 1
            return True
        return False

    wire.drop(dropper)
    h = a.call("sip:door@127.0.0.1:5070", wire.now())
    wire.settle()
    hb = wire.take(B, ev.IncomingCall)[0].call
    b.answer(hb, wire.now())
    wire.run(5000)
    assert lost == {"ok": 1, "ack": 1}
    assert a.calls[h].state == "confirmed" and b.calls[hb].state == "confirmed"
    assert len(wire.sent(A, "ACK ")) == 2


def test_no_ack_ends_the_call_with_bye():
    wire, a, b = two_uas()
    wire.drop(lambda s, d, data: s == A and data.startswith(b"ACK"))
    a.call("sip:door@127.0.0.1:5070", wire.now())
    wire.settle()
    hb = wire.take(B, ev.IncomingCall)[0].call
    b.answer(hb, wire.now())
    wire.run(40000)
    ended = wire.take(B, ev.CallEnded)
    assert ended[0].reason == "no_ack"
    assert wire.sent(B, "BYE ")
