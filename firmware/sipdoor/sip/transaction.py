"""SIP transactions over UDP (RFC 3261 section 17, with RFC 6026), sans-IO.

A transaction is a request, its retransmissions and the responses to it.
This layer owns retransmission and matching so the dialog and call code above
(the TU) sees each request and response once, plus a timeout when the peer
is gone. It never touches a socket or a clock: the caller feeds parsed
messages with their source address and the current tick, drains
datagrams_to_send() and events(), and calls handle_timer(now) at the
deadline get_timer() names.

Rules (each machine is a table below, (state, input) -> (actions, next state)):
- Inputs are: "request" (the TU's request for a client transaction, a request
  from the network for a server one), "ack", responses "1xx" / "2xx" /
  "300-699" from the network, "tu 1xx" / "tu 2xx" / "tu 300-699" from the TU,
  and a timer letter ("A".."M", "100") when that timer fires.
- An input the table does not list is ignored and logged, never raised; the
  RFC says "discard" for most of them (17.2.2: late finals from the TU).
- Actions run in order; "start X" arms timer X, "stop X" disarms it, "retry X"
  re-arms it with the interval doubled (A: uncapped, 17.1.1.2; E, G: capped at
  T2), "hold X" re-arms it at T2 (E in Proceeding, 17.1.2.2).
- Reaching "terminated" clears every timer and removes the transaction, so a
  stale retransmission from the previous call cannot reach the next one.
- RFC 6026: a 2xx to an INVITE moves both sides to "accepted" (timers M, L)
  instead of ending them. The client passes 2xx retransmissions up (the TU
  re-sends its ACK when its first ACK was lost); the server absorbs INVITE
  retransmissions (which would otherwise look like a new call) and passes on
  the TU's own 2xx retransmissions. A response that matches no transaction
  is dropped (RFC 6026 section 8.9).
- INVITE server: 100 Trying goes out 200 ms after the INVITE if the TU has
  not answered by then (17.2.1 allows skipping it when the TU answers within
  200 ms: a door station usually rings at once), or at once when the INVITE
  is retransmitted before that.
"""

from sipdoor.clock import ticks_add, ticks_diff
from sipdoor.sip.errors import SipError
from sipdoor.sip.headers import parse_via
from sipdoor.sip.message import Request, Response, make_response
from sipdoor.sip.timers import TimerConfig
from sipdoor.sip.uri import uri_equal

MAGIC = "z9hG4bK"  # RFC 3261 branches start with it (8.1.1.7)
MAX_SERVER = 32  # live server transactions; a flood beyond gets 503

# States
INIT = "init"
CALLING = "calling"
TRYING = "trying"
PROCEEDING = "proceeding"
COMPLETED = "completed"
CONFIRMED = "confirmed"
ACCEPTED = "accepted"
TERMINATED = "terminated"

# Inputs (besides timer letters)
REQ = "request"
ACK = "ack"
R1XX = "1xx"
R2XX = "2xx"
RFINAL = "300-699"
TU1XX = "tu 1xx"
TU2XX = "tu 2xx"
TUFINAL = "tu 300-699"

# INVITE client, 17.1.1.2 (figure 5) with RFC 6026 7.2 (Accepted, timer M).
ICT = {
    (INIT, REQ): (("send", "start A", "start B"), CALLING),
    (CALLING, "A"): (("send", "retry A"), CALLING),
    (CALLING, "B"): (("timeout",), TERMINATED),
    (CALLING, R1XX): (("up", "stop A", "stop B"), PROCEEDING),
    (CALLING, R2XX): (("up", "stop A", "stop B", "start M"), ACCEPTED),
    (CALLING, RFINAL): (("up", "ack", "stop A", "stop B", "start D"), COMPLETED),
    (PROCEEDING, R1XX): (("up",), PROCEEDING),
    (PROCEEDING, R2XX): (("up", "start M"), ACCEPTED),
    (PROCEEDING, RFINAL): (("up", "ack", "start D"), COMPLETED),
    (COMPLETED, RFINAL): (("ack",), COMPLETED),
    (COMPLETED, "D"): ((), TERMINATED),
    (ACCEPTED, R2XX): (("up",), ACCEPTED),
    (ACCEPTED, "M"): ((), TERMINATED),
}

# Non-INVITE client, 17.1.2.2 (figure 6).
NICT = {
    (INIT, REQ): (("send", "start E", "start F"), TRYING),
    (TRYING, "E"): (("send", "retry E"), TRYING),
    (TRYING, "F"): (("timeout",), TERMINATED),
    (TRYING, R1XX): (("up",), PROCEEDING),
    (TRYING, R2XX): (("up", "stop E", "stop F", "start K"), COMPLETED),
    (TRYING, RFINAL): (("up", "stop E", "stop F", "start K"), COMPLETED),
    (PROCEEDING, "E"): (("send", "hold E"), PROCEEDING),
    (PROCEEDING, "F"): (("timeout",), TERMINATED),
    (PROCEEDING, R1XX): (("up",), PROCEEDING),
    (PROCEEDING, R2XX): (("up", "stop E", "stop F", "start K"), COMPLETED),
    (PROCEEDING, RFINAL): (("up", "stop E", "stop F", "start K"), COMPLETED),
    (COMPLETED, R1XX): ((), COMPLETED),
    (COMPLETED, R2XX): ((), COMPLETED),
    (COMPLETED, RFINAL): ((), COMPLETED),
    (COMPLETED, "K"): ((), TERMINATED),
}

# INVITE server, 17.2.1 (figure 7) with RFC 6026 7.1 (Accepted, timer L).
# "resend" re-sends the last response, or 100 Trying when there is none yet.
IST = {
    (INIT, REQ): (("start 100",), PROCEEDING),
    (PROCEEDING, REQ): (("stop 100", "resend"), PROCEEDING),
    (PROCEEDING, "100"): (("resend",), PROCEEDING),
    (PROCEEDING, TU1XX): (("stop 100", "send"), PROCEEDING),
    (PROCEEDING, TU2XX): (("stop 100", "send", "start L"), ACCEPTED),
    (PROCEEDING, TUFINAL): (("stop 100", "send", "start G", "start H"), COMPLETED),
    (COMPLETED, REQ): (("resend",), COMPLETED),
    (COMPLETED, "G"): (("resend", "retry G"), COMPLETED),
    (COMPLETED, ACK): (("stop G", "stop H", "start I"), CONFIRMED),
    (COMPLETED, "H"): (("timeout",), TERMINATED),
    (CONFIRMED, REQ): ((), CONFIRMED),
    (CONFIRMED, ACK): ((), CONFIRMED),
    (CONFIRMED, "I"): ((), TERMINATED),
    (ACCEPTED, REQ): ((), ACCEPTED),
    (ACCEPTED, ACK): (("ackup",), ACCEPTED),
    (ACCEPTED, TU2XX): (("send",), ACCEPTED),
    (ACCEPTED, "L"): ((), TERMINATED),
}

# Non-INVITE server, 17.2.2 (figure 8).
NIST = {
    (INIT, REQ): ((), TRYING),
    (TRYING, REQ): ((), TRYING),
    (TRYING, TU1XX): (("send",), PROCEEDING),
    (TRYING, TU2XX): (("send", "start J"), COMPLETED),
    (TRYING, TUFINAL): (("send", "start J"), COMPLETED),
    (PROCEEDING, REQ): (("resend",), PROCEEDING),
    (PROCEEDING, TU1XX): (("send",), PROCEEDING),
    (PROCEEDING, TU2XX): (("send", "start J"), COMPLETED),
    (PROCEEDING, TUFINAL): (("send", "start J"), COMPLETED),
    (COMPLETED, REQ): (("resend",), COMPLETED),
    (COMPLETED, "J"): ((), TERMINATED),
}


# -- events for the TU: facts, in the past tense ----------------------------------


class Event:
    def __repr__(self):
        return "<%s %r>" % (self.__class__.__name__, self.__dict__)


class RequestReceived(Event):
    """A new request; answer it with layer.respond(txn, response, now)."""

    def __init__(self, txn, request, src):
        self.txn = txn
        self.request = request
        self.src = src


class ResponseReceived(Event):
    """A response for a client transaction (each 1xx, the final, and 2xx
    retransmissions of an INVITE: the TU ACKs every 2xx, 13.2.2.4)."""

    def __init__(self, txn, response):
        self.txn = txn
        self.response = response


class TransactionTimedOut(Event):
    """Timer B or F (no final response) or H (no ACK for our final)."""

    def __init__(self, txn):
        self.txn = txn


class AckReceived(Event):
    """An ACK for a 2xx: it belongs to the dialog, not to a transaction
    (txn is set only for an RFC 2543 ACK matched to an accepted INVITE)."""

    def __init__(self, request, src, txn=None):
        self.request = request
        self.src = src
        self.txn = txn


class CancelReceived(Event):
    """A CANCEL. txn is its own server transaction (answer it 200, or 481
    when invite_txn is None); invite_txn is the INVITE it cancels."""

    def __init__(self, txn, invite_txn, request, src):
        self.txn = txn
        self.invite_txn = invite_txn
        self.request = request
        self.src = src


# -- helpers --------------------------------------------------------------------


def new_branch(rand):
    """A fresh branch: the magic cookie and 64 random bits (8.1.1.7)."""
    return "%s%08x%08x" % (MAGIC, rand.getrandbits(32), rand.getrandbits(32))


def response_dest(via, src):
    """Where responses to a request go (18.2.2, RFC 3581): back to the
    source address; to its port when rport was asked for, else to the port
    in sent-by. received= always names the source after stamp_via()."""
    if via.rport is not None:
        return (src[0], src[1])
    return (src[0], via.port or 5060)


def stamp_via(req, src):
    """Add received= (and rport's value) to the top Via, as the server
    transport must (18.2.1, RFC 3581), so responses find the way back."""
    lines = req.get_all("via")
    if not lines:
        return
    vias = parse_via(lines[0])
    top = vias[0]
    if top.rport is not None:
        top.params.set("rport", str(src[1]))
        top.params.set("received", src[0])
    elif top.host != src[0]:
        top.params.set("received", src[0])
    else:
        return
    lines[0] = ", ".join([str(v) for v in vias])
    req.remove("via")
    for line in reversed(lines):
        req.add("Via", line, True)


def _same_transaction_request(req, method, to_value):
    """A request that rides on req's transaction (ACK, CANCEL): the same
    Request-URI, top Via (so the same branch), Route, From, Call-ID and CSeq
    number, with the given method and To."""
    out = Request(method, req.uri.copy())
    out.add("Via", str(req.via))
    for route in req.get_all("route"):
        out.add("Route", route)
    out.add("Max-Forwards", "70")
    out.add("From", req.get("from"))
    out.add("To", to_value)
    out.add("Call-ID", req.call_id)
    out.add("CSeq", "%d %s" % (req.cseq.seq, method))
    return out


def make_ack(req, resp):
    """ACK for a non-2xx final response (17.1.1.3): To comes from the response."""
    return _same_transaction_request(req, "ACK", resp.get("to"))


def make_cancel(req):
    """CANCEL for a pending request (9.1): To as in the request."""
    return _same_transaction_request(req, "CANCEL", req.get("to"))


def _tag(name_addr):
    return None if name_addr is None else name_addr.tag


def _sent_by(via):
    return (via.host.lower(), via.port or 5060)


class _Quiet:
    def debug(self, msg, *args):
        pass

    warning = debug


# -- transactions -----------------------------------------------------------------


class Transaction:
    """One state machine from the tables above, with its timers."""

    table = None
    kind = "?"

    def __init__(self, layer, request, key):
        self.layer = layer
        self.request = request
        self.method = request.method
        self.branch = request.via.branch
        self.key = key
        self.state = INIT
        self.timers = {}  # timer letter -> deadline tick
        self._interval = {}  # A, E, G: current retransmission interval

    def __repr__(self):
        return "<%s %s %s %s>" % (self.kind, self.method, self.branch, self.state)

    @property
    def terminated(self):
        return self.state == TERMINATED

    def _input(self, what, msg, now):
        """Run the table for one input; False when it was not expected."""
        entry = self.table.get((self.state, what))
        if entry is None:
            self.layer._log.debug("%r: %s ignored", self, what)
            return False
        actions, nxt = entry
        for action in actions:
            verb, _, timer = action.partition(" ")
            if timer:
                self._timer(verb, timer, now)
            else:
                getattr(self, "_" + verb)(msg, now)
        self.state = nxt
        if nxt == TERMINATED:
            self.timers = {}
            self.layer._remove(self)
        return True

    def _timer(self, verb, name, now):
        cfg = self.layer.config
        if verb == "stop":
            self.timers.pop(name, None)
            return
        if verb == "start":
            if name in ("A", "E", "G"):
                ms = self._interval[name] = cfg.t1
            elif name == "100":
                ms = cfg.trying
            else:
                ms = getattr(cfg, name.lower())
        elif verb == "retry":
            ms = 2 * self._interval.get(name, cfg.t1)
            if name != "A" and ms > cfg.t2:
                ms = cfg.t2
            self._interval[name] = ms
        else:  # hold
            ms = self._interval[name] = cfg.t2
        self.timers[name] = ticks_add(now, ms)

    def _timeout(self, msg, now):
        self.layer._event(TransactionTimedOut(self))


class ClientTransaction(Transaction):
    """Sends a request until a response comes; passes responses up once."""

    def __init__(self, layer, request, dest, key):
        Transaction.__init__(self, layer, request, key)
        invite = request.method == "INVITE"
        self.table = ICT if invite else NICT
        self.kind = "ICT" if invite else "NICT"
        self.dest = dest
        self.wire = request.to_bytes()  # serialized once, retransmitted as is
        self.ack_wire = None
        self.status = 0  # of the latest response passed up (the object is not kept: small heaps)

    def _send(self, msg, now):
        self.layer._out(self.wire, self.dest)

    def _up(self, resp, now):
        self.status = resp.status
        self.layer._event(ResponseReceived(self, resp))

    def _ack(self, resp, now):
        if self.ack_wire is None:
            self.ack_wire = make_ack(self.request, resp).to_bytes()
        self.layer._out(self.ack_wire, self.dest)


class ServerTransaction(Transaction):
    """Absorbs request retransmissions, re-sending the last response."""

    def __init__(self, layer, request, src, key):
        Transaction.__init__(self, layer, request, key)
        invite = request.method == "INVITE"
        self.table = IST if invite else NIST
        self.kind = "IST" if invite else "NIST"
        self.src = src
        self.dest = response_dest(request.via, src)
        self.legacy = not (self.branch or "").startswith(MAGIC)
        self.response_tag = None  # To tag of the last response sent (RFC 2543 ACK matching)
        self.sent_response = False
        self.wire = None  # ... and its bytes

    def _send(self, resp, now):
        self.sent_response = True
        self.response_tag = _tag(resp.to)
        self.wire = resp.to_bytes()
        self.layer._out(self.wire, self.dest)

    def _resend(self, msg, now):
        if self.wire is None:  # INVITE only: nothing from the TU yet
            self._send(make_response(self.request, 100), now)
        else:
            self.layer._out(self.wire, self.dest)

    def _ackup(self, ack, now):
        self.layer._event(AckReceived(ack, self.src, self))

    def matches_2543(self, req, method):
        """RFC 2543 matching (17.2.3, 9.2) for a branch without the cookie:
        Request-URI, From tag, Call-ID, CSeq number, top Via, To tag (for an
        ACK the To tag of our response); method is the one the transaction
        was made for (INVITE for ACK and CANCEL)."""
        orig = self.request
        if method != self.method or req.call_id != orig.call_id:
            return False
        if req.cseq.seq != orig.cseq.seq or _tag(req.from_) != _tag(orig.from_):
            return False
        if str(req.via) != str(orig.via) or not uri_equal(req.uri, orig.uri):
            return False
        if req.method == "ACK":
            return self.sent_response and _tag(req.to) == self.response_tag
        return _tag(req.to) == _tag(orig.to)


# -- the layer ----------------------------------------------------------------------


class TransactionLayer:
    """Every live transaction of one UA, matched and timed together."""

    def __init__(self, config=None, log=None, max_server=MAX_SERVER):
        self.config = config or TimerConfig()
        self._log = log or _Quiet()
        self.max_server = max_server
        self._client = {}  # (branch, CSeq method) -> ClientTransaction
        self._server = {}  # (branch, sent-by, method) or ("2543", n) -> ServerTransaction
        self._legacy_n = 0
        self._out_q = []
        self._events = []

    # -- what the caller drains -----------------------------------------------

    def datagrams_to_send(self):
        """[(bytes, (host, port))] queued since the last call."""
        out, self._out_q = self._out_q, []
        return out

    def events(self):
        """Events for the TU since the last call, oldest first."""
        out, self._events = self._events, []
        return out

    def get_timer(self):
        """The earliest timer deadline (a tick) or None."""
        best = None
        for txn in self.transactions():
            for when in txn.timers.values():
                if best is None or ticks_diff(when, best) < 0:
                    best = when
        return best

    def handle_timer(self, now):
        """Fire every timer due at now, earliest first."""
        while True:
            best = None
            for txn in self.transactions():
                for name, when in txn.timers.items():
                    if ticks_diff(when, now) > 0:
                        continue
                    if best is None or ticks_diff(when, best[0]) < 0:
                        best = (when, txn, name)
            if best is None:
                return
            del best[1].timers[best[2]]
            best[1]._input(best[2], None, now)

    def transactions(self):
        return list(self._client.values()) + list(self._server.values())

    def __len__(self):
        return len(self._client) + len(self._server)

    # -- from the TU ----------------------------------------------------------

    def send_request(self, req, dest, now):
        """Start a client transaction: req carries a top Via whose branch is
        new (new_branch()); ACK has no transaction (use send_stateless)."""
        via = req.via
        if via is None or not via.branch or req.method == "ACK":
            raise ValueError("request needs a Via branch and must not be ACK")
        key = (via.branch, req.method)
        if key in self._client:
            raise ValueError("branch %s already in use" % via.branch)
        txn = ClientTransaction(self, req, dest, key)
        self._client[key] = txn
        txn._input(REQ, req, now)
        return txn

    def respond(self, txn, resp, now):
        """Send a response through its server transaction; False when the
        transaction has ended or its state does not take that response."""
        if not isinstance(txn, ServerTransaction) or self._server.get(txn.key) is not txn:
            self._log.debug("response %r for no live transaction dropped", resp)
            return False
        status = resp.status
        if status < 100 or status > 699:
            raise ValueError("bad status %r" % status)
        what = TU1XX if status < 200 else TU2XX if status < 300 else TUFINAL
        return txn._input(what, resp, now)

    def terminate(self, txn):
        """End a transaction at once without telling the peer, e.g. an INVITE
        still Proceeding 64*T1 after its CANCEL was answered (9.1)."""
        txn.state = TERMINATED
        txn.timers = {}
        self._remove(txn)

    def send_stateless(self, msg, dest):
        """Queue a message outside any transaction: the ACK for a 2xx, a 2xx
        retransmission after timer L, or a reply to a bad request."""
        self._out(msg.to_bytes(), dest)

    # -- from the network -----------------------------------------------------

    def receive(self, msg, src, now):
        """Route a parsed message: responses to client transactions, requests
        to server transactions (new ones become events for the TU)."""
        try:
            if isinstance(msg, Response):
                self._on_response(msg, now)
            elif isinstance(msg, Request):
                self._on_request(msg, src, now)
            else:
                self._log.warning("not a SIP message: %r", msg)
        except (SipError, ValueError) as e:
            self._log.warning("dropped %r from %r: %s", msg, src, e)

    def _on_response(self, resp, now):
        via = resp.via
        cseq = resp.cseq
        status = resp.status
        if via is None or cseq is None or not via.branch or status < 100 or status > 699:
            self._log.debug("unmatchable response dropped: %r", resp)
            return
        txn = self._client.get((via.branch, cseq.method))
        if txn is None:
            self._log.debug("response for no transaction dropped: %r", resp)
            return
        txn._input(R1XX if status < 200 else R2XX if status < 300 else RFINAL, resp, now)

    def _on_request(self, req, src, now):
        if req.via is None or req.cseq is None or req.uri is None:
            self._log.debug("unmatchable request dropped: %r", req)
            return
        stamp_via(req, src)
        method = req.method
        if method == "ACK":
            txn = self._find_server(req, "INVITE")
            if txn is None:
                self._event(AckReceived(req, src))
            else:
                txn._input(ACK, req, now)
            return
        txn = self._find_server(req, method)
        if txn is not None:
            txn._input(REQ, req, now)
            return
        if len(self._server) >= self.max_server:
            self._log.warning("too many transactions: 503 to %r", src)
            self._out(make_response(req, 503).to_bytes(), response_dest(req.via, src))
            return
        via = req.via
        if (via.branch or "").startswith(MAGIC):
            key = (via.branch,) + _sent_by(via) + (method,)
        else:
            self._legacy_n += 1
            key = ("2543", self._legacy_n)
        txn = ServerTransaction(self, req, src, key)
        self._server[key] = txn
        txn._input(REQ, req, now)
        if method == "CANCEL":
            self._event(CancelReceived(txn, self._find_server(req, "INVITE"), req, src))
        else:
            self._event(RequestReceived(txn, req, src))

    def _find_server(self, req, method):
        """17.2.3 matching; method is INVITE for ACK and CANCEL (9.2)."""
        via = req.via
        if (via.branch or "").startswith(MAGIC):
            return self._server.get((via.branch,) + _sent_by(via) + (method,))
        for txn in self._server.values():
            if txn.legacy and txn.matches_2543(req, method):
                return txn
        return None

    # -- used by the transactions ---------------------------------------------

    def _out(self, data, dest):
        self._out_q.append((data, dest))

    def _event(self, ev):
        self._events.append(ev)

    def _remove(self, txn):
        table = self._client if isinstance(txn, ClientTransaction) else self._server
        if table.get(txn.key) is txn:
            del table[txn.key]
