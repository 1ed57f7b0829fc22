"""The Raspberry Pi backend through gpiozero's own MockFactory (real gpiozero pin code)."""

import os
import sys

from gpiozero.pins.mock import MockFactory

import support
from conftest import ROOT
from sipdoor import board as boards
from sipdoor.hal import rpi
from sipdoor.hal.base import ButtonPressed, ButtonReleased, InputChanged
from sipdoor.hal.devices import Devices


def pi_board():
    b, warnings = boards.load("rpi-usb-audio", [os.path.join(ROOT, "boards")])
    assert warnings == []
    return b


def setup():
    b = pi_board()
    factory = MockFactory()
    loop, clock = support.make_loop()
    backend = rpi.Backend(b, pin_factory=factory)
    rec = support.Recorder()
    devices = Devices(loop, backend, b, rec)
    return b, factory, loop, clock, backend, devices, rec


def test_pressing_the_mock_pin_gives_button_pressed():
    b, factory, loop, clock, backend, devices, rec = setup()
    pin = factory.pin(b["buttons"]["call"]["pin"])
    assert pin.function == "input" and pin.pull == "up"  # as the board file says
    pin.drive_low()  # active-low button to GND
    support.run_for(loop, clock, b["buttons"]["call"]["debounce_ms"] + 1)
    assert rec.events == [ButtonPressed("call")]
    pin.drive_high()
    support.run_for(loop, clock, 100)
    assert isinstance(rec.events[-1], ButtonReleased)


def test_gpiozero_callback_wakes_the_loop_through_the_socket_pair():
    b, factory, loop, clock, backend, devices, rec = setup()
    from sipdoor.net import Poller

    poller = Poller()
    backend.attach(type("L", (), {"poller": poller})(), rec)
    assert poller.wait(0) == []
    factory.pin(b["buttons"]["exit"]["pin"]).drive_low()  # as if on gpiozero's thread
    ready = poller.wait(1000)
    assert len(ready) == 1
    callback, sock = ready[0]
    callback(sock)  # drains the wake-up bytes
    assert poller.wait(0) == []
    assert backend.edges.drain() == [("exit", 1)]


def test_relay_pulse_drives_the_mock_pin_high_for_the_configured_time():
    b, factory, loop, clock, backend, devices, rec = setup()
    pin = factory.pin(b["relays"]["door"]["pin"])
    assert pin.function == "output" and pin.state is False
    devices.relays["door"].pulse(3000)
    assert pin.state is True
    support.run_for(loop, clock, 2999)
    assert pin.state is True
    support.run_for(loop, clock, 1)
    assert pin.state is False
    assert [s.state for s in pin.states] == [False, True, False]


def test_active_low_relay_never_clicks_on_at_start():
    b = pi_board()
    b["relays"]["door"]["active"] = "low"
    factory = MockFactory()
    pin = factory.pin(b["relays"]["door"]["pin"])
    # An active-low relay module pulls its input high (off) before the Pi
    # drives the pin; the backend must never pull it low, not even briefly.
    pin.function = "input"
    pin.pull = "up"
    before = len(pin.states)
    loop, clock = support.make_loop()
    Devices(loop, rpi.Backend(b, pin_factory=factory), b, support.Recorder())
    assert pin.function == "output" and pin.state is True
    assert [s.state for s in pin.states[before:]] == []  # no transition at all


def test_door_sensor_input():
    b, factory, loop, clock, backend, devices, rec = setup()
    pin = factory.pin(b["inputs"]["door_sensor"]["pin"])
    pin.drive_low()  # magnet at the reed: door closed
    support.run_for(loop, clock, 100)
    pin.drive_high()  # door opened
    support.run_for(loop, clock, 100)
    assert rec.events == [InputChanged("door_sensor", 0), InputChanged("door_sensor", 1)]


def test_systemd_watchdog_notifies(tmp_path):
    import socket

    path = str(tmp_path / "notify")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(2)
    try:
        os.environ["NOTIFY_SOCKET"] = path
        wd = rpi.Backend(pi_board(), pin_factory=MockFactory()).watchdog(30)
        wd.feed()
        assert server.recv(64) == b"READY=1"
        assert server.recv(64) == b"WATCHDOG=1"
    finally:
        os.environ.pop("NOTIFY_SOCKET", None)
        server.close()


def test_backends_import_lazily():
    import subprocess

    code = ("import sys; sys.path.insert(0, 'firmware');"
            "from sipdoor.hal.base import load_backend;"
            "load_backend('sim'); assert 'gpiozero' not in sys.modules, 'sim pulled in gpiozero';"
            "load_backend('rpi'); assert 'machine' not in sys.modules, 'rpi pulled in machine';"
            "print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_the_station_on_a_pi_feeds_systemd_from_its_loop_and_stops_when_it_stalls(tmp_path):
    """The whole station with the rpi backend (gpiozero's MockFactory pins,
    WAV audio) as systemd runs it: READY=1, then WATCHDOG=1 about every
    second from the loop. A frozen loop (SIGSTOP, as stuck as a callback
    that never returns) sends nothing, so WatchdogSec restarts the unit."""
    import signal
    import socket
    import subprocess
    import wave

    from stationproc import write_config

    path = str(tmp_path / "notify")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    silence = str(tmp_path / "in.wav")
    with wave.open(silence, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(1600))
    config = write_config(tmp_path, board="rpi-usb-audio")
    env = dict(os.environ, NOTIFY_SOCKET=path, GPIOZERO_PIN_FACTORY="mock")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "firmware", "main.py"), "--config", config,
                             "--audio-in", silence, "--audio-out", str(tmp_path / "out.wav")],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)

    def recv(timeout):
        server.settimeout(timeout)
        try:
            return server.recv(64)
        except socket.timeout:
            return None

    try:
        assert recv(15) == b"READY=1", proc.stderr.read() if proc.poll() is not None else ""
        assert recv(3) == b"WATCHDOG=1" and recv(3) == b"WATCHDOG=1"
        proc.send_signal(signal.SIGSTOP)
        while recv(0.3) is not None:  # what was on its way before the stop
            pass
        assert recv(3) is None  # stalled: systemd hears nothing
        proc.send_signal(signal.SIGCONT)
        assert recv(3) == b"WATCHDOG=1"  # the loop runs again: so do the feeds
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.close()
