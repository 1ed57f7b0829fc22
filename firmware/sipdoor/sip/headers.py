"""Header names and the structured header values of RFC 3261 section 20.

Names: compact forms and case folded to one lookup key, while the wire
spelling is kept elsewhere for pass-through. Values: name-addr / addr-spec
(To, From, Contact, Route...), Via, CSeq, parameters and quote-aware comma
splitting. Every parser raises SipParseError(400) on bad input, nothing else.
"""

from sipdoor.sip.errors import bad
from sipdoor.sip.uri import Params, parse_uri, split_hostport, is_token, is_digits, TOKEN

# Compact forms (RFC 3261 7.3.3 and the registry of later RFCs).
COMPACT = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

# Usual spelling of names whose capitals are not simply after each "-".
_SPECIAL = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}

_LWS = " \t"
# Unquoted parameter values: token, or host (IPv6 references bring [ ] and :).
_VALUE = TOKEN + "[]:"


def header_key(name):
    """Lookup key for a header name: compact form expanded, lower case."""
    n = name.lower()
    if len(n) == 1:
        long = COMPACT.get(n)
        if long:
            return long.lower()
    return n


def canonical_name(name):
    """Usual spelling of a header name ('i' -> 'Call-ID', 'cseq' -> 'CSeq')."""
    key = header_key(name)
    if key in _SPECIAL:
        return _SPECIAL[key]
    return "-".join([p[:1].upper() + p[1:] for p in key.split("-")])


def split_quoted(text, sep, angles=False):
    """Split on sep outside quoted strings (and <...> when angles is true).

    Parts are stripped of LWS and may be empty; 400 on an unclosed quote.
    """
    parts = []
    start = 0
    i = 0
    n = len(text)
    inq = False
    ina = False
    while i < n:
        c = text[i]
        if inq:
            if c == "\\":
                i += 1
            elif c == '"':
                inq = False
        elif c == '"':
            inq = True
        elif ina:
            if c == ">":
                ina = False
        elif c == "<" and angles:
            ina = True
        elif c == sep:
            parts.append(text[start:i].strip(_LWS))
            start = i + 1
        i += 1
    if inq:
        raise bad("Unbalanced quotes")
    if ina:
        raise bad("Unbalanced angle brackets")
    parts.append(text[start:].strip(_LWS))
    return parts


def split_commas(value):
    """Elements of a comma-separated header value (Via, Contact, Route...)."""
    return split_quoted(value, ",", True)


def quoted_end(text, start):
    """Index just past the quoted string opening at text[start]; 400 if open."""
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 < n and text[i + 1] in "\r\n":
                raise bad("Bad quoted-pair")
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    raise bad("Unbalanced quotes")


def unquote(s):
    """Content of a quoted string with \\-escapes undone; other text as is."""
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        return s
    s = s[1:-1]
    if "\\" not in s:
        return s
    out = []
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            i += 1
        out.append(s[i])
        i += 1
    return "".join(out)


def quote(s):
    """s as a quoted string; controls other than tab become quoted-pairs,
    CR and LF (which cannot be escaped) are dropped."""
    out = ['"']
    for c in s:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif c == "\r" or c == "\n":
            continue
        elif (c < " " and c != "\t") or c == "\x7f":
            out.append("\\" + c)
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def parse_params(text, what="header"):
    """';a=b ; c ; d="x;y"' -> Params. Text before the first ';' must be LWS.

    SEMI and EQUAL allow LWS around them (RFC 3261 25.1); values are tokens,
    hosts or quoted strings (quotes kept, see unquote()).
    """
    params = Params()
    text = text.strip(_LWS)
    if not text:
        return params
    if text[0] != ";":
        raise bad("Junk before %s parameters" % what)
    for p in split_quoted(text[1:], ";"):
        name, eq, value = p.partition("=")
        name = name.strip(_LWS)
        if not is_token(name):
            raise bad("Bad %s parameter" % what)
        if eq:
            value = value.strip(_LWS)
            if value.startswith('"'):
                if quoted_end(value, 0) != len(value):
                    raise bad("Bad %s parameter" % what)
            elif not value:
                raise bad("Bad %s parameter" % what)
            else:
                for c in value:
                    if c not in _VALUE:
                        raise bad("Bad %s parameter" % what)
            params.items.append([name, value])
        else:
            params.items.append([name, None])
    return params


class NameAddr:
    """A name-addr or addr-spec with header parameters (To, From, Contact...).

    display is the unquoted display name or None; uri is a URI; params holds
    the header parameters (tag, expires, q...), not the URI's own.
    """

    def __init__(self, uri, display=None, params=None):
        self.uri = uri
        self.display = display
        self.params = params if params is not None else Params()

    @property
    def tag(self):
        return self.params.get("tag")

    @tag.setter
    def tag(self, value):
        if value is None:
            self.params.remove("tag")
        else:
            self.params.set("tag", value)

    def copy(self):
        return NameAddr(self.uri.copy(), self.display, self.params.copy())

    def __str__(self):
        s = "<%s>%s" % (self.uri, self.params)
        if self.display:
            return quote(self.display) + " " + s
        return s

    def __repr__(self):
        return "<NameAddr %s>" % self


def _display_ok(text):
    """An unquoted display name is *(token LWS)."""
    for c in text:
        if c not in TOKEN and c not in _LWS:
            return False
    return True


def parse_name_addr(value):
    """Parse '"Name" <uri>;p=v', 'Name <uri>;p=v' or 'uri;p=v' -> NameAddr.

    In the addr-spec form (no < >) the URI ends at the first ';' and must
    not hold '?' or ',' (RFC 3261 20.10): those need angle brackets.
    """
    s = value.strip(_LWS)
    if not s:
        raise bad("Empty address")
    display = None
    if s[0] == '"':
        end = quoted_end(s, 0)
        display = unquote(s[:end])
        rest = s[end:].lstrip(_LWS)
        if not rest.startswith("<"):
            raise bad("Expected < after display name")
        lt = 0
        s = rest
    else:
        lt = s.find("<")
        if lt >= 0 and _display_ok(s[:lt]):
            display = s[:lt].strip(_LWS) or None
        else:
            lt = -1
    if lt >= 0:
        gt = s.find(">", lt)
        if gt < 0:
            raise bad("Missing >")
        uri = parse_uri(s[lt + 1 : gt])
        return NameAddr(uri, display, parse_params(s[gt + 1 :]))
    uri_text, semi, ptext = s.partition(";")
    uri_text = uri_text.strip(_LWS)
    if "?" in uri_text or "," in uri_text:
        raise bad("URI with ? or , needs < >")
    uri = parse_uri(uri_text)
    return NameAddr(uri, None, parse_params(semi + ptext))


def parse_name_addr_list(value):
    """Comma-separated name-addrs (Contact, Route, Record-Route...).

    A Contact of '*' (REGISTER: remove all bindings) is returned as '*'.
    """
    if value.strip(_LWS) == "*":
        return ["*"]
    out = []
    for part in split_commas(value):
        out.append(parse_name_addr(part))
    return out


class Via:
    """One Via value: sent-protocol, sent-by and parameters (RFC 3261 20.42)."""

    def __init__(self, transport="UDP", host="", port=None, params=None,
                 protocol="SIP", version="2.0"):
        self.protocol = protocol
        self.version = version
        self.transport = transport.upper()
        self.host = host
        self.port = port
        self.params = params if params is not None else Params()

    @property
    def branch(self):
        return self.params.get("branch")

    @property
    def received(self):
        return self.params.get("received")

    @property
    def rport(self):
        """None when absent, 0 when asked for (';rport'), else the port."""
        if "rport" not in self.params:
            return None
        v = self.params.get("rport")
        return int(v) if v else 0

    def sent_by(self):
        return self.host if self.port is None else "%s:%d" % (self.host, self.port)

    def copy(self):
        return Via(self.transport, self.host, self.port, self.params.copy(),
                   self.protocol, self.version)

    def __str__(self):
        return "%s/%s/%s %s%s" % (self.protocol, self.version, self.transport,
                                  self.sent_by(), self.params)

    def __repr__(self):
        return "<Via %s>" % self


def _lws_split(s):
    """Split on runs of SP/HT (str.split() would also split on other spaces)."""
    return [p for p in s.replace("\t", " ").split(" ") if p]


def parse_via(value):
    """One Via header line (may hold several comma-separated values) -> [Via]."""
    out = []
    for part in split_commas(value):
        if not part:
            raise bad("Empty Via")
        head, semi, ptext = part.partition(";")
        proto, s1, rest = head.partition("/")
        version, s2, rest = rest.partition("/")
        proto = proto.strip(_LWS)
        version = version.strip(_LWS)
        words = _lws_split(rest)
        if not (s1 and s2) or len(words) < 2 or not is_token(proto) or not is_token(version):
            raise bad("Bad Via sent-protocol")
        transport = words[0]
        if not is_token(transport):
            raise bad("Bad Via transport")
        # COLON between host and port may have LWS around it, nothing else.
        for i in range(1, len(words) - 1):
            if not (words[i].endswith(":") or words[i + 1].startswith(":")):
                raise bad("Bad Via sent-by")
        host, port = split_hostport("".join(words[1:]), "Via sent-by")
        params = parse_params(semi + ptext, "Via")
        rport = params.get("rport")
        if rport is not None and not is_digits(rport):
            raise bad("Bad Via rport")
        if "branch" in params and not is_token(params.get("branch") or ""):
            raise bad("Bad Via branch")
        out.append(Via(transport, host, port, params, proto, version))
    return out


class CSeq:
    """CSeq: sequence number and method (RFC 3261 20.16)."""

    def __init__(self, seq, method):
        self.seq = seq
        self.method = method

    def __eq__(self, other):
        return isinstance(other, CSeq) and self.seq == other.seq and self.method == other.method

    def __ne__(self, other):
        return not self.__eq__(other)

    def __str__(self):
        return "%d %s" % (self.seq, self.method)

    def __repr__(self):
        return "<CSeq %s>" % self


def parse_uint(value, limit, what):
    """Decimal digits below limit; digit count checked before int() is called."""
    v = value.strip(_LWS)
    if not is_digits(v) or len(v.lstrip("0")) > len(str(limit)):
        raise bad("Bad %s" % what)
    n = int(v)
    if n >= limit:
        raise bad("Bad %s" % what)
    return n


def parse_cseq(value):
    """'4711 INVITE' -> CSeq; the number must be below 2**31 (RFC 3261 8.1.1.5)."""
    words = _lws_split(value)
    if len(words) != 2 or not is_token(words[1]):
        raise bad("Bad CSeq")
    return CSeq(parse_uint(words[0], 0x80000000, "CSeq"), words[1])
