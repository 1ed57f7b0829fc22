"""SDP (RFC 4566) for audio calls, and the offer/answer model (RFC 3264).

parse() turns a body into a Session (session-level fields, attributes and
Media); Session.to_bytes() writes it back with CRLF line ends. Lines we do
not interpret (i=, b=, k=, unknown a=, unknown types) are kept so a parsed
body can be written out again. parse() raises SdpError (status 400) on
malformed input, never anything else.

Offer/answer (RFC 3264): make_offer() for an INVITE or re-INVITE,
make_answer() for an incoming offer, parse_answer() for the answer to our
offer. Both negotiation calls hand back a plain dict (see _negotiated()) and
raise NotAcceptable (status 488) when no audio stream can be agreed on.

We run one audio stream with one G.711 codec and RFC 4733 telephone-event:
the answer lists only the codec we picked, so the peer cannot switch codecs
mid-call. Other m-lines are answered with port 0 (rejected, RFC 3264 6).
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from sipdoor.sip.errors import SipError
from sipdoor.sip.uri import is_digits

MAX_LINES = const(256)
MAX_MEDIA = const(16)

# Codecs we can run, by name: static RTP payload type (RFC 3551).
CODECS = {"PCMU": 0, "PCMA": 8}

# Static audio payload types (RFC 3551 table 4), recognised without rtpmap.
STATIC = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    13: ("CN", 8000, 1),
    18: ("G729", 8000, 1),
}

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

# Telephone events we answer with and need from the peer (RFC 4733 3.2:
# 0-9, *, #, A-D are 0-15; 16 is flash). Digits, * and # are 0-11.
DTMF_EVENTS = "0-16"
_NEEDED_EVENTS = 12

_LWS = " \t"


class SdpError(SipError):
    """Unusable SDP. status: the SIP response to answer an offer with
    (400 malformed, 488 nothing acceptable); reason: short, phrase-safe."""

    def __init__(self, reason, status=400):
        super().__init__("%d %s" % (status, reason))
        self.status = status
        self.reason = reason


class NotAcceptable(SdpError):
    """No audio stream we can run (no common codec...): 488 Not Acceptable Here."""

    def __init__(self, reason="Not Acceptable Here"):
        super().__init__(reason, 488)


# -- the data model -----------------------------------------------------------


class Connection:
    """c= line: nettype, addrtype (IP4, IP6), addr; suffix keeps '/ttl...'."""

    def __init__(self, addr, addrtype=None, nettype="IN", suffix=""):
        self.nettype = nettype
        self.addrtype = addrtype or addr_type(addr)
        self.addr = addr
        self.suffix = suffix

    def is_hold(self):
        """c=0.0.0.0 is the RFC 2543 way of putting a call on hold."""
        return self.addr == "0.0.0.0"

    def __str__(self):
        return "%s %s %s%s" % (self.nettype, self.addrtype, self.addr, self.suffix)


class Origin:
    """o= line. sess_id is kept as text (only ever echoed), version is an int."""

    def __init__(self, sess_id, version, addr, username="-", addrtype=None, nettype="IN"):
        self.username = username
        self.sess_id = sess_id
        self.version = version
        self.nettype = nettype
        self.addrtype = addrtype or addr_type(addr)
        self.addr = addr

    def same_session(self, other):
        """Same origin apart from the version (RFC 3264 8: one session)."""
        return (self.username == other.username and self.sess_id == other.sess_id
                and self.nettype == other.nettype and self.addr == other.addr)

    def __str__(self):
        return "%s %s %d %s %s %s" % (self.username, self.sess_id, self.version,
                                      self.nettype, self.addrtype, self.addr)


class _Attrs:
    """a= lines as ordered [name, value] pairs; value None for a flag."""

    def get(self, name, default=None):
        for a in self.attrs:
            if a[0] == name:
                return a[1]
        return default

    def get_all(self, name):
        return [a[1] for a in self.attrs if a[0] == name]

    def has(self, name):
        for a in self.attrs:
            if a[0] == name:
                return True
        return False

    def add(self, name, value=None):
        self.attrs.append([name, value])

    def remove(self, name):
        self.attrs = [a for a in self.attrs if a[0] != name]

    def direction(self):
        """The direction attribute given here, or None."""
        for a in self.attrs:
            if a[0] in DIRECTIONS:
                return a[0]
        return None

    def set_direction(self, direction):
        if direction not in DIRECTIONS:
            raise ValueError("bad direction %s" % direction)
        self.attrs = [a for a in self.attrs if a[0] not in DIRECTIONS]
        self.attrs.append([direction, None])


def _emit_attrs(out, attrs):
    for name, value in attrs:
        out.append("a=" + name if value is None else "a=%s:%s" % (name, value))


def _emit(out, lines, letters):
    for letter, value in lines:
        if letter in letters:
            out.append(letter + "=" + value)


def _emit_unknown(out, lines, known):
    for letter, value in lines:
        if letter not in known:
            out.append(letter + "=" + value)


class Media(_Attrs):
    """One m= section: kind ('audio'), port, nports (None or int), proto,
    fmts (strings), conn (Connection or None), attrs, and lines ([letter,
    value] for i=, b=, k= and anything else we keep but do not read)."""

    def __init__(self, kind, port, proto="RTP/AVP", fmts=None, nports=None):
        self.kind = kind
        self.port = port
        self.nports = nports
        self.proto = proto
        self.fmts = fmts if fmts is not None else []
        self.conn = None
        self.attrs = []
        self.lines = []

    def _text(self, out):
        port = "%d" % self.port if self.nports is None else "%d/%d" % (self.port, self.nports)
        out.append("m=%s %s %s %s" % (self.kind, port, self.proto, " ".join(self.fmts)))
        _emit(out, self.lines, "i")
        if self.conn is not None:
            out.append("c=%s" % self.conn)
        _emit(out, self.lines, "bk")
        _emit_unknown(out, self.lines, "ibk")
        _emit_attrs(out, self.attrs)

    def __repr__(self):
        return "<Media %s %d %s %s>" % (self.kind, self.port, self.proto, " ".join(self.fmts))


class Session(_Attrs):
    """A whole description: origin, name, conn, session attrs, lines
    ([letter, value]: t=, i=, b=... in order) and media."""

    def __init__(self, origin, name="-"):
        self.origin = origin
        self.name = name
        self.conn = None
        self.attrs = []
        self.lines = []
        self.media = []

    def bump(self):
        """Next o= version, for a re-offer that changes something (RFC 3264 8)."""
        self.origin.version += 1
        return self

    def audio(self):
        """The first audio Media, or None."""
        for m in self.media:
            if m.kind == "audio":
                return m
        return None

    def to_text(self):
        out = ["v=0", "o=%s" % self.origin, "s=%s" % (self.name or "-")]
        _emit(out, self.lines, "iuep")
        if self.conn is not None:
            out.append("c=%s" % self.conn)
        _emit(out, self.lines, "b")
        timing = [l for l in self.lines if l[0] in "trz"]
        if not timing or timing[0][0] != "t":
            out.append("t=0 0")
        _emit(out, self.lines, "trz")
        _emit(out, self.lines, "k")
        _emit_unknown(out, self.lines, "iuepbtrzk")
        _emit_attrs(out, self.attrs)
        for m in self.media:
            m._text(out)
        out.append("")
        return "\r\n".join(out)

    def to_bytes(self):
        return self.to_text().encode()

    def __str__(self):
        return self.to_text()


def addr_type(addr):
    return "IP6" if ":" in addr else "IP4"


# -- parsing ------------------------------------------------------------------


def _port(text, what):
    if not is_digits(text) or len(text) > 5 or int(text) > 65535:
        raise SdpError("Bad %s port" % what)
    return int(text)


def _connection(value):
    f = value.split()
    if len(f) != 3 or not f[2] or f[2][0] == "/":
        raise SdpError("Bad c= line")
    addr, slash, rest = f[2].partition("/")
    return Connection(addr, f[1], f[0], slash + rest)


def _origin(value):
    f = value.split()
    if len(f) != 6 or not is_digits(f[2]) or len(f[2]) > 20:
        raise SdpError("Bad o= line")
    return Origin(f[1], int(f[2]), f[5], f[0], f[4], f[3])


def _media(value):
    f = value.split()
    if len(f) < 3:
        raise SdpError("Bad m= line")
    port, slash, nports = f[1].partition("/")
    m = Media(f[0], _port(port, "m="), f[2], f[3:])
    if slash:
        if not is_digits(nports) or len(nports) > 5:
            raise SdpError("Bad m= line")
        m.nports = int(nports)
    return m


def parse(data):
    """Bytes or str -> Session. SdpError(400) when malformed.

    Lenient where it costs nothing: bare LF line ends, blank lines, trailing
    blanks, a missing s= or t=. Strict where we would otherwise guess: v=0
    first, one o= with six fields, well-formed c= and m= lines.
    """
    if not isinstance(data, str):
        try:
            data = bytes(data).decode()
        except Exception:
            raise SdpError("SDP is not UTF-8")
    lines = data.split("\n")
    if len(lines) > MAX_LINES:
        raise SdpError("SDP too long")
    sess = None
    seen_v = False
    cur = None
    n = 0
    for line in lines:
        n += 1
        line = line.rstrip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise SdpError("Bad SDP line %d" % n)
        letter = line[0]
        value = line[2:]
        if not seen_v:
            if letter != "v" or value.strip(_LWS) != "0":
                raise SdpError("SDP must start with v=0")
            seen_v = True
            continue
        if letter == "v":
            raise SdpError("Duplicate v= line")
        if sess is None:
            if letter != "o":
                raise SdpError("o= line missing")
            sess = Session(_origin(value), "-")
            continue
        if letter == "o":
            raise SdpError("Duplicate o= line")
        if letter == "m":
            if len(sess.media) >= MAX_MEDIA:
                raise SdpError("Too many m= lines")
            cur = _media(value)
            sess.media.append(cur)
        elif letter == "a":
            name, colon, v = value.partition(":")
            if not name or " " in name:
                raise SdpError("Bad a= line %d" % n)
            (cur or sess).attrs.append([name, v if colon else None])
        elif letter == "c":
            c = _connection(value)
            target = cur or sess
            if target.conn is None:
                target.conn = c
        elif letter == "s" and cur is None:
            sess.name = value
        else:
            (cur or sess).lines.append([letter, value])
    if sess is None:
        raise SdpError("Empty SDP" if not seen_v else "o= line missing")
    return sess


def _session(sdp):
    return sdp if isinstance(sdp, Session) else parse(sdp)


# -- reading what a description offers ------------------------------------------


def _rtpmap(value):
    """'101 telephone-event/8000' -> (101, ('telephone-event', 8000, 1))."""
    pt, sp, enc = value.strip(_LWS).partition(" ")
    parts = enc.strip(_LWS).split("/")
    if (not is_digits(pt) or len(pt) > 3 or int(pt) > 127 or len(parts) < 2
            or not parts[0] or not is_digits(parts[1]) or len(parts[1]) > 9):
        raise SdpError("Bad rtpmap")
    ch = 1
    if len(parts) > 2:
        if not is_digits(parts[2]) or len(parts[2]) > 3:
            raise SdpError("Bad rtpmap")
        ch = int(parts[2])
    return int(pt), (parts[0], int(parts[1]), ch)


def formats(media):
    """[(pt, name, clock, channels)] for the RTP payload types of media in
    m= order; static types without rtpmap are known, unknown ones skipped."""
    maps = {}
    for v in media.get_all("rtpmap"):
        if v is None:
            raise SdpError("Bad rtpmap")
        pt, info = _rtpmap(v)
        if pt not in maps:
            maps[pt] = info
    out = []
    for f in media.fmts:
        if not is_digits(f) or len(f) > 3 or int(f) > 127:
            continue
        pt = int(f)
        info = maps.get(pt) or STATIC.get(pt)
        if info is not None:
            out.append((pt, info[0], info[1], info[2]))
    return out


def fmtp(media, pt):
    """Format parameters of payload type pt, or None."""
    for v in media.get_all("fmtp"):
        if v is None:
            continue
        p, sp, rest = v.strip(_LWS).partition(" ")
        if p == "%d" % pt:
            return rest.strip(_LWS)
    return None


def _events(spec):
    """Set of event codes in an RFC 4733 list such as '0-15,66,70'."""
    out = set()
    for item in spec.replace(" ", "").split(","):
        lo, dash, hi = item.partition("-")
        if not is_digits(lo) or len(lo) > 3 or (dash and (not is_digits(hi) or len(hi) > 3)):
            return set()
        lo = int(lo)
        hi = int(hi) if dash else lo
        if hi < lo or hi > 255:
            return set()
        for e in range(lo, hi + 1):
            out.add(e)
    return out


def _dtmf_pt(media):
    """Payload type of a usable telephone-event/8000 (96-127), or None."""
    for pt, name, clock, ch in formats(media):
        if name.lower() == "telephone-event" and clock == 8000 and 96 <= pt <= 127:
            spec = fmtp(media, pt)
            if spec is None:
                return pt  # RFC 4733 7.1.1: no fmtp means 0-15
            ev = _events(spec)
            ok = True
            for e in range(_NEEDED_EVENTS):
                if e not in ev:
                    ok = False
            if ok:
                return pt
    return None


def _codec(media, prefer):
    """(our codec name, pt) of the first name in prefer that media offers."""
    fmts = formats(media)
    for name in prefer:
        for pt, n, clock, ch in fmts:
            if n.upper() == name and clock == 8000 and ch == 1:
                return name, pt
    return None


def _int_attr(media, sess, name):
    """Integer value of a media- (else session-) level attribute, or None."""
    v = media.get(name)
    if v is None:
        v = sess.get(name)
    if v is None:
        return None
    v = v.strip(_LWS).partition(".")[0]  # some stacks write ptime:20.000
    if not is_digits(v) or len(v) > 4 or int(v) == 0:
        return None
    return int(v)


def direction_of(sess, media):
    """Effective direction of media: media-level, else session-level, else sendrecv."""
    return media.direction() or sess.direction() or "sendrecv"


def _dir(send, recv):
    if send:
        return "sendrecv" if recv else "sendonly"
    return "recvonly" if recv else "inactive"


def _can(direction):
    """(may send, may receive) for a direction."""
    return direction in ("sendrecv", "sendonly"), direction in ("sendrecv", "recvonly")


_HOST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-."
_IP6 = "0123456789abcdefABCDEF:."


def _conn(sess, media):
    """The connection our RTP goes to; the address must look like an IPv4
    address or host name (IP4) or an IPv6 address (IP6)."""
    c = media.conn or sess.conn
    if c is None:
        raise SdpError("No c= line for the audio stream")
    if c.nettype != "IN" or c.addrtype not in ("IP4", "IP6"):
        raise NotAcceptable("Unsupported address type %s %s" % (c.nettype, c.addrtype))
    allowed = _IP6 if c.addrtype == "IP6" else _HOST
    for ch in c.addr:
        if ch not in allowed:
            raise SdpError("Bad address in c= line")
    return c


def is_hold(sdp):
    """True when sdp (from the peer) puts us on hold: its audio is sendonly
    or inactive, or its address is 0.0.0.0 (RFC 3264 8.4, RFC 2543)."""
    sess = _session(sdp)
    m = sess.audio()
    if m is None:
        return False
    c = m.conn or sess.conn
    return direction_of(sess, m) in ("sendonly", "inactive") or (c is not None and c.is_hold())


def same_version(old, new):
    """True when new repeats old (same origin and version): RFC 3264 8 says
    the description is then unchanged, e.g. a session-timer refresh."""
    old = _session(old)
    new = _session(new)
    return old.origin.same_session(new.origin) and old.origin.version == new.origin.version


def _negotiated(codec, pt, dtmf_pt, ptime, conn, port, media, direction, hold, recv_pt, recv_dtmf):
    """The agreed stream, from our side: what we send (codec, pt, dtmf_pt,
    ptime, to remote_addr:remote_port, RTCP to rtcp_port) and what we
    accept (recv_pt, recv_dtmf_pt: our own numbering); direction is ours;
    hold is true when the peer put us on hold."""
    rtcp = port + 1
    v = media.get("rtcp")
    if v:
        p = v.strip(_LWS).partition(" ")[0]
        if is_digits(p) and len(p) <= 5 and 0 < int(p) <= 65535:
            rtcp = int(p)
    return {
        "codec": codec,
        "pt": pt,
        "clock": 8000,
        "dtmf_pt": dtmf_pt,
        "ptime": ptime,
        "remote_addr": conn.addr,
        "remote_port": port,
        "rtcp_port": rtcp,
        "direction": direction,
        "hold": hold,
        "recv_pt": recv_pt,
        "recv_dtmf_pt": recv_dtmf,
    }


def _send_ptime(sess, media, ours):
    """Packet time to send with: the peer's ptime, capped by its maxptime."""
    p = _int_attr(media, sess, "ptime") or ours
    mx = _int_attr(media, sess, "maxptime")
    if mx is not None and p > mx:
        p = mx
    return p


# -- building -----------------------------------------------------------------


def new_session_id(rng):
    """A fresh o= session id from the injected random source."""
    return "%d" % rng.getrandbits(31)


def _check_codecs(codecs):
    out = []
    for c in codecs:
        name = c.upper()
        if name not in CODECS:
            raise ValueError("unsupported codec %s" % c)
        out.append(name)
    if not out:
        raise ValueError("no codecs")
    return out


def _base(addr, session_id, version, rng, previous):
    if previous is not None:
        # RFC 3264 8: the o= line stays the same except for its version.
        p = previous.origin
        origin = Origin(p.sess_id, p.version, p.addr, p.username, p.addrtype, p.nettype)
    else:
        if session_id is None:
            if rng is None:
                raise ValueError("session_id or rng needed")
            session_id = new_session_id(rng)
        origin = Origin("%s" % session_id, 1 if version is None else version, addr)
    sess = Session(origin, "sipdoor")
    sess.conn = Connection(addr)
    sess.lines.append(["t", "0 0"])
    return sess


def _settle(sess, previous):
    """Bump the version only when the body differs from the previous one."""
    if previous is not None and sess.to_text() != previous.to_text():
        sess.origin.version = previous.origin.version + 1
    return sess


def _audio(port, codec_pts, dtmf_pt, ptime, direction):
    m = Media("audio", port, "RTP/AVP", ["%d" % pt for name, pt in codec_pts])
    for name, pt in codec_pts:
        m.add("rtpmap", "%d %s/8000" % (pt, name))
    if dtmf_pt is not None:
        m.fmts.append("%d" % dtmf_pt)
        m.add("rtpmap", "%d telephone-event/8000" % dtmf_pt)
        m.add("fmtp", "%d %s" % (dtmf_pt, DTMF_EVENTS))
    if ptime:
        m.add("ptime", "%d" % ptime)
    m.set_direction(direction)
    return m


def make_offer(addr, port, codecs=("PCMU", "PCMA"), dtmf_pt=101, ptime=20,
               direction="sendrecv", session_id=None, version=None, rng=None,
               previous=None):
    """Our offer: one audio stream on addr:port. session_id comes from the
    caller or rng; for a re-offer pass previous (our last description): the
    o= line is kept and its version goes up if anything changed. Hold is a
    re-offer with direction 'sendonly' (RFC 3264 8.4)."""
    names = _check_codecs(codecs)
    if dtmf_pt is not None and not 96 <= dtmf_pt <= 127:
        raise ValueError("dtmf_pt must be 96-127")
    if direction not in DIRECTIONS:
        raise ValueError("bad direction %s" % direction)
    sess = _base(addr, session_id, version, rng, previous)
    sess.media.append(_audio(port, [(n, CODECS[n]) for n in names], dtmf_pt, ptime, direction))
    return _settle(sess, previous)


def make_answer(offer, addr, port, codecs=("PCMU", "PCMA"), direction="sendrecv",
                ptime=20, session_id=None, version=None, rng=None, previous=None):
    """Answer an offer (bytes, str or Session) -> (answer Session, negotiated).

    The first audio RTP/AVP stream with a codec in codecs (our preference
    order) is accepted with that one codec and the offer's payload numbers;
    every other m-line gets port 0. NotAcceptable (488) if none fits,
    SdpError (400) if the offer is malformed.
    """
    offer = _session(offer)
    names = _check_codecs(codecs)
    if direction not in DIRECTIONS:
        raise ValueError("bad direction %s" % direction)
    ans = _base(addr, session_id, version, rng, previous)
    result = None
    why = "No audio stream"
    for m in offer.media:
        a = None
        if result is None and m.kind == "audio" and m.port != 0:
            if m.proto.upper() != "RTP/AVP":
                why = "Unsupported transport %s" % m.proto
            else:
                c = _codec(m, names)
                if c is None:
                    why = "No common codec"
                else:
                    conn = _conn(offer, m)
                    dtmf = _dtmf_pt(m)
                    their = direction_of(offer, m)
                    peer_send, peer_recv = _can(their)
                    our_send, our_recv = _can(direction)
                    send = our_send and peer_recv
                    recv = our_recv and peer_send
                    a = _audio(port, [c], dtmf, ptime, _dir(send, recv))
                    hold = their in ("sendonly", "inactive") or conn.is_hold()
                    result = _negotiated(c[0], c[1], dtmf, _send_ptime(offer, m, ptime),
                                         conn, m.port, m, _dir(send and not conn.is_hold(), recv),
                                         hold, c[1], dtmf)
        if a is None:
            a = Media(m.kind, 0, m.proto, list(m.fmts))
        ans.media.append(a)
    if result is None:
        raise NotAcceptable(why)
    return _settle(ans, previous), result


def parse_answer(offer, answer, direction=None):
    """The answer (bytes, str or Session) to our offer -> negotiated dict.

    We send with the payload numbers of the answer and accept those of our
    offer (RFC 3264 6.1). NotAcceptable when our audio stream was rejected
    or the answer picked nothing we offered; SdpError when it is malformed
    or its m-lines do not line up with the offer's.
    """
    offer = _session(offer)
    answer = _session(answer)
    if len(answer.media) != len(offer.media):
        raise SdpError("Answer m= lines do not match the offer")
    for i in range(len(offer.media)):
        om = offer.media[i]
        if om.kind == "audio" and om.port != 0:
            break
    else:
        raise SdpError("Our offer has no audio stream")
    am = answer.media[i]
    if am.kind != om.kind:
        raise SdpError("Answer m= lines do not match the offer")
    if am.port == 0:
        raise NotAcceptable("Audio stream rejected")
    offered = [(name.upper(), pt) for pt, name, clock, ch in formats(om)]
    ours = [n for n, pt in offered if n in CODECS]
    c = None
    for pt, name, clock, ch in formats(am):
        if name.upper() in ours and clock == 8000 and ch == 1:
            c = (name.upper(), pt)
            break
    if c is None:
        raise NotAcceptable("No common codec in answer")
    recv_pt = c[1]
    for n, pt in offered:
        if n == c[0]:
            recv_pt = pt
            break
    dtmf = _dtmf_pt(am)
    recv_dtmf = _dtmf_pt(om)
    if recv_dtmf is None or dtmf is None:
        dtmf = recv_dtmf = None  # telephone-event only when both sides list it
    conn = _conn(answer, am)
    if direction is None:
        direction = direction_of(offer, om)
    their = direction_of(answer, am)
    peer_send, peer_recv = _can(their)
    our_send, our_recv = _can(direction)
    send = our_send and peer_recv and not conn.is_hold()
    recv = our_recv and peer_send
    hold = (their in ("sendonly", "inactive") and our_recv) or conn.is_hold()
    ptime = _int_attr(om, offer, "ptime") or 20
    return _negotiated(c[0], c[1], dtmf, _send_ptime(answer, am, ptime), conn, am.port, am,
                       _dir(send, recv), hold, recv_pt, recv_dtmf)
