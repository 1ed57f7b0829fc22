"""sip/transaction.py and sip/timers.py: RFC 3261 section 17 over UDP.

Runs under pytest (CPython) and tests/fw/run.py (MicroPython). Timers are
driven by jumping the fake clock to get_timer(); two layers joined by a
fake lossy wire check that exchanges complete when datagrams are lost.
"""

from support import raises

from sipdoor.clock import FakeClock, TICKS_PERIOD, ticks_add, ticks_diff
from sipdoor.sip.message import Request, Response, make_response, parse
from sipdoor.sip.timers import TimerConfig
from sipdoor.sip import transaction as tx
from sipdoor.sip.transaction import (
    AckReceived,
    CancelReceived,
    ClientTransaction,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    TransactionLayer,
    TransactionTimedOut,
    make_ack,
    make_cancel,
    new_branch,
)

DOOR = ("192.0.2.10", 5060)
PHONE = ("192.0.2.20", 5060)


class Rand:
    """Deterministic stand-in for random.Random (getrandbits only)."""

    def __init__(self, seed=1):
        self.state = seed

    def getrandbits(self, n):
        self.state = (self.state * 1103515245 + 12345) & 0x7FFFFFFF
        return self.state & ((1 << n) - 1)


def request(method="INVITE", branch="z9hG4bKinv1", seq=1, via_host="192.0.2.10",
            call_id="call-1@192.0.2.10", to_tag=None, rport=True):
    """A request as the door sends it (parsed, like one off the wire)."""
    via = "SIP/2.0/UDP %s:5060" % via_host
    if branch:
        via += ";branch=" + branch
    if rport:
        via += ";rport"
    text = (
        "%s sip:101@192.0.2.20 SIP/2.0\r\n"
        "Via: %s\r\n"
        "Max-Forwards: 70\r\n"
        "Route: <sip:proxy.example;lr>\r\n"
        "From: <sip:door@192.0.2.10>;tag=d00r\r\n"
        "To: <sip:101@192.0.2.20>%s\r\n"
        "Call-ID: %s\r\n"
        "CSeq: %d %s\r\n"
        "Contact: <sip:door@192.0.2.10:5060>\r\n"
        "Content-Length: 0\r\n\r\n"
    ) % (method, via, ";tag=" + to_tag if to_tag else "", call_id, seq, method)
    return parse(text.encode())


def wire(msg):
    """What the peer gets: serialized and parsed again."""
    return parse(msg.to_bytes())


def reply(req, status, to_tag="ph0ne"):
    return wire(make_response(req, status, None, None if status == 100 else to_tag))


def sent(layer):
    return [(parse(data), dest) for data, dest in layer.datagrams_to_send()]


def step(layer, clock):
    """Jump to the next timer and fire it; False when no timer is left."""
    when = layer.get_timer()
    if when is None:
        return False
    clock.advance(ticks_diff(when, clock.now()))
    layer.handle_timer(clock.now())
    return True


def schedule(layer, clock, start):
    """Run every timer: [(ms since start, what was sent or happened)]."""
    log = []
    while True:
        for msg, dest in sent(layer):
            log.append((ticks_diff(clock.now(), start), "send"))
        for ev in layer.events():
            log.append((ticks_diff(clock.now(), start), ev.__class__.__name__))
        if not step(layer, clock):
            return log


def times(log, what="send"):
    return [t for t, w in log if w == what]


# -- helpers and timers -------------------------------------------------------


def test_new_branch_has_magic_cookie_and_differs():
    rand = Rand()
    a = new_branch(rand)
    b = new_branch(rand)
    assert a.startswith("z9hG4bK") and b.startswith("z9hG4bK")
    assert a != b and len(a) == 7 + 16


def test_timer_config_defaults_and_derived_values():
    c = TimerConfig()
    assert (c.t1, c.t2, c.t4) == (500, 4000, 5000)
    assert c.b == c.f == c.h == c.j == c.l == c.m == 32000
    assert c.d == 32000 and c.i == c.k == 5000
    fast = TimerConfig(t1=100, t2=800, t4=1000)
    assert fast.b == 6400 and fast.k == 1000
    raises(ValueError, TimerConfig, 0)
    raises(ValueError, TimerConfig, 500, 100)


# -- INVITE client ------------------------------------------------------------


def invite_client_schedule(start):
    clock = FakeClock(start)
    layer = TransactionLayer()
    txn = layer.send_request(request(), PHONE, clock.now())
    assert isinstance(txn, ClientTransaction) and txn.state == "calling"
    log = schedule(layer, clock, clock.now())
    assert times(log) == [0, 500, 1500, 3500, 7500, 15500, 31500], log
    assert times(log, "TransactionTimedOut") == [32000]
    assert len(layer) == 0 and layer.get_timer() is None and txn.terminated


def test_invite_client_timer_a_doubles_and_timer_b_times_out():
    invite_client_schedule(0)


def test_invite_client_schedule_across_tick_wrap():
    invite_client_schedule(TICKS_PERIOD - 700)
    invite_client_schedule(TICKS_PERIOD - 1)


def test_invite_client_datagram_goes_to_dest_unchanged():
    clock = FakeClock()
    layer = TransactionLayer()
    req = request()
    layer.send_request(req, PHONE, clock.now())
    out = layer.datagrams_to_send()
    assert out == [(req.to_bytes(), PHONE)]
    assert layer.datagrams_to_send() == []


def test_invite_client_1xx_stops_retransmissions():
    clock = FakeClock()
    layer = TransactionLayer()
    req = request()
    txn = layer.send_request(req, PHONE, 0)
    layer.datagrams_to_send()
    layer.receive(reply(req, 180), PHONE, 100)
    evs = layer.events()
    assert len(evs) == 1 and isinstance(evs[0], ResponseReceived)
    assert evs[0].txn is txn and evs[0].response.status == 180
    assert txn.state == "proceeding"
    assert layer.get_timer() is None  # no A, no B: the TU CANCELs or waits
    layer.receive(reply(req, 180), PHONE, 200)
    assert [e.response.status for e in layer.events()] == [180]
    assert layer.datagrams_to_send() == []


def test_invite_client_2xx_passed_up_without_ack():
    clock = FakeClock()
    layer = TransactionLayer()
    req = request()
    txn = layer.send_request(req, PHONE, clock.now())
    layer.datagrams_to_send()
    ok = reply(req, 200)
    layer.receive(ok, PHONE, clock.now())
    evs = layer.events()
    assert len(evs) == 1 and evs[0].response.status == 200
    assert layer.datagrams_to_send() == []  # the ACK for a 2xx is the TU's
    assert txn.state == "accepted"  # RFC 6026: catches 2xx retransmissions
    clock.advance(1000)
    layer.receive(reply(req, 200), PHONE, clock.now())
    assert [e.response.status for e in layer.events()] == [200]  # TU re-ACKs
    assert layer.datagrams_to_send() == []
    layer.receive(reply(req, 180), PHONE, clock.now())  # late 1xx: ignored
    assert layer.events() == []
    assert ticks_diff(layer.get_timer(), 0) == 32000  # timer M
    step(layer, clock)
    assert txn.terminated and len(layer) == 0
    layer.receive(reply(req, 200), PHONE, clock.now())  # stale: dropped
    assert layer.events() == [] and layer.datagrams_to_send() == []


def test_invite_client_non_2xx_final_builds_ack_and_timer_d_absorbs():
    clock = FakeClock()
    layer = TransactionLayer()
    req = request()
    txn = layer.send_request(req, PHONE, clock.now())
    layer.datagrams_to_send()
    layer.receive(reply(req, 180), PHONE, clock.now())
    busy = reply(req, 486)
    layer.receive(busy, PHONE, clock.now())
    assert [e.response.status for e in layer.events()] == [180, 486]
    out = sent(layer)
    assert len(out) == 1 and out[0][1] == PHONE
    ack = out[0][0]
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert str(ack.uri) == str(req.uri)
    assert ack.via.branch == req.via.branch and len(ack.vias) == 1
    assert ack.call_id == req.call_id
    assert ack.get("from") == req.get("from")
    assert ack.to.tag == "ph0ne" and ack.get("to") == busy.get("to")
    assert ack.cseq.seq == 1 and ack.cseq.method == "ACK"
    assert ack.get_all("route") == req.get_all("route")
    assert txn.state == "completed"
    # The 486 again (our ACK was lost): the same ACK again, nothing for the TU.
    clock.advance(2000)
    layer.receive(reply(req, 486), PHONE, clock.now())
    again = layer.datagrams_to_send()
    assert again == [(ack.to_bytes(), PHONE)]
    assert layer.events() == []
    assert ticks_diff(layer.get_timer(), 0) == 32000  # timer D from the first 486
    step(layer, clock)
    assert txn.terminated and len(layer) == 0
    layer.receive(reply(req, 486), PHONE, clock.now())
    assert layer.datagrams_to_send() == [] and layer.events() == []


def test_make_ack_without_route():
    req = request()
    req.remove("route")
    ack = make_ack(req, reply(req, 603))
    assert ack.get("route") is None and ack.cseq.method == "ACK"
    assert parse(ack.to_bytes()).method == "ACK"


# -- non-INVITE client -------------------------------------------------------


def test_non_invite_client_timer_e_capped_at_t2_and_f_at_32s():
    clock = FakeClock()
    layer = TransactionLayer()
    layer.send_request(request("MESSAGE", "z9hG4bKmsg1"), PHONE, clock.now())
    log = schedule(layer, clock, 0)
    want = [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    assert times(log) == want, log
    assert times(log, "TransactionTimedOut") == [32000]
    assert len(layer) == 0


def test_non_invite_client_proceeding_retransmits_every_t2():
    clock = FakeClock()
    layer = TransactionLayer()
    req = request("OPTIONS", "z9hG4bKopt1")
    layer.send_request(req, PHONE, 0)
    layer.receive(reply(req, 100), PHONE, 0)
    log = schedule(layer, clock, 0)
    assert times(log)[:5] == [0, 500, 4500, 8500, 12500], log
    assert times(log, "TransactionTimedOut") == [32000]


def test_non_invite_client_final_then_timer_k_absorbs():
    clock = FakeClock()
    layer = TransactionLayer()
    req = request("MESSAGE", "z9hG4bKmsg2")
    txn = layer.send_request(req, PHONE, 0)
    layer.datagrams_to_send()
    layer.receive(reply(req, 202), PHONE, 10)
    assert [e.response.status for e in layer.events()] == [202]
    assert txn.state == "completed" and txn.status == 202
    layer.receive(reply(req, 202), PHONE, 20)
    assert layer.events() == [] and layer.datagrams_to_send() == []
    assert ticks_diff(layer.get_timer(), 10) == 5000  # K = T4
    step(layer, clock)
    assert len(layer) == 0


def test_responses_match_on_branch_and_cseq_method():
    layer = TransactionLayer()
    inv = request()
    layer.send_request(inv, PHONE, 0)
    cancel = make_cancel(inv)
    ctxn = layer.send_request(cancel, PHONE, 0)  # same branch, other method
    assert len(layer) == 2
    layer.receive(reply(cancel, 200), PHONE, 10)
    evs = layer.events()
    assert len(evs) == 1 and evs[0].txn is ctxn
    other = request(branch="z9hG4bKother")
    layer.receive(reply(other, 200), PHONE, 10)  # no such transaction
    assert layer.events() == [] and layer.datagrams_to_send()[-1][0] == cancel.to_bytes()


def test_send_request_refuses_ack_missing_branch_and_reused_branch():
    layer = TransactionLayer()
    raises(ValueError, layer.send_request, request("ACK"), PHONE, 0)
    raises(ValueError, layer.send_request, request(branch=None), PHONE, 0)
    layer.send_request(request(), PHONE, 0)
    raises(ValueError, layer.send_request, request(), PHONE, 0)
    assert len(layer) == 1


# -- INVITE server -----------------------------------------------------------


def incoming(layer, req, now, src=DOOR):
    layer.receive(req, src, now)
    evs = layer.events()
    assert len(evs) == 1, evs
    return evs[0]


def test_invite_server_retransmission_resends_last_response():
    layer = TransactionLayer()
    ev = incoming(layer, request(), 0)
    assert isinstance(ev, RequestReceived) and ev.src == DOOR
    txn = ev.txn
    assert isinstance(txn, ServerTransaction) and txn.state == "proceeding"
    assert layer.datagrams_to_send() == []
    layer.receive(request(), DOOR, 50)  # retransmitted before 200 ms: 100 now
    out = sent(layer)
    assert [m.status for m, d in out] == [100] and out[0][1] == DOOR
    assert out[0][0].to.tag is None
    assert layer.events() == []
    assert layer.respond(txn, make_response(ev.request, 180, None, "d00r"), 60)
    assert [m.status for m, d in sent(layer)] == [180]
    layer.receive(request(), DOOR, 70)
    assert [m.status for m, d in sent(layer)] == [180]
    assert layer.respond(txn, make_response(ev.request, 486, None, "d00r"), 80)
    assert [m.status for m, d in sent(layer)] == [486]
    layer.receive(request(), DOOR, 90)
    assert [m.status for m, d in sent(layer)] == [486]
    assert layer.events() == []


def test_invite_server_sends_100_trying_after_200ms():
    clock = FakeClock()
    layer = TransactionLayer()
    incoming(layer, request(), 0)
    assert ticks_diff(layer.get_timer(), 0) == 200
    step(layer, clock)
    out = sent(layer)
    assert [m.status for m, d in out] == [100]
    assert layer.get_timer() is None


def test_invite_server_no_100_when_tu_answers_at_once():
    clock = FakeClock()
    layer = TransactionLayer()
    ev = incoming(layer, request(), 0)
    layer.respond(ev.txn, make_response(ev.request, 180, None, "d00r"), 10)
    assert [m.status for m, d in sent(layer)] == [180]
    assert layer.get_timer() is None
    assert not step(layer, clock)


def test_invite_server_timer_g_retransmits_final_until_ack():
    clock = FakeClock()
    layer = TransactionLayer()
    ev = incoming(layer, request(), 0)
    layer.respond(ev.txn, make_response(ev.request, 486, None, "d00r"), 0)
    sends = [0]
    layer.datagrams_to_send()
    while ticks_diff(clock.now(), 12000) < 0:
        step(layer, clock)
        for m, d in sent(layer):
            assert m.status == 486 and d == DOOR
            sends.append(clock.now())
    assert sends == [0, 500, 1500, 3500, 7500, 11500, 15500], sends  # G capped at T2
    busy = parse(make_response(ev.request, 486, None, "d00r").to_bytes())
    ack = wire(make_ack(request(), busy))
    layer.receive(ack, DOOR, clock.now())
    assert ev.txn.state == "confirmed"
    assert layer.events() == [] and layer.datagrams_to_send() == []
    assert ticks_diff(layer.get_timer(), clock.now()) == 5000  # I = T4
    layer.receive(wire(ack), DOOR, clock.now())  # retransmitted ACK absorbed
    layer.receive(request(), DOOR, clock.now())  # and a late INVITE too
    assert layer.events() == [] and layer.datagrams_to_send() == []
    step(layer, clock)
    assert ev.txn.terminated and len(layer) == 0


def test_invite_server_timer_h_times_out_without_ack():
    clock = FakeClock()
    layer = TransactionLayer()
    ev = incoming(layer, request(), 0)
    layer.respond(ev.txn, make_response(ev.request, 480, None, "d00r"), 0)
    log = schedule(layer, clock, 0)
    assert times(log, "TransactionTimedOut") == [32000]
    assert times(log)[-1] == 31500
    assert len(layer) == 0


def test_invite_server_2xx_accepted_absorbs_invites_and_passes_ack_up():
    clock = FakeClock()
    layer = TransactionLayer()
    ev = incoming(layer, request(), 0)
    ok = make_response(ev.request, 200, None, "d00r")
    assert layer.respond(ev.txn, ok, 0)
    assert [m.status for m, d in sent(layer)] == [200]
    assert ev.txn.state == "accepted"
    layer.receive(request(), DOOR, 100)  # INVITE again: not a new call
    assert layer.events() == [] and layer.datagrams_to_send() == []
    assert layer.respond(ev.txn, ok, 500)  # the TU's own 2xx retransmission
    assert [m.status for m, d in sent(layer)] == [200]
    ack = request("ACK", "z9hG4bKack2", to_tag="d00r")  # ACK for 2xx: new branch
    layer.receive(ack, DOOR, 600)
    evs = layer.events()
    assert len(evs) == 1 and isinstance(evs[0], AckReceived)
    assert evs[0].txn is None and evs[0].request.method == "ACK"
    assert ticks_diff(layer.get_timer(), 0) == 32000  # timer L
    step(layer, clock)
    assert len(layer) == 0
    assert not layer.respond(ev.txn, ok, clock.now())


def test_server_responses_go_back_to_source_with_rport():
    layer = TransactionLayer()
    src = ("198.51.100.7", 40000)
    ev = incoming(layer, request(via_host="10.0.0.5"), 0, src)
    via = ev.request.via
    assert via.received == "198.51.100.7" and via.rport == 40000
    layer.respond(ev.txn, make_response(ev.request, 180, None, "d00r"), 0)
    out = sent(layer)
    assert out[0][1] == src and out[0][0].via.received == "198.51.100.7"
    ev = incoming(layer, request("OPTIONS", "z9hG4bKo", via_host="door.example", rport=False),
                  0, src)
    assert ev.request.via.received == "198.51.100.7"
    assert ev.txn.dest == ("198.51.100.7", 5060)


# -- non-INVITE server -----------------------------------------------------------


def test_non_invite_server_timer_j_absorbs_retransmissions():
    clock = FakeClock()
    layer = TransactionLayer()
    msg = request("MESSAGE", "z9hG4bKm1")
    ev = incoming(layer, msg, 0)
    txn = ev.txn
    assert txn.state == "trying" and layer.get_timer() is None
    layer.receive(request("MESSAGE", "z9hG4bKm1"), DOOR, 100)  # nothing to resend yet
    assert layer.events() == [] and layer.datagrams_to_send() == []
    assert layer.respond(txn, make_response(ev.request, 200, None, "d00r"), 200)
    assert [m.status for m, d in sent(layer)] == [200]
    layer.receive(request("MESSAGE", "z9hG4bKm1"), DOOR, 300)
    assert [m.status for m, d in sent(layer)] == [200]
    assert layer.events() == []
    assert not layer.respond(txn, make_response(ev.request, 500), 400)  # discarded
    assert layer.datagrams_to_send() == []
    assert ticks_diff(layer.get_timer(), 200) == 32000  # J
    step(layer, clock)
    assert len(layer) == 0
    ev2 = incoming(layer, request("MESSAGE", "z9hG4bKm1"), clock.now())
    assert isinstance(ev2, RequestReceived) and ev2.txn is not txn


def test_non_invite_server_provisional_resent():
    layer = TransactionLayer()
    ev = incoming(layer, request("OPTIONS", "z9hG4bKo1"), 0)
    layer.respond(ev.txn, make_response(ev.request, 100), 0)
    layer.datagrams_to_send()
    layer.receive(request("OPTIONS", "z9hG4bKo1"), DOOR, 10)
    assert [m.status for m, d in sent(layer)] == [100]
    assert ev.txn.state == "proceeding"


def test_same_branch_other_sent_by_is_another_transaction():
    layer = TransactionLayer()
    incoming(layer, request("OPTIONS", "z9hG4bKsame"), 0)
    ev = incoming(layer, request("OPTIONS", "z9hG4bKsame", via_host="192.0.2.99"), 0)
    assert isinstance(ev, RequestReceived) and len(layer) == 2


# -- CANCEL, ACK without transaction, RFC 2543 ---------------------------------------


def test_cancel_matched_to_its_invite_server_transaction():
    layer = TransactionLayer()
    inv = request()
    ev = incoming(layer, wire(inv), 0)
    layer.respond(ev.txn, make_response(ev.request, 180, None, "d00r"), 0)
    layer.datagrams_to_send()
    cev = incoming(layer, wire(make_cancel(inv)), 100)
    assert isinstance(cev, CancelReceived)
    assert cev.invite_txn is ev.txn and cev.txn is not ev.txn
    assert cev.txn.method == "CANCEL" and cev.request.method == "CANCEL"
    layer.respond(cev.txn, make_response(cev.request, 200, None, "d00r"), 100)
    layer.respond(ev.txn, make_response(ev.request, 487, None, "d00r"), 100)
    assert [(m.status, m.cseq.method) for m, d in sent(layer)] == [(200, "CANCEL"), (487, "INVITE")]
    layer.receive(wire(make_cancel(inv)), DOOR, 150)  # CANCEL again: its 200 again
    assert [(m.status, m.cseq.method) for m, d in sent(layer)] == [(200, "CANCEL")]
    assert layer.events() == []


def test_cancel_for_unknown_invite_has_no_invite_txn():
    layer = TransactionLayer()
    cev = incoming(layer, wire(make_cancel(request(branch="z9hG4bKnone"))), 0)
    assert isinstance(cev, CancelReceived) and cev.invite_txn is None
    assert layer.respond(cev.txn, make_response(cev.request, 481, None, "d00r"), 0)


def test_ack_without_transaction_goes_to_tu():
    layer = TransactionLayer()
    ev = incoming(layer, request("ACK", "z9hG4bKlone", to_tag="x"), 0)
    assert isinstance(ev, AckReceived) and ev.src == DOOR and ev.txn is None
    assert len(layer) == 0 and layer.datagrams_to_send() == []


def test_ack_in_proceeding_is_ignored():
    layer = TransactionLayer()
    ev = incoming(layer, request(), 0)
    layer.receive(request("ACK", to_tag="d00r"), DOOR, 10)
    assert ev.txn.state == "proceeding" and layer.events() == []


def test_rfc2543_matching_without_magic_cookie():
    clock = FakeClock()
    layer = TransactionLayer()
    old = dict(branch="1a2b", rport=False)
    ev = incoming(layer, request(**old), 0)
    assert ev.txn.legacy
    layer.receive(request(**old), DOOR, 10)  # retransmission: 100 Trying
    assert [m.status for m, d in sent(layer)] == [100] and layer.events() == []
    # Without any branch, and with another Call-ID: other transactions.
    ev2 = incoming(layer, request(branch=None, rport=False), 20)
    ev3 = incoming(layer, request(call_id="other@x", **old), 20)
    assert ev2.txn is not ev.txn and ev3.txn is not ev.txn and len(layer) == 3
    layer.receive(request(branch=None, rport=False), DOOR, 30)
    assert layer.events() == []
    # CANCEL matches on CSeq number, not method.
    cev = incoming(layer, request("CANCEL", **old), 40)
    assert isinstance(cev, CancelReceived) and cev.invite_txn is ev.txn
    # The ACK for a non-2xx matches on the To tag of our response.
    layer.respond(ev.txn, make_response(ev.request, 486, None, "d00r"), 50)
    layer.datagrams_to_send()
    layer.receive(request("ACK", to_tag="wrong", **old), DOOR, 60)
    assert ev.txn.state == "completed"
    assert isinstance(layer.events()[0], AckReceived)  # matched nothing: to the TU
    layer.receive(request("ACK", to_tag="d00r", **old), DOOR, 60)
    assert ev.txn.state == "confirmed" and layer.events() == []


# -- robustness -------------------------------------------------------------------


def test_unexpected_input_never_raises():
    layer = TransactionLayer()
    layer.receive(None, DOOR, 0)
    layer.receive("INVITE", DOOR, 0)
    layer.receive(Response(200), DOOR, 0)  # no Via, no CSeq
    layer.receive(Request("OPTIONS", "sip:x@y"), DOOR, 0)
    bad_via = Request("OPTIONS", "sip:x@y", [("Via", "garbage"), ("CSeq", "1 OPTIONS")])
    layer.receive(bad_via, DOOR, 0)
    bad_cseq = Response(200, None, [("Via", "SIP/2.0/UDP h;branch=z9hG4bKx"), ("CSeq", "x")])
    layer.receive(bad_cseq, DOOR, 0)
    odd = Response(200, None, [("Via", "SIP/2.0/UDP h;branch=z9hG4bKx"), ("CSeq", "1 X")])
    odd.status = 99
    layer.receive(odd, DOOR, 0)
    assert layer.events() == [] and layer.datagrams_to_send() == [] and len(layer) == 0
    # The TU answering a client transaction, or twice with a final.
    req = request()
    ctxn = layer.send_request(req, PHONE, 0)
    assert not layer.respond(ctxn, make_response(req, 200), 0)
    layer.handle_timer(0)  # nothing due: nothing happens
    layer.terminate(ctxn)
    assert len(layer) == 0 and layer.get_timer() is None


def test_every_state_and_input_is_handled():
    """Feed each machine every input in every state: nothing raises."""
    inputs = [tx.REQ, tx.ACK, tx.R1XX, tx.R2XX, tx.RFINAL, tx.TU1XX, tx.TU2XX, tx.TUFINAL,
              "A", "B", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "100", "Z"]
    states = [tx.INIT, tx.CALLING, tx.TRYING, tx.PROCEEDING, tx.COMPLETED, tx.CONFIRMED,
              tx.ACCEPTED, tx.TERMINATED]
    for method in ("INVITE", "OPTIONS"):
        req = request(method, "z9hG4bKall")
        for state in states:
            for what in inputs:
                for server in (False, True):
                    layer = TransactionLayer()
                    if server:
                        layer.receive(request(method, "z9hG4bKall"), DOOR, 0)
                        txn = layer.transactions()[0]
                    else:
                        txn = layer.send_request(request(method, "z9hG4bKall"), PHONE, 0)
                    txn.state = state
                    if what in (tx.R1XX, tx.R2XX, tx.RFINAL):
                        msg = reply(req, {tx.R1XX: 180, tx.R2XX: 200}.get(what, 486))
                    elif what in (tx.TU1XX, tx.TU2XX, tx.TUFINAL):
                        msg = make_response(req, {tx.TU1XX: 180, tx.TU2XX: 200}.get(what, 486))
                    elif what == tx.ACK:
                        msg = request("ACK", "z9hG4bKall")
                    else:
                        msg = req if what == tx.REQ else None
                    txn._input(what, msg, 10)
                    layer.get_timer()
                    layer.handle_timer(100000)


def test_server_transaction_flood_gets_503():
    layer = TransactionLayer(max_server=3)
    for i in range(3):
        incoming(layer, request("OPTIONS", "z9hG4bKf%d" % i), 0)
    layer.receive(request("OPTIONS", "z9hG4bKf9"), DOOR, 0)
    assert layer.events() == [] and len(layer) == 3
    assert [m.status for m, d in sent(layer)] == [503]


# -- two layers on a lossy wire -----------------------------------------------------


class LossyWire:
    """Joins two layers; drops every third (or every-th) datagram, phase
    picks which: phase 0 drops the 3rd, 1 the 2nd, 2 the 1st, then every 3rd."""

    def __init__(self, phase, start=0, every=3):
        self.every = every
        self.clock = FakeClock(start)
        self.door = TransactionLayer()
        self.phone = TransactionLayer()
        self.count = phase
        self.dropped = 0
        self.door_events = []
        self.phone_events = []

    def carry(self):
        moved = False
        for frm, to, src in ((self.door, self.phone, DOOR), (self.phone, self.door, PHONE)):
            for data, dest in frm.datagrams_to_send():
                moved = True
                self.count += 1
                if self.count % self.every == 0:
                    self.dropped += 1
                    continue
                to.receive(parse(data), src, self.clock.now())
        return moved

    def run(self, phone_tu, limit_ms=70000):
        """Carry datagrams, let the phone's TU answer, jump to timers."""
        end = ticks_add(self.clock.now(), limit_ms)
        while ticks_diff(end, self.clock.now()) > 0:
            if self.carry():
                for ev in self.phone.events():
                    self.phone_events.append(ev)
                    phone_tu(self.phone, ev, self.clock.now())
                self.door_events.extend(self.door.events())
                continue
            deadlines = [self.door.get_timer(), self.phone.get_timer()]
            deadlines = [t for t in deadlines if t is not None]
            if not deadlines:
                return
            first = deadlines[0]
            for t in deadlines:
                if ticks_diff(t, first) < 0:
                    first = t
            self.clock.advance(ticks_diff(first, self.clock.now()))
            self.door.handle_timer(self.clock.now())
            self.phone.handle_timer(self.clock.now())
        raise AssertionError("wire still busy after %d ms" % limit_ms)


def answer_with(status):
    def tu(layer, ev, now):
        if isinstance(ev, RequestReceived):
            if ev.request.method == "INVITE":
                layer.respond(ev.txn, make_response(ev.request, 180, None, "ph0ne"), now)
            layer.respond(ev.txn, make_response(ev.request, status, None, "ph0ne"), now)

    return tu


def statuses(events):
    return [e.response.status for e in events if isinstance(e, ResponseReceived)]


def test_lossy_wire_completes_non_invite_exchanges():
    for method in ("MESSAGE", "OPTIONS"):
        for phase in (0, 1, 2):
            w = LossyWire(phase, TICKS_PERIOD - 3000)
            w.door.send_request(request(method, "z9hG4bKw%d" % phase), PHONE, w.clock.now())
            w.run(answer_with(200))
            assert statuses(w.door_events) == [200], (method, phase, w.door_events)
            assert len(w.phone_events) == 1  # the request reached the TU once
            assert w.dropped >= (1 if phase else 0)  # phase 0: the 3rd never comes
            assert len(w.door) == 0 and len(w.phone) == 0


def test_lossy_wire_completes_invite_with_final_and_ack():
    # (phase, every): every 3rd loses the 486, the 180, the INVITE and a 486;
    # every 4th from the start loses the ACK (INVITE, 180, 486, ACK).
    for phase, every in ((0, 3), (1, 3), (2, 3), (0, 4)):
        w = LossyWire(phase, 0, every)
        w.door.send_request(request("INVITE", "z9hG4bKi%d" % phase), PHONE, w.clock.now())
        w.run(answer_with(486))
        got = statuses(w.door_events)
        assert got[-1] == 486 and got.count(486) == 1, (phase, got)
        assert len([e for e in w.phone_events if isinstance(e, RequestReceived)]) == 1
        timeouts = [e for e in w.phone_events + w.door_events if isinstance(e, TransactionTimedOut)]
        assert timeouts == [], (phase, timeouts)  # the ACK got through: no timer H
        assert w.dropped >= 1
        assert len(w.door) == 0 and len(w.phone) == 0
