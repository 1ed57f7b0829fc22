"""SIP and SIPS URIs (RFC 3261 19.1, grammar in 25.1); other schemes kept opaque.

Fields keep the wire spelling (escapes included), so a URI passes through
unchanged; unescaping happens only where it matters, in uri_equal().
Parsing is by hand (find/partition): MicroPython's re is too small for this.
"""

from sipdoor.sip.errors import bad

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_HEX = "0123456789abcdefABCDEF"
DIGITS = "0123456789"
UNRESERVED = _ALNUM + "-_.!~*'()"
TOKEN = _ALNUM + "-.!%*_+`'~"
_USER = UNRESERVED + "&=+$,;?/"
_PASSWORD = UNRESERVED + "&=+$,"
_PARAM = UNRESERVED + "[]/:&+$"
_HNV = UNRESERVED + "[]/?:+$"
_OPAQUE = UNRESERVED + ";/?:@&=+$,"
_SCHEME = _ALNUM + "+-."
# RFC 1123 host names; "_" is not legal but common on LANs, so it is let in.
_HOSTNAME = _ALNUM + "-._"
_IPV6 = _HEX + ":."

# URI parameters that never match when present in only one URI (19.1.4).
# "transport" is added to what the rule lists, as the examples there require.
_MUST_MATCH = ("user", "ttl", "method", "maddr", "transport")


def is_token(s):
    """True for a non-empty RFC 3261 token (method, param name, tag...)."""
    if not s:
        return False
    for c in s:
        if c not in TOKEN:
            return False
    return True


def is_digits(s):
    """ASCII digits only (str.isdigit() also accepts other scripts on CPython)."""
    if not s:
        return False
    for c in s:
        if c not in DIGITS:
            return False
    return True


def check_chars(s, allowed, what, escapes=True):
    """Raise 400 unless every char of s is allowed or a %HEX HEX escape."""
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "%" and escapes:
            if i + 2 >= n or s[i + 1] not in _HEX or s[i + 2] not in _HEX:
                raise bad("Bad escape in %s" % what)
            i += 3
            continue
        if c not in allowed:
            raise bad("Bad character in %s" % what)
        i += 1


def unescape(s):
    """Decode %HEX HEX once (never recursively); bad escapes stay as they are."""
    if s is None or "%" not in s:
        return s
    out = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "%" and i + 2 < n and s[i + 1] in _HEX and s[i + 2] in _HEX:
            out.append(chr(int(s[i + 1 : i + 3], 16)))
            i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


def escape(s, allowed=_USER):
    """Encode every char not in allowed as %HH (for building URIs from text)."""
    out = []
    for c in s:
        if c in allowed:
            out.append(c)
        else:
            for b in c.encode():
                out.append("%%%02X" % b)
    return "".join(out)


class Params:
    """Ordered name[=value] pairs (URI or header parameters).

    Names are looked up case-insensitively but kept as written; a value of
    None means a parameter without "=" (e.g. ";lr", ";rport").
    """

    def __init__(self, items=None):
        self.items = items if items is not None else []

    def _find(self, name):
        name = name.lower()
        for i, kv in enumerate(self.items):
            if kv[0].lower() == name:
                return i
        return -1

    def get(self, name, default=None):
        i = self._find(name)
        return default if i < 0 else self.items[i][1]

    def __contains__(self, name):
        return self._find(name) >= 0

    def set(self, name, value=None):
        i = self._find(name)
        if i < 0:
            self.items.append([name, value])
        else:
            self.items[i][1] = value

    def remove(self, name):
        i = self._find(name)
        if i >= 0:
            del self.items[i]

    def names(self):
        return [kv[0] for kv in self.items]

    def __len__(self):
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def copy(self):
        return Params([[k, v] for k, v in self.items])

    def __str__(self):
        out = []
        for k, v in self.items:
            out.append(";" + k if v is None else ";%s=%s" % (k, v))
        return "".join(out)


def split_hostport(text, what="host"):
    """'host', 'host:port' or '[v6]:port' -> (host, port or None); 400 if bad."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise bad("Bad IPv6 reference in %s" % what)
        host = text[: end + 1]
        check_chars(host[1:-1], _IPV6, what, False)
        if len(host) < 4 or ":" not in host:
            raise bad("Bad IPv6 reference in %s" % what)
        rest = text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise bad("Bad %s" % what)
        port = rest[1:] if rest else None
    else:
        host, colon, port = text.partition(":")
        if not colon:
            port = None
        if not host:
            raise bad("Empty %s" % what)
        check_chars(host, _HOSTNAME, what, False)
    if port is not None:
        if not is_digits(port) or len(port) > 5 or int(port) > 65535:
            raise bad("Bad port in %s" % what)
        port = int(port)
    return host, port


class URI:
    """A parsed URI. For sip/sips every field is set; other schemes keep the
    part after "scheme:" in opaque (tel too: the UA only needs to pass it on)."""

    def __init__(self, scheme="sip", user=None, host="", port=None, params=None,
                 headers=None, password=None, opaque=None):
        self.scheme = scheme.lower()
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params = params if params is not None else Params()
        self.headers = headers if headers is not None else Params()
        self.opaque = opaque

    @property
    def is_sip(self):
        return self.scheme == "sip" or self.scheme == "sips"

    def hostport(self):
        return self.host if self.port is None else "%s:%d" % (self.host, self.port)

    def copy(self):
        return URI(self.scheme, self.user, self.host, self.port, self.params.copy(),
                   self.headers.copy(), self.password, self.opaque)

    def __str__(self):
        if not self.is_sip:
            return "%s:%s" % (self.scheme, self.opaque)
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.hostport())
        out.append(str(self.params))
        if len(self.headers):
            out.append("?")
            out.append("&".join(["%s=%s" % (k, v or "") for k, v in self.headers]))
        return "".join(out)

    def __repr__(self):
        return "<URI %s>" % self


def parse_uri(text):
    """Parse 'sip:user:pw@host:port;params?headers' or any 'scheme:opaque'."""
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme or scheme[0] not in _ALNUM[:52]:
        raise bad("Bad URI scheme")
    check_chars(scheme, _SCHEME, "URI scheme", False)
    low = scheme.lower()
    if low != "sip" and low != "sips":
        if not rest:
            raise bad("Empty URI")
        check_chars(rest, _OPAQUE, "URI")
        return URI(low, opaque=rest)

    user = password = None
    at = rest.find("@")
    if at >= 0:
        user, colon, password = rest[:at].partition(":")
        if not colon:
            password = None
        if not user:
            raise bad("Empty URI user")
        check_chars(user, _USER, "URI user")
        if password is not None:
            check_chars(password, _PASSWORD, "URI password")
        rest = rest[at + 1 :]

    rest, q, htext = rest.partition("?")
    hp, semi, ptext = rest.partition(";")
    host, port = split_hostport(hp, "URI host")

    params = Params()
    if semi:
        for p in ptext.split(";"):
            name, eq, value = p.partition("=")
            if not name or (eq and not value):
                raise bad("Bad URI parameter")
            check_chars(name, _PARAM, "URI parameter")
            if eq:
                check_chars(value, _PARAM, "URI parameter")
            params.items.append([name, value if eq else None])
    headers = Params()
    if q:
        for h in htext.split("&"):
            name, eq, value = h.partition("=")
            if not name or not eq:
                raise bad("Bad URI header")
            check_chars(name, _HNV, "URI header")
            check_chars(value, _HNV, "URI header")
            headers.items.append([name, value])
    return URI(low, user, host, port, params, headers, password)


def _norm_params(params):
    return dict([(unescape(k).lower(), unescape(v or "").lower()) for k, v in params])


def uri_equal(a, b):
    """URI equality of RFC 3261 19.1.4; a and b are URI objects or strings."""
    if isinstance(a, str):
        a = parse_uri(a)
    if isinstance(b, str):
        b = parse_uri(b)
    if a.scheme != b.scheme:
        return False
    if not a.is_sip:
        return unescape(a.opaque) == unescape(b.opaque)
    if unescape(a.user) != unescape(b.user) or unescape(a.password) != unescape(b.password):
        return False
    if a.host.lower() != b.host.lower() or a.port != b.port:
        return False
    pa = _norm_params(a.params)
    pb = _norm_params(b.params)
    for k in pa:
        if k in pb:
            if pa[k] != pb[k]:
                return False
        elif k in _MUST_MATCH:
            return False
    for k in pb:
        if k not in pa and k in _MUST_MATCH:
            return False
    # Header components are never ignored: the same set on both sides.
    ha = [(unescape(k).lower(), unescape(v)) for k, v in a.headers]
    hb = [(unescape(k).lower(), unescape(v)) for k, v in b.headers]
    ha.sort()
    hb.sort()
    return ha == hb
