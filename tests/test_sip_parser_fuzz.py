"""Property tests of the SIP message parser (CPython only: pytest + hypothesis).

Whatever arrives, parse() returns a message or raises SipParseError, and
parse_and_classify() never raises; anything that parses survives a
serialize-and-parse round trip. Examples are bounded and derandomized so the
run is short and repeatable.
"""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipdoor.sip.errors import SipParseError
from sipdoor.sip.message import DROP, REJECT, REQUEST, RESPONSE, Request, Response, parse, parse_and_classify

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "rfc4475")
VALID_4475 = [
    "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq", "semiuri",
    "transports", "mpart01", "unreason", "noreason", "badbranch", "unkscm", "novelsc", "unksm2",
    "bext01", "invut", "regaut01", "bcast", "zeromf", "cparam01", "cparam02", "regescrt", "sdp01",
    "inv2543",
]

INVITE = (
    b"INVITE sip:door@192.0.2.10 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK74bf9;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Flat 101" <sip:101@pbx.example>;tag=9fxced76sl\r\n'
    b"To: <sip:door@192.0.2.10>\r\n"
    b"Call-ID: 3848276298220188511@192.0.2.20\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:101@192.0.2.20:5060>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 10\r\n"
    b"\r\n"
    b"v=0\r\ns=-\r\n"
)


def _load(name):
    with open(os.path.join(DATA, name + ".dat"), "rb") as f:
        return f.read()


SEEDS = [INVITE] + [_load(n) for n in VALID_4475]

SETTINGS = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check_any(data):
    """The contract for arbitrary input; returns the message or None."""
    try:
        msg = parse(data)
    except SipParseError as e:
        assert 100 <= e.status <= 699
        msg = None
    else:
        assert isinstance(msg, (Request, Response))
    kind, out, err = parse_and_classify(data, "fz")
    assert kind in (REQUEST, RESPONSE, REJECT, DROP)
    if kind == REJECT:
        assert out.status == err.status
        assert out.to_bytes().startswith(b"SIP/2.0 %d " % err.status)
    if msg is not None:
        _check_round_trip(msg)
    return msg


def _summary(m):
    head = (m.method, str(m.uri)) if isinstance(m, Request) else (m.status, m.reason)
    items = [(n, v) for n, v in m.items() if n.lower() not in ("content-length", "l")]
    return head, items, m.body


def _check_round_trip(msg):
    again = parse(msg.to_bytes())
    assert _summary(again) == _summary(msg)
    assert again.to_bytes() == msg.to_bytes()


def test_seeds_parse_and_round_trip():
    for seed in SEEDS:
        msg = parse(seed)
        _check_round_trip(msg)


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "dup", "drop", "huge", "insert", "fold"]))
        lines = bytes(data).split(b"\r\n")
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del data[draw(st.integers(0, len(data))):]
        elif op == "dup" and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            data = bytearray(b"\r\n".join(lines))
        elif op == "drop" and len(lines) > 1:
            del lines[draw(st.integers(0, len(lines) - 1))]
            data = bytearray(b"\r\n".join(lines))
        elif op == "huge":
            size = draw(st.sampled_from([100, 4090, 4097, 5000, 70000]))
            fill = draw(st.sampled_from([b"a", b" ", b";", b",", b'"', b"<", b"%"]))
            line = draw(st.sampled_from([b"X-Big: ", b"Via: SIP/2.0/UDP h;x=", b"To: ", b" "])) + fill * size
            lines.insert(draw(st.integers(1, max(1, len(lines) - 1))), line)
            data = bytearray(b"\r\n".join(lines))
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=12))
        elif op == "fold" and len(lines) > 2:
            i = draw(st.integers(1, len(lines) - 1))
            lines[i] = b" " + lines[i]
            data = bytearray(b"\r\n".join(lines))
    return bytes(data)


@SETTINGS
@given(mutated())
def test_mutations_parse_or_raise_sip_parse_error(data):
    _check_any(data)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=600))
def test_random_bytes(data):
    _check_any(data)


SIPISH = st.sampled_from([
    b"INVITE ", b"SIP/2.0", b" ", b"\r\n", b":", b";", b",", b"<", b">", b'"', b"\\", b"@",
    b"sip:", b"Via", b"v", b"CSeq", b"Call-ID", b"i", b"From", b"To", b"t", b"f", b"tag=",
    b"branch=", b"1", b"200", b"Content-Length", b"l", b"\t", b"%", b"[", b"]", b"=", b"?",
])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(SIPISH, max_size=60))
def test_sip_token_soup(parts):
    _check_any(b"".join(parts))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(0, 200), st.integers(0, 200))
def test_header_count_limit(n_before, n_after):
    extra = b"X-A: 1\r\n"
    data = INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\n" + extra * n_before)
    data = data.replace(b"Content-Type", extra * n_after + b"Content-Type")
    msg = _check_any(data)
    assert (msg is not None) == (n_before + n_after + 10 <= 64)
