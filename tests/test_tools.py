"""Host tools: tools/provision writes valid configs and refuses bad input; tools/sipcall
answers and places real calls with the station on 127.0.0.1 (issue 6)."""

import json
import os
import queue
import stat
import subprocess
import sys
import threading
import time

import pytest

from stationproc import ROOT, Station, free_udp_port, write_config

PROVISION = os.path.join(ROOT, "tools", "provision.py")
SIPCALL = os.path.join(ROOT, "tools", "sipcall.py")
GOOD_PASSWORD = "kV8#tq2Lmw9zR4"


def provision(*args, stdin=""):
    return subprocess.run([sys.executable, PROVISION] + list(args), input=stdin, capture_output=True,
                          text=True, timeout=30, cwd=ROOT)


def sipcall(*args):
    return subprocess.run([sys.executable, SIPCALL] + list(args), capture_output=True, text=True,
                          timeout=30, cwd=ROOT)


def load_checked(path):
    sys.path.insert(0, os.path.join(ROOT, "firmware"))
    from sipdoor import board as boards
    from sipdoor import config as configs

    config = configs.load(path)
    board, _ = boards.load(config["board"], [os.path.join(ROOT, "boards")], path)
    configs.check_against_board(config, board, path)
    return config


# -- provision ---------------------------------------------------------------------------------


def test_provision_writes_a_valid_private_config(tmp_path):
    out = str(tmp_path / "config.json")
    proc = provision("--board", "sim", "--user", "door", "--password", GOOD_PASSWORD, "--domain", "pbx.example",
                     "--target", "sip:101@pbx.example", "--code", "1234", "--allow", "sip:101@pbx.example",
                     "-o", out)
    assert proc.returncode == 0, proc.stderr
    config = load_checked(out)
    assert config["sip"]["account"]["user"] == "door"
    assert config["sip"]["account"]["password"] == GOOD_PASSWORD
    assert config["sip"]["account"]["registrar"] == "sip:pbx.example"
    assert config["buttons"]["call"]["targets"] == ["sip:101@pbx.example"]
    assert config["door"]["codes"] == ["1234"] and config["door"]["relay"] == "door"
    assert config["sip"]["allow"] == ["sip:101@pbx.example"]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600  # it holds a password
    assert "call button" in proc.stdout and "tap call" in proc.stdout  # the wiring table
    assert "short" in proc.stderr  # a 4-digit code draws a warning
    assert not [n for n in os.listdir(str(tmp_path)) if n != "config.json"]  # no temp file left


def test_provision_peer_to_peer_and_wiring_of_a_hardware_board(tmp_path):
    out = str(tmp_path / "c.json")
    proc = provision("--board", "rpi-usb-audio", "--target", "sip:101@192.168.1.23:5062", "--code", "481592",
                     "--allow", "sip:101@192.168.1.23", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert load_checked(out)["sip"]["account"] is None
    assert "GPIO17" in proc.stdout and "GPIO23" in proc.stdout
    assert "warning" not in proc.stderr


def test_provision_wiring_only():
    proc = provision("--board", "esp32-devkitc-i2s", "--wiring")
    assert proc.returncode == 0, proc.stderr
    for pin in ("GPIO4", "GPIO26", "GPIO32", "GPIO33"):
        assert pin in proc.stdout


def test_provision_interactive(tmp_path):
    out = str(tmp_path / "c.json")
    answers = "\n".join(["sim", "127.0.0.1:5070", "y", "door", "pbx.example", "", "short",
                         GOOD_PASSWORD, "sip:101@pbx.example", "270318", ""]) + "\n"
    proc = provision("-i", "-o", out, stdin=answers)
    assert proc.returncode == 0, proc.stderr
    config = load_checked(out)
    assert config["sip"]["listen"] == "127.0.0.1:5070"
    assert config["sip"]["account"]["password"] == GOOD_PASSWORD  # after one refused weak answer
    assert config["door"]["codes"] == ["270318"]
    assert config["sip"]["allow"] == ["sip:101@pbx.example"]  # defaults to the targets
    assert "too short" in proc.stderr


def _bad_cases():
    base = ["--board", "sim", "--target", "sip:101@pbx.example"]
    return [
        ("weak password", base + ["--user", "door", "--domain", "pbx", "--password", "secret"], "too short"),
        ("common password", base + ["--user", "door", "--domain", "pbx", "--password", "Password123!"],
         "common"),
        ("no password", base + ["--user", "door", "--domain", "pbx"], "no default password"),
        ("password has user", base + ["--user", "door", "--domain", "pbx", "--password", "frontdoor#7781"],
         "user name"),
        ("short code", base + ["--code", "12"], "door.codes[0]"),
        ("bad code digit", base + ["--code", "12x45"], "door.codes[0]"),
        ("unknown board", ["--board", "pi9000"], "unknown board 'pi9000'"),
        ("bad target", ["--board", "sim", "--target", "101"], "buttons.call.targets[0]"),
        ("bad allow", base + ["--allow", "alice"], "sip.allow[0]"),
        ("bad listen", base + ["--listen", "host:99999"], "sip.listen"),
        ("unknown option", base + ["--colour", "red"], "unrecognized arguments"),
        ("no board", ["--target", "sip:101@pbx.example"], "--board"),
        ("no relay", base + ["--relay", "gate"], "door.relay"),
    ]


@pytest.mark.parametrize("args,words", [(c[1], c[2]) for c in _bad_cases()], ids=[c[0] for c in _bad_cases()])
def test_provision_bad_input_is_one_line_and_exit_2(tmp_path, args, words):
    out = str(tmp_path / "config.json")
    proc = provision(*(args + ["-o", out]))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip() and "warning" not in l]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("provision: ") and words in lines[0], lines[0]
    assert not os.path.exists(out)


def test_provision_never_overwrites_without_force(tmp_path):
    out = tmp_path / "config.json"
    out.write_text("{}")
    args = ["--board", "sim", "--target", "sip:101@pbx.example", "-o", str(out)]
    proc = provision(*args)
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert out.read_text() == "{}"
    assert provision(*(args + ["--force"])).returncode == 0
    assert load_checked(str(out))["buttons"]["call"]["targets"] == ["sip:101@pbx.example"]


# -- sipcall -----------------------------------------------------------------------------------------


def test_sipcall_help():
    for args in (["--help"], ["call", "--help"], ["answer", "--help"]):
        proc = sipcall(*args)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("usage: sipcall")
    assert "--dtmf" in sipcall("answer", "--help").stdout
    wrapper = subprocess.run([os.path.join(ROOT, "tools", "sipcall"), "--help"], capture_output=True, text=True,
                             timeout=30)
    assert wrapper.returncode == 0 and "call|answer" in wrapper.stdout


@pytest.mark.parametrize("args,words", [
    (["call", "door"], "must be a SIP URI"),
    (["call", "sip:door@127.0.0.1", "--dtmf", "12x"], "not a DTMF key"),
    (["answer", "--listen", "127.0.0.1:99999"], "--listen"),
    (["answer", "--user", "x", "--registrar", "sip:127.0.0.1"], "--password"),
    (["dial"], "invalid choice"),
])
def test_sipcall_bad_arguments(args, words):
    proc = sipcall(*args)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr, proc.stderr


class Tool:
    """tools/sipcall --json as a process; its events are read as they come."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, SIPCALL] + list(args) + ["--json"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.events = []
        self._q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            ev = json.loads(line)
            self.events.append(ev)
            self._q.put(ev)
        self._q.put(None)

    def wait_for(self, kind, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                ev = self._q.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if ev is None:
                break
            if ev["event"] == kind:
                return ev
        raise AssertionError("no %s from sipcall; saw %r; stderr %s" % (kind, self.events, self.stderr()))

    def finish(self, timeout=20):
        code = self.proc.wait(timeout=timeout)
        time.sleep(0.1)
        return code

    def stderr(self):
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def procs():
    started = []
    yield started.append
    for p in reversed(started):
        p.kill()


def _station_config(tmp_path, phone_port=None, allow=()):
    sip = {"listen": "127.0.0.1:%d" % free_udp_port(), "account": None, "allow": list(allow), "keepalive_s": 5}
    buttons = {"call": {"targets": ["sip:flat@127.0.0.1:%d" % phone_port]}} if phone_port else {}
    return write_config(tmp_path, sip=sip, buttons=buttons, door={"relay": "door", "pulse_ms": 500,
                                                                   "codes": ["1234"]})


def _relay_cycle(st):
    on = st.wait_for(lambda e: e["event"] == "relay" and e["name"] == "door" and e["state"] == 1, 15)
    off = st.wait_for(lambda e: e["event"] == "relay" and e["name"] == "door" and e["state"] == 0, 5)
    assert abs((off["t"] - on["t"]) - 0.5) <= 0.1


def test_sipcall_answers_the_station_and_the_door_code_opens_the_relay(tmp_path, procs):
    port = free_udp_port()
    phone = Tool("answer", "--listen", "127.0.0.1:%d" % port, "--user", "flat", "--answer-after", "0.5",
                 "--dtmf", "1234", "--dtmf-after", "1", "--hangup-after", "3", "--wait", "20")
    procs(phone)
    phone.wait_for("ready")
    st = Station("cpython", _station_config(tmp_path, port))
    procs(st)
    st.wait_for(lambda e: e["event"] == "ready", 20)
    st.send("tap call")
    st.wait_for(lambda e: e["event"] == "call_ringing", 10)
    st.wait_for(lambda e: e["event"] == "call_answered", 10)
    _relay_cycle(st)
    assert [e["digit"] for e in st.events if e["event"] == "dtmf"] == list("1234")
    assert [e for e in st.events if e["event"] == "door_opened"][0]["by"].startswith("sip:flat@127.0.0.1")
    st.wait_for(lambda e: e["event"] == "call_ended" and e["reason"] == "hangup_remote", 10)
    assert phone.finish() == 0, phone.stderr()
    kinds = [e["event"] for e in phone.events]
    for kind in ("ready", "incoming_call", "ringing_sent", "call_answered", "dtmf_sent", "hangup", "call_ended",
                 "done"):
        assert kind in kinds, kinds
    assert all("t" in e for e in phone.events)
    st.send("quit")
    assert st.finish(15)[0] == 0


def test_sipcall_calls_the_station_and_keys_the_code(tmp_path, procs):
    st = Station("cpython", _station_config(tmp_path, allow=["sip:sipcall@127.0.0.1"]))
    procs(st)
    ready = st.wait_for(lambda e: e["event"] == "ready", 20)
    phone = Tool("call", "sip:door@%s" % ready["listen"], "--dtmf", "1234", "--dtmf-after", "0.5",
                 "--hangup-after", "2.5")
    procs(phone)
    st.wait_for(lambda e: e["event"] == "call_answered", 10)
    _relay_cycle(st)
    assert phone.finish() == 0, phone.stderr()
    ended = [e for e in phone.events if e["event"] == "call_ended"]
    assert ended and ended[0]["reason"] == "hangup_local"
    st.send("quit")
    assert st.finish(15)[0] == 0


def test_sipcall_exits_1_when_the_station_refuses(tmp_path, procs):
    st = Station("cpython", _station_config(tmp_path, allow=[]))
    procs(st)
    ready = st.wait_for(lambda e: e["event"] == "ready", 20)
    proc = sipcall("call", "sip:door@%s" % ready["listen"], "--ring-timeout", "10")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "call_ended" in proc.stdout and "403" in proc.stdout
    st.wait_for(lambda e: e["event"] == "call_refused", 5)
    st.send("quit")
    st.finish(15)
