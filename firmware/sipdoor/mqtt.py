"""A small MQTT 3.1.1 client that never blocks the loop (both runtimes).

Why our own: paho-mqtt runs its own thread (or wants loop() calls that
block in select), and umqtt.simple blocks in connect and read; the station
has one thread and one poll (DESIGN.md section 2). This client rides on a
non-blocking TCP connection (notify.TcpConn) driven by the loop.

What it does: CONNECT with user/password and a will, PUBLISH QoS 0 and 1
(retained or not; QoS 1 kept until PUBACK and sent again with DUP after a
reconnect), SUBSCRIBE (again on every connect: clean session), PINGREQ
when idle for keepalive_s, and a dead broker noticed after 1.5 keepalives
of silence. A lost connection is retried with back-off (1 s doubling to
60 s). While the broker is away messages wait in a bounded queue; when
full the oldest is dropped and counted.

The codec (encode/parse functions) is pure, for tests and any transport.
"""

from sipdoor.clock import ticks_add, ticks_diff

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
SUBSCRIBE = 8
SUBACK = 9
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

MAX_PACKET = 16384  # a larger packet from the broker is a protocol error here
BACKOFF_MIN_S = 1
BACKOFF_MAX_S = 60
CONNACK_TIMEOUT_MS = 10000


class MqttError(Exception):
    pass


# -- codec -------------------------------------------------------------------


def _bytes(s):
    return s.encode() if isinstance(s, str) else bytes(s)


def encode_length(n):
    """The remaining-length varint (1 to 4 bytes)."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def _str(s):
    b = _bytes(s)
    return bytes((len(b) >> 8, len(b) & 0xFF)) + b


def _packet(first, body):
    return bytes((first,)) + encode_length(len(body)) + body


def connect_packet(client_id, keepalive_s, user=None, password=None, will=None, clean=True):
    """will: (topic, payload, qos, retain) or None."""
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _str(topic) + _str(message)
    if user is not None:
        flags |= 0x80
        payload += _str(user)
        if password is not None:
            flags |= 0x40
            payload += _str(password)
    body = _str("MQTT") + bytes((4, flags, keepalive_s >> 8, keepalive_s & 0xFF)) + payload
    return _packet(CONNECT << 4, body)


def publish_packet(topic, payload, qos=0, retain=False, pid=0, dup=False):
    first = (PUBLISH << 4) | (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    body = _str(topic)
    if qos:
        body += bytes((pid >> 8, pid & 0xFF))
    return _packet(first, body + _bytes(payload))


def subscribe_packet(pid, topics):
    """topics: [(filter, qos)]."""
    body = bytes((pid >> 8, pid & 0xFF))
    for topic, qos in topics:
        body += _str(topic) + bytes((qos,))
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def puback_packet(pid):
    return bytes((PUBACK << 4, 2, pid >> 8, pid & 0xFF))


PINGREQ_PACKET = bytes((PINGREQ << 4, 0))
DISCONNECT_PACKET = bytes((DISCONNECT << 4, 0))


def parse_packet(buf, start=0):
    """(type, flags, body, next offset) of the packet at buf[start:], or None
    while it is incomplete; MqttError if it can never be valid."""
    n = len(buf)
    if n - start < 2:
        return None
    first = buf[start]
    length = 0
    mult = 1
    i = start + 1
    while True:
        if i >= n:
            return None
        b = buf[i]
        length += (b & 0x7F) * mult
        i += 1
        if not b & 0x80:
            break
        mult *= 128
        if mult > 128 ** 3:
            raise MqttError("bad remaining length")
    if length > MAX_PACKET:
        raise MqttError("packet of %d bytes is too large" % length)
    if n - i < length:
        return None
    return first >> 4, first & 0x0F, bytes(buf[i:i + length]), i + length


def parse_publish(flags, body):
    """(topic, payload bytes, qos, retain, pid) of a PUBLISH body."""
    if len(body) < 2:
        raise MqttError("short PUBLISH")
    tlen = (body[0] << 8) | body[1]
    if 2 + tlen > len(body):
        raise MqttError("short PUBLISH topic")
    topic = body[2:2 + tlen].decode()
    qos = (flags >> 1) & 3
    pos = 2 + tlen
    pid = 0
    if qos:
        if pos + 2 > len(body):
            raise MqttError("PUBLISH without packet id")
        pid = (body[pos] << 8) | body[pos + 1]
        pos += 2
    return topic, body[pos:], qos, bool(flags & 1), pid


CONNACK_REASONS = {1: "unacceptable protocol version", 2: "client id rejected", 3: "server unavailable",
                   4: "bad user name or password", 5: "not authorised"}


# -- client --------------------------------------------------------------------


class MqttClient:
    """One broker connection, kept up by the loop.

    connect(handler) opens a transport and returns it: an object with
    write(bytes) and close(), which calls handler.conn_up(),
    handler.conn_data(bytes) and handler.conn_down(reason) (notify.TcpConn;
    a fake in tests). on_connect() runs after each accepted CONNACK;
    on_message(topic, payload bytes, retain) for each PUBLISH received.
    """

    def __init__(self, loop, connect, client_id, keepalive_s=30, user=None, password=None,
                 will=None, queue_size=64, log=None):
        self.loop = loop
        self.connect = connect
        self.client_id = client_id
        self.keepalive_s = keepalive_s
        self.user = user
        self.password = password
        self.will = will
        self.queue_size = queue_size
        self.log = log
        self.on_connect = None
        self.on_message = None
        self.queue = []  # [topic, payload, qos, retain, pid, sent]
        self.subscriptions = []  # [(filter, qos)]
        self.dropped = 0
        self.connects = 0
        self.state = "down"  # down, connecting, waiting (for CONNACK), up, closed
        self.last_error = None
        self._conn = None
        self._buf = b""
        self._pid = 0
        self._backoff = BACKOFF_MIN_S
        self._retry_at = None
        self._since = None  # tick the connection attempt started
        self._last_in = None
        self._last_out = None
        self._ping_out = False
        self._tick = None

    # -- public ----------------------------------------------------------------

    def start(self):
        self._tick = self.loop.every(1000, self._every_second)
        self._open()

    @property
    def connected(self):
        return self.state == "up"

    def publish(self, topic, payload, qos=0, retain=False):
        """Send now if connected, else queue (bounded: the oldest is dropped)."""
        pid = self._next_pid() if qos else 0
        item = [topic, _bytes(payload), qos, retain, pid, False]
        queue = self.queue
        if len(queue) >= self.queue_size:
            queue.pop(0)
            self.dropped += 1
        queue.append(item)
        if self.state == "up":
            self._send_item(item)

    def subscribe(self, topic, qos=0):
        """Kept and sent again on every connect (clean session)."""
        self.subscriptions.append((topic, qos))
        if self.state == "up":
            self._write(subscribe_packet(self._next_pid(), [(topic, qos)]))

    def close(self):
        """Say goodbye if connected (what is queued goes first), stop retrying."""
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        conn = self._conn
        if self.state == "up" and conn is not None:
            self._write(DISCONNECT_PACKET)
        self.state = "closed"
        self._conn = None
        if conn is not None:
            conn.close()

    # -- connection ---------------------------------------------------------------

    def _next_pid(self):
        self._pid = self._pid % 65535 + 1
        return self._pid

    def _now(self):
        return self.loop.clock.now()

    def _open(self):
        self._retry_at = None
        self._buf = b""
        self._since = self._now()
        self.state = "connecting"
        try:
            self._conn = self.connect(self)
        except Exception as e:  # no route, name does not resolve...
            self._conn = None
            self._lost("cannot connect: %s" % e)

    def conn_up(self):
        if self.state != "connecting":
            return
        self.state = "waiting"
        self._since = self._now()
        self._write(connect_packet(self.client_id, self.keepalive_s, self.user, self.password, self.will))

    def conn_data(self, data):
        self._last_in = self._now()
        self._buf += data
        pos = 0
        try:
            while self.state in ("waiting", "up"):
                got = parse_packet(self._buf, pos)
                if got is None:
                    break
                ptype, flags, body, pos = got
                self._packet(ptype, flags, body)
        except (MqttError, ValueError, IndexError) as e:
            self._drop("protocol error: %s" % e)
            return
        self._buf = self._buf[pos:]

    def conn_down(self, reason):
        if self.state in ("closed", "down"):
            return
        self._conn = None
        self._lost(reason)

    def _drop(self, reason):
        conn = self._conn
        self._conn = None
        if conn is not None:
            conn.close()
        self._lost(reason)

    def _lost(self, reason):
        was_up = self.state == "up"
        self.state = "down"
        self.last_error = reason
        self._ping_out = False
        # QoS 0 not yet written is kept; QoS 1 not acknowledged goes again.
        for item in self.queue:
            if item[5]:
                item[5] = "again"
        if self.log is not None:
            if was_up:
                self.log.warning("MQTT: connection lost (%s); retrying in %d s", reason, self._backoff)
            else:
                self.log.info("MQTT: cannot connect (%s); retrying in %d s", reason, self._backoff)
        self._retry_at = ticks_add(self._now(), self._backoff * 1000)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)

    def _every_second(self):
        now = self._now()
        state = self.state
        if state == "down":
            if self._retry_at is not None and ticks_diff(now, self._retry_at) >= 0:
                self._open()
        elif state in ("connecting", "waiting"):
            if ticks_diff(now, self._since) > CONNACK_TIMEOUT_MS:
                self._drop("timeout")
        elif state == "up" and self.keepalive_s:
            ka = self.keepalive_s * 1000
            if ticks_diff(now, self._last_in) > ka + ka // 2:
                self._drop("no answer from the broker for %d s" % (self.keepalive_s * 3 // 2))
            elif not self._ping_out and (ticks_diff(now, self._last_out) >= ka - 1000
                                         or ticks_diff(now, self._last_in) >= ka - 1000):
                self._ping_out = True
                self._write(PINGREQ_PACKET)

    # -- packets ----------------------------------------------------------------

    def _write(self, data):
        if self._conn is not None:
            self._last_out = self._now()
            self._conn.write(data)

    def _send_item(self, item):
        topic, payload, qos, retain, pid, sent = item
        self._write(publish_packet(topic, payload, qos, retain, pid, dup=sent == "again"))
        if qos == 0:
            try:
                self.queue.remove(item)
            except ValueError:
                pass
        else:
            item[5] = True

    def _packet(self, ptype, flags, body):
        if ptype == CONNACK:
            code = body[1] if len(body) >= 2 else 255
            if code != 0:
                raise MqttError("broker refused: %s" % CONNACK_REASONS.get(code, "code %d" % code))
            self.state = "up"
            self.connects += 1
            self._backoff = BACKOFF_MIN_S
            self._last_in = self._last_out = self._now()
            if self.log is not None:
                self.log.info("MQTT: connected")
            if self.subscriptions:
                self._write(subscribe_packet(self._next_pid(), self.subscriptions))
            if self.on_connect is not None:
                self.on_connect()
            for item in list(self.queue):
                if item[5] is not True and self.state == "up":
                    self._send_item(item)
        elif ptype == PUBACK:
            pid = (body[0] << 8) | body[1]
            for item in self.queue:
                if item[4] == pid and item[2]:
                    self.queue.remove(item)
                    break
        elif ptype == PINGRESP:
            self._ping_out = False
        elif ptype == PUBLISH:
            topic, payload, qos, retain, pid = parse_publish(flags, body)
            if qos:
                self._write(puback_packet(pid))
            if self.on_message is not None:
                self.on_message(topic, payload, retain)
        elif ptype == SUBACK:
            if 0x80 in body[2:]:
                if self.log is not None:
                    self.log.warning("MQTT: the broker refused a subscription")
        elif self.state == "waiting":
            raise MqttError("expected CONNACK, got packet type %d" % ptype)
