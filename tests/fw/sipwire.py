"""A fake wire joining sans-IO user agents (and scripted peers) on a fake clock.

Each party has an address; datagrams go to whoever owns the destination.
drop(fn) loses the datagrams fn picks (a lossy network); run(ms) moves time
from timer to timer, delivering everything in between.
"""

from sipdoor.clock import ticks_add, ticks_diff


LOG_MAX = 12  # datagrams kept for sent(): enough for a scenario, small for a 256K heap


class Rng:
    """A small deterministic random source with getrandbits (n <= 32)."""

    def __init__(self, seed=1):
        self.state = seed or 1

    def getrandbits(self, n):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x & 0xFFFFFFFF
        return self.state & ((1 << n) - 1)


class Wire:
    def __init__(self, start=0):
        from sipdoor.clock import FakeClock

        self.clock = FakeClock(start)
        self.parties = {}  # (host, port) -> ua or callable(data, src, now)
        self.log = []  # (src, dest, bytes) of everything sent
        self.events = {}  # addr -> [events]
        self.dropper = None

    def add(self, addr, ua):
        self.parties[addr] = ua
        self.events[addr] = []
        return ua

    def now(self):
        return self.clock.now()

    def drop(self, fn):
        self.dropper = fn

    def _flush(self):
        moved = True
        while moved:
            moved = False
            for addr in list(self.parties):
                ua = self.parties[addr]
                if not hasattr(ua, "datagrams_to_send"):
                    continue
                self.events[addr].extend(ua.events())
                for data, dest in ua.datagrams_to_send():
                    moved = True
                    self.log.append((addr, dest, data))
                    if len(self.log) > LOG_MAX:
                        del self.log[0]
                    if self.dropper is not None and self.dropper(addr, dest, data):
                        continue
                    peer = self.parties.get(tuple(dest))
                    if peer is None:
                        continue
                    if hasattr(peer, "receive_datagram"):
                        peer.receive_datagram(data, addr, self.now())
                    else:
                        peer(data, addr, self.now())
                self.events[addr].extend(ua.events())

    def settle(self):
        self._flush()

    def run(self, ms):
        """Advance ms of fake time, firing timers and delivering datagrams."""
        end = ticks_add(self.now(), ms)
        self._flush()
        while True:
            best = None
            for ua in self.parties.values():
                t = ua.get_timer() if hasattr(ua, "get_timer") else None
                if t is not None and (best is None or ticks_diff(t, best) < 0):
                    best = t
            if best is None or ticks_diff(best, end) > 0:
                self.clock.advance(ticks_diff(end, self.now()))
                self._flush()
                return
            if ticks_diff(best, self.now()) > 0:
                self.clock.advance(ticks_diff(best, self.now()))
            for ua in list(self.parties.values()):
                t = ua.get_timer() if hasattr(ua, "get_timer") else None
                if t is not None and ticks_diff(t, self.now()) <= 0:
                    ua.handle_timer(self.now())
            self._flush()

    def take(self, addr, cls=None):
        """Events of one party so far (of one class), and forget them."""
        self._flush()
        evs = self.events[addr]
        if cls is None:
            self.events[addr] = []
            return evs
        got = [e for e in evs if isinstance(e, cls)]
        self.events[addr] = [e for e in evs if not isinstance(e, cls)]
        return got

    def sent(self, src=None, text=None):
        """Datagrams sent (by src), whose bytes contain text."""
        out = []
        for s, d, data in self.log:
            if src is not None and s != src:
                continue
            if text is not None and text.encode() not in data:
                continue
            out.append(data)
        return out


# -- two user agents on the wire: what the UA tests share -------------------------

A = ("127.0.0.1", 5060)
B = ("127.0.0.1", 5070)


def make_ua(addr, seed, account=None, keepalive_s=0, keepalive_kind="options"):
    from sipdoor.sip.ua import UserAgent

    settings = {"local_host": addr[0], "local_port": addr[1], "account": account,
                "codecs": ["PCMU", "PCMA"], "ptime": 20, "dtmf_pt": 101, "keepalive_s": keepalive_s,
                "keepalive_kind": keepalive_kind}
    return UserAgent(settings, Rng(seed))


def two_uas():
    wire = Wire(start=1000)
    a = wire.add(A, make_ua(A, 1))
    b = wire.add(B, make_ua(B, 2))
    return wire, a, b


def kinds(events):
    return [e.kind for e in events]


def connect(wire, a, b):
    """a calls b, b answers: (a's handle, b's handle), the call confirmed."""
    from sipdoor.sip.events import IncomingCall

    h = a.call("sip:door@127.0.0.1:5070", wire.now())
    wire.settle()
    inc = wire.take(B, IncomingCall)
    assert len(inc) == 1
    assert b.answer(inc[0].call, wire.now())
    wire.run(10)
    return h, inc[0].call
