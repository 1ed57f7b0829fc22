"""SIP requests and responses (RFC 3261 section 7) for one UDP datagram.

parse() turns bytes into a Request or Response, or raises SipParseError;
parse_and_classify() tells the UA what to do with a datagram (handle it,
answer it with an error response, or drop it). Headers stay in wire order
with their wire names, so unknown headers pass through untouched; the
structured values the stack needs (Via, CSeq, From, To...) are parsed on
demand and cached until the headers change.

The input comes from anyone on the network: the datagram size, the number
of headers and the length of each (unfolded) header line are checked while
scanning, before anything is allocated for them.
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from sipdoor.sip.errors import SipParseError, bad
from sipdoor.sip.uri import parse_uri, is_token, is_digits
from sipdoor.sip.headers import (
    header_key,
    canonical_name,
    split_commas,
    parse_name_addr,
    parse_name_addr_list,
    parse_via,
    parse_cseq,
    parse_uint,
)

MAX_DATAGRAM = const(65535)
MAX_HEADERS = const(64)
MAX_LINE = const(4096)

# What parse_and_classify() tells the caller to do.
REQUEST = "request"
RESPONSE = "response"
REJECT = "reject"
DROP = "drop"

REASONS = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
}

# Headers that may appear once only, and those every message must carry
# (Max-Forwards is tolerated when missing: RFC 2543 peers omit it).
_SINGLE = ("to", "from", "cseq", "call-id", "max-forwards", "content-length")
_REQUIRED = ("via", "from", "to", "call-id", "cseq")
_LWS = " \t"


class Message:
    """Headers (ordered [key, name, value] triples) and a bytes body."""

    def __init__(self, headers=None, body=b""):
        self._h = []
        self._cache = {}
        self.body = body
        if headers:
            for name, value in headers:
                self.add(name, value)

    # -- raw header access -------------------------------------------------

    def items(self):
        """All headers in wire order as (name as written, value) pairs."""
        return [(h[1], h[2]) for h in self._h]

    def get(self, name, default=None):
        """Value of the first header called name (any spelling, compact too)."""
        key = header_key(name)
        for h in self._h:
            if h[0] == key:
                return h[2]
        return default

    def get_all(self, name):
        """Values of every header line called name, in order."""
        key = header_key(name)
        return [h[2] for h in self._h if h[0] == key]

    def get_list(self, name):
        """Comma-separated elements across all lines of a list header."""
        out = []
        for v in self.get_all(name):
            out.extend([p for p in split_commas(v) if p])
        return out

    def count(self, name):
        key = header_key(name)
        n = 0
        for h in self._h:
            if h[0] == key:
                n += 1
        return n

    def __contains__(self, name):
        return self.get(name) is not None

    def set(self, name, value):
        """Replace the first header called name (keeping its place and
        spelling) and remove the others; append it when absent."""
        key = header_key(name)
        value = _value(value)
        self._cache = {}
        found = False
        keep = []
        for h in self._h:
            if h[0] == key:
                if found:
                    continue
                h[2] = value
                found = True
            keep.append(h)
        if not found:
            keep.append([key, name, value])
        self._h = keep

    def add(self, name, value, top=False):
        """Append a header; with top=True put it above the others of that
        name (a new Via goes first), or first of all when there are none."""
        key = header_key(name)
        entry = [key, name, _value(value)]
        self._cache = {}
        if top:
            for i, h in enumerate(self._h):
                if h[0] == key:
                    self._h.insert(i, entry)
                    return
            self._h.insert(0, entry)
        else:
            self._h.append(entry)

    def remove(self, name):
        """Remove every header called name; return how many there were."""
        key = header_key(name)
        before = len(self._h)
        self._h = [h for h in self._h if h[0] != key]
        self._cache = {}
        return before - len(self._h)

    # -- parsed values, computed on first use -------------------------------

    def _parsed(self, key, fn):
        if key in self._cache:
            return self._cache[key]
        value = self.get(key)
        result = None if value is None else fn(value)
        self._cache[key] = result
        return result

    @property
    def call_id(self):
        return self.get("call-id")

    @property
    def cseq(self):
        """CSeq (seq, method) or None; SipParseError if malformed."""
        return self._parsed("cseq", parse_cseq)

    @property
    def from_(self):
        """From as a NameAddr (with .tag) or None."""
        return self._parsed("from", parse_name_addr)

    @property
    def to(self):
        """To as a NameAddr (with .tag) or None."""
        return self._parsed("to", parse_name_addr)

    @property
    def vias(self):
        """Every Via value, top first, across all Via lines (parsed anew on
        each call: a proxied request may carry dozens, rarely needed)."""
        out = []
        for v in self.get_all("via"):
            out.extend(parse_via(v))
        return out

    @property
    def via(self):
        """The top Via (branch, sent-by, rport...) or None."""
        vias = self._parsed("via", parse_via)
        return vias[0] if vias else None

    @property
    def contacts(self):
        """Contact values as NameAddr objects (['*'] for 'Contact: *')."""
        if "contacts" not in self._cache:
            out = []
            for v in self.get_all("contact"):
                out.extend(parse_name_addr_list(v))
            self._cache["contacts"] = out
        return self._cache["contacts"]

    @property
    def max_forwards(self):
        """Max-Forwards, or None when absent or out of range (RFC 4475 3.1.2.4
        lets an element treat a bad value as absent)."""
        v = self.get("max-forwards")
        if v is None:
            return None
        try:
            return parse_uint(v, 256, "Max-Forwards")
        except SipParseError:
            return None

    @property
    def content_type(self):
        """Media type in lower case without parameters, or None."""
        v = self.get("content-type")
        if v is None:
            return None
        return v.partition(";")[0].strip(_LWS).lower()

    # -- serialization -----------------------------------------------------

    def start_line(self):
        raise NotImplementedError

    def to_bytes(self):
        """Wire form: CRLF line ends, Content-Length set to the body's size."""
        # Lines are encoded as they are made and joined once: a single
        # allocation of the full size, which a fragmented heap may just have.
        out = [self.start_line().encode()]
        have_cl = False
        for key, name, value in self._h:
            if key == "content-length":
                if have_cl:
                    continue
                have_cl = True
                value = str(len(self.body))
            out.append(("%s: %s" % (name, value)).encode())
        if not have_cl:
            out.append(b"Content-Length: %d" % len(self.body))
        out.append(b"")
        out.append(bytes(self.body))
        return b"\r\n".join(out)


def _value(value):
    """Header value as text; CR or LF would let a value inject headers."""
    if not isinstance(value, str):
        value = str(value)
    if "\r" in value or "\n" in value:
        raise ValueError("CR/LF in header value")
    return value


class Request(Message):
    """A SIP request: method (case-sensitive token), uri (a URI) and headers."""

    def __init__(self, method, uri, headers=None, body=b""):
        Message.__init__(self, headers, body)
        self.method = method
        self.uri = parse_uri(uri) if isinstance(uri, str) else uri

    def start_line(self):
        return "%s %s SIP/2.0" % (self.method, self.uri)

    def __repr__(self):
        return "<Request %s %s>" % (self.method, self.uri)


class Response(Message):
    """A SIP response: status (100-699), reason phrase and headers."""

    def __init__(self, status, reason=None, headers=None, body=b""):
        Message.__init__(self, headers, body)
        self.status = status
        self.reason = REASONS.get(status, "Unknown") if reason is None else reason

    def start_line(self):
        return "SIP/2.0 %d %s" % (self.status, self.reason)

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.reason)


# -- parsing ------------------------------------------------------------------


def _split_head(data, max_headers, max_line):
    """Scan start line and headers -> (start line, [(name, value)], body
    offset, first bad-header error or None).

    Folded lines are joined with one SP. A bad header line is skipped and
    remembered, so the caller still sees Via/CSeq to answer with a 400.
    Limits raise 513 at once: such a datagram is not worth answering.
    """
    n = len(data)
    pos = 0
    while data.startswith(b"\r\n", pos):  # keep-alive CRLFs (RFC 5626)
        pos += 2
    if pos >= n:
        raise bad("Empty message")
    start = None
    headers = []
    err = None
    cur = None  # [name, pieces, length] of the header being read; False: skip
    while True:
        if pos >= n:  # no empty line: the datagram ends the headers
            body_at = n
            break
        end = data.find(b"\r\n", pos, pos + max_line + 2)
        if end < 0:
            if n - pos > max_line:
                raise SipParseError(513, "Header line too long")
            end = n
        if end == pos:
            body_at = pos + 2
            break
        raw = data[pos:end]
        pos = end + 2
        try:
            line = raw.decode()
        except UnicodeError:
            line = None
        if start is None:
            if line is None or "\r" in line or "\n" in line:
                raise bad("Bad start line")
            start = line
            continue
        if line is None or "\r" in line or "\n" in line:
            err = err or bad("Bad header line")
            if line is None or line[0] not in _LWS:
                cur = False
            continue
        if line[0] in _LWS:
            if cur is None:
                err = err or bad("Continuation line before any header")
                cur = False
            if cur:
                cur[2] += len(line) + 2
                if cur[2] > max_line:
                    raise SipParseError(513, "Header line too long")
                piece = line.strip(_LWS)
                if piece:
                    cur[1].append(piece)
            continue
        if len(headers) >= max_headers:
            raise SipParseError(513, "Too many headers")
        name, colon, value = line.partition(":")
        name = name.strip(_LWS)
        if not colon or not is_token(name):
            err = err or bad("Bad header line")
            cur = False
            continue
        value = value.strip(_LWS)
        cur = [name, [value] if value else [], len(line)]
        headers.append(cur)
    return start, [(h[0], " ".join(h[1])) for h in headers], body_at, err


def _start(line):
    """Start line -> (empty Request or Response, error or None).

    A request whose method is readable comes back even when the rest of the
    line is bad, so that a 400/505 can still be sent for it.
    """
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if version.upper() != "SIP/2.0":
            raise SipParseError(505, "Version Not Supported")
        if len(code) != 3 or code[0] not in "123456" or not is_digits(code):
            raise bad("Bad status code")
        return Response(int(code), reason), None
    parts = line.split(" ")
    if not is_token(parts[0]):
        raise bad("Bad request line")
    req = Request(parts[0], None)
    if len(parts) != 3:
        return req, bad("Bad request line")
    version = parts[2].upper()
    if version != "SIP/2.0":
        if version[:4] == "SIP/":
            return req, SipParseError(505, "Version Not Supported")
        return req, bad("Bad SIP version")
    try:
        req.uri = parse_uri(parts[1])
    except SipParseError as e:
        return req, e
    if req.uri.is_sip and len(req.uri.headers):
        return req, bad("Headers in Request-URI")
    return req, None


def _frame(msg, data, body_at):
    """Body by Content-Length over UDP (RFC 3261 18.3): extra octets are
    dropped, a Content-Length past the datagram's end is an error, and no
    Content-Length means the rest of the datagram."""
    values = msg.get_all("content-length")
    if not values:
        msg.body = data[body_at:]
        return
    if len(values) > 1:
        raise bad("Repeated Content-Length")
    length = parse_uint(values[0], MAX_DATAGRAM + 1, "Content-Length")
    if body_at + length > len(data):
        raise bad("Content-Length larger than body")
    msg.body = data[body_at : body_at + length]


def _validate(msg):
    """The headers every transaction needs, each present once and well
    formed (RFC 3261 8.1.1, 8.2.2); CSeq names the request's method."""
    for key in _SINGLE:
        if msg.count(key) > 1:
            raise bad("Repeated %s" % canonical_name(key))
    for key in _REQUIRED:
        if key not in msg:
            raise bad("Missing %s" % canonical_name(key))
    call_id = msg.call_id
    if not call_id:
        raise bad("Empty Call-ID")
    for c in call_id:
        if c <= " " or c == "\x7f":
            raise bad("Bad Call-ID")
    msg.from_
    msg.to
    cseq = msg.cseq
    # Checked, not kept: Via and Contact lists can be long.
    for v in msg.get_all("via"):
        parse_via(v)
    for v in msg.get_all("contact"):
        parse_name_addr_list(v)
    if isinstance(msg, Request) and cseq.method != msg.method:
        raise bad("CSeq method does not match")


def parse(data, max_headers=MAX_HEADERS, max_line=MAX_LINE):
    """Parse one datagram into a Request or Response.

    Raises SipParseError; its .message is the partly parsed message when
    the start line and headers could be read (see parse_and_classify).
    """
    if len(data) > MAX_DATAGRAM:
        raise SipParseError(513, "Datagram too large")
    if not isinstance(data, bytes):
        data = bytes(data)
    start, headers, body_at, err = _split_head(data, max_headers, max_line)
    msg, start_err = _start(start)
    for name, value in headers:
        msg._h.append([header_key(name), name, value])
    err = start_err or err
    if err is None:
        try:
            _frame(msg, data, body_at)
            _validate(msg)
        except SipParseError as e:
            err = e
    if err is not None:
        msg._cache = {}
        err.message = msg
        raise err
    return msg


def make_response(request, status, reason=None, to_tag=None):
    """A response to request per RFC 3261 8.2.6: Via lines, From, To, Call-ID
    and CSeq copied as received; to_tag added to To unless it has one.

    Works on a partly parsed (invalid) request too: unreadable values are
    copied verbatim.
    """
    resp = Response(status, reason)
    for h in request._h:
        if h[0] == "via":
            resp._h.append(["via", h[1], h[2]])
    for key in ("from", "to", "call-id", "cseq"):
        value = request.get(key)
        if value is None:
            continue
        if key == "to" and to_tag:
            try:
                has_tag = parse_name_addr(value).tag is not None
            except SipParseError:
                has_tag = True  # do not edit what cannot be read
            if not has_tag:
                value = "%s;tag=%s" % (value, to_tag)
        resp._h.append([key, canonical_name(key), value])
    if status == 100 and "timestamp" in request:
        resp._h.append(["timestamp", "Timestamp", request.get("timestamp")])  # 8.2.6.1
    return resp


def parse_and_classify(data, to_tag=None, max_headers=MAX_HEADERS, max_line=MAX_LINE):
    """What to do with a datagram: returns (kind, message, error).

    (REQUEST, Request, None) / (RESPONSE, Response, None): valid, handle it.
    (REJECT, Response, SipParseError): a bad request that can be answered;
        send the Response (status from the error) back to the sender.
    (DROP, None, SipParseError): a bad response, an ACK, or a request
        without Via and CSeq (nothing to match a reply to): ignore it.
    A reply needs only the top Via and CSeq, what the client transaction
    matches on (RFC 3261 17.1.3); missing From/To/Call-ID are then left out,
    as RFC 4475 3.3.1 prefers a 400 to silence.
    """
    try:
        msg = parse(data, max_headers, max_line)
    except SipParseError as e:
        req = e.message
        if isinstance(req, Request) and req.method != "ACK" and "via" in req and "cseq" in req:
            return REJECT, make_response(req, e.status, e.reason, to_tag), e
        return DROP, None, e
    if isinstance(msg, Request):
        return REQUEST, msg, None
    return RESPONSE, msg, None
