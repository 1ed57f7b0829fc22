"""Events to the home: the station's events that matter to a resident go to
the event log, SIP MESSAGE, HTTP webhooks and MQTT (Home Assistant).

Notifier is one more sink of the station's Fanout. It keeps only what a
resident cares about (a ring, call states, the door opened and by whom,
wrong codes, lockouts, alarms, registration), never DTMF digits (they would
leak door codes), and hands a small JSON record to each configured part.
Nothing here blocks: sockets are non-blocking and driven by the loop
(TcpConn), flash writes are coalesced (eventlog.py).
"""

import json
import select
import socket

from sipdoor.clock import ticks_diff
from sipdoor.net import parse_http_url

try:
    import errno

    _AGAIN = (getattr(errno, "EAGAIN", 11), getattr(errno, "EWOULDBLOCK", 11))
    _IN_PROGRESS = (getattr(errno, "EINPROGRESS", 115), getattr(errno, "EALREADY", 114)) + _AGAIN
except ImportError:
    _AGAIN = (11,)
    _IN_PROGRESS = (115, 114, 11)

# The events a resident cares about (kind -> kept). Buttons count only
# when they are call buttons (a ring); the exit button shows as door_opened.
FORWARD = ("button", "incoming_call", "call_ringing", "call_answered", "call_ended", "nobody_answered",
           "call_refused", "door_opened", "door_locked", "door", "alarm", "alarm_cleared", "door_code",
           "registered", "registration_failed", "unregistered", "message_received", "ready", "stopped")
# Short human lines for SIP MESSAGE: only what is worth a text on a phone.
MESSAGE_KINDS = ("button", "door_opened", "door_locked", "nobody_answered", "alarm", "alarm_cleared", "door_code",
                 "call_refused")
# call_refused texts: at most one per caller per REFUSED_EVERY_MS, and at most
# REFUSED_CALLERS callers at a time (a flood from many made-up callers is a
# flood too); the record still goes to the log, webhooks and MQTT.
REFUSED_EVERY_MS = 60000
ALARM_TEXT_EVERY_MS = 60000  # alarm texts: one per alarm name per minute, the latest state last
# Alarms that last until alarm_cleared: a retained on/off topic and a Home
# Assistant binary_sensor each (forced_open and blocked are moments).
LASTING_ALARMS = ("tamper", "held_open")
REFUSED_CALLERS = 8
BACKOFF_MAX_S = 60
WEBHOOK_TIMEOUT_MS = 10000
WEBHOOK_QUEUE = 20
MQTT_QUEUE = 64
UPTIME_STEP_MS = 3600000  # uptime is summed this often: ticks wrap every 12.4 days


def wall_time():
    """Unix seconds when the clock looks set (after 2020), else None: a board
    without NTP starts in 2000 (or 1970) and a wrong date misleads more than
    none."""
    try:
        import time

        t = int(time.time())
    except Exception:
        return None
    if t < 1577836800:
        t += 946684800  # MicroPython ports counting from 2000
        if t < 1577836800:
            return None
    return t


def resolve(host, port):
    """(family, sockaddr) for a TCP peer; blocking, so called only at start
    or before a retry, never per event (a numeric address costs nothing)."""
    info = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    return info[0], info[-1]


class TcpConn:
    """One non-blocking TCP connection driven by the loop.

    Reads come from the loop's poller (readable, or hang-up/error). Connect
    completion and a full send buffer are checked from a short loop timer
    with a private zero-timeout poll, because net.Poller watches readability
    only. handler gets conn_up(), conn_data(bytes), conn_down(reason).
    """

    def __init__(self, loop, target, handler, timeout_ms=10000):
        self.loop = loop
        self.handler = handler
        self.timeout_ms = timeout_ms
        self.state = "connecting"
        self._out = b""
        self._timer = None
        family, addr = target
        self._started = loop.clock.now()
        sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock = sock
        sock.setblocking(False)
        try:
            sock.connect(addr)
        except OSError as e:
            if e.args[0] not in _IN_PROGRESS:
                sock.close()
                raise
        self._wpoll = select.poll()
        self._wpoll.register(sock, select.POLLOUT)
        loop.poller.register(sock, self._readable)
        self._timer = loop.every(20, self._check)

    def write(self, data):
        if self.state == "closed":
            return
        self._out += data
        if self.state == "up":
            self._send()

    def close(self):
        """Close without telling the handler (it asked for it)."""
        self._shut()

    def _shut(self):
        if self.state == "closed":
            return False
        self.state = "closed"
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.loop.poller.unregister(self.sock)
        try:
            self._wpoll.unregister(self.sock)
        except (KeyError, OSError, ValueError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self._out = b""
        return True

    def _down(self, reason):
        if self._shut():
            self.handler.conn_down(reason)

    def _check(self):
        if self.state == "connecting":
            ready = self._wpoll.poll(0)
            if ready:
                flags = ready[0][1]
                if flags & (select.POLLERR | select.POLLHUP):
                    self._down("connection refused")
                    return
                self.state = "up"
                self.handler.conn_up()
            elif ticks_diff(self.loop.clock.now(), self._started) > self.timeout_ms:
                self._down("connect timeout")
                return
        if self.state == "up":
            self._send()

    def _send(self):
        while self._out and self.state == "up":
            try:
                n = self.sock.send(self._out)
            except OSError as e:
                if e.args[0] in _AGAIN:
                    break  # the send buffer is full: the timer tries again
                self._down("send failed: %s" % e)
                return
            self._out = self._out[n:]
        if self.state != "up":
            return
        if self._out and self._timer is None:
            self._timer = self.loop.every(20, self._check)
        elif not self._out and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _readable(self, _obj):
        if self.state == "closed":
            return
        try:
            data = self.sock.recv(1024)
        except OSError as e:
            if e.args[0] in _AGAIN:
                return
            self._down("receive failed: %s" % e)
            return
        if not data:
            self._down("closed by the peer")
            return
        self.handler.conn_data(data)


class Webhook:
    """POST each event as JSON to one http:// URL, in order, one at a time.

    A failed POST (no connection, timeout, a 5xx answer) is retried with
    back-off (1 s doubling to 60 s); a 4xx answer drops that event (a
    receiver that refuses it will not change its mind). The queue is bounded:
    the oldest event is dropped and counted.
    """

    def __init__(self, loop, url, log, queue_size=WEBHOOK_QUEUE):
        self.loop = loop
        self.url = url
        self.log = log
        self.host, self.port, self.path = parse_http_url(url)
        self.queue = []
        self.queue_size = queue_size
        self.dropped = 0
        self.sent = 0
        self.failures = 0
        self._target = None
        self._conn = None
        self._reply = b""
        self._backoff = 1
        self._retry = None
        self._deadline = None

    def post(self, body):
        if len(self.queue) >= self.queue_size:
            self.queue.pop(0 if self._conn is None else 1)  # never the one in flight
            self.dropped += 1
        self.queue.append(body)
        self._next()

    def _next(self):
        if self._conn is not None or self._retry is not None or not self.queue:
            return
        try:
            if self._target is None:
                self._target = resolve(self.host, self.port)
            self._reply = b""
            self._conn = TcpConn(self.loop, self._target, self)
        except Exception as e:
            self._failed("cannot connect: %s" % e)
            return
        self._deadline = self.loop.call_later(WEBHOOK_TIMEOUT_MS, self._timeout)

    def conn_up(self):
        body = self.queue[0]
        head = ("POST %s HTTP/1.0\r\nHost: %s:%d\r\nUser-Agent: sipdoor\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\nConnection: close\r\n\r\n" % (self.path, self.host, self.port, len(body)))
        self._conn.write(head.encode() + body)

    def conn_data(self, data):
        self._reply += data
        end = self._reply.find(b"\r\n")
        if end < 0:
            if len(self._reply) > 512:
                self._finish(None, "bad answer")
            return
        parts = self._reply[:end].split()
        status = 0
        if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
            status = int(parts[1])
        self._finish(status, "HTTP %d" % status)

    def conn_down(self, reason):
        self._conn = None
        self._finish(None, reason)

    def _timeout(self):
        self._deadline = None
        self._finish(None, "no answer in %d s" % (WEBHOOK_TIMEOUT_MS // 1000))

    def _finish(self, status, reason):
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if status is not None and 200 <= status < 300:
            self.sent += 1
            self._backoff = 1
            self.queue.pop(0)
            self._next()
        elif status is not None and 400 <= status < 500:
            self.log.warning("webhook %s refused an event (%s): dropped", self.url, reason)
            self.queue.pop(0)
            self.dropped += 1
            self._next()
        else:
            self._failed(reason)

    def _failed(self, reason):
        self.failures += 1
        self.log.warning("webhook %s failed (%s); retrying in %d s", self.url, reason, self._backoff)
        self._retry = self.loop.call_later(self._backoff * 1000, self._again)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)

    def _again(self):
        self._retry = None
        self._next()

    def close(self):
        for t in (self._retry, self._deadline):
            if t is not None:
                t.cancel()
        self._retry = self._deadline = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class MqttBridge:
    """The station on MQTT: topics, Home Assistant discovery, commands.

    Topics under <topic_prefix>/<station_id>/: availability (online/offline,
    retained, the will), event (every record, QoS 1), ring (HA event entity),
    door/state (open/closed, retained), registration (retained),
    alarm/tamper and alarm/held_open (on/off, retained), and with
    events.mqtt.commands: command/open, command/hangup.
    """

    def __init__(self, cfg, loop, app, log, station_id, version, registration):
        from sipdoor.mqtt import MqttClient

        self.cfg = cfg
        self.app = app
        self.log = log
        self.version = version
        self.sid = station_id
        self.base = "%s/%s" % (cfg["topic_prefix"].rstrip("/"), station_id)
        self.commands = bool(cfg["commands"] and cfg["user"])
        self.registration = registration
        # Retained alarm states, sent again on every connect: after a reboot
        # the broker may still hold an "on" that nothing would ever clear.
        self.alarms = {}
        for name in LASTING_ALARMS:
            self.alarms[name] = "off"
        self._target = None
        host, port = cfg["host"], cfg["port"]

        def connect(handler):
            if self._target is None:
                self._target = resolve(host, port)
            return TcpConn(loop, self._target, handler)

        self.client = MqttClient(loop, connect, "sipdoor-" + station_id, cfg["keepalive_s"],
                                 cfg["user"], cfg["password"],
                                 (self.base + "/availability", b"offline", 1, True), MQTT_QUEUE, log)
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        if self.commands:
            self.client.subscribe(self.base + "/command/+", 1)

    def start(self):
        self.client.start()

    def _connected(self):
        c = self.client
        c.publish(self.base + "/availability", "online", 1, True)
        c.publish(self.base + "/registration", self.registration, 1, True)
        for name in LASTING_ALARMS:
            c.publish("%s/alarm/%s" % (self.base, name), self.alarms[name], 1, True)
        if self.cfg["discovery"]:
            for topic, payload in self.discovery():
                c.publish(topic, payload, 1, True)

    def discovery(self):
        """(topic, JSON config) for each Home Assistant entity."""
        prefix = self.cfg["discovery_prefix"].rstrip("/")
        sid = self.sid
        device = {"identifiers": ["sipdoor_" + sid], "name": "Door station %s" % sid,
                  "manufacturer": "sipdoor", "model": "SIP door station", "sw_version": self.version}
        common = {"availability_topic": self.base + "/availability", "device": device}
        entities = [
            ("event", "ring", {"name": "Doorbell", "state_topic": self.base + "/ring",
                               "event_types": ["ring"], "device_class": "doorbell"}),
            ("binary_sensor", "door", {"name": "Door", "state_topic": self.base + "/door/state",
                                       "payload_on": "open", "payload_off": "closed", "device_class": "door"}),
            ("sensor", "registration", {"name": "SIP registration", "state_topic": self.base + "/registration",
                                        "icon": "mdi:phone-check"}),
            ("binary_sensor", "tamper", {"name": "Tamper", "state_topic": self.base + "/alarm/tamper",
                                         "payload_on": "on", "payload_off": "off", "device_class": "tamper"}),
            ("binary_sensor", "held_open", {"name": "Door held open", "state_topic": self.base + "/alarm/held_open",
                                            "payload_on": "on", "payload_off": "off", "device_class": "problem"}),
        ]
        if self.commands:
            entities.append(("button", "open", {"name": "Open door", "command_topic": self.base + "/command/open",
                                                "payload_press": "open", "icon": "mdi:door-open"}))
            entities.append(("button", "hangup", {"name": "Hang up", "command_topic": self.base + "/command/hangup",
                                                  "payload_press": "hangup", "icon": "mdi:phone-hangup"}))
        out = []
        for component, name, conf in entities:
            conf.update(common)
            conf["unique_id"] = "sipdoor_%s_%s" % (sid, name)
            conf["object_id"] = "sipdoor_%s_%s" % (sid, name)
            out.append(("%s/%s/%s/%s/config" % (prefix, component, sid, name), json.dumps(conf)))
        return out

    def event(self, record):
        c = self.client
        kind = record["event"]
        c.publish(self.base + "/event", json.dumps(record), 1, False)
        if kind == "button" and c.connected:
            # Live only: a ring queued through an outage would sound the
            # doorbell in Home Assistant long after the visitor left (the
            # event record above still catches up).
            c.publish(self.base + "/ring", json.dumps({"event_type": "ring", "button": record.get("name")}), 0, False)
        elif kind == "door":
            c.publish(self.base + "/door/state", "open" if record.get("state") == "opened" else "closed", 1, True)
        elif kind in ("alarm", "alarm_cleared") and record.get("alarm") in LASTING_ALARMS:
            name = record["alarm"]
            self.alarms[name] = "on" if kind == "alarm" else "off"
            c.publish("%s/alarm/%s" % (self.base, name), self.alarms[name], 1, True)
        elif kind in ("registered", "registration_failed", "unregistered"):
            self.registration = {"registered": "registered", "registration_failed": "failed"}.get(kind, "unregistered")
            c.publish(self.base + "/registration", self.registration, 1, True)

    def _message(self, topic, payload, retain):
        if not topic.startswith(self.base + "/command/"):
            return
        what = topic[len(self.base) + 9:]
        if not self.commands or retain:
            # A retained command would replay at every reconnect: never act on it.
            self.log.warning("MQTT command %s ignored (%s)", what, "retained" if retain else "commands are off")
            return
        if what == "open":
            self.log.info("MQTT: open door")
            self.app.open_door(self.app.config["door"]["relay"], "mqtt")
        elif what == "hangup":
            self.log.info("MQTT: hang up")
            self.app.hang_up("mqtt")
        else:
            self.log.warning("MQTT: unknown command %r", what)

    def close(self):
        c = self.client
        if c.connected:
            c.publish(self.base + "/availability", "offline", 1, True)
        c.close()


def message_text(record):
    """A short human line for SIP MESSAGE, or None when not worth a text."""
    kind = record["event"]
    g = record.get
    if kind == "button":
        return "Someone rang at the door (button %s)" % g("name")
    if kind == "door_opened":
        if g("mode") == "latch":
            return "Door unlocked by %s (relay %s, until locked again)" % (g("by"), g("relay"))
        return "Door opened by %s (relay %s)" % (g("by"), g("relay"))
    if kind == "door_locked":
        return "Door locked by %s (relay %s)" % (g("by"), g("relay"))
    if kind == "alarm_cleared":
        return "Door alarm over: %s" % g("alarm")
    if kind == "nobody_answered":
        return "Nobody answered the door (button %s)" % g("button")
    if kind == "alarm":
        return ("Door alarm: %s %s" % (g("alarm"), g("detail") or "")).strip()
    if kind == "call_refused":
        text = "Call from %s refused (%s)" % (g("caller"), g("why"))
        if g("unreported"):
            text += "; %d more from this caller not texted" % g("unreported")
        return text
    if kind == "door_code":
        if g("state") == "rejected":
            return "Wrong door code (attempt %s, %s left)" % (g("attempt"), g("attempts_left"))
        if g("state") == "locked_out":
            return "Door codes locked for %s s after %s wrong attempts" % (g("seconds"), g("attempts"))
    return None


class Notifier:
    """The Fanout sink for events to the home (see the module docstring)."""

    def __init__(self, config, loop, ua, app, log, version=""):
        ev = config["events"]
        self.loop = loop
        self.ua = ua
        self.log = log
        self.call_buttons = config["buttons"]
        self.message_uris = ev["message_uris"]
        self.seq = 0
        self._refused = {}  # caller -> [tick of the last text, refusals not texted since]
        self._alarm_texted = {}  # alarm name -> tick of its last text (a handful of names)
        self._alarm_held = {}  # alarm name -> the latest record not yet texted
        self._up_ms = 0
        self._up_tick = loop.clock.now()
        self._up_timer = loop.every(UPTIME_STEP_MS, self.uptime_ms)
        account = config["sip"]["account"]
        mqtt = ev["mqtt"]
        sid = mqtt["station_id"] if mqtt and mqtt["station_id"] else (account["user"] if account else "door")
        self.station_id = sid
        self.eventlog = None
        if ev["log_file"]:
            from sipdoor.eventlog import EventLog

            self.eventlog = EventLog(ev["log_file"], ev["log_size"], loop, log)
        self.webhooks = [Webhook(loop, url, log) for url in ev["webhooks"]]
        self.mqtt = None
        if mqtt:
            self.mqtt = MqttBridge(mqtt, loop, app, log, sid, version,
                                   "off" if account is None else "unregistered")
            self.mqtt.start()

    def record(self, event):
        """The JSON record of an event, or None when it is not forwarded."""
        d = event.to_dict()
        kind = d["event"]
        if kind not in FORWARD:
            return None
        if kind == "button" and (d.get("state") != "pressed" or d.get("name") not in self.call_buttons):
            return None
        d.pop("negotiated", None)  # addresses and codecs: not for the home
        if kind == "message_received":
            d.pop("text", None)  # may carry anything; the sender is enough
        self.seq += 1
        d["seq"] = self.seq
        d["station"] = self.station_id
        d["uptime_s"] = self.uptime_ms() // 1000
        t = wall_time()
        if t is not None:
            d["time"] = t
        return d

    def uptime_ms(self):
        """Milliseconds since start, summed in steps shorter than half a tick
        period (one ticks_diff from the start goes negative after 6.2 days)."""
        now = self.loop.clock.now()
        step = ticks_diff(now, self._up_tick)
        if step > 0:
            self._up_ms += step
        self._up_tick = now
        return self._up_ms

    def __call__(self, event):
        rec = self.record(event)
        if rec is None:
            return
        if self.eventlog is not None:
            self.eventlog.add(rec)
        if self.webhooks:
            body = json.dumps(rec).encode()
            for hook in self.webhooks:
                hook.post(body)
        if self.mqtt is not None:
            self.mqtt.event(rec)
        if self.message_uris and self.ua is not None and rec["event"] in MESSAGE_KINDS:
            if rec["event"] == "call_refused":
                more = self._refusal_texted(rec.get("caller"))
                if more is None:
                    return
                rec = dict(rec)
                rec["unreported"] = more
            elif rec["event"] in ("alarm", "alarm_cleared") and not self._alarm_text_due(rec):
                return
            self._text(rec)

    def _text(self, rec):
        text = message_text(rec)
        if text:
            now = self.loop.clock.now()
            for uri in self.message_uris:
                try:
                    self.ua.send_message(uri, text, now)
                except Exception as e:  # a URI the UA cannot reach at all
                    self.log.warning("cannot send MESSAGE to %s: %s", uri, e)

    def _alarm_text_due(self, rec):
        """One text per alarm name per ALARM_TEXT_EVERY_MS (a flapping
        tamper contact is not a text storm); a change held back is texted,
        as it then stands, when that time is up, so the last text is never
        stale."""
        name = rec.get("alarm")
        now = self.loop.clock.now()
        last = self._alarm_texted.get(name)
        if last is None or ticks_diff(now, last) >= ALARM_TEXT_EVERY_MS:
            self._alarm_texted[name] = now
            return True
        if name not in self._alarm_held:
            self.loop.call_later(ALARM_TEXT_EVERY_MS - ticks_diff(now, last), lambda: self._alarm_flush(name))
        self._alarm_held[name] = rec
        return False

    def _alarm_flush(self, name):
        rec = self._alarm_held.pop(name, None)
        if rec is not None:
            self._alarm_texted[name] = self.loop.clock.now()
            self._text(rec)

    def _refusal_texted(self, caller):
        """None when this refusal gets no text (one per caller per
        REFUSED_EVERY_MS); else how many refusals of that caller went
        untexted since its last text."""
        now = self.loop.clock.now()
        entry = self._refused.get(caller)
        if entry is not None:
            if ticks_diff(now, entry[0]) < REFUSED_EVERY_MS:
                entry[1] += 1
                return None
            del self._refused[caller]
            more = entry[1]
        else:
            more = 0
        if len(self._refused) >= REFUSED_CALLERS:
            for c in list(self._refused):
                if ticks_diff(now, self._refused[c][0]) >= REFUSED_EVERY_MS:
                    del self._refused[c]
            if len(self._refused) >= REFUSED_CALLERS:
                return None  # many callers at once: a flood, not worth more texts
        self._refused[caller] = [now, 0]
        return more

    def close(self):
        """Flush the log, say offline on MQTT, stop retrying (clean stop)."""
        if self._up_timer is not None:
            self._up_timer.cancel()
            self._up_timer = None
        if self.mqtt is not None:
            self.mqtt.close()
        for hook in self.webhooks:
            hook.close()
        if self.eventlog is not None:
            self.eventlog.close()
