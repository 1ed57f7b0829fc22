"""Registration on a fake wire against a scripted registrar that checks the
digest (both runtimes)."""

from sipwire import A, B, Wire, kinds, make_ua

from sipdoor.sip import events as ev
from sipdoor.sip.digest import digest_response
from sipdoor.sip.message import make_response, parse
from sipdoor.sip.transaction import stamp_via

REG = ("127.0.0.1", 5080)

ACCOUNT = {"user": "door", "password": "pw", "domain": "127.0.0.1", "registrar": "sip:127.0.0.1:5080",
           "proxy": None, "expires": 600}


class Registrar:
    """Challenges once per nonce, checks the digest, grants expires."""

    def __init__(self, wire, grant=600, min_expires=None):
        self.wire = wire
        self.grant = grant
        self.min_expires = min_expires
        self.seen = []
        self.down = False
        self.lost = 0
        self.nonce = "n1"

    def __call__(self, data, src, now):
        if self.down:
            self.lost += 1
            return
        if not data.strip():
            return  # a CRLF keep-alive ping
        req = parse(data)
        stamp_via(req, src)  # received/rport, as a real registrar does
        if req.method == "REGISTER":
            self.seen.append(req)
        if req.method == "OPTIONS":
            return self._send(make_response(req, 200, None, "t"), src)
        auth = req.get("authorization")
        if auth is None or ('nonce="%s"' % self.nonce) not in auth:
            resp = make_response(req, 401, None, "t")
            resp.add("WWW-Authenticate", 'Digest realm="sipdoor", nonce="%s", qop="auth"' % self.nonce)
            return self._send(resp, src)
        params = dict(p.strip().split("=", 1) for p in auth[len("Digest "):].split(","))
        want = digest_response("MD5", "door", "sipdoor", "pw", "REGISTER", params["uri"].strip('"'),
                               self.nonce, int(params["nc"], 16), params["cnonce"].strip('"'), "auth")
        if params["response"].strip('"') != want:
            resp = make_response(req, 403, None, "t")
            return self._send(resp, src)
        expires = int(req.get("expires"))
        if self.min_expires and 0 < expires < self.min_expires:
            resp = make_response(req, 423, None, "t")
            resp.add("Min-Expires", str(self.min_expires))
            return self._send(resp, src)
        resp = make_response(req, 200, None, "t")
        resp.add("Contact", "%s;expires=%d" % (req.get("contact"), min(expires, self.grant)))
        self._send(resp, src)

    def _send(self, resp, dest):
        station = self.wire.parties[dest]
        station.receive_datagram(resp.to_bytes(), REG, self.wire.now())


def registered_station(grant=600, min_expires=None, keepalive_s=0, keepalive_kind="options"):
    wire = Wire(start=2 ** 30 - 5000)  # across the tick wrap
    reg = Registrar(wire, grant, min_expires)
    wire.add(REG, reg)
    ua = wire.add(A, make_ua(A, 7, dict(ACCOUNT), keepalive_s, keepalive_kind))
    ua.start(wire.now())
    wire.run(100)
    return wire, reg, ua


def test_register_with_digest_same_call_id_and_cseq_up():
    wire, reg, ua = registered_station()
    got = wire.take(A)
    assert kinds(got) == ["registered"]
    assert got[0].expires == 600
    regs = reg.seen
    assert [r.cseq.seq for r in regs] == [1, 2]
    assert regs[0].call_id == regs[1].call_id
    assert regs[0].via.branch != regs[1].via.branch
    assert "rport" in regs[0].via.params


def test_refresh_before_expiry_reuses_nonce_and_call_id():
    wire, reg, ua = registered_station(grant=120)
    wire.take(A)
    wire.run(109000)  # refreshed at 120 - 12 s
    regs = reg.seen
    assert len(regs) == 3
    assert regs[2].cseq.seq == 3 and regs[2].call_id == regs[0].call_id
    assert "nc=00000002" in regs[2].get("authorization")
    assert wire.take(A) == []  # a refresh is not news


def test_423_uses_min_expires():
    ACCOUNT["expires"] = 60
    try:
        wire, reg, ua = registered_station(min_expires=300)
    finally:
        ACCOUNT["expires"] = 600
    got = wire.take(A)
    assert kinds(got) == ["registered"] and got[0].expires == 300


def test_registrar_down_backs_off_forever_and_recovers():
    wire, reg, ua = registered_station(keepalive_s=10)
    wire.take(A)
    reg.down = True
    wire.run(200000)
    fails = wire.take(A, ev.RegistrationFailed)
    assert len(fails) >= 3
    waits = [f.retry_in_s for f in fails]
    assert waits[0] == 0  # keep-alive lost: try again at once
    assert waits[1] >= 5 and waits[2] >= 2 * 5 and waits[2] > waits[1]
    reg.down = False
    wire.run(400000)
    assert kinds(wire.take(A)) == ["registered"]


def test_wrong_password_is_a_failure_not_a_loop():
    wire = Wire()
    reg = Registrar(wire)
    wire.add(REG, reg)
    bad = dict(ACCOUNT)
    bad["password"] = "nope"
    ua = wire.add(A, make_ua(A, 3, bad))
    ua.start(wire.now())
    wire.run(1000)
    fails = wire.take(A, ev.RegistrationFailed)
    assert len(fails) == 1 and fails[0].status == 403
    assert len(reg.seen) == 2


def test_unregister_on_stop():
    wire, reg, ua = registered_station()
    wire.take(A)
    assert ua.stop(wire.now())
    wire.run(100)
    last = reg.seen[-1]
    assert last.get("expires") == "0"
    assert kinds(wire.take(A)) == ["unregistered"]


def test_nat_address_from_via_goes_into_contact():
    wire = Wire()
    reg = Registrar(wire)
    wire.add(REG, reg)
    inside = ("10.0.0.5", 5060)
    ua = make_ua(inside, 9, dict(ACCOUNT))
    wire.add(A, ua)  # the wire delivers from A: the registrar sees 127.0.0.1:5060
    ua.start(wire.now())
    wire.run(100)
    got = wire.take(A)
    assert kinds(got) == ["registered"]
    assert got[0].contact == "<sip:door@127.0.0.1:5060>"
    last = reg.seen[-1]
    assert "127.0.0.1:5060" in last.get("contact")


def test_incoming_call_not_through_registrar_is_untrusted():
    wire, reg, ua = registered_station()
    other = wire.add(B, make_ua(B, 11))
    other.call("sip:door@127.0.0.1:5060", wire.now())
    wire.settle()
    inc = wire.take(A, ev.IncomingCall)
    assert inc and not inc[0].trusted


def test_keepalive_options_or_crlf_to_the_registrar():
    wire, reg, ua = registered_station(keepalive_s=10)
    wire.run(25000)
    assert len(wire.sent(A, "OPTIONS sip:127.0.0.1:5080")) == 2
    wire, reg, ua = registered_station(keepalive_s=10, keepalive_kind="crlf")
    wire.run(25000)
    pings = [d for s, d, data in wire.log if s == A and data == b"\r\n\r\n"]
    assert pings == [REG, REG] and not wire.sent(A, "OPTIONS ")
