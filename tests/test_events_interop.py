"""Events to the home against real peers: a mosquitto broker, an HTTP
receiver, baresip (SIP MESSAGE) and Kamailio on 127.0.0.1, with the station
as a real process."""

import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from conftest import venv_tool
import peers
import stationproc
from stationproc import Station, write_config


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    """mosquitto on its own port and config; persistence keeps durable
    sessions across restart() (the broker "going down and coming back")."""

    def __init__(self, tmp):
        self.port = free_tcp_port()
        self.conf = os.path.join(str(tmp), "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    "persistence_location %s/\nlog_dest stderr\n" % (self.port, str(tmp)))
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen([venv_tool("mosquitto"), "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not start")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None


class Sub:
    """mosquitto_sub in a thread: (topic, payload) pairs in a queue. With
    client_id it is a durable QoS 1 session (kept by the broker while away)."""

    def __init__(self, port, topics, client_id=None, retained_only=False):
        cmd = [venv_tool("mosquitto_sub"), "-h", "127.0.0.1", "-p", str(port), "-v", "-q", "1"]
        if client_id:
            cmd += ["-c", "-i", client_id]
        if retained_only:
            cmd += ["--retained-only", "-W", "3"]
        for t in topics:
            cmd += ["-t", t]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.got = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            topic, _, payload = line.rstrip("\n").partition(" ")
            self.got.put((topic, payload))

    def wait_for(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.got.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(item)
            if pred(item[0], item[1]):
                return item
        raise AssertionError("no matching MQTT message; saw %r" % self.seen)

    def all(self, timeout=5):
        self.proc.wait(timeout)
        while not self.got.empty():
            self.seen.append(self.got.get())
        return self.seen

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


class Receiver:
    """An HTTP server collecting JSON POSTs; the first `fail` get a 503."""

    def __init__(self, fail=0):
        posts = self.posts = queue.Queue()
        state = {"fail": fail}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if state["fail"] > 0:
                    state["fail"] -= 1
                    self.send_response(503)
                else:
                    posts.put((self.path, self.headers["Content-Type"], json.loads(body)))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                item = self.posts.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(item)
            if pred(item[2]):
                return item
        raise AssertionError("no matching POST; saw %r" % seen)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    yield b
    b.stop()


def _mqtt(broker, **kw):
    cfg = {"host": "127.0.0.1", "port": broker.port, "station_id": "front", "keepalive_s": 10}
    cfg.update(kw)
    return cfg


def _is_event(kind, **fields):
    def pred(topic, payload):
        if topic != "sipdoor/front/event":
            return False
        d = json.loads(payload)
        return d["event"] == kind and all(d.get(k) == v for k, v in fields.items())
    return pred


def _stop(st):
    st.send("quit")
    code, _, err = st.finish()
    assert code == 0, err


def test_door_opened_goes_to_mqtt_webhook_and_log_with_discovery(broker, tmp_path):
    hook = Receiver(fail=1)  # the first POST fails: the station retries
    log_file = os.path.join(str(tmp_path), "events.jsonl")
    events = {"log_file": log_file, "webhooks": [hook.url], "mqtt": _mqtt(broker, user="door", password="pw")}
    sub = Sub(broker.port, ["sipdoor/#"])
    st = Station("cpython", write_config(tmp_path, events=events))
    try:
        sub.wait_for(lambda t, p: t == "sipdoor/front/availability" and p == "online")
        st.send("tap exit")
        st.wait_for(lambda e: e["event"] == "door_opened")
        msg = sub.wait_for(_is_event("door_opened", by="exit_button", relay="door"))
        assert json.loads(msg[1])["station"] == "front"
        path, ctype, body = hook.wait_for(lambda d: d["event"] == "door_opened", timeout=15)
        assert path == "/hook" and ctype == "application/json" and body["by"] == "exit_button"
        # Home Assistant discovery, retained: seen by a client that comes later.
        retained = dict(Sub(broker.port, ["homeassistant/#"], retained_only=True).all())
        ring = json.loads(retained["homeassistant/event/front/ring/config"])
        assert ring["event_types"] == ["ring"] and ring["state_topic"] == "sipdoor/front/ring"
        assert "homeassistant/binary_sensor/front/door/config" in retained
        assert "homeassistant/sensor/front/registration/config" in retained
        assert "homeassistant/button/front/open/config" not in retained  # commands are off
        # Commands are off: an open command does nothing.
        subprocess.run([venv_tool("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(broker.port),
                        "-t", "sipdoor/front/command/open", "-m", "open"], check=True)
        time.sleep(1.5)
        st.send("tap call")
        sub.wait_for(lambda t, p: t == "sipdoor/front/ring" and json.loads(p)["event_type"] == "ring")
        assert len([e for e in st.events if e["event"] == "door_opened"]) == 1
        _stop(st)
        sub.wait_for(lambda t, p: t == "sipdoor/front/availability" and p == "offline")
        logged = [json.loads(l) for l in open(log_file)]
        kinds = [e["event"] for e in logged]
        assert "door_opened" in kinds and "button" in kinds and kinds[-1] == "stopped"
        assert not any(e["event"] in ("dtmf", "relay", "led") for e in logged)
    finally:
        st.kill()
        sub.close()
        hook.close()


def test_mqtt_open_command_and_a_broker_restart(broker, tmp_path):
    events = {"mqtt": _mqtt(broker, user="door", password="pw", commands=True)}
    sub = Sub(broker.port, ["sipdoor/front/#"], client_id="test-durable")
    st = Station("cpython", write_config(tmp_path, events=events))
    try:
        sub.wait_for(lambda t, p: t == "sipdoor/front/availability" and p == "online")
        subprocess.run([venv_tool("mosquitto_pub"), "-h", "127.0.0.1", "-p", str(broker.port),
                        "-t", "sipdoor/front/command/open", "-m", "open"], check=True)
        st.wait_for(lambda e: e["event"] == "door_opened" and e["by"] == "mqtt")
        sub.wait_for(_is_event("door_opened", by="mqtt"))
        broker.stop()
        time.sleep(0.5)
        st.send("tap exit")  # the station keeps working without its broker
        st.wait_for(lambda e: e["event"] == "door_opened" and e["by"] == "exit_button")
        broker.start()
        # Queued while the broker was away, delivered after the reconnect.
        sub.wait_for(_is_event("door_opened", by="exit_button"), timeout=20)
        _stop(st)
    finally:
        st.kill()
        sub.close()


def test_micropython_station_publishes_to_mqtt(broker, tmp_path, monkeypatch):
    # notify + mqtt add ~25K of code on the 64-bit port; the station alone
    # already runs near stationproc's 512K (a tone buffer can fail there).
    monkeypatch.setattr(stationproc, "STATION_HEAP", "640K")
    sub = Sub(broker.port, ["sipdoor/front/#"])
    st = Station("micropython", write_config(tmp_path, events={"mqtt": _mqtt(broker)}))
    try:
        sub.wait_for(lambda t, p: t == "sipdoor/front/availability" and p == "online", timeout=20)
        st.send("tap exit")
        st.wait_for(lambda e: e["event"] == "door_opened")
        sub.wait_for(_is_event("door_opened", by="exit_button"))
        _stop(st)
        sub.wait_for(lambda t, p: t == "sipdoor/front/availability" and p == "offline")
    finally:
        st.kill()
        sub.close()


# -- SIP MESSAGE to a real phone ----------------------------------------------------


class TextingBaresip(peers.Baresip):
    """baresip that prints the SIP MESSAGEs it receives: baresip 1.0 shows
    them only through a UI module (ui_output), so this one loads stdio.so
    with a stdin pipe kept open (on /dev/null it would read EOF); each
    message is a log line `<from>: "<text>"`."""

    def _start(self, timeout=10.0):
        with open(os.path.join(self.dir, "config"), "a") as f:
            f.write("module stdio.so\n")
        super()._start(timeout)

    def _spawn(self, argv, stdin=None, env=None, stdout_pipe=False):
        return super()._spawn(argv, stdin=subprocess.PIPE, env=env, stdout_pipe=stdout_pipe)


def test_sip_message_notifications_reach_a_phone_peer_to_peer(stack, tmp_path):
    phone = stack(TextingBaresip("flat"))
    cfg = write_config(tmp_path, buttons={}, events={"message_uris": [phone.uri]})
    st = stack(Station("cpython", cfg))
    ready = st.wait_for(lambda e: e["event"] == "ready", 20)
    st.send("tap exit")
    st.wait_for(lambda e: e["event"] == "door_opened" and e["by"] == "exit_button")
    sent = st.wait_for(lambda e: e["event"] == "message_sent", 10)
    assert sent["target"] == phone.uri and sent["status"] == 200, sent
    # the phone got it from the station's own URI, with the door_opened text
    phone.wait_log(': "Door opened by exit_button (relay door)"', 10)
    line = [l for l in phone.log().splitlines() if "Door opened by" in l]
    assert len(line) == 1 and line[0].startswith("sip:door@127.0.0.1"), (line, ready)
    _stop(st)


def test_sip_message_notifications_go_through_the_registrar(stack, tmp_path):
    """With an account, the MESSAGE to the resident's extension goes via
    Kamailio, which asks for credentials (407); the phone is reached at the
    contact it registered."""
    pw = "door-secret-7"
    kam = stack(peers.Kamailio(users={"door": pw, "101": "pw101"}))
    phone = stack(TextingBaresip("flat", user="101", password="pw101", registrar=kam))
    phone.wait_event("REGISTER_OK", 10)
    sip = {"listen": "127.0.0.1:%d" % peers.free_udp_port(), "allow": [], "keepalive_s": 5, "t1_ms": 100,
           "account": {"user": "door", "password": pw, "domain": "127.0.0.1",
                       "registrar": "sip:127.0.0.1:%d" % kam.port, "expires": 60}}
    cfg = write_config(tmp_path, sip=sip, buttons={}, events={"message_uris": [kam.user_uri("101")]})
    st = stack(Station("cpython", cfg))
    st.wait_for(lambda e: e["event"] == "registered", 15)
    st.send("tap exit")
    sent = st.wait_for(lambda e: e["event"] == "message_sent", 10)
    assert sent["status"] == 200, sent
    kam.wait_log("MESSAGE challenge door")  # the proxy asked us for credentials, and we gave them
    phone.wait_log(': "Door opened by exit_button (relay door)"', 10)
    _stop(st)
