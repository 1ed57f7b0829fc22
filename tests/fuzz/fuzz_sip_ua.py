"""atheris fuzz target: any datagram into the whole user agent.

    python tests/fuzz/fuzz_sip_ua.py -atheris_runs=20000 [corpus dir...]

The only allowed outcomes are a handled message, a clean error response or a
drop: any exception escaping receive_datagram is a finding. After every input
the station must still answer an OPTIONS, so a bad message cannot wedge it.
Seeds: the RFC 4475 torture messages (tests/data/rfc4475).
"""

import os
import sys

import atheris

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "firmware"))
sys.path.insert(0, os.path.join(HERE, "..", "fw"))

with atheris.instrument_imports():
    from sipdoor.sip.message import parse
    from sipdoor.sip.ua import UserAgent
    from sipwire import Rng

SRC = ("127.0.0.1", 5999)
OPTIONS = (b"OPTIONS sip:door@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKfz%d\r\n"
           b"From: <sip:f@127.0.0.1>;tag=1\r\nTo: <sip:door@127.0.0.1>\r\nCall-ID: fz%d\r\nCSeq: 1 OPTIONS\r\n"
           b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
ua = UserAgent({"local_host": "127.0.0.1", "local_port": 5070, "account": None, "keepalive_s": 0}, Rng(5))
state = {"n": 0, "now": 0}


def one_input(data):
    state["n"] += 1
    state["now"] += 7
    ua.receive_datagram(data, SRC, state["now"])
    ua.handle_timer(state["now"] + 40000)  # run out every timer the input started
    state["now"] += 40000
    for ev in ua.events():
        if ev.kind == "incoming_call":
            ua.reject(ev.call, 486, state["now"])
    ua.datagrams_to_send()
    n = state["n"]
    ua.receive_datagram(OPTIONS % (n, n), SRC, state["now"])
    replies = [parse(d) for d, dest in ua.datagrams_to_send()]
    if not any(r.status == 200 and r.call_id == "fz%d" % n for r in replies):
        raise AssertionError("no 200 to an OPTIONS after %r" % data[:200])


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
