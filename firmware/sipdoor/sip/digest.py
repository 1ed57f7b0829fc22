"""HTTP Digest authentication for a SIP client (RFC 2617, RFC 7616, RFC 8760).

Client side only: parse WWW-Authenticate / Proxy-Authenticate challenges,
pick the strongest one we can answer, and build Authorization /
Proxy-Authorization values. Supported: algorithm MD5, MD5-sess, SHA-256,
SHA-256-sess; qop=auth, and no qop at all (RFC 2069 legacy mode). auth-int
and userhash are not supported: a challenge that requires them is skipped.

Sans-IO: the cnonce comes from an injected random source (getrandbits(n),
n <= 32), never from the random module.

hashlib.md5 is missing on some MicroPython ports: MD5 challenges are then
skipped, and if nothing else is offered the error says why.
"""

import binascii

try:
    import hashlib
except ImportError:  # pragma: no cover - every supported port has hashlib
    hashlib = None

from sipdoor.sip.errors import SipError
from sipdoor.sip.headers import split_quoted, quoted_end, unquote, quote
from sipdoor.sip.uri import is_token

_LWS = " \t"

# Strength order used to pick among several challenges (RFC 8760 section 2.4:
# the client uses the strongest algorithm it supports). Keys are upper case.
_ALGORITHMS = {
    "SHA-256-SESS": ("SHA-256-sess", "sha256", 4),
    "SHA-256": ("SHA-256", "sha256", 3),
    "MD5-SESS": ("MD5-sess", "md5", 2),
    "MD5": ("MD5", "md5", 1),
}


class DigestError(SipError):
    """Authentication cannot go on: nothing we support was offered, the
    challenge is malformed, or the server rejected our credentials."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def have_hash(name):
    """True when hashlib on this runtime has name ('md5' or 'sha256')."""
    return hashlib is not None and hasattr(hashlib, name)


def _hex(hname, text):
    if not have_hash(hname):
        raise DigestError("hashlib.%s is missing on this runtime" % hname)
    return binascii.hexlify(getattr(hashlib, hname)(text.encode()).digest()).decode()


class Challenge:
    """One parsed challenge.

    scheme: as written ('Digest', 'Basic'...); params: {lower-case name:
    unquoted value}. For Digest: realm, nonce, opaque (or None), algorithm
    (canonical spelling, 'MD5' when absent; None when unknown), qop (list of
    lower-case tokens; empty when absent = RFC 2069 mode), stale (bool).
    """

    def __init__(self, scheme, params):
        self.scheme = scheme
        self.params = params
        self.realm = params.get("realm")
        self.nonce = params.get("nonce")
        self.opaque = params.get("opaque")
        alg = params.get("algorithm", "MD5")
        info = _ALGORITHMS.get(alg.upper())
        self.algorithm = info[0] if info else None
        self.hash = info[1] if info else None
        self.strength = info[2] if info else 0
        self.qop = [q.strip(_LWS).lower() for q in params.get("qop", "").split(",")
                    if q.strip(_LWS)]
        self.stale = params.get("stale", "").lower() == "true"

    def problem(self):
        """Why we cannot answer this challenge, or None when we can."""
        if self.scheme.lower() != "digest":
            return "unsupported scheme %s" % self.scheme
        if self.realm is None or not self.nonce:
            return "Digest challenge without realm or nonce"
        if self.algorithm is None:
            return "unsupported algorithm %s" % self.params.get("algorithm")
        if self.qop and "auth" not in self.qop:
            return "unsupported qop %s" % ",".join(self.qop)
        if self.algorithm.endswith("-sess") and not self.qop:
            return "%s without qop" % self.algorithm  # -sess needs a cnonce
        if not have_hash(self.hash):
            return "%s challenge but hashlib.%s is missing on this runtime" % (
                self.algorithm, self.hash)
        return None

    def __repr__(self):
        return "<Challenge %s %s realm=%s>" % (self.scheme, self.algorithm, self.realm)


def _param(text):
    """'name = value' -> (lower-case name, unquoted value); DigestError if bad."""
    name, eq, value = text.partition("=")
    name = name.strip(_LWS)
    value = value.strip(_LWS)
    if not eq or not is_token(name) or not value:
        raise DigestError("Malformed challenge parameter")
    if value[0] == '"':
        try:
            end = quoted_end(value, 0)
        except SipError:
            raise DigestError("Malformed challenge parameter")
        if end != len(value):
            raise DigestError("Malformed challenge parameter")
        value = unquote(value)
    elif not is_token(value):
        raise DigestError("Malformed challenge parameter")
    return name.lower(), value


def parse_challenges(value):
    """One header value -> [Challenge]; it may hold several challenges
    ('Digest realm=..., nonce=..., Digest realm=...'). DigestError if malformed."""
    try:
        parts = split_quoted(value, ",")
    except SipError:
        raise DigestError("Malformed challenge: unbalanced quotes")
    out = []
    scheme = None
    params = None
    for part in parts:
        if not part:
            continue
        # A new challenge starts with 'scheme SP' before any '='.
        sp = -1
        for i in range(len(part)):
            c = part[i]
            if c == "=":
                break
            if c in _LWS:
                sp = i
                break
        if sp < 0 and "=" not in part:
            sp = len(part)
        elif sp >= 0 and part[sp:].lstrip(_LWS).startswith("="):
            sp = -1  # 'name = value': LWS around '=' is allowed
        if sp >= 0:
            if scheme is not None:
                out.append(Challenge(scheme, params))
            scheme = part[:sp]
            if not is_token(scheme):
                raise DigestError("Malformed challenge scheme")
            params = {}
            part = part[sp:].strip(_LWS)
            if not part:
                continue
        if scheme is None:
            raise DigestError("Challenge without a scheme")
        if scheme.lower() != "digest":
            continue  # other schemes' params or token68 (Negotiate...): not read
        name, v = _param(part)
        if name not in params:
            params[name] = v
    if scheme is None:
        raise DigestError("Empty challenge")
    out.append(Challenge(scheme, params))
    return out


def choose(values):
    """Strongest answerable challenge among header values (a list of strings).

    Malformed values are skipped when another is usable; among equals the
    first wins. DigestError names the first problem when none is usable.
    """
    best = None
    first_problem = None
    for value in values:
        try:
            challenges = parse_challenges(value)
        except DigestError as e:
            first_problem = first_problem or e.reason
            continue
        for ch in challenges:
            p = ch.problem()
            if p:
                first_problem = first_problem or p
            elif best is None or ch.strength > best.strength:
                best = ch
    if best is None:
        raise DigestError(first_problem or "No challenge")
    return best


def session_key(hname, username, realm, password, sess=False, nonce="", cnonce=""):
    """HA1 (RFC 7616 3.4.2): H(user:realm:password), or for -sess
    H(H(user:realm:password):nonce:cnonce)."""
    ha1 = _hex(hname, "%s:%s:%s" % (username, realm, password))
    if sess:
        ha1 = _hex(hname, "%s:%s:%s" % (ha1, nonce, cnonce))
    return ha1


def response_from_key(hname, ha1, method, uri, nonce, nc=None, cnonce=None, qop=None):
    """The response digest (RFC 7616 3.4.1) from HA1; qop None = RFC 2069."""
    ha2 = _hex(hname, "%s:%s" % (method, uri))
    if qop:
        return _hex(hname, "%s:%s:%08x:%s:%s:%s" % (ha1, nonce, nc, cnonce, qop, ha2))
    return _hex(hname, "%s:%s:%s" % (ha1, nonce, ha2))


def digest_response(algorithm, username, realm, password, method, uri, nonce,
                    nc=None, cnonce=None, qop=None):
    """The request-digest for one request; algorithm as in a challenge
    ('MD5', 'SHA-256-sess'...); nc is an int; qop 'auth' or None."""
    info = _ALGORITHMS.get(algorithm.upper())
    if info is None:
        raise DigestError("unsupported algorithm %s" % algorithm)
    sess = algorithm.upper().endswith("-SESS")
    ha1 = session_key(info[1], username, realm, password, sess, nonce, cnonce)
    return response_from_key(info[1], ha1, method, uri, nonce, nc, cnonce, qop)


def make_cnonce(rng):
    """128 random bits as 32 hex digits (RFC 7616 asks for at least 64)."""
    return "".join(["%08x" % rng.getrandbits(32) for _ in range(4)])


def credentials(ch, username, password, method, uri, nc=1, cnonce=None, ha1=None):
    """Authorization header value answering challenge ch for one request.

    uri is the Request-URI as a string; nc an int (sent as 8 hex digits);
    cnonce is needed when ch offers qop=auth; ha1 may be passed to skip
    recomputing the session key.
    """
    qop = "auth" if ch.qop else None
    sess = ch.algorithm.endswith("-sess")
    if ha1 is None:
        ha1 = session_key(ch.hash, username, ch.realm, password, sess, ch.nonce, cnonce)
    resp = response_from_key(ch.hash, ha1, method, uri, ch.nonce, nc, cnonce, qop)
    out = ['Digest username=%s' % quote(username),
           'realm=%s' % quote(ch.realm),
           'nonce=%s' % quote(ch.nonce),
           'uri=%s' % quote(uri),
           'response="%s"' % resp,
           'algorithm=%s' % ch.algorithm]
    if qop:
        out.append('cnonce=%s' % quote(cnonce))
    if ch.opaque is not None:
        out.append('opaque=%s' % quote(ch.opaque))
    if qop:
        out.append("qop=auth")
        out.append("nc=%08x" % nc)
    return ", ".join(out)


class _State:
    """What one kind of challenge (server or proxy) taught us."""

    def __init__(self, ch, cnonce):
        self.ch = ch
        self.cnonce = cnonce
        self.nc = 0
        self.ha1 = None
        self.used = False  # credentials sent since this challenge arrived
        self.uses = 0  # requests authorized with this nonce (more than one: it was accepted before)


class DigestClient:
    """Credentials of one account and the nonces its servers handed out.

    handle_challenge() takes the challenge header values of a 401 or 407;
    authorize() then gives the header(s) for each new request. Requests that
    reuse a nonce count nc up (pre-emptive authorization, no extra 401); a
    new nonce resets nc and draws a new cnonce. A challenge that arrives
    after we sent credentials for the same realm means they were wrong,
    unless it says stale=true (RFC 7616 3.3: only the nonce was too old).
    """

    WWW = "Authorization"
    PROXY = "Proxy-Authorization"

    def __init__(self, username, password, rng):
        self.username = username
        self.password = password
        self.rng = rng
        self._states = {}

    def handle_challenge(self, values, proxy=False, answered=None):
        """Take a 401's WWW-Authenticate (proxy=False) or a 407's
        Proxy-Authenticate values. Returns the Challenge to retry with;
        DigestError when nothing usable or the credentials were rejected.
        answered: whether the challenged request carried our credentials;
        a challenge to a request without them (one of several sent at once)
        is not a rejection. None: judge by the last credentials sent."""
        if isinstance(values, str):
            values = [values]
        ch = choose(values)
        kind = self.PROXY if proxy else self.WWW
        old = self._states.get(kind)
        if answered is None:
            answered = old is not None and old.used
        # A nonce we reused draws a different one without stale=true when the
        # server forgot it (a PBX restart: Kamailio and Asterisk both do
        # this): one retry with the new nonce, which a wrong password fails.
        forgotten = old is not None and old.uses > 1 and old.ch.nonce != ch.nonce
        if old is not None and answered and not ch.stale and old.ch.realm == ch.realm and not forgotten:
            del self._states[kind]
            raise DigestError("Credentials rejected for realm %s" % ch.realm)
        if old is not None and old.ch.nonce == ch.nonce and old.ch.algorithm == ch.algorithm:
            old.ch = ch  # same nonce (e.g. a new opaque): keep counting
            old.used = False
            old.uses = 0
        else:
            self._states[kind] = _State(ch, make_cnonce(self.rng) if ch.qop else None)
        return ch

    def handle_response(self, response, request=None):
        """handle_challenge() for a Response with status 401 or 407; with
        the request it answers, a rejection is told from a first challenge
        by whether that request carried credentials."""
        if response.status == 407:
            answered = None if request is None else "proxy-authorization" in request
            return self.handle_challenge(response.get_all("Proxy-Authenticate"), True, answered)
        if response.status == 401:
            answered = None if request is None else "authorization" in request
            return self.handle_challenge(response.get_all("WWW-Authenticate"), False, answered)
        raise DigestError("Not a challenge: %d" % response.status)

    def authorize(self, method, uri):
        """[(header name, value)] for a new request; empty before any challenge."""
        uri = str(uri)
        out = []
        for kind in (self.PROXY, self.WWW):
            st = self._states.get(kind)
            if st is None:
                continue
            st.nc += 1
            if st.nc > 0xFFFFFFFF:  # nc is 8 hex digits: start over with a new cnonce
                st.nc = 1
                st.cnonce = make_cnonce(self.rng)
                st.ha1 = None
            ch = st.ch
            if st.ha1 is None:
                st.ha1 = session_key(ch.hash, self.username, ch.realm, self.password,
                                     ch.algorithm.endswith("-sess"), ch.nonce, st.cnonce)
            st.used = True
            st.uses += 1
            out.append((kind, credentials(ch, self.username, self.password, method, uri,
                                          st.nc, st.cnonce, st.ha1)))
        return out

    def apply(self, request):
        """Set the authorization header(s) on a Request built for sending."""
        for name, value in self.authorize(request.method, request.uri):
            request.set(name, value)
        return request

    def forget(self):
        """Drop every nonce (e.g. after a network change or un-REGISTER)."""
        self._states = {}
