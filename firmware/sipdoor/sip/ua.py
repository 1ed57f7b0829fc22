"""The door station's SIP user agent, sans-IO: datagrams in, datagrams and events out.

    ua = UserAgent(settings, rng, log)
    ua.start(now)                                 # registers when an account is set
    ua.receive_datagram(data, (host, port), now)  # every datagram from the SIP socket
    ua.datagrams_to_send() -> [(bytes, (host, port))]
    ua.events() -> [Registered, IncomingCall, CallAnswered, ...]  (sip/events.py)
    ua.get_timer() / ua.handle_timer(now)         # the earliest deadline, and firing it
    ua.call(uri, now) -> handle; ua.answer(handle, now); ua.reject(handle, status, now)
    ua.hangup(handle, now); ua.hold(handle, now); ua.resume(handle, now)
    ua.send_message(uri, text, now); ua.stop(now)

It never touches a socket, clock or random module: main.py (and the tests,
with a fake wire) drive it. Host names are turned into addresses by the
injected resolve(host) function; no DNS SRV/NAPTR (a door station is set up
with its PBX's address or name).

What it answers on its own (RFC 3261 section 8.2 order): a bad request 400
(or the parser's code), an unsupported URI scheme 416, Require with an
extension we lack 420, Max-Forwards 0 on a non-OPTIONS 483, a method we do
not have 405 with Allow, a request for a dialog we do not know 481, an
out-of-order CSeq 500, OPTIONS 200 with Allow/Accept/Supported, MESSAGE 200
(and an event), INFO with a DTMF body 200 (and an event). The app decides
about new calls (answer or reject) when it sees IncomingCall.
"""

from sipdoor.clock import ticks_add, ticks_diff
from sipdoor.sip import sdp
from sipdoor.sip.call import (ANSWERED, CALLING, CANCELLING, CONFIRMED, ENDED, INCOMING, LIVE,
                              RINGING, Call)
from sipdoor.sip.dialog import Dialog
from sipdoor.sip.digest import DigestClient, DigestError
from sipdoor.sip.errors import SipError
from sipdoor.sip.events import (CallAnswered, CallEnded, CallHeld, CallResumed, CallRinging,
                                CallUpdated, DtmfReceived, IncomingCall, MessageReceived,
                                MessageSent)
from sipdoor.sip.headers import NameAddr, parse_name_addr
from sipdoor.sip.message import REJECT, REQUEST, RESPONSE, Request, make_response, parse_and_classify
from sipdoor.sip.registration import Registration
from sipdoor.sip.timers import TimerConfig
from sipdoor.sip.transaction import (AckReceived, CancelReceived, RequestReceived, ResponseReceived,
                                     TransactionLayer, TransactionTimedOut, make_cancel, new_branch)
from sipdoor.sip.uri import parse_uri

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, INFO"
ACCEPT = "application/sdp, text/plain, application/dtmf-relay, application/dtmf"
SUPPORTED = ""  # no extensions: no 100rel, no timer, no replaces
MAX_CALLS = 8
DTMF_KEYS = "0123456789*#ABCD"
INFO_EVENT_KEYS = {10: "*", 11: "#", 12: "A", 13: "B", 14: "C", 15: "D"}


class _Quiet:
    def debug(self, msg, *args):
        pass

    info = warning = error = debug


class _Out:
    """An outgoing request in flight: its builder (called again for an auth
    retry with the next CSeq), where it goes and who hears the answer."""

    def __init__(self, build, dest, on_final, on_provisional=None, on_timeout=None, call=None):
        self.build = build
        self.dest = dest
        self.on_final = on_final
        self.on_provisional = on_provisional
        self.on_timeout = on_timeout
        self.call = call
        self.request = None
        self.auth_tries = 0
        self.done = False  # the final response was handled


def _dtmf_from_info(req):
    """The key in an INFO body (application/dtmf-relay 'Signal=5', or
    application/dtmf '5'), or None when there is none."""
    ctype = req.content_type
    text = req.body.decode() if isinstance(req.body, (bytes, bytearray)) else str(req.body)
    value = None
    if ctype == "application/dtmf-relay":
        for line in text.split("\n"):
            name, _, v = line.partition("=")
            if name.strip().lower() == "signal":
                value = v.strip()
                break
    elif ctype == "application/dtmf":
        value = text.strip()
    if not value:
        return None
    if value.isdigit() and len(value) <= 2 and int(value) in INFO_EVENT_KEYS:
        return INFO_EVENT_KEYS[int(value)]
    value = value.upper()
    if len(value) == 1 and value in DTMF_KEYS:
        return value
    return None


def _host_for_uri(host):
    return "[%s]" % host if ":" in host and not host.startswith("[") else host


def _status_reason(status):
    if status in (486, 600):
        return "busy"
    if status in (603, 403):
        return "declined"
    if status == 487:
        return "cancelled"
    if status in (408, 480):
        return "no_answer"
    return "failed"


class UserAgent:
    """One SIP user agent on one UDP socket. settings (a dict):
      local_host, local_port  our address as peers should see it
      account                 None (peer-to-peer) or config sip.account
      codecs, ptime, dtmf_pt  media offered and accepted
      keepalive_s             OPTIONS to the registrar and inside calls (0: off)
      user                    our user part in peer-to-peer mode ("door")
    """

    def __init__(self, settings, rng, log=None, timers=None, resolve=None, rtp_ports=None,
                 user_agent="sipdoor"):
        self.rng = rng
        self.log = log or _Quiet()
        self.timers = timers or TimerConfig()
        self.layer = TransactionLayer(self.timers, self.log)
        self.resolve = resolve or (lambda host: host)
        self.rtp_ports = rtp_ports or _PortCounter()
        self.user_agent = user_agent
        self.local_host = settings["local_host"]
        self.local_port = settings["local_port"]
        self.media = {"codecs": settings.get("codecs", ("PCMU", "PCMA")),
                      "ptime": settings.get("ptime", 20),
                      "dtmf_pt": settings.get("dtmf_pt", 101)}
        self.keepalive_ms = settings.get("keepalive_s", 30) * 1000
        self.keepalive_kind = settings.get("keepalive_kind", "options")
        account = settings.get("account")
        self.account = account
        self.digest = None
        self.registration = None
        self.proxy = None
        if account is not None:
            self.user = account["user"]
            self.domain = account["domain"]
            self.digest = DigestClient(account["user"], account["password"], rng)
            self.registration = Registration(self, account)
            if account.get("proxy"):
                self.proxy = parse_uri(account["proxy"])
        else:
            self.user = settings.get("user", "door")
            self.domain = None
        self.calls = {}  # handle -> Call
        self._handles = 0
        self._events = []
        self._timers = {}  # name -> (tick, fn)
        self._keepalive_out = None

    # -- what the driver calls ------------------------------------------------

    def start(self, now):
        if self.registration is not None:
            self.registration.start(now)
        if self.keepalive_ms:
            self._set_timer("keepalive", ticks_add(now, self.keepalive_ms), self._keepalive)

    def stop(self, now):
        """Hang up every call and unregister; True when something was sent
        that deserves a moment's wait for its answer."""
        pending = False
        for call in list(self.calls.values()):
            if call.live:
                self.hangup(call.handle, now, "shutdown")
                pending = True
        self._timers = {}
        if self.registration is not None and self.registration.stop(now):
            pending = True
        return pending

    def stopping(self):
        """True while an unregister is still waiting for its answer."""
        reg = self.registration
        return reg is not None and reg.state == "unregistering"

    def receive_datagram(self, data, src, now):
        if not data.strip(b"\r\n"):
            return  # a CRLF keep-alive (RFC 5626 ping): nothing to answer over UDP
        kind, msg, err = parse_and_classify(data, self._new_tag())
        if kind == REJECT:
            self.log.info("bad request from %s:%d: %s", src[0], src[1], err)
            self._reply_stateless(msg, src)
        elif kind in (REQUEST, RESPONSE):
            self.layer.receive(msg, src, now)
        else:
            self.log.debug("dropped a datagram from %s:%d: %s", src[0], src[1], err)
        self._drain(now)

    def datagrams_to_send(self):
        return self.layer.datagrams_to_send()

    def events(self):
        out, self._events = self._events, []
        return out

    def get_timer(self):
        best = self.layer.get_timer()
        for when, _fn in self._timers.values():
            if best is None or ticks_diff(when, best) < 0:
                best = when
        if self.registration is not None and self.registration.deadline is not None:
            when = self.registration.deadline
            if best is None or ticks_diff(when, best) < 0:
                best = when
        return best

    def handle_timer(self, now):
        self.layer.handle_timer(now)
        self._drain(now)
        for name in list(self._timers):
            entry = self._timers.get(name)
            if entry is not None and ticks_diff(entry[0], now) <= 0:
                del self._timers[name]
                entry[1](now)
        reg = self.registration
        if reg is not None and reg.deadline is not None and ticks_diff(reg.deadline, now) <= 0:
            reg.handle_timer(now)
        self._drain(now)

    # -- calls: what the app calls -------------------------------------------

    def call(self, target, now):
        """Call target (a SIP URI text); returns the call's handle."""
        uri = parse_uri(target)
        call = self._new_call(True, target)
        call.local_sdp = call.make_offer(self.local_host, self.media, self.rng)
        call_id = self.new_call_id()
        from_ = "<%s>;tag=%s" % (self.aor(), self._new_tag())
        state = {"cseq": 0}

        def build():
            state["cseq"] += 1
            req = self._request("INVITE", uri.copy(), "<%s>" % target, from_, call_id, state["cseq"])
            req.add("Contact", self.contact())
            req.add("Allow", ALLOW)
            req.set("Content-Type", "application/sdp")
            req.body = call.local_sdp.to_bytes()
            return req

        out = _Out(build, self._dest_for(uri), self._invite_final, self._invite_provisional,
                   self._invite_timeout, call)
        txn = self._send(out, now)
        call.invite_txn = txn
        call.invite = out.request
        return call.handle

    def answer(self, handle, now):
        call = self.calls.get(handle)
        if call is None or call.state != INCOMING:
            return False
        if call.offer_in_ok:
            body = call.make_offer(self.local_host, self.media, self.rng)
            call.local_sdp = body
        else:
            try:
                body, negotiated = call.answer_offer(call.remote_offer, self.local_host, self.media, self.rng)
            except sdp.SdpError as e:
                self._respond(call.invite_txn, e.status, now, e.reason)
                self._end(call, "failed", e.status)
                return False
            call.negotiated = negotiated
        tag = call.dialog.local_tag
        resp = self._response(call.invite, 200, tag)
        resp.add("Contact", self.contact())
        resp.add("Allow", ALLOW)
        resp.set("Content-Type", "application/sdp")
        resp.body = body.to_bytes()
        call.state = ANSWERED
        self._send_ok(call, resp, call.invite_txn, now)
        if call.negotiated is not None:
            self.emit(CallAnswered(call.handle, call.target, call.negotiated, False))
        return True

    def ringing(self, handle, now):
        """Send 180 Ringing for an incoming call the app lets ring."""
        call = self.calls.get(handle)
        if call is None or call.state != INCOMING:
            return False
        resp = self._response(call.invite, 180, call.dialog.local_tag)
        resp.add("Contact", self.contact())
        self.layer.respond(call.invite_txn, resp, now)
        return True

    def reject(self, handle, status, now, reason=None):
        call = self.calls.get(handle)
        if call is None or call.state != INCOMING:
            return False
        self._respond(call.invite_txn, status, now, reason, call.dialog.local_tag)
        self._end(call, "rejected", status)
        return True

    def hangup(self, handle, now, reason="hangup_local"):
        """End a call whatever its state: CANCEL, 603 or BYE as fits."""
        call = self.calls.get(handle)
        if call is None or not call.live:
            return False
        if call.state in (CALLING, RINGING):
            self._cancel(call, now)
            self._end(call, "cancelled" if reason == "hangup_local" else reason)
        elif call.state == INCOMING:
            self._respond(call.invite_txn, 603, now, None, call.dialog.local_tag)
            self._end(call, reason, 603)
        elif call.state == ANSWERED:
            call.bye_after_ack = True
            self._end(call, reason)
        else:
            self._send_bye(call, now)
            self._end(call, reason)
        return True

    def hold(self, handle, now):
        return self._reinvite(handle, now, True)

    def resume(self, handle, now):
        return self._reinvite(handle, now, False)

    def send_info_dtmf(self, handle, digit, now, duration_ms=160):
        call = self.calls.get(handle)
        if call is None or call.state != CONFIRMED:
            return False
        body = "Signal=%s\r\nDuration=%d\r\n" % (digit, duration_ms)
        self._in_dialog(call, "INFO", now, body, "application/dtmf-relay")
        return True

    def send_message(self, target, text, now, content_type="text/plain"):
        uri = parse_uri(target)
        call_id = self.new_call_id()
        from_ = "<%s>;tag=%s" % (self.aor(), self._new_tag())
        state = {"cseq": 0}

        def build():
            state["cseq"] += 1
            req = self._request("MESSAGE", uri.copy(), "<%s>" % target, from_, call_id, state["cseq"])
            req.set("Content-Type", content_type)
            req.body = text.encode() if isinstance(text, str) else text
            return req

        def final(out, resp, now):
            self.emit(MessageSent(target, resp.status, resp.reason))

        def timeout(out, now):
            self.emit(MessageSent(target, 0, "no answer"))

        self._send(_Out(build, self._dest_for(uri), final, None, timeout), now)

    def media_timeout(self, handle, now):
        """The app heard no RTP for too long: the peer is gone (no BYE)."""
        call = self.calls.get(handle)
        if call is not None and call.live:
            self._send_bye(call, now)
            self._end(call, "media_timeout")

    # -- identities -------------------------------------------------------------

    def aor(self):
        if self.registration is not None:
            return self.registration.aor
        return "sip:%s@%s" % (self.user, _host_for_uri(self.local_host))

    def contact(self):
        if self.registration is not None:
            return self.registration.contact()
        return "<sip:%s@%s:%d>" % (self.user, _host_for_uri(self.local_host), self.local_port)

    def new_call_id(self):
        return "%08x%08x%08x@sipdoor" % (self.rng.getrandbits(32), self.rng.getrandbits(32),
                                         self.rng.getrandbits(32))

    def new_tag(self):
        return self._new_tag()

    def _new_tag(self):
        return "%08x%04x" % (self.rng.getrandbits(32), self.rng.getrandbits(16))

    def emit(self, ev):
        self._events.append(ev)

    # -- building and sending -----------------------------------------------------

    def _via(self):
        return "SIP/2.0/UDP %s:%d;rport;branch=%s" % (_host_for_uri(self.local_host), self.local_port,
                                                     new_branch(self.rng))

    def _request(self, method, uri, to, from_, call_id, cseq):
        req = Request(method, uri)
        req.add("Via", self._via())
        if self.proxy is not None:
            req.add("Route", "<%s;lr>" % self.proxy if "lr" not in self.proxy.params else "<%s>" % self.proxy)
        req.add("Max-Forwards", "70")
        req.add("From", from_)
        req.add("To", to)
        req.add("Call-ID", call_id)
        req.add("CSeq", "%d %s" % (cseq, method))
        req.add("User-Agent", self.user_agent)
        return req

    def _response(self, req, status, tag=None, reason=None):
        resp = make_response(req, status, reason, tag)
        resp.add("Server", self.user_agent)
        return resp

    def _dest_for(self, uri, via_proxy=True):
        """Where an out-of-dialog request goes: the outbound proxy, else the
        Request-URI's host (maddr first) and port."""
        hop = self.proxy if self.proxy is not None and via_proxy else uri
        host = hop.params.get("maddr") or hop.host
        return (self.resolve(host.strip("[]")), hop.port or 5060)

    def _dialog_dest(self, dialog):
        if not dialog.routes and self.proxy is not None:
            return self._dest_for(self.proxy)
        return self._dest_for(dialog.next_hop())

    def _send(self, out, now):
        req = out.build()
        if self.digest is not None:
            self.digest.apply(req)
        out.request = req
        txn = self.layer.send_request(req, out.dest, now)
        txn.out = out  # who hears the answer (a plain attribute: no id() reuse)
        return txn

    def _respond(self, txn, status, now, reason=None, tag=None):
        resp = self._response(txn.request, status, tag or self._new_tag(), reason)
        if status == 405:
            resp.add("Allow", ALLOW)
        self.layer.respond(txn, resp, now)

    def _reply_stateless(self, resp, src):
        """Answer a bad request: to its Via's port (18.2.2) when the Via
        can be read and asks no rport, else straight back to the source."""
        port = src[1]
        try:
            via = resp.via
        except SipError:
            via = None
        if via is not None and via.rport is None and via.port:
            port = via.port
        self.layer.send_stateless(resp, (src[0], port))

    # -- events from the transaction layer ------------------------------------

    def _drain(self, now):
        for ev in self.layer.events():
            try:
                self._on_layer_event(ev, now)
            except (SipError, ValueError) as e:
                self.log.warning("could not handle %r: %s", ev, e)

    def _on_layer_event(self, ev, now):
        if isinstance(ev, ResponseReceived):
            out = getattr(ev.txn, "out", None)
            if out is None:
                return
            resp = ev.response
            if resp.status < 200:
                if out.on_provisional is not None:
                    out.on_provisional(out, resp, now)
                return
            if out.done:
                if out.request.method == "INVITE" and resp.status < 300:
                    self._invite_ok_again(out, resp, now)
                return
            if resp.status in (401, 407) and self._retry_with_auth(out, resp, now):
                return
            out.done = True
            out.on_final(out, resp, now)
        elif isinstance(ev, TransactionTimedOut):
            out = getattr(ev.txn, "out", None)
            if out is not None and out.on_timeout is not None:
                out.on_timeout(out, now)
            # An IST's timer H (no ACK for our non-2xx): the call has already ended.
        elif isinstance(ev, RequestReceived):
            self._on_request(ev.txn, ev.request, ev.src, now)
        elif isinstance(ev, AckReceived):
            self._on_ack(ev.request, now)
        elif isinstance(ev, CancelReceived):
            self._on_cancel(ev, now)

    def _retry_with_auth(self, out, resp, now):
        if self.digest is None or out.auth_tries >= 2:
            return False
        try:
            self.digest.handle_response(resp, out.request)
        except DigestError as e:
            self.log.warning("%s %s: %s", out.request.method, out.request.uri, e)
            if out.call is None and out.on_timeout is not None and out.request.method == "REGISTER":
                self.registration.on_auth_failed(now, str(e))
                return True
            return False
        out.auth_tries += 1
        txn = self._send(out, now)
        if out.call is not None and out.request.method == "INVITE":
            if out.call.reinvite_txn is not None and out.call.state == CONFIRMED:
                out.call.reinvite_txn = txn
            else:
                out.call.invite_txn = txn
                out.call.invite = out.request
        return True

    # -- registration and keep-alive ----------------------------------------------

    def send_register(self, reg, expires, now):
        uri = parse_uri(reg.registrar)

        def build():
            req = self._request("REGISTER", uri.copy(), "<%s>" % reg.aor, "<%s>;tag=%s" % (reg.aor, reg.tag),
                                reg.call_id, reg.next_cseq())
            req.add("Contact", reg.contact())
            req.add("Expires", "%d" % expires)
            req.add("Allow", ALLOW)
            return req

        def final(out, resp, now):
            reg.on_response(resp, now)

        def timeout(out, now):
            reg.on_timeout(now)

        self._send(_Out(build, self._dest_for(uri), final, None, timeout), now)

    def _keepalive(self, now):
        self._set_timer("keepalive", ticks_add(now, self.keepalive_ms), self._keepalive)
        reg = self.registration
        if reg is not None and reg.registered and self.keepalive_kind == "crlf":
            # RFC 5626 ping: keeps the NAT binding open; it gets no answer, so
            # a lost registrar is found by the next refresh, not at once.
            self.layer._out(b"\r\n\r\n", self._dest_for(parse_uri(reg.registrar)))
        elif reg is not None and reg.registered and self._keepalive_out is None:
            uri = parse_uri(reg.registrar)
            tag = self._new_tag()
            call_id = self.new_call_id()

            def build():
                req = self._request("OPTIONS", uri.copy(), "<%s>" % uri, "<%s>;tag=%s" % (reg.aor, tag),
                                    call_id, 1)
                req.add("Accept", ACCEPT)
                return req

            def final(out, resp, now):
                self._keepalive_out = None  # any answer: the registrar is alive

            def timeout(out, now):
                self._keepalive_out = None
                self.log.warning("registrar does not answer keep-alives: registering again")
                reg.lost(now, "registrar stopped answering")

            out = _Out(build, self._dest_for(uri), final, None, timeout)
            self._keepalive_out = out
            self._send(out, now)
        for call in list(self.calls.values()):
            if call.state == CONFIRMED and call.dialog is not None:
                self._in_dialog(call, "OPTIONS", now, on_final=self._call_alive, on_timeout=self._call_gone)

    def _call_alive(self, out, resp, now):
        if resp.status in (408, 481) and out.call.live:
            self._call_gone(out, now)

    def _call_gone(self, out, now):
        call = out.call
        if call is not None and call.live:
            self.log.warning("call %s: the peer stopped answering", call.handle)
            self._end(call, "peer_gone")

    def _set_timer(self, name, when, fn):
        self._timers[name] = (when, fn)

    # -- outgoing calls ---------------------------------------------------------------

    def _new_call(self, outgoing, target):
        if len([c for c in self.calls.values() if c.live]) >= MAX_CALLS:
            raise ValueError("too many calls")
        self._handles += 1
        handle = "c%d" % self._handles
        call = Call(handle, outgoing, target, self.rtp_ports.allocate())
        self.calls[handle] = call
        return call

    def _invite_provisional(self, out, resp, now):
        call = out.call
        if call.state not in (CALLING, RINGING, CANCELLING):
            return
        call.provisional = True  # any 1xx, 100 Trying included, lets CANCEL go (9.1)
        if call.state == CANCELLING or call.cancel_wanted:
            if call.provisional and call.cancel_wanted:
                call.cancel_wanted = False
                self._send_cancel(call, now)
            return
        if resp.status > 100 and call.state == CALLING:
            call.state = RINGING
            self.emit(CallRinging(call.handle, call.target, resp.status))

    def _invite_final(self, out, resp, now):
        call = out.call
        if resp.status >= 300:
            if call.state == CANCELLING or call.state == ENDED:
                self._forget(call)
            else:
                self._end(call, _status_reason(resp.status), resp.status)
            return
        self._invite_ok(out, resp, now)

    def _invite_ok(self, out, resp, now):
        call = out.call
        dialog = Dialog.as_uac(out.request, resp)
        ack = dialog.create_request("ACK", self._via(), cseq=out.request.cseq.seq)
        self._add_auth_to_ack(ack, out.request)
        call.ack_wire = ack.to_bytes()
        dest = self._dialog_dest(dialog)
        self.layer._out(call.ack_wire, dest)
        if call.state in (CANCELLING, ENDED) or call.dialog is not None:
            # Answered after we gave up (or a second fork answered): ACK, then BYE (15, 13.2.2.4).
            self._bye_dialog(dialog, call, now)
            if call.state == CANCELLING:
                self._forget(call)
            return
        call.dialog = dialog
        try:
            call.negotiated = sdp.parse_answer(call.local_sdp, resp.body)
        except sdp.SdpError as e:
            self.log.warning("call %s: unusable SDP answer: %s", call.handle, e)
            self._send_bye(call, now)
            self._end(call, "failed", 488)
            return
        call.state = CONFIRMED
        call.invite = None  # confirmed: only the dialog is needed from here on
        call.invite_txn = None
        self.emit(CallAnswered(call.handle, call.target, call.negotiated, True))

    def _invite_ok_again(self, out, resp, now):
        """A retransmitted 2xx: our ACK was lost; send it again (13.2.2.4)."""
        call = out.call
        if call is not None and call.ack_wire is not None and call.dialog is not None \
                and resp.to.tag == call.dialog.remote_tag:
            self.layer._out(call.ack_wire, self._dialog_dest(call.dialog))
        elif call is not None:
            self._invite_ok(out, resp, now)  # another fork: ACK and BYE it

    def _add_auth_to_ack(self, ack, invite):
        for name in ("authorization", "proxy-authorization"):
            for value in invite.get_all(name):
                ack.add(name == "authorization" and "Authorization" or "Proxy-Authorization", value)

    def _invite_timeout(self, out, now):
        call = out.call
        if call.state in (CANCELLING, ENDED):
            self._forget(call)
        else:
            self._end(call, "timeout")

    def _cancel(self, call, now):
        """Stop ringing: CANCEL now if a provisional came, else once one
        comes (9.1); either way the INVITE is dropped after 64*T1."""
        if call.provisional:
            self._send_cancel(call, now)
        else:
            call.cancel_wanted = True
        call.state = CANCELLING
        self._set_timer("cancel " + call.handle, ticks_add(now, 64 * self.timers.t1),
                        lambda now, call=call: self._cancel_expired(call, now))

    def _send_cancel(self, call, now):
        cancel = make_cancel(call.invite)
        txn = self.layer.send_request(cancel, call.invite_txn.dest, now)
        txn.out = _Out(None, call.invite_txn.dest, lambda o, r, n: None)
        txn.out.auth_tries = 99  # a CANCEL cannot be challenged (22.1)

    def _cancel_expired(self, call, now):
        txn = call.invite_txn
        if txn is not None and not txn.terminated:
            self.layer.terminate(txn)
        self._forget(call)

    # -- requests from the network ----------------------------------------------------

    def _on_request(self, txn, req, src, now):
        method = req.method
        uri = req.uri
        if uri.scheme not in ("sip", "sips"):
            return self._respond(txn, 416, now)
        required = [r.strip() for r in req.get_list("require")] if method != "CANCEL" else []
        if [r for r in required if r]:
            resp = self._response(req, 420, self._new_tag())
            resp.add("Unsupported", ", ".join([r for r in required if r]))
            return self.layer.respond(txn, resp, now)
        if req.max_forwards == 0 and method != "OPTIONS":
            return self._respond(txn, 483, now)
        to = req.to
        if to is not None and to.tag is not None:
            return self._in_dialog_request(txn, req, src, now)
        if method == "INVITE":
            return self._incoming_invite(txn, req, src, now)
        if method == "OPTIONS":
            return self._answer_options(txn, req, now, self._new_tag())
        if method == "MESSAGE":
            return self._incoming_message(txn, req, src, now)
        if method in ("BYE", "INFO"):
            return self._respond(txn, 481, now)
        self._respond(txn, 405, now)

    def _trusted(self, src):
        """A request we may act on: with an account, only what comes through
        our registrar or proxy (a phone on the LAN cannot fake a resident's
        caller ID past the PBX); without one, anything (peer-to-peer)."""
        if self.account is None:
            return True
        hops = [parse_uri(self.account["registrar"])]
        if self.proxy is not None:
            hops.append(self.proxy)
        for uri in hops:
            if self._dest_for(uri, False) == (src[0], src[1]):
                return True
        return False

    def _incoming_invite(self, txn, req, src, now):
        if req.content_type not in (None, "application/sdp") and req.body:
            resp = self._response(req, 415, self._new_tag())
            resp.add("Accept", "application/sdp")
            return self.layer.respond(txn, resp, now)
        try:
            call = self._new_call(False, str(req.from_.uri))
        except ValueError:
            return self._respond(txn, 486, now)
        call.invite = req
        call.invite_txn = txn
        call.src = src
        tag = self._new_tag()
        call.dialog = Dialog.as_uas(req, tag)
        if req.body:
            try:
                call.remote_offer = sdp.parse(req.body)
            except sdp.SdpError as e:
                self._respond(txn, e.status, now, e.reason, tag)
                self._forget(call)
                return
        else:
            call.offer_in_ok = True
        self.emit(IncomingCall(call.handle, str(req.from_.uri), req.from_.display, src, self._trusted(src)))

    def _answer_options(self, txn, req, now, tag=None):
        resp = self._response(req, 200, tag)
        resp.add("Allow", ALLOW)
        resp.add("Accept", ACCEPT)
        resp.add("Supported", SUPPORTED)
        self.layer.respond(txn, resp, now)

    def _incoming_message(self, txn, req, src, now):
        ctype = req.content_type or "text/plain"
        if not ctype.startswith("text/"):
            resp = self._response(req, 415, self._new_tag())
            resp.add("Accept", "text/plain")
            return self.layer.respond(txn, resp, now)
        try:
            text = req.body.decode()
        except UnicodeError:
            return self._respond(txn, 400, now, "Body is not UTF-8")
        self._respond(txn, 200, now)
        self.emit(MessageReceived(str(req.from_.uri), text, ctype, self._trusted(src)))

    def _find_call(self, req):
        for call in self.calls.values():
            if call.dialog is not None and call.dialog.matches(req):
                return call
        return None

    def _in_dialog_request(self, txn, req, src, now):
        call = self._find_call(req)
        method = req.method
        if call is None or not call.live:
            if method == "OPTIONS":
                return self._answer_options(txn, req, now)
            return self._respond(txn, 481, now, None, req.to.tag)
        tag = call.dialog.local_tag
        if not call.dialog.accept_remote_seq(req):
            return self._respond(txn, 500, now, "CSeq out of order", tag)
        if method == "BYE":
            self._respond(txn, 200, now, None, tag)
            self._end(call, "hangup_remote")
        elif method == "INVITE":
            self._reinvite_in(call, txn, req, now)
        elif method == "INFO":
            digit = _dtmf_from_info(req)
            if digit is None and req.body and req.content_type not in ("application/dtmf-relay",
                                                                       "application/dtmf"):
                resp = self._response(req, 415, tag)
                resp.add("Accept", "application/dtmf-relay, application/dtmf")
                return self.layer.respond(txn, resp, now)
            self._respond(txn, 200, now, None, tag)
            if digit is not None:
                self.emit(DtmfReceived(call.handle, digit, "info"))
        elif method == "OPTIONS":
            self._answer_options(txn, req, now, tag)
        elif method == "MESSAGE":
            self._incoming_message(txn, req, src, now)
        else:
            self._respond(txn, 405, now, None, tag)

    def _reinvite_in(self, call, txn, req, now):
        tag = call.dialog.local_tag
        if call.state != CONFIRMED or call.reinvite_txn is not None or call.ok_response is not None:
            resp = self._response(req, 491, tag)
            return self.layer.respond(txn, resp, now)
        if req.body:
            try:
                answer, negotiated = call.answer_offer(sdp.parse(req.body), self.local_host, self.media, self.rng)
            except sdp.SdpError as e:
                return self._respond(txn, e.status, now, e.reason, tag)
            call.offer_in_ok = False
        else:
            answer, negotiated = call.local_sdp, None  # offer in our 2xx, answer in the ACK
            call.offer_in_ok = True
        call.dialog.refresh_target(req)
        resp = self._response(req, 200, tag)
        resp.add("Contact", self.contact())
        resp.add("Allow", ALLOW)
        resp.set("Content-Type", "application/sdp")
        resp.body = answer.to_bytes()
        self._send_ok(call, resp, txn, now)
        if negotiated is not None:
            self._media_changed(call, negotiated, "peer")

    def _media_changed(self, call, negotiated, by):
        was_held = call.held_by_peer if by == "peer" else call.held_by_us
        held = negotiated["hold"] if by == "peer" else negotiated["direction"] in ("sendonly", "inactive")
        call.negotiated = negotiated
        if by == "peer":
            call.held_by_peer = held
        else:
            call.held_by_us = held
        if held and not was_held:
            self.emit(CallHeld(call.handle, by, negotiated))
        elif was_held and not held:
            self.emit(CallResumed(call.handle, by, negotiated))
        else:
            self.emit(CallUpdated(call.handle, negotiated))

    # -- our 2xx to an INVITE, until its ACK (13.3.1.4) -------------------------------

    def _send_ok(self, call, resp, txn, now):
        call.ok_response = resp
        call.ok_txn = txn
        call.ok_interval = self.timers.t1
        self.layer.respond(txn, resp, now)
        self._set_timer("ok " + call.handle, ticks_add(now, call.ok_interval),
                        lambda now, call=call: self._resend_ok(call, now))
        self._set_timer("ack wait " + call.handle, ticks_add(now, 64 * self.timers.t1),
                        lambda now, call=call: self._no_ack(call, now))

    def _resend_ok(self, call, now):
        if call.ok_response is None:
            return
        if not self.layer.respond(call.ok_txn, call.ok_response, now):
            self.layer.send_stateless(call.ok_response, call.ok_txn.dest)
        call.ok_interval = min(2 * call.ok_interval, self.timers.t2)
        self._set_timer("ok " + call.handle, ticks_add(now, call.ok_interval),
                        lambda now, call=call: self._resend_ok(call, now))

    def _no_ack(self, call, now):
        if call.ok_response is None:
            return
        call.ok_response = None
        self._timers.pop("ok " + call.handle, None)
        self.log.warning("call %s: no ACK for our 200 OK; ending the call", call.handle)
        self._send_bye(call, now)
        self._end(call, "no_ack")
        self._forget(call)

    def _on_ack(self, req, now):
        call = self._find_call(req)
        if call is None or call.ok_response is None:
            return
        if req.cseq.seq != call.ok_response.cseq.seq:
            return
        call.ok_response = None
        call.ok_txn = None
        call.invite = None  # a small heap keeps only what the dialog needs
        call.invite_txn = None
        call.remote_offer = None
        self._timers.pop("ok " + call.handle, None)
        self._timers.pop("ack wait " + call.handle, None)
        if call.offer_in_ok and req.body:
            try:
                negotiated = sdp.parse_answer(call.local_sdp, req.body)
            except sdp.SdpError as e:
                self.log.warning("call %s: unusable SDP in ACK: %s", call.handle, e)
                self._send_bye(call, now)
                self._end(call, "failed", 488)
                return
            call.offer_in_ok = False
            first = call.negotiated is None
            if first:
                call.negotiated = negotiated
                call.state = CONFIRMED
                self.emit(CallAnswered(call.handle, call.target, negotiated, False))
                return
            self._media_changed(call, negotiated, "peer")
        if call.bye_after_ack:
            self._send_bye(call, now)
            self._forget(call)
            return
        if call.state == ANSWERED:
            call.state = CONFIRMED

    def _on_cancel(self, ev, now):
        if ev.invite_txn is None:
            return self._respond(ev.txn, 481, now)
        self._respond(ev.txn, 200, now, None, ev.request.to.tag if ev.request.to else None)
        for call in self.calls.values():
            if call.invite_txn is ev.invite_txn and call.state == INCOMING:
                self._respond(call.invite_txn, 487, now, None, call.dialog.local_tag)
                self._end(call, "cancelled", 487)
                return

    # -- in-dialog requests we send -----------------------------------------------------

    def _in_dialog(self, call, method, now, body=None, ctype=None, on_final=None, on_timeout=None):
        dialog = call.dialog

        def build():
            req = dialog.create_request(method, self._via(), self.contact() if method == "INVITE" else None)
            req.add("User-Agent", self.user_agent)
            if body is not None:
                req.set("Content-Type", ctype)
                req.body = body if isinstance(body, bytes) else body.encode()
            return req

        out = _Out(build, self._dialog_dest(dialog), on_final or (lambda o, r, n: None), None,
                   on_timeout, call)
        return self._send(out, now)

    def _send_bye(self, call, now):
        if call.dialog is not None:
            self._bye_dialog(call.dialog, call, now)

    def _bye_dialog(self, dialog, call, now):
        def build():
            req = dialog.create_request("BYE", self._via())
            req.add("User-Agent", self.user_agent)
            return req

        self._send(_Out(build, self._dialog_dest(dialog), lambda o, r, n: None, None,
                        lambda o, n: None), now)

    def _reinvite(self, handle, now, hold):
        call = self.calls.get(handle)
        if call is None or call.state != CONFIRMED or call.reinvite_txn is not None \
                or call.ok_response is not None:
            return False
        direction = "sendonly" if hold else "sendrecv"
        if hold and call.held_by_peer:
            direction = "inactive"
        elif not hold and call.held_by_peer:
            direction = "recvonly"
        offer = call.make_offer(self.local_host, self.media, self.rng, direction)
        call.reinvite_offer = offer

        def final(out, resp, now):
            call.reinvite_txn = None
            if resp.status < 300:
                ack = call.dialog.create_request("ACK", self._via(), cseq=out.request.cseq.seq)
                self._add_auth_to_ack(ack, out.request)
                call.ack_wire = ack.to_bytes()
                self.layer._out(call.ack_wire, self._dialog_dest(call.dialog))
                call.dialog.update_from_uac_response(resp)
                try:
                    negotiated = sdp.parse_answer(offer, resp.body, direction)
                except sdp.SdpError as e:
                    self.log.warning("call %s: unusable SDP answer to our re-INVITE: %s", call.handle, e)
                    return
                call.local_sdp = offer
                self._media_changed(call, negotiated, "us")
            elif resp.status == 491 and call.reinvite_retries < 3:
                call.reinvite_retries += 1
                wait = 2100 + self.rng.getrandbits(11) % 1900
                self._set_timer("reinvite " + call.handle, ticks_add(now, wait),
                                lambda now: self._reinvite(handle, now, hold))
            elif resp.status in (408, 481):
                self._end(call, "peer_gone", resp.status)

        def timeout(out, now):
            call.reinvite_txn = None
            if call.live:
                self._send_bye(call, now)
                self._end(call, "peer_gone")

        call.reinvite_txn = self._in_dialog(call, "INVITE", now, offer.to_bytes(), "application/sdp",
                                            final, timeout)
        return True

    # -- endings ------------------------------------------------------------------------

    def _end(self, call, reason, status=0):
        """Report the end once; a call still cancelling or waiting for the
        ACK before its BYE stays until that is done."""
        if call.state == ENDED or call.end_reason is not None:
            return
        keep = call.state == CANCELLING or call.bye_after_ack
        call.end_reason = reason
        self.emit(CallEnded(call.handle, call.target, reason, status))
        if not keep:
            self._forget(call)

    def _forget(self, call):
        call.state = ENDED
        for name in ("ok ", "ack wait ", "cancel ", "reinvite "):
            self._timers.pop(name + call.handle, None)
        if self.calls.pop(call.handle, None) is not None:
            self.rtp_ports.release(call.rtp_port)


class _PortCounter:
    """RTP ports for tests and the sans-IO default: even numbers from 40000."""

    def __init__(self, first=40000):
        self.next = first
        self.free = []

    def allocate(self):
        if self.free:
            return self.free.pop()
        port = self.next
        self.next += 2
        return port

    def release(self, port):
        self.free.append(port)
