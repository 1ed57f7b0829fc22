"""The MQTT client: packet codec, and the session against a fake transport
(connect, queue while down, QoS 1 again after a reconnect, keep-alive)."""

from support import make_loop, raises, run_for

from sipdoor import mqtt
from sipdoor.mqtt import MqttClient, MqttError


def test_remaining_length_varint():
    for n, enc in ((0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16383, b"\xff\x7f"),
                   (16384, b"\x80\x80\x01"), (2097151, b"\xff\xff\x7f")):
        assert mqtt.encode_length(n) == enc


def test_connect_packet_bytes():
    pkt = mqtt.connect_packet("sd", 30, "u", "p", ("a/b", b"off", 1, True))
    # fixed header, "MQTT" level 4, flags: user, password, will retain, will QoS 1, will, clean
    assert pkt[:2] == bytes((0x10, len(pkt) - 2))
    assert pkt[2:10] == b"\x00\x04MQTT\x04" + bytes((0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02,))
    assert pkt[10:12] == b"\x00\x1e"
    assert pkt[12:] == b"\x00\x02sd" + b"\x00\x03a/b" + b"\x00\x03off" + b"\x00\x01u" + b"\x00\x01p"
    assert mqtt.connect_packet("x", 5)[9] == 0x02


def test_publish_round_trip():
    pkt = mqtt.publish_packet("t/x", b"hello", 1, True, 7, True)
    ptype, flags, body, end = mqtt.parse_packet(pkt)
    assert (ptype, flags, end) == (mqtt.PUBLISH, 0x08 | 0x02 | 0x01, len(pkt))
    assert mqtt.parse_publish(flags, body) == ("t/x", b"hello", 1, True, 7)
    big = mqtt.publish_packet("t", b"x" * 300)
    assert mqtt.parse_packet(big)[2][3:] == b"x" * 300


def test_parse_waits_for_a_whole_packet_and_refuses_garbage():
    pkt = mqtt.publish_packet("t", b"x" * 200)
    for cut in range(len(pkt)):
        assert mqtt.parse_packet(pkt[:cut]) is None
    two = b"\xd0\x00" + mqtt.puback_packet(9)
    first = mqtt.parse_packet(two)
    assert first[0] == mqtt.PINGRESP and mqtt.parse_packet(two, first[3])[:3] == (mqtt.PUBACK, 0, b"\x00\x09")
    raises(MqttError, mqtt.parse_packet, b"\x30\xff\xff\xff\xff\x01")
    raises(MqttError, mqtt.parse_packet, b"\x30\xff\xff\x7f")  # too large for us
    raises(MqttError, mqtt.parse_publish, 0, b"\x00\x09ab")


def test_subscribe_packet():
    assert mqtt.subscribe_packet(3, [("a/+", 1)]) == b"\x82\x08\x00\x03\x00\x03a/+\x01"


class FakeConn:
    def __init__(self):
        self.out = b""
        self.closed = False

    def write(self, data):
        self.out += data

    def close(self):
        self.closed = True

    def packets(self):
        out = []
        pos = 0
        while True:
            got = mqtt.parse_packet(self.out, pos)
            if got is None:
                return out
            out.append(got[:3])
            pos = got[3]


class Broker:
    """Hands the client a FakeConn per attempt (or refuses)."""

    def __init__(self):
        self.conns = []
        self.refuse = False

    def __call__(self, handler):
        if self.refuse:
            raise OSError(111, "refused")
        self.conns.append(FakeConn())
        return self.conns[-1]


def _client(**kw):
    loop, clock = make_loop()
    broker = Broker()
    c = MqttClient(loop, broker, "sd", will=("s/avail", b"offline", 1, True), **kw)
    return c, broker, loop, clock


def _up(c, broker):
    c.conn_up()
    assert broker.conns[-1].packets()[0][0] == mqtt.CONNECT
    c.conn_data(b"\x20\x02\x00\x00")
    assert c.connected


def test_publishes_wait_for_connack_then_go_in_order():
    c, broker, loop, clock = _client()
    got = []
    c.on_connect = lambda: got.append("up")
    c.subscribe("s/cmd/+", 1)
    c.start()
    c.publish("s/e", "one", 1)
    c.publish("s/e", "two", 0)
    assert broker.conns[0].out == b""
    _up(c, broker)
    kinds = [p[0] for p in broker.conns[0].packets()]
    assert kinds == [mqtt.CONNECT, mqtt.SUBSCRIBE, mqtt.PUBLISH, mqtt.PUBLISH] and got == ["up"]
    assert len(c.queue) == 1  # QoS 1 waits for its PUBACK
    pid = c.queue[0][4]
    c.conn_data(mqtt.puback_packet(pid))
    assert c.queue == []


def test_reconnect_with_backoff_and_qos1_again_with_dup():
    c, broker, loop, clock = _client()
    c.start()
    _up(c, broker)
    c.publish("s/e", "kept", 1)
    c.conn_down("closed by the peer")
    assert c.state == "down"
    c.publish("s/e", "while down", 1)
    broker.refuse = True
    run_for(loop, clock, 1100)  # first retry after 1 s: refused
    assert c.state == "down" and len(broker.conns) == 1
    broker.refuse = False
    run_for(loop, clock, 1500)  # the next after 2 s more
    assert len(broker.conns) == 1
    run_for(loop, clock, 1000)
    assert len(broker.conns) == 2
    _up(c, broker)
    pubs = [p for p in broker.conns[1].packets() if p[0] == mqtt.PUBLISH]
    assert [mqtt.parse_publish(f, b)[1] for _, f, b in pubs] == [b"kept", b"while down"]
    assert pubs[0][1] & 0x08 and not pubs[1][1] & 0x08  # DUP only on the resent one
    assert c._backoff == 1  # reset by the accepted CONNACK


def test_queue_is_bounded_dropping_the_oldest():
    c, broker, loop, clock = _client(queue_size=3)
    broker.refuse = True
    c.start()
    for i in range(5):
        c.publish("s/e", str(i), 1)
    assert c.dropped == 2 and [q[1] for q in c.queue] == [b"2", b"3", b"4"]


def test_refused_connack_drops_and_retries():
    c, broker, loop, clock = _client()
    c.start()
    c.conn_up()
    c.conn_data(b"\x20\x02\x00\x05")
    assert c.state == "down" and broker.conns[0].closed and "not authorised" in c.last_error


def test_keepalive_pings_and_drops_a_silent_broker():
    c, broker, loop, clock = _client(keepalive_s=10)
    c.start()
    _up(c, broker)
    run_for(loop, clock, 9500)
    assert broker.conns[0].packets()[-1][0] == mqtt.PINGREQ
    c.conn_data(b"\xd0\x00")
    run_for(loop, clock, 9500)
    assert [p[0] for p in broker.conns[0].packets()].count(mqtt.PINGREQ) == 2
    run_for(loop, clock, 7000)  # no PINGRESP for 1.5 keep-alives
    assert c.state != "up" and broker.conns[0].closed


def test_incoming_publish_is_acked_and_delivered():
    c, broker, loop, clock = _client()
    got = []
    c.on_message = lambda topic, payload, retain: got.append((topic, payload, retain))
    c.start()
    _up(c, broker)
    pkt = mqtt.publish_packet("s/cmd/open", b"open", 1, False, 42)
    c.conn_data(pkt[:3])
    c.conn_data(pkt[3:] + mqtt.publish_packet("s/cmd/x", b"", 0, True))
    assert got == [("s/cmd/open", b"open", False), ("s/cmd/x", b"", True)]
    assert broker.conns[0].packets()[-1] == (mqtt.PUBACK, 0, b"\x00\x2a")


def test_close_says_disconnect_and_stops_retrying():
    c, broker, loop, clock = _client()
    c.start()
    _up(c, broker)
    c.close()
    assert broker.conns[0].packets()[-1][0] == mqtt.DISCONNECT and broker.conns[0].closed
    run_for(loop, clock, 5000)
    assert len(broker.conns) == 1
