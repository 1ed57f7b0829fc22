"""sip/digest.py: challenges, responses (RFC 2617, 7616, 8760) and DigestClient.

Runs under pytest (CPython) and tests/fw/run.py (MicroPython).
"""

from support import raises

from sipdoor.sip import digest
from sipdoor.sip.digest import (
    DigestClient,
    DigestError,
    choose,
    credentials,
    digest_response,
    make_cnonce,
    parse_challenges,
)
from sipdoor.sip.message import Request, Response


class FakeRandom:
    """Deterministic getrandbits: 42, 43, 44... (at most 32 bits, like the board)."""

    def __init__(self, start=42):
        self.n = start

    def getrandbits(self, bits):
        assert bits <= 32
        v = self.n & ((1 << bits) - 1)
        self.n += 1
        return v


CNONCE = "0000002a0000002b0000002c0000002d"  # make_cnonce(FakeRandom())


def fields(value):
    """'Digest a="b", c=d' -> {'a': '"b"', 'c': 'd'} (values as written)."""
    assert value.startswith("Digest ")
    out = {}
    for part in value[7:].split(", "):
        k, eq, v = part.partition("=")
        assert k not in out
        out[k] = v
    return out


# -- reference vectors -----------------------------------------------------------

RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def test_rfc2617_worked_example():
    assert digest_response("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life", "GET",
                           "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", 1,
                           "0a4f113b", "auth") == "6629fae49393a05397450978507c4ef1"


def test_rfc2617_header_built_from_parsed_challenge():
    ch = choose([RFC2617_CHALLENGE])
    assert ch.algorithm == "MD5" and ch.qop == ["auth", "auth-int"] and not ch.stale
    v = credentials(ch, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1, "0a4f113b")
    f = fields(v)
    assert f == {
        "username": '"Mufasa"',
        "realm": '"testrealm@host.com"',
        "nonce": '"dcd98b7102dd2f0e8b11d0f600bfb0c093"',
        "uri": '"/dir/index.html"',
        "response": '"6629fae49393a05397450978507c4ef1"',
        "algorithm": "MD5",
        "cnonce": '"0a4f113b"',
        "opaque": '"5ccc069c403ebaf9f0171e9517f40e41"',
        "qop": "auth",
        "nc": "00000001",
    }
    # The order the brief and RFC 7616 examples use.
    assert v.index("username=") < v.index("realm=") < v.index("nonce=") < v.index("uri=")
    assert v.index("response=") < v.index("algorithm=") < v.index("cnonce=") < v.index("qop=")


RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def rfc7616_challenge(alg):
    return ('Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=%s, '
            'nonce="%s", opaque="%s"' % (alg, RFC7616_NONCE, RFC7616_OPAQUE))


def test_rfc7616_md5_and_sha256_examples():
    for alg, want in (("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
                      ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")):
        assert digest_response(alg, "Mufasa", "http-auth@example.org", "Circle of Life", "GET",
                               "/dir/index.html", RFC7616_NONCE, 1, RFC7616_CNONCE, "auth") == want
        ch = choose([rfc7616_challenge(alg)])
        f = fields(credentials(ch, "Mufasa", "Circle of Life", "GET", "/dir/index.html", 1,
                               RFC7616_CNONCE))
        assert f["response"] == '"%s"' % want
        assert f["algorithm"] == alg
        assert f["opaque"] == '"%s"' % RFC7616_OPAQUE


def test_rfc7616_two_challenges_strongest_wins():
    # RFC 7616 3.9.1: the server sends SHA-256 first, MD5 second; RFC 8760 2.4.
    ch = choose([rfc7616_challenge("SHA-256"), rfc7616_challenge("MD5")])
    assert ch.algorithm == "SHA-256"
    ch = choose([rfc7616_challenge("MD5"), rfc7616_challenge("SHA-256")])
    assert ch.algorithm == "SHA-256"


# Values checked against an independent hashlib computation on CPython.
SIP_CASES = [
    # algorithm, method, uri, nc, cnonce, qop, response
    ("MD5", "REGISTER", "sip:pbx.example", None, None, None, "160a9340a5ef5ce20be2a40385a04e76"),
    ("MD5", "REGISTER", "sip:pbx.example", 1, CNONCE, "auth", "5a69745ef8d765ca6976a0e2f7287996"),
    ("MD5", "REGISTER", "sip:pbx.example", 2, CNONCE, "auth", "5881eace1736d1e4c3b9784c5e387c1e"),
    ("MD5-sess", "INVITE", "sip:101@pbx.example", 1, CNONCE, "auth",
     "78db8642e1da2c11053570fd16023da2"),
    ("SHA-256-sess", "INVITE", "sip:101@pbx.example", 1, CNONCE, "auth",
     "015043a41f759288b07f6148004fd81464e0301dca071a0282181bb499412743"),
    ("SHA-256", "REGISTER", "sip:pbx.example", None, None, None,
     "915347e115a56e86052a00ecb243e26a374904ed87390951b7c08935319df830"),
]


def test_sip_register_style_vectors():
    for alg, method, uri, nc, cnonce, qop, want in SIP_CASES:
        got = digest_response(alg, "door", "pbx.example", "secret", method, uri, "4b2a9f1c",
                              nc, cnonce, qop)
        assert got == want, (alg, method, nc)


def test_algorithm_names_are_case_insensitive():
    assert digest_response("md5-SESS", "door", "pbx.example", "secret", "INVITE",
                           "sip:101@pbx.example", "4b2a9f1c", 1, CNONCE, "auth") == SIP_CASES[3][6]
    assert raises(DigestError, digest_response, "SHA-512-256", "a", "b", "c", "GET", "/", "n")


def test_cnonce_from_injected_random():
    assert make_cnonce(FakeRandom()) == CNONCE


# -- challenge parsing -------------------------------------------------------------


def test_parse_asterisk_style_challenge():
    (ch,) = parse_challenges('Digest algorithm=MD5, realm="asterisk", nonce="1712345678/0c7f1d"')
    assert ch.scheme == "Digest" and ch.realm == "asterisk" and ch.nonce == "1712345678/0c7f1d"
    assert ch.qop == [] and ch.opaque is None and ch.problem() is None


def test_parse_lws_case_and_escapes():
    v = ('digest  REALM = "pbx \\"main\\" site" ,Nonce="abc,def" , QOP=auth,'
         ' Stale=TRUE, domain="sip:pbx.example sip:alt.example", x-extra=yes')
    (ch,) = parse_challenges(v)
    assert ch.realm == 'pbx "main" site'
    assert ch.nonce == "abc,def"
    assert ch.qop == ["auth"]
    assert ch.stale
    assert ch.params["x-extra"] == "yes"
    assert ch.problem() is None
    # The realm is quoted again in the answer, escapes and all.
    f = fields(credentials(ch, "door", "secret", "REGISTER", "sip:pbx.example", 1, CNONCE))
    assert f["realm"] == '"pbx \\"main\\" site"'


def test_several_challenges_in_one_value():
    v = ('Basic realm="web", Digest realm="pbx", nonce="n1", algorithm=MD5, '
         'Digest realm="pbx", nonce="n2", algorithm=SHA-256, qop="auth", Negotiate abc==')
    chs = parse_challenges(v)
    assert [c.scheme for c in chs] == ["Basic", "Digest", "Digest", "Negotiate"]
    assert chs[0].problem() is not None and chs[3].problem() is not None
    best = choose([v])
    assert best.nonce == "n2" and best.algorithm == "SHA-256"


def test_unsupported_challenges_are_skipped():
    good = 'Digest realm="pbx", nonce="ok", qop="auth"'
    skipped = [
        'Digest realm="pbx", nonce="a", algorithm=SHA-512-256',
        'Digest realm="pbx", nonce="b", qop="auth-int"',
        'Digest realm="pbx", algorithm=MD5',  # no nonce
        'Basic realm="pbx"',
        'Digest realm="pbx", nonce="unclosed',  # malformed
    ]
    assert choose(skipped + [good]).nonce == "ok"
    for v in skipped:
        e = raises(DigestError, choose, [v])
        assert e.reason


def test_malformed_challenges_raise_digest_error():
    for v in ['', 'Digest realm', 'Digest realm="a", nonce=', 'realm="a"',
              'Digest realm="a" nonce="b"', 'Digest realm="a", nonce="b"x',
              'Digest realm="a", nonce="b", ="c"', 'Di gest', '"Digest" realm="a"',
              'Digest realm=a b', 'Digest ,,,']:
        e = raises(DigestError, choose, [v])
        assert isinstance(e.reason, str) and e.reason, v
    raises(DigestError, choose, [])


def test_sess_without_qop_is_skipped():
    e = raises(DigestError, choose, ['Digest realm="a", nonce="b", algorithm=MD5-sess'])
    assert "qop" in e.reason


def test_mangled_challenges_never_crash():
    # Every cut and a few corruptions: a Challenge or DigestError, nothing else.
    for text in (RFC2617_CHALLENGE, rfc7616_challenge("SHA-256"), CH1):
        for cut in range(len(text)):
            for t in (text[:cut], text[:cut] + '"' + text[cut:], text[:cut] + "," + text[cut + 1:],
                      text[:cut] + "\\" + text[cut:], text[:cut] + "=" + text[cut + 1:]):
                try:
                    ch = choose([t])
                except DigestError:
                    continue
                credentials(ch, "door", "secret", "REGISTER", "sip:pbx.example", 1, CNONCE)


def test_md5_missing_is_reported_or_avoided():
    class OnlySha:
        sha256 = digest.hashlib.sha256

    saved = digest.hashlib
    digest.hashlib = OnlySha
    try:
        e = raises(DigestError, choose, [rfc7616_challenge("MD5")])
        assert "md5" in e.reason
        e = raises(DigestError, choose, ['Digest realm="a", nonce="b"'])
        assert "md5" in e.reason
        assert choose([rfc7616_challenge("MD5"), rfc7616_challenge("SHA-256")]).algorithm == "SHA-256"
        assert "md5" in raises(DigestError, digest_response, "MD5", "a", "b", "c", "GET", "/", "n").reason
    finally:
        digest.hashlib = saved


# -- the per-account client ------------------------------------------------------------

CH1 = 'Digest realm="pbx.example", nonce="n1", qop="auth", algorithm=MD5, opaque="op"'
CH2 = 'Digest realm="pbx.example", nonce="n2", qop="auth", algorithm=MD5, opaque="op"'


def test_client_before_any_challenge_sends_nothing():
    c = DigestClient("door", "secret", FakeRandom())
    assert c.authorize("REGISTER", "sip:pbx.example") == []


def test_client_counts_nc_per_nonce_and_resets_on_stale():
    c = DigestClient("door", "secret", FakeRandom())
    ch = c.handle_challenge([CH1])
    assert ch.nonce == "n1"
    (name, v1), = c.authorize("REGISTER", "sip:pbx.example")
    assert name == "Authorization"
    f1 = fields(v1)
    assert f1["nc"] == "00000001" and f1["cnonce"] == '"%s"' % CNONCE
    # Pre-emptive reuse of the nonce on the next request: nc goes up, cnonce stays.
    f2 = fields(c.authorize("INVITE", "sip:101@pbx.example")[0][1])
    assert f2["nc"] == "00000002" and f2["cnonce"] == f1["cnonce"]
    assert f2["uri"] == '"sip:101@pbx.example"'
    want = digest_response("MD5", "door", "pbx.example", "secret", "INVITE",
                           "sip:101@pbx.example", "n1", 2, CNONCE, "auth")
    assert f2["response"] == '"%s"' % want
    # The nonce expired: stale=true is not a failure; nc starts again, new cnonce.
    c.handle_challenge([CH2 + ", stale=true"])
    f3 = fields(c.authorize("REGISTER", "sip:pbx.example")[0][1])
    assert f3["nonce"] == '"n2"' and f3["nc"] == "00000001"
    assert f3["cnonce"] != f1["cnonce"]


def test_client_rejected_credentials_fail():
    c = DigestClient("door", "wrong", FakeRandom())
    c.handle_challenge([CH1])
    c.authorize("REGISTER", "sip:pbx.example")
    # Asterisk-style: a fresh nonce but no stale flag means the password was wrong.
    e = raises(DigestError, c.handle_challenge, [CH2])
    assert "rejected" in e.reason
    # Same nonce again: also wrong.
    c = DigestClient("door", "wrong", FakeRandom())
    c.handle_challenge([CH1])
    c.authorize("REGISTER", "sip:pbx.example")
    raises(DigestError, c.handle_challenge, CH1)
    # After the failure the client starts over cleanly.
    c.handle_challenge(CH1)
    assert fields(c.authorize("REGISTER", "sip:pbx.example")[0][1])["nc"] == "00000001"


def test_client_retries_once_when_a_restarted_server_forgot_its_nonce():
    c = DigestClient("door", "secret", FakeRandom())
    c.handle_challenge([CH1])
    c.authorize("REGISTER", "sip:pbx.example")  # accepted
    c.authorize("REGISTER", "sip:pbx.example")  # the refresh reuses n1: the PBX restarted meanwhile
    ch = c.handle_challenge([CH2])  # a new nonce, no stale flag: not a rejection yet
    assert ch.nonce == "n2"
    f = fields(c.authorize("REGISTER", "sip:pbx.example")[0][1])
    assert f["nonce"] == '"n2"' and f["nc"] == "00000001"
    # Refused again with yet another nonce after one try: the password is wrong.
    e = raises(DigestError, c.handle_challenge, [CH1.replace('"n1"', '"n3"')])
    assert "rejected" in e.reason


def test_client_challenge_without_sending_is_not_a_failure():
    c = DigestClient("door", "secret", FakeRandom())
    c.handle_challenge([CH1])
    c.handle_challenge([CH2])  # nothing sent with n1 yet
    assert fields(c.authorize("REGISTER", "sip:pbx.example")[0][1])["nonce"] == '"n2"'


def test_client_legacy_rfc2069_mode():
    c = DigestClient("door", "secret", FakeRandom())
    c.handle_challenge('Digest realm="pbx.example", nonce="4b2a9f1c"')
    f = fields(c.authorize("REGISTER", "sip:pbx.example")[0][1])
    assert "qop" not in f and "nc" not in f and "cnonce" not in f and "opaque" not in f
    assert f["response"] == '"%s"' % SIP_CASES[0][6]
    assert f["algorithm"] == "MD5"


def test_client_proxy_and_server_challenges_together():
    c = DigestClient("door", "secret", FakeRandom())
    c.handle_response(Response(407, headers=[
        ("Proxy-Authenticate", 'Digest realm="proxy.example", nonce="p1", qop="auth"')]))
    c.handle_response(Response(401, headers=[
        ("WWW-Authenticate", 'Digest realm="pbx.example", nonce="w1", algorithm=MD5'),
        ("WWW-Authenticate", 'Digest realm="pbx.example", nonce="w2", algorithm=SHA-256-sess, qop="auth"'),
    ]))
    req = Request("INVITE", "sip:101@pbx.example", [("Call-ID", "x")])
    c.apply(req)
    pa = fields(req.get("Proxy-Authorization"))
    wa = fields(req.get("Authorization"))
    assert pa["realm"] == '"proxy.example"' and pa["algorithm"] == "MD5"
    assert wa["nonce"] == '"w2"' and wa["algorithm"] == "SHA-256-sess"
    cn = wa["cnonce"][1:-1]
    assert wa["response"] == '"%s"' % digest_response(
        "SHA-256-sess", "door", "pbx.example", "secret", "INVITE", "sip:101@pbx.example",
        "w2", 1, cn, "auth")
    # Applying again (a new request) replaces, not adds, and counts on.
    req2 = Request("BYE", "sip:101@pbx.example", [("Call-ID", "x")])
    c.apply(req2)
    assert req2.count("Authorization") == 1
    assert fields(req2.get("Authorization"))["nc"] == "00000002"
    raises(DigestError, c.handle_response, Response(403))
    c.forget()
    assert c.authorize("BYE", "sip:101@pbx.example") == []


def test_client_no_usable_challenge():
    c = DigestClient("door", "secret", FakeRandom())
    e = raises(DigestError, c.handle_response, Response(401, headers=[
        ("WWW-Authenticate", 'Basic realm="x"')]))
    assert "Basic" in e.reason
    e = raises(DigestError, c.handle_response, Response(401))
    assert e.reason
