"""sip/headers.py: names, name-addr, Via, CSeq, parameters, comma splitting.

Runs under pytest (CPython) and tests/fw/run.py (MicroPython).
"""

from support import raises

from sipdoor.sip.errors import SipParseError
from sipdoor.sip.uri import URI
from sipdoor.sip.headers import (
    COMPACT,
    CSeq,
    NameAddr,
    Via,
    canonical_name,
    header_key,
    parse_cseq,
    parse_name_addr,
    parse_name_addr_list,
    parse_params,
    parse_uint,
    parse_via,
    quote,
    split_commas,
    unquote,
)

COMPACT_WANT = [
    ("i", "Call-ID"), ("m", "Contact"), ("e", "Content-Encoding"), ("l", "Content-Length"),
    ("c", "Content-Type"), ("f", "From"), ("s", "Subject"), ("k", "Supported"), ("t", "To"),
    ("v", "Via"), ("o", "Event"), ("u", "Allow-Events"), ("r", "Refer-To"), ("b", "Referred-By"),
    ("x", "Session-Expires"), ("y", "Identity"), ("a", "Accept-Contact"),
    ("d", "Request-Disposition"), ("j", "Reject-Contact"),
]


def test_compact_forms_any_case():
    assert len(COMPACT) == len(COMPACT_WANT)
    for short, long in COMPACT_WANT:
        assert canonical_name(short) == long
        assert canonical_name(short.upper()) == long
        assert header_key(short) == long.lower()
        assert header_key(short.upper()) == header_key(long.upper())


def test_canonical_names():
    for given, want in [
        ("call-id", "Call-ID"), ("CSEQ", "CSeq"), ("MaX-fOrWaRdS", "Max-Forwards"),
        ("www-authenticate", "WWW-Authenticate"), ("via", "Via"), ("x-custom-thing", "X-Custom-Thing"),
        ("content-length", "Content-Length"), ("proxy-authorization", "Proxy-Authorization"),
    ]:
        assert canonical_name(given) == want, given
    # Unknown single letters are not compact forms.
    assert header_key("Q") == "q"
    assert header_key("C%6Fntact") == "c%6fntact"


SPLIT = [
    ("a, b,c", ["a", "b", "c"]),
    ('"Doe, John" <sip:j@x>, <sip:k@y;a=1,2>', ['"Doe, John" <sip:j@x>', "<sip:k@y;a=1,2>"]),
    ('"a \\" , b" <sip:x>', ['"a \\" , b" <sip:x>']),
    ("", [""]),
    (";;,,;;,;", [";;", "", ";;", ";"]),
    ("application/sdp, application/pkcs7-mime, multipart/mixed",
     ["application/sdp", "application/pkcs7-mime", "multipart/mixed"]),
]


def test_split_commas_respects_quotes_and_angles():
    for value, want in SPLIT:
        assert split_commas(value) == want, value
    assert raises(SipParseError, split_commas, '"open, x').status == 400
    assert raises(SipParseError, split_commas, "<sip:a@b, c").status == 400


def test_quote_unquote():
    assert unquote('"J Rosenberg \\\\\\""') == 'J Rosenberg \\"'
    assert unquote('"plain"') == "plain"
    assert unquote("token") == "token"
    assert quote('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'
    assert quote("bel\x07") == '"bel\\\x07"'
    assert quote("a\r\nb") == '"ab"'
    for s in ["", "x", 'J "R" \\', "\x00\x7f", "\u0440\u0430"]:
        assert unquote(quote(s)) == s


# value -> (display, uri, params)
NAME_ADDR = [
    ("<sip:alice@atlanta.com>;tag=1928301774", (None, "sip:alice@atlanta.com", [["tag", "1928301774"]])),
    ('"Bob" <sips:bob@biloxi.com> ;tag=a48s', ("Bob", "sips:bob@biloxi.com", [["tag", "a48s"]])),
    ("Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8",
     ("Anonymous", "sip:c8oqz84zk7z@privacy.org", [["tag", "hyh8"]])),
    ("sip:+12125551212@server.phone2net.com;tag=887s",
     (None, "sip:+12125551212@server.phone2net.com", [["tag", "887s"]])),
    ("caller<sip:caller@example.com>;tag=323", ("caller", "sip:caller@example.com", [["tag", "323"]])),
    ("The Operator <sip:operator@cs.columbia.edu>;tag=287447",
     ("The Operator", "sip:operator@cs.columbia.edu", [["tag", "287447"]])),
    # RFC 4475 3.1.1.1: LWS around SEMI and EQUAL, escaped quotes.
    ("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
     (None, "sip:vivekg@chair-dnrc.example.com", [["tag", "1918181833n"]])),
    ('"J Rosenberg \\\\\\""       <sip:jdrosen@example.com> ; tag = 98asjd8',
     ('J Rosenberg \\"', "sip:jdrosen@example.com", [["tag", "98asjd8"]])),
    ('"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; q = 0.33',
     ('Quoted string ""', "sip:jdrosen@example.com",
      [["newparam", "newvalue"], ["secondparam", None], ["q", "0.33"]])),
    # RFC 4475 3.3.12 / 3.3.13: where an unknown parameter belongs.
    ("sip:+19725552222@gw1.example.net;unknownparam",
     (None, "sip:+19725552222@gw1.example.net", [["unknownparam", None]])),
    ("<sip:+19725552222@gw1.example.net;unknownparam>",
     (None, "sip:+19725552222@gw1.example.net;unknownparam", [])),
    ("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>",
     (None, "sip:user@example.com?Route=%3Csip:sip.example.com%3E", [])),
    ('<sip:a@b>;x="quoted;semi"', (None, "sip:a@b", [["x", '"quoted;semi"']])),
    ("<sip:a@b>;received=[2001:db8::9]", (None, "sip:a@b", [["received", "[2001:db8::9]"]])),
    ("isbn:2983792873", (None, "isbn:2983792873", [])),
    ("<http://www.example.com>;tag=3234233", (None, "http://www.example.com", [["tag", "3234233"]])),
    ('"" <sip:a@b>', ("", "sip:a@b", [])),
]

BAD_NAME_ADDR = [
    "",
    "   ",
    '"Mr. J. User <sip:j.user@example.com>',          # quotbal
    '"Watson, Thomas" < sip:t.watson@example.org >',  # badaspec
    "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",  # baddn
    "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # regbadct
    "<sip:user@example.com",
    '"Joe" <sip:joe@example.org>;;;;',                 # badinv01 Contact
    "<sip:a@b> junk",
    '"x" sip:a@b',
    "<sip:a@b>;tag=",
    "<sip:a@b>;=x",
    "<sip:a@b>;t@g=1",
    "<sip:a@b>;x=a b",
    '<sip:a@b>;x="open',
    "<>",
    "<sip:a@b>;",
]


def test_name_addr_table():
    for value, (display, uri, params) in NAME_ADDR:
        na = parse_name_addr(value)
        assert na.display == display, (value, na.display)
        assert str(na.uri) == uri, (value, str(na.uri))
        assert na.params.items == params, (value, na.params.items)
        again = parse_name_addr(str(na))
        assert str(again) == str(na), value
        assert again.display == (display or None)


def test_bad_name_addr_table():
    for value in BAD_NAME_ADDR:
        e = raises(SipParseError, parse_name_addr, value)
        assert e.status == 400, value


def test_name_addr_tag_and_serialize():
    na = parse_name_addr("sip:bob@biloxi.com")
    assert na.tag is None
    na.tag = "xyz"
    assert str(na) == "<sip:bob@biloxi.com>;tag=xyz"
    na.display = 'Bob "B"'
    assert str(na) == '"Bob \\"B\\"" <sip:bob@biloxi.com>;tag=xyz'
    c = na.copy()
    c.tag = None
    assert na.tag == "xyz" and c.tag is None
    built = NameAddr(URI("sip", "door", "10.0.0.2"), "Front door")
    assert str(built) == '"Front door" <sip:door@10.0.0.2>'
    assert repr(built).startswith("<NameAddr")


def test_name_addr_list():
    got = parse_name_addr_list('<sip:a@x>;q=0.7, "B, b" <sip:b@y>;expires=60 ,sip:c@z')
    assert [str(x.uri) for x in got] == ["sip:a@x", "sip:b@y", "sip:c@z"]
    assert got[0].params.get("q") == "0.7"
    assert got[1].display == "B, b" and got[1].params.get("expires") == "60"
    assert parse_name_addr_list(" * ") == ["*"]
    assert raises(SipParseError, parse_name_addr_list, "<sip:a@x>,,<sip:b@y>").status == 400


def test_params_lws_and_errors():
    p = parse_params("  ;  a = 1 ;b;  c=\"x y\"")
    assert p.items == [["a", "1"], ["b", None], ["c", '"x y"']]
    assert parse_params("").items == []
    assert parse_params("   ").items == []
    for bad in ["x", ";", ";a=", "; ;a", ";a b", ';a="x', ";a=b c"]:
        assert raises(SipParseError, parse_params, bad).status == 400, bad


# header value -> [(transport, host, port, branch, str())]
VIA = [
    ("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds",
     [("UDP", "pc33.atlanta.com", None, "z9hG4bK776asdhds",
       "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds")]),
    ("SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234",
     [("UDP", "192.0.2.59", 5050, "z9hG4bKkdjuw39234", "SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234")]),
    ("SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw",
     [("UDP", "192.0.2.2", None, "390skdjuw", "SIP/2.0/UDP 192.0.2.2;branch=390skdjuw")]),
    ("SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  , "
     "SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
     [("TCP", "spindle.example.com", None, "z9hG4bK9ikj8", "SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8"),
      ("UDP", "192.168.255.111", None, "z9hG4bK30239", "SIP/2.0/UDP 192.168.255.111;branch=z9hG4bK30239")]),
    ("SIP/2.0/tls [2001:db8::1]:5061;branch=z9hG4bK1",
     [("TLS", "[2001:db8::1]", 5061, "z9hG4bK1", "SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK1")]),
    ("SIP/2.0/UDP host : 5060;branch=z9hG4bK2",
     [("UDP", "host", 5060, "z9hG4bK2", "SIP/2.0/UDP host:5060;branch=z9hG4bK2")]),
    ("SIP/2.0/UDP iftgw.example.com", [("UDP", "iftgw.example.com", None, None, "SIP/2.0/UDP iftgw.example.com")]),
    ("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK", [("UDP", "192.0.2.1", None, "z9hG4bK",
                                              "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK")]),
    ("SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
     [("TCP", "host1.example.com", None, "z9hG4bK-.!%66*_+`'~",
       "SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~")]),
]

BAD_VIA = [
    "",
    "SIP/2.0/UDP 192.0.2.15;;,;,,",   # badinv01
    "SIP/2.0/UDP",
    "SIP/2.0 host",
    "SIP/2.0/UDP host extra",
    "SIP/2.0/UDP host:port",
    "SIP/2.0/UDP host;rport=abc",
    "SIP/2.0/UDP host;branch=",
    "SIP/2.0/UDP host;branch=a b",
    "SIP/2.0/UDP host;branch=\"q\"",
    "SIP/2.0/UDP a, ",
    "SIP//UDP host",
    "SIP/2.0/U@P host",
    "SIP/2.0/UDP [::1",
]


def test_via_table():
    for value, want in VIA:
        vias = parse_via(value)
        got = [(v.transport, v.host, v.port, v.branch, str(v)) for v in vias]
        assert got == want, (value, got)


def test_bad_via_table():
    for value in BAD_VIA:
        e = raises(SipParseError, parse_via, value)
        assert e.status == 400, value


def test_via_received_rport():
    v = parse_via("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKx")[0]
    assert v.rport == 0 and v.received is None
    v = parse_via("SIP/2.0/UDP 10.0.0.1;received=192.0.2.9;rport=40000;branch=z9hG4bKx")[0]
    assert v.rport == 40000 and v.received == "192.0.2.9"
    assert parse_via("SIP/2.0/UDP h")[0].rport is None
    v.params.set("received", "192.0.2.10")
    assert str(v) == "SIP/2.0/UDP 10.0.0.1;received=192.0.2.10;rport=40000;branch=z9hG4bKx"
    built = Via("udp", "192.0.2.1", 5060)
    built.params.set("branch", "z9hG4bKabc")
    built.params.set("rport")
    assert str(built) == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport"
    assert built.sent_by() == "192.0.2.1:5060"
    assert str(built.copy()) == str(built)
    assert repr(built).startswith("<Via")


CSEQ = [
    ("4711 INVITE", (4711, "INVITE")),
    ("0009\t  INVITE", (9, "INVITE")),
    ("  1 REGISTER ", (1, "REGISTER")),
    ("2147483647 ACK", (2147483647, "ACK")),
    ("139122385 !interesting-Method0123456789_*+`.%indeed'~",
     (139122385, "!interesting-Method0123456789_*+`.%indeed'~")),
    ("0 OPTIONS", (0, "OPTIONS")),
]

BAD_CSEQ = [
    "", "INVITE", "1", "1 INVITE x", "-1 INVITE", "2147483648 INVITE",
    "36893488147419103232 REGISTER", "1x INVITE", "1 INV@TE", "\u0661 INVITE",
    "0" * 100 + "1" * 50 + " INVITE",
]


def test_cseq_table():
    for value, (seq, method) in CSEQ:
        c = parse_cseq(value)
        assert (c.seq, c.method) == (seq, method), value
        assert c == CSeq(seq, method)
        assert str(c) == "%d %s" % (seq, method)
    assert CSeq(1, "INVITE") != CSeq(1, "ACK")
    for value in BAD_CSEQ:
        assert raises(SipParseError, parse_cseq, value).status == 400, value


def test_parse_uint_bounds():
    assert parse_uint("0068", 256, "Max-Forwards") == 68
    assert parse_uint("000000000000000000000070", 256, "Max-Forwards") == 70
    assert raises(SipParseError, parse_uint, "256", 256, "x").status == 400
    assert raises(SipParseError, parse_uint, "9" * 3000, 256, "x").status == 400
    assert raises(SipParseError, parse_uint, "", 256, "x").status == 400
