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
