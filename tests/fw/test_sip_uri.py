"""sip/uri.py: SIP/SIPS URI parsing, serialization and RFC 3261 19.1.4 equality.

Runs under pytest (CPython) and tests/fw/run.py (MicroPython).
"""

from support import raises

from sipdoor.sip.errors import SipParseError
from sipdoor.sip.uri import URI, Params, parse_uri, uri_equal, unescape, escape, split_hostport

# text -> (scheme, user, password, host, port, params, headers)
GOOD = [
    ("sip:alice@atlanta.com", ("sip", "alice", None, "atlanta.com", None, [], [])),
    ("SIP:bob@Biloxi.COM:5070", ("sip", "bob", None, "Biloxi.COM", 5070, [], [])),
    ("sips:carol@chicago.com;transport=tcp;lr",
     ("sips", "carol", None, "chicago.com", None, [["transport", "tcp"], ["lr", None]], [])),
    ("sip:alice:secretword@atlanta.com;transport=tcp",
     ("sip", "alice", "secretword", "atlanta.com", None, [["transport", "tcp"]], [])),
    ("sip:+1-212-555-1212:1234@gateway.com;user=phone",
     ("sip", "+1-212-555-1212", "1234", "gateway.com", None, [["user", "phone"]], [])),
    ("sip:alice@192.0.2.4", ("sip", "alice", None, "192.0.2.4", None, [], [])),
    ("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
     ("sip", None, None, "atlanta.com", None, [["method", "REGISTER"]], [["to", "alice%40atlanta.com"]])),
    ("sip:alice;day=tuesday@atlanta.com", ("sip", "alice;day=tuesday", None, "atlanta.com", None, [], [])),
    ("sip:[2001:db8::10]:5060;transport=udp",
     ("sip", None, None, "[2001:db8::10]", 5060, [["transport", "udp"]], [])),
    ("sip:user@[::1]", ("sip", "user", None, "[::1]", None, [], [])),
    ("sip:door@10.0.0.7:5062", ("sip", "door", None, "10.0.0.7", 5062, [], [])),
    ("sip:sips%3Auser%40example.com@example.net",
     ("sip", "sips%3Auser%40example.com", None, "example.net", None, [], [])),
    ("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31",
     ("sip", "cal%6Cer", None, "host5.example.net", None, [["%6C%72", None], ["n%61me", "v%61lue%25%34%31"]], [])),
    ("sip:user@example.com?Route=%3Csip:sip.example.com%3E",
     ("sip", "user", None, "example.com", None, [], [["Route", "%3Csip:sip.example.com%3E"]])),
    ("sip:a@b?x=1&y=", ("sip", "a", None, "b", None, [], [["x", "1"], ["y", ""]])),
    # RFC 4475 3.1.1.2: every legal user, password and param character.
    ("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
     ("sip", "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*", "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)",
      "example.com", None, [], [])),
]

# scheme, opaque part
OPAQUE = [
    ("tel:+358-555-1234567;postd=pp22", ("tel", "+358-555-1234567;postd=pp22")),
    ("nobodyKnowsThisScheme:totallyopaquecontent", ("nobodyknowsthisscheme", "totallyopaquecontent")),
    ("soap.beep://192.0.2.103:3002", ("soap.beep", "//192.0.2.103:3002")),
    ("http://www.example.com", ("http", "//www.example.com")),
    ("isbn:2983792873", ("isbn", "2983792873")),
    ("name:John_Smith", ("name", "John_Smith")),
]

BAD = [
    "",
    "alice@atlanta.com",
    "<sip:user@example.com>",
    ":foo",
    "1sip:foo",
    "sip:",
    "sip:@host",
    "sip:user@",
    "sip:user@host:",
    "sip:user@host:99999",
    "sip:user@host:5o60",
    "sip:user@host:123456",
    "sip:user@ho st",
    "sip:us er@host",
    "sip:user@host;",
    "sip:user@host;lr=",
    "sip:user@host;=x",
    "sip:user@host?",
    "sip:user@host?a",
    "sip:user@host?=b",
    "sip:us%4@host",
    "sip:us%zzer@host",
    "sip:user@[::1",
    "sip:user@[::1]x",
    "sip:user@[]",
    "sip:user@[zz::1]",
    "sip:user@host:5060:1",
    "sip:a@b@c",
    "sip:user@host;p=a b",
    "sip:user@host>",
    "tel:",
    "tel:12 34",
    "foo:<x>",
    "sip:user@héllo.com",
]


def test_parse_good_table():
    for text, want in GOOD:
        u = parse_uri(text)
        got = (u.scheme, u.user, u.password, u.host, u.port, u.params.items, u.headers.items)
        assert got == want, (text, got)
        assert u.is_sip


def test_serialize_round_trip():
    for text, _ in GOOD:
        u = parse_uri(text)
        s = str(u)
        # Only the scheme is normalised (lower case); the rest is kept as written.
        assert s == text[:4].lower() + text[4:] or s.lower() == text.lower(), (text, s)
        again = parse_uri(s)
        assert str(again) == s
        assert uri_equal(u, again)


def test_opaque_schemes():
    for text, (scheme, opaque) in OPAQUE:
        u = parse_uri(text)
        assert u.scheme == scheme, text
        assert u.opaque == opaque, text
        assert not u.is_sip
        assert str(u) == scheme + ":" + opaque


def test_bad_uris_raise_400():
    for text in BAD:
        e = raises(SipParseError, parse_uri, text)
        assert e.status == 400, text


def test_build_and_serialize():
    u = URI("sip", "door", "192.0.2.1", 5060)
    u.params.set("transport", "udp")
    u.params.set("lr")
    assert str(u) == "sip:door@192.0.2.1:5060;transport=udp;lr"
    assert u.hostport() == "192.0.2.1:5060"
    v = u.copy()
    v.params.remove("lr")
    assert str(u).endswith(";lr") and not str(v).endswith(";lr")
    assert str(URI("sips", None, "example.com")) == "sips:example.com"
    assert repr(u).startswith("<URI sip:door@")


def test_params_are_case_insensitive_and_ordered():
    p = Params()
    p.set("Transport", "TCP")
    p.set("lr")
    assert p.get("transport") == "TCP"
    assert "LR" in p and p.get("lr") is None and p.get("nope", 7) == 7
    p.set("TRANSPORT", "udp")
    assert p.items == [["Transport", "udp"], ["lr", None]]
    assert str(p) == ";Transport=udp;lr"
    assert p.names() == ["Transport", "lr"]
    p.remove("transport")
    assert len(p) == 1 and list(p) == [["lr", None]]
    p.remove("absent")
    assert len(p) == 1


def test_unescape_once_only():
    assert unescape("v%61lue%25%34%31") == "value%41"
    assert unescape("null-%00-null") == "null-\x00-null"
    assert unescape("%00%00") == "\x00\x00"
    assert unescape("%zz%4") == "%zz%4"
    assert unescape("plain") == "plain"
    assert unescape(None) is None


def test_escape():
    assert escape("I have spaces") == "I%20have%20spaces"
    assert escape("a@b") == "a%40b"
    assert escape("\u00e9") == "%C3%A9"
    assert unescape(escape("x y@z")) == "x y@z"


def test_hostport_helper():
    assert split_hostport("example.com") == ("example.com", None)
    assert split_hostport("10.0.0.1:5060") == ("10.0.0.1", 5060)
    assert split_hostport("[::1]:5061") == ("[::1]", 5061)
    assert raises(SipParseError, split_hostport, "").status == 400


# RFC 3261 19.1.4: equivalent pairs, then non-equivalent pairs.
EQUAL = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
    ("sip:[2001:DB8::1]", "sip:[2001:db8::1]"),
    ("tel:+1-555", "tel:+1-555"),
    ("SIP:a@b", "sip:a@b"),
]

NOT_EQUAL = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
    ("sip:a@b;maddr=10.0.0.1", "sip:a@b"),
    ("sip:a@b;user=phone", "sip:a@b"),
    ("sip:a@b;ttl=1", "sip:a@b;ttl=2"),
    ("sip:a:pw@b", "sip:a@b"),
    ("sip:null-%00-null@example.com", "sip:null-@example.com"),
    ("sip:%00@host5.example.com", "sip:%00%00@host5.example.com"),
    ("tel:+1-555", "sip:+1-555@b"),
]


def test_uri_equal_rfc3261_examples():
    for a, b in EQUAL:
        assert uri_equal(a, b), (a, b)
        assert uri_equal(b, a), (b, a)
    for a, b in NOT_EQUAL:
        assert not uri_equal(a, b), (a, b)
        assert not uri_equal(b, a), (b, a)


def test_uri_equal_accepts_objects():
    assert uri_equal(parse_uri("sip:a@b"), "sip:a@B")
