"""Many calls in a row leave nothing behind (both runtimes).

A door station runs for months: every call, cancelled call and refusal
must clear its transactions, timers and call records, or the heap of a
board creeps until it fails. Two user agents on the fake wire go through
60 mixed calls; the UAs' tables end empty, and between call 20 and call 60
nothing accumulates: on MicroPython the heap after a collection stays flat
(gc.mem_alloc is exact there); on CPython, whose own caches (interned
names, the method cache) grow for a while, the count of live sipdoor
objects must not change.
"""

import gc

from sipwire import A, B, connect, two_uas
from sipdoor.sip.events import IncomingCall

SETTLE_MS = 40000  # Timer J/K and friends (64*T1 = 32 s) have all fired by then


def live_state():
    """MicroPython: bytes in use; CPython: how many sipdoor objects live."""
    gc.collect()
    if hasattr(gc, "mem_alloc"):
        return gc.mem_alloc()
    return len([o for o in gc.get_objects() if type(o).__module__.startswith("sipdoor")])


def one_round(wire, a, b, i):
    kind = i % 4
    if kind == 0:  # answered, the caller hangs up
        ha, _ = connect(wire, a, b)
        wire.run(200)
        a.hangup(ha, wire.now())
    elif kind == 1:  # answered, the callee hangs up
        _, hb = connect(wire, a, b)
        wire.run(200)
        b.hangup(hb, wire.now())
    elif kind == 2:  # refused (a caller not allowed)
        a.call("sip:door@127.0.0.1:5070", wire.now())
        wire.settle()
        inc = wire.take(B, IncomingCall)
        b.reject(inc[0].call, 403, wire.now())
    else:  # the visitor gives up while it rings: CANCEL
        h = a.call("sip:door@127.0.0.1:5070", wire.now())
        wire.run(50)
        wire.take(B, IncomingCall)
        a.hangup(h, wire.now())
    wire.run(SETTLE_MS)
    wire.take(A)
    wire.take(B)


def tables(ua):
    layer = ua.layer
    return len(ua.calls), len(layer._client), len(layer._server), len(ua._timers)


def test_sixty_calls_leave_no_state_and_no_heap_growth():
    wire, a, b = two_uas()
    for i in range(20):
        one_round(wire, a, b, i)
    assert tables(a) == (0, 0, 0, 0) and tables(b) == (0, 0, 0, 0), (tables(a), tables(b))
    before = live_state()
    for i in range(20, 60):
        one_round(wire, a, b, i)
    after = live_state()
    assert tables(a) == (0, 0, 0, 0) and tables(b) == (0, 0, 0, 0), (tables(a), tables(b))
    print("after call 20: %d, after call 60: %d" % (before, after))
    if hasattr(gc, "mem_alloc"):
        # A leak of one small object per call would show as several hundred bytes.
        assert after - before < 1024, (before, after)
    else:
        assert after == before, (before, after)
