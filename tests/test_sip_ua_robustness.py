"""Bad input into the whole user agent: a clear answer or a drop, never a crash,
and the station answers an OPTIONS right after every message.

RFC 4475's torture messages, hypothesis mutations of real requests, and a
bounded atheris run (tests/fuzz/fuzz_sip_ua.py) in a subprocess.
"""

import os
import shutil
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from sipdoor.sip.message import parse
from sipdoor.sip.ua import UserAgent
from sipwire import Rng

DATA = os.path.join(ROOT, "tests", "data", "rfc4475")
SRC = ("127.0.0.1", 5999)
OPTIONS = ("OPTIONS sip:door@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKop%d\r\n"
           "From: <sip:f@127.0.0.1>;tag=1\r\nTo: <sip:door@127.0.0.1>\r\nCall-ID: op%d\r\nCSeq: 1 OPTIONS\r\n"
           "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")

# What the station answers where RFC 4475 (or RFC 3261 for a UAS) names it.
EXPECTED = {
    "intmeth": 405,  # an unknown method: 405 with Allow
    "bext01": 420,  # Require: an extension we do not have
    "invut": 415,  # an INVITE body that is not SDP
    "regaut01": 405,  # a REGISTER: the station is no registrar
    "badvers": 505,  # SIP/7.0
    "badinv01": 400, "clerr": 400, "ncl": 400, "quotbal": 400, "ltgtruri": 400, "lwsruri": 400,
    "lwsstart": 400, "trws": 400, "escruri": 400, "regbadct": 400, "badaspec": 400, "baddn": 400,
    "mismatch01": 400, "mismatch02": 400, "insuf": 400, "multi01": 400, "mcl01": 400, "scalar02": 400,
}


class Station:
    """A peer-to-peer user agent that refuses every call (the app's part)."""

    def __init__(self):
        self.ua = UserAgent({"local_host": "127.0.0.1", "local_port": 5070, "account": None,
                             "keepalive_s": 0}, Rng(3))
        self.now = 1000
        self.n = 0

    def feed(self, data):
        """Deliver data; return the statuses of what the station sent back."""
        self.now += 10
        self.ua.receive_datagram(data, SRC, self.now)
        for ev in self.ua.events():
            if ev.kind == "incoming_call":
                self.ua.reject(ev.call, 486, self.now)
        out = self.ua.datagrams_to_send()
        self.now += 40000
        self.ua.handle_timer(self.now)  # every timer the message started runs out
        self.ua.events()
        out += self.ua.datagrams_to_send()
        return [int(d[8:11]) for d, dest in out if d.startswith(b"SIP/2.0 ")]

    def still_answers(self):
        self.n += 1
        self.ua.receive_datagram((OPTIONS % (self.n, self.n)).encode(), SRC, self.now)
        replies = [parse(d) for d, dest in self.ua.datagrams_to_send()]
        return any(r.status == 200 and r.call_id == "op%d" % self.n for r in replies)


def test_every_rfc4475_message_gets_its_answer_and_the_station_keeps_working():
    station = Station()
    seen = {}
    for name in sorted(os.listdir(DATA)):
        if not name.endswith(".dat"):
            continue
        with open(os.path.join(DATA, name), "rb") as f:
            data = f.read()
        statuses = station.feed(data)
        seen[name[:-4]] = statuses
        assert station.still_answers(), name
    for name, status in EXPECTED.items():
        assert status in seen[name], (name, seen[name])
    station.feed(b"\r\n\r\n")  # a CRLF keep-alive; lets the last OPTIONS transaction end
    assert len(station.ua.layer) == 0 and not station.ua.calls


INVITE = (
    "INVITE sip:door@127.0.0.1:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK74bf9;rport\r\n"
    "Max-Forwards: 70\r\n"
    'From: "Flat 101" <sip:101@127.0.0.1>;tag=9fxced76sl\r\n'
    "To: <sip:door@127.0.0.1>\r\n"
    "Call-ID: 3848276298220188511@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:101@127.0.0.1:5999>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 142\r\n"
    "\r\n"
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
).encode()


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(INVITE) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_invites_never_crash_the_user_agent(flips):
    station = Station()
    data = bytearray(INVITE)
    for at, byte in flips:
        data[at] = byte
    station.feed(bytes(data))
    assert station.still_answers()


def test_atheris_fuzz_run_of_the_whole_user_agent(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA, str(corpus))
    os.remove(str(corpus / "index.json"))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fuzz", "fuzz_sip_ua.py"),
                           "-atheris_runs=3000", "-max_len=4096", "-seed=1", str(corpus)],
                          capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 3000" in proc.stderr
