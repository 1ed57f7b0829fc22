#!/usr/bin/env python3
"""sipcall: a phone on the command line, for testing a door station without one.

    tools/sipcall call sip:door@192.168.1.50:5060 --dtmf 1234 --hangup-after 10
    tools/sipcall answer --listen 192.168.1.23:5062 --audio-out heard.wav

It is built on the firmware's own SIP user agent, driver, media and loop
(firmware/sipdoor), so it speaks exactly what the station speaks. It prints
one line per event with the seconds since start (--json: JSON lines) and
exits 0 after a normal call, 1 when the call failed or was not answered,
2 for bad arguments.
"""

import argparse
import json
import os
import signal
import socket
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from sipdoor import VERSION  # noqa: E402
from sipdoor.callmedia import CallMedia, RtpPorts  # noqa: E402
from sipdoor.clock import Clock, ticks_add, ticks_diff  # noqa: E402
from sipdoor.driver import Random, SipDriver  # noqa: E402
from sipdoor.hal.base import Event  # noqa: E402
from sipdoor.hal.wav import WavAudio, WavError  # noqa: E402
from sipdoor.log import Log  # noqa: E402
from sipdoor.loop import Loop  # noqa: E402
from sipdoor.net import Poller, Resolver, Udp, local_address, parse_hostport  # noqa: E402
from sipdoor.report import Fanout  # noqa: E402
from sipdoor.sip import events as sip  # noqa: E402
from sipdoor.sip.timers import TimerConfig  # noqa: E402
from sipdoor.sip.ua import UserAgent  # noqa: E402
from sipdoor.sip.uri import parse_uri  # noqa: E402

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# The station takes its RTP ports from 40000-40998; a sipcall on the same
# PC keeps clear of them.
RTP_FIRST, RTP_LAST = 42000, 42998
DTMF_KEYS = "0123456789*#ABCD"
NORMAL_ENDS = ("hangup_local", "hangup_remote", "max_duration", "door_opened", "shutdown")

EPILOG = """examples:
  sipcall call sip:door@127.0.0.1:5060 --dtmf 1234 --dtmf-after 1.5 --hangup-after 5
  sipcall answer --listen 127.0.0.1:5062 --audio-in voice.wav --audio-out heard.wav
  sipcall call sip:door@pbx.example --user 101 --password '...' --registrar sip:pbx.example

Audio files are 8 kHz mono 16-bit WAV (--audio-in is what we send, looped;
--audio-out records what we hear). A station only answers callers in its
sip.allow: add sipcall's address (printed in the "ready" line) there.
exit status: 0 a call was answered and ended normally, 1 it failed or was
not answered, 2 bad arguments, 130 interrupted."""


class UsageError(Exception):
    pass


# -- events of our own (the firmware's events are printed as they are) --------------


class Ready(Event):
    kind = "ready"

    def __init__(self, mode, listen, aor):
        self.mode = mode
        self.listen = listen
        self.aor = aor


class Calling(Event):
    kind = "calling"

    def __init__(self, call, target):
        self.call = call
        self.target = target


class RingingSent(Event):
    kind = "ringing_sent"

    def __init__(self, call):
        self.call = call


class Rejected(Event):
    kind = "rejected"

    def __init__(self, call, status):
        self.call = call
        self.status = status


class DtmfSent(Event):
    kind = "dtmf_sent"

    def __init__(self, call, digits, method):
        self.call = call
        self.digits = digits
        self.method = method


class HangingUp(Event):
    kind = "hangup"

    def __init__(self, call, why):
        self.call = call
        self.why = why


class MediaSummary(Event):
    kind = "media"

    def __init__(self, call, stats):
        self.call = call
        for key in ("packets_in", "packets_out", "lost", "dtmf_in", "dtmf_out"):
            if key in stats:
                setattr(self, key, stats[key])


class Done(Event):
    kind = "done"

    def __init__(self, code, result):
        self.code = code
        self.result = result


# -- the timeline -------------------------------------------------------------------


def describe(d):
    """One readable line for an event dict (its kind is printed before)."""
    kind = d["event"]
    if kind == "ready":
        return "%s mode, listening on %s as %s" % (d["mode"], d["listen"], d["aor"])
    if kind == "registered":
        return "as %s for %s s" % (d["aor"], d["expires"])
    if kind == "registration_failed":
        return "%s (status %s), retry in %s s" % (d["reason"], d["status"], d["retry_in_s"])
    if kind == "calling":
        return "%s %s" % (d["call"], d["target"])
    if kind == "call_ringing":
        return "%s %s (%s)" % (d["call"], d["target"], d["status"])
    if kind == "incoming_call":
        return "%s from %s (%s%s)" % (d["call"], d["caller"], d["src"], "" if d["trusted"] else ", untrusted")
    if kind == "call_answered":
        n = d["negotiated"]
        return "%s %s, media to %s:%s%s" % (d["call"], n["codec"], n["remote_addr"], n["remote_port"],
                                           ", DTMF rfc4733" if n.get("dtmf_pt") is not None else "")
    if kind == "ringing_sent":
        return "%s 180 Ringing" % d["call"]
    if kind == "rejected":
        return "%s with %s" % (d["call"], d["status"])
    if kind == "dtmf_sent":
        return "%s keys %s (%s)" % (d["call"], d["digits"], d["method"])
    if kind == "dtmf":
        return "%s key %s (%s)" % (d["call"], d["digit"], d["source"])
    if kind == "hangup":
        return "%s (%s)" % (d["call"], d["why"])
    if kind == "call_ended":
        return "%s %s%s" % (d["call"], d["reason"], " (%s)" % d["status"] if d.get("status") else "")
    if kind == "media":
        return "%s packets in %s, out %s, lost %s" % (d["call"], d.get("packets_in"), d.get("packets_out"),
                                                     d.get("lost"))
    if kind == "done":
        return "exit %d: %s" % (d["code"], d["result"])
    return " ".join("%s=%s" % (k, d[k]) for k in sorted(d) if k not in ("event", "t"))


class Timeline:
    """Prints each event on one line with the seconds since start."""

    def __init__(self, stream, clock, as_json=False, verbose=False):
        self.stream = stream
        self.clock = clock
        self.as_json = as_json
        self.verbose = verbose
        self.start = clock.now()

    def __call__(self, ev):
        d = ev.to_dict()
        if d["event"] == "media_stats" and not self.verbose:
            return
        d["t"] = ticks_diff(self.clock.now(), self.start) / 1000
        if self.as_json:
            line = json.dumps(d)
        else:
            line = "%8.3f  %-20s %s" % (d["t"], d["event"], describe(d))
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass


# -- sockets -----------------------------------------------------------------------------


def port_free(host, port):
    """True when nobody holds host:port. The firmware's sockets set SO_REUSEADDR,
    which on Linux lets a second UDP socket share a port silently; this probe
    (without it) sees such a holder."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class FreeRtpPorts(RtpPorts):
    """RtpPorts that skips pairs another program (a station on this PC) holds."""

    def allocate(self):
        for _ in range((self.last - self.first) // 2 + 1):
            port = self.next
            if port not in self.socks and port_free(self.host, port) and port_free(self.host, port + 1):
                return RtpPorts.allocate(self)
            self.next = port + 2 if port + 2 <= self.last else self.first
        raise OSError("no free RTP port in %d-%d" % (self.first, self.last))


# -- the phone ------------------------------------------------------------------------


class Phone:
    """One SIP phone: UA, driver, media and WAV audio on one loop."""

    def __init__(self, opts, out=None):
        self.opts = opts
        self.clock = Clock()
        self.loop = Loop(self.clock, Poller())
        self.log = Log(("warning", "info", "debug")[min(opts.verbose, 2)], sys.stderr, self.clock)
        self.loop.on_error = lambda e: self.log.error("unexpected error: %r", e)
        self.timeline = Timeline(out or sys.stdout, self.clock, opts.json, opts.verbose > 0)
        self.result = None  # (exit code, text) once decided
        self.call = None  # the handle of our one call
        self.answered = False
        self.registered = False
        self._timers = []
        self._closed = []

        host, port, contact_host = listen_address(opts)
        if port and not port_free(host, port):
            raise UsageError("cannot listen on %s:%d: the port is in use" % (host, port))
        try:
            self.sock = Udp(host, port)
        except OSError as e:
            raise UsageError("cannot listen on %s:%d: %s" % (host, port, e))
        self._closed.append(self.sock.close)
        port = self.sock.sock.getsockname()[1]
        self.listen = "%s:%d" % (contact_host if ":" not in contact_host else "[%s]" % contact_host, port)
        try:
            self.audio = WavAudio(opts.audio_in, opts.audio_out)
        except WavError as e:
            raise UsageError("%s: %s" % (e.path, e.message))
        self._closed.append(self.audio.close)
        rng = Random()
        self.ports = FreeRtpPorts(host, opts.rtp_first, opts.rtp_first + 998)
        settings = {
            "local_host": contact_host,
            "local_port": port,
            "account": opts.account,
            "user": opts.user,
            "codecs": opts.codecs,
            "ptime": 20,
            "dtmf_pt": 101,
            "keepalive_s": 0 if opts.account is None else 30,
        }
        self.ua = UserAgent(settings, rng, self.log, TimerConfig(), Resolver(), self.ports,
                            user_agent="sipcall/%s" % VERSION)
        self.emit = Fanout()
        self.emit.add(self.timeline)
        self.emit.add(self.handle)  # before media, so a call's stats are read before it stops
        self.media = CallMedia(self.loop, self.ua, self.ports, self.audio, rng, self.emit, self.log)
        self.emit.add(self.media.handle)
        self.driver = SipDriver(self.loop, self.sock, self.ua, self.emit, self.log)

    def now(self):
        return self.clock.now()

    def later(self, seconds, fn):
        self._timers.append(self.loop.call_later(int(seconds * 1000), fn))

    # -- running ---------------------------------------------------------------------

    def run(self):
        """Run the call to its end; returns the exit code."""
        self.emit(Ready(self.opts.mode, self.listen, self.ua.aor()))
        self.ua.start(self.now())
        self.driver.pump()
        if self.opts.account is None:
            self.begin()
        try:
            self.loop.run()
        except KeyboardInterrupt:
            self.finish(EXIT_INTERRUPTED, "interrupted")
        finally:
            self.goodbye()
        code, text = self.result or (EXIT_FAILED, "stopped")
        self.emit(Done(code, text))
        return code

    def begin(self):
        """Registered (or peer-to-peer): place the call or wait for one."""
        o = self.opts
        if o.mode == "call":
            self.call = self.ua.call(o.target, self.now())
            self.emit(Calling(self.call, o.target))
            self.driver.pump()
            if o.ring_timeout:
                self.later(o.ring_timeout, self._ring_timeout)
        elif o.wait:
            self.later(o.wait, self._wait_timeout)

    def finish(self, code, text):
        """Decide the outcome once, then stop the loop a moment later so the
        last BYE or its 200 OK still goes out."""
        if self.result is not None:
            return
        self.result = (code, text)
        self.loop.call_later(300, lambda: self.loop.stop(code))

    def goodbye(self):
        """Hang up, unregister (up to 2 s for the answer), close everything."""
        for t in self._timers:
            t.cancel()
        self.ua.stop(self.now())
        self.driver.pump()
        end = ticks_add(self.now(), 2000)
        self.loop._running = True
        while self.ua.stopping() and ticks_diff(end, self.now()) > 0:
            self.loop.run_once()
        self.media.close()
        for close in reversed(self._closed):
            close()

    # -- events ----------------------------------------------------------------------

    def handle(self, ev):
        o = self.opts
        if isinstance(ev, sip.Registered):
            if not self.registered:
                self.registered = True
                self.begin()
        elif isinstance(ev, sip.RegistrationFailed):
            if not self.registered and ev.status in (401, 403, 407):
                self.finish(EXIT_FAILED, "registration refused (%d)" % ev.status)
        elif isinstance(ev, sip.IncomingCall):
            self._incoming(ev)
        elif isinstance(ev, sip.CallAnswered):
            if ev.call != self.call or self.answered:
                return
            self.answered = True
            if o.dtmf:
                self.later(o.dtmf_after, self._send_dtmf)
            if o.hangup_after:
                self.later(o.hangup_after, lambda: self._hangup("--hangup-after"))
        elif isinstance(ev, sip.CallEnded):
            if ev.call != self.call:
                return
            leg = self.media.legs.get(ev.call)
            if leg is not None:
                self.emit(MediaSummary(ev.call, leg.stream.stats()))
            if self.answered and ev.reason in NORMAL_ENDS:
                self.finish(EXIT_OK, "call answered and ended (%s)" % ev.reason)
            elif self.answered:
                self.finish(EXIT_FAILED, "call ended abnormally (%s)" % ev.reason)
            elif o.mode == "answer" and o.reject:
                self.finish(EXIT_OK, "call rejected with %d as asked" % o.reject)
            else:
                self.finish(EXIT_FAILED, "call not answered (%s%s)" % (
                    ev.reason, ", %d" % ev.status if ev.status else ""))

    def _incoming(self, ev):
        o = self.opts
        now = self.now()
        if o.mode != "answer" or self.call is not None:
            self.ua.reject(ev.call, 486, now)
            self.emit(Rejected(ev.call, 486))
            return
        self.call = ev.call
        if o.reject:
            self.ua.reject(ev.call, o.reject, now)
            self.emit(Rejected(ev.call, o.reject))
            return
        if o.answer_after > 0:
            self.ua.ringing(ev.call, now)
            self.emit(RingingSent(ev.call))
            self.later(o.answer_after, self._answer)
        else:
            self._answer()

    def _answer(self):
        if self.call is not None and not self.ua.answer(self.call, self.now()):
            self.log.warning("call %s could not be answered", self.call)

    def _send_dtmf(self):
        handle = self.call
        leg = self.media.legs.get(handle)
        if leg is None:
            return
        method = "rfc4733" if leg.stream.dtmf_pt is not None else "tones"
        self.media.send_dtmf(handle, self.opts.dtmf)
        self.emit(DtmfSent(handle, self.opts.dtmf, method))

    def _hangup(self, why):
        if self.call is not None and self.call in self.ua.calls:
            self.emit(HangingUp(self.call, why))
            self.ua.hangup(self.call, self.now())
            self.driver.pump()

    def _ring_timeout(self):
        if not self.answered and self.result is None:
            self._hangup("--ring-timeout")
            self.finish(EXIT_FAILED, "no answer within %g s" % self.opts.ring_timeout)

    def _wait_timeout(self):
        if self.call is None and self.result is None:
            self.finish(EXIT_FAILED, "no call came within %g s" % self.opts.wait)


# -- the command line -------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def make_parser():
    p = _Parser(prog="sipcall", description="Call the door station, or answer its call, from this PC, "
                "and print a timeline of what happens.", epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version="sipcall (sipdoor %s)" % VERSION)
    sub = p.add_subparsers(dest="mode", metavar="call|answer")
    sub.required = True
    c = sub.add_parser("call", help="call a SIP URI (the door)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("target", help="the SIP URI to call, e.g. sip:door@192.168.1.50:5060")
    c.add_argument("--listen", metavar="HOST:PORT",
                   help="our SIP address (default: this PC's address towards the target, a free port)")
    c.add_argument("--ring-timeout", type=_seconds, default=30.0, metavar="S",
                   help="give up when nobody answers within S seconds (default 30; 0: never)")
    a = sub.add_parser("answer", help="wait for a call (from the door) and answer it", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--listen", metavar="HOST:PORT", default="0.0.0.0:5062",
                   help="where to wait for the call (default 0.0.0.0:5062); the station's button "
                   "targets this, e.g. sip:101@192.168.1.23:5062")
    a.add_argument("--answer-after", type=_seconds, default=1.0, metavar="S",
                   help="ring (180) this long before answering (default 1; 0: answer at once)")
    a.add_argument("--reject", type=int, choices=(403, 480, 486, 603), metavar="STATUS",
                   help="reject the call with STATUS (403, 480, 486, 603) instead of answering")
    a.add_argument("--wait", type=_seconds, default=0.0, metavar="S",
                   help="give up when no call came within S seconds (default 0: wait forever)")
    for q in (c, a):
        q.add_argument("--audio-in", metavar="WAV", help="what we send: 8 kHz mono 16-bit WAV, looped "
                       "(default: silence)")
        q.add_argument("--audio-out", metavar="WAV", help="record what we hear to this WAV file")
        q.add_argument("--dtmf", metavar="KEYS", help="send these keys (RFC 4733) once the call is "
                       "answered, e.g. a door code 1234")
        q.add_argument("--dtmf-after", type=_seconds, default=1.0, metavar="S",
                       help="seconds after the answer to send --dtmf (default 1)")
        q.add_argument("--hangup-after", type=_seconds, default=0.0, metavar="S",
                       help="hang up S seconds after the answer (default: wait for the other side)")
        q.add_argument("--user", default=None, metavar="NAME",
                       help="our user name (default sipcall; with --password: the account's user)")
        q.add_argument("--password", metavar="SECRET", help="register with this account password")
        q.add_argument("--password-file", metavar="FILE", help="read the password from FILE (keeps it "
                       "out of the process list)")
        q.add_argument("--registrar", metavar="URI", help="registrar URI, e.g. sip:pbx.example "
                       "(default: sip: + --domain)")
        q.add_argument("--domain", metavar="DOMAIN", help="the account's SIP domain (default: the "
                       "registrar's host)")
        q.add_argument("--proxy", metavar="URI", help="outbound proxy URI")
        q.add_argument("--codecs", default="PCMU,PCMA", metavar="LIST",
                       help="G.711 codecs in order of preference (default PCMU,PCMA)")
        q.add_argument("--rtp-ports", type=int, default=RTP_FIRST, dest="rtp_first", metavar="FIRST",
                       help="first RTP port (even; default %d, away from the station's 40000)" % RTP_FIRST)
        q.add_argument("--json", action="store_true", help="print JSON lines instead of text")
        q.add_argument("-v", "--verbose", action="count", default=0, help="log to stderr (-vv: SIP debug)")
    return p


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected seconds, not %r" % text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _is_uri(text):
    try:
        parse_uri(text)
    except Exception:
        return False
    return text.lower().startswith(("sip:", "sips:"))


def check(opts):
    """Check and complete parsed options; UsageError for bad ones."""
    codecs = [c.strip().upper() for c in opts.codecs.split(",") if c.strip()]
    if not codecs or [c for c in codecs if c not in ("PCMU", "PCMA")]:
        raise UsageError("--codecs: use PCMU and/or PCMA, not %r" % opts.codecs)
    opts.codecs = codecs
    if opts.dtmf:
        opts.dtmf = opts.dtmf.upper()
        bad = [k for k in opts.dtmf if k not in DTMF_KEYS]
        if bad:
            raise UsageError("--dtmf: %r is not a DTMF key (0-9, *, #, A-D)" % bad[0])
    if opts.rtp_first % 2 or not 1024 <= opts.rtp_first <= 64000:
        raise UsageError("--rtp-ports: an even port from 1024 to 64000, not %d" % opts.rtp_first)
    if opts.mode == "call" and not _is_uri(opts.target):
        raise UsageError("target must be a SIP URI like sip:door@192.168.1.50:5060, not %r" % opts.target)
    for name in ("registrar", "proxy"):
        value = getattr(opts, name)
        if value is not None and not _is_uri(value):
            raise UsageError("--%s must be a SIP URI like sip:pbx.example, not %r" % (name, value))
    if opts.listen is not None:
        try:
            parse_hostport(opts.listen)
        except ValueError as e:
            raise UsageError("--listen %s: %s" % (opts.listen, e))
    for name in ("audio_in",):
        path = getattr(opts, name)
        if path is not None and not os.path.isfile(path):
            raise UsageError("--audio-in %s: file not found" % path)
    if opts.password_file:
        try:
            with open(opts.password_file) as f:
                opts.password = f.readline().rstrip("\r\n")
        except OSError as e:
            raise UsageError("--password-file %s: %s" % (opts.password_file, e.strerror))
    opts.account = None
    if opts.password is not None or opts.registrar is not None:
        if not opts.password:
            raise UsageError("an account needs --password (or --password-file)")
        if not opts.user:
            raise UsageError("an account needs --user")
        domain = opts.domain
        if domain is None and opts.registrar is not None:
            domain = parse_uri(opts.registrar).host
        if domain is None:
            raise UsageError("an account needs --registrar or --domain")
        opts.account = {"user": opts.user, "password": opts.password, "domain": domain,
                        "registrar": opts.registrar or "sip:" + domain, "proxy": opts.proxy,
                        "expires": 600}
    if opts.user is None:
        opts.user = "sipcall"
    if not opts.user or [ch for ch in opts.user if ch in " @:;<>\"\t"]:
        raise UsageError("--user: %r is not a SIP user name" % opts.user)
    if opts.mode == "call":
        opts.reject = None
        opts.answer_after = 0
        opts.wait = 0
    else:
        opts.target = None
        opts.ring_timeout = 0
    return opts


def listen_address(opts):
    """(bind host, port, host for Contact and SDP) from --listen and the target."""
    towards = None
    if opts.account is not None:
        towards = parse_uri(opts.account["registrar"]).host
    elif opts.target is not None:
        towards = parse_uri(opts.target).host
    if towards is not None:
        towards = towards.strip("[]")
    if opts.listen is None:
        host = local_address("0.0.0.0", towards)
        return host, 0, host
    host, port = parse_hostport(opts.listen)
    return host, port, local_address(host, towards)


def main(argv=None):
    try:
        opts = check(make_parser().parse_args(argv))
        phone = Phone(opts)
    except UsageError as e:
        sys.stderr.write("sipcall: %s (see --help)\n" % e)
        return EXIT_USAGE

    def terminate(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    return phone.run()


if __name__ == "__main__":
    sys.exit(main())
