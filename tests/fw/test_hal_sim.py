"""The sim board's stdin line protocol, driven directly (no subprocess)."""

import support
from sipdoor import board as boards
from sipdoor.hal.base import ButtonPressed, ButtonReleased, InputChanged, load_backend
from sipdoor.hal.devices import Devices


def setup():
    b, _ = boards.load("sim", [support.repo_path("boards")])
    loop, clock = support.make_loop()
    backend = load_backend("sim")(b)
    rec = support.Recorder()
    devices = Devices(loop, backend, b, rec)

    class Stream:
        pass

    backend.attach(loop, rec, Stream())
    return loop, clock, backend, devices, rec


def test_press_and_release():
    loop, clock, backend, devices, rec = setup()
    backend.command("press call")
    support.run_for(loop, clock, 100)
    backend.command("release call")
    support.run_for(loop, clock, 100)
    assert rec.events[0] == ButtonPressed("call")
    assert rec.events[1].state == "released"


def test_back_to_back_commands_are_not_lost_as_bounce():
    loop, clock, backend, devices, rec = setup()
    backend.command("press call")
    backend.command("release call")
    backend.command("press call")
    support.run_for(loop, clock, 500)
    states = [e.state for e in rec.events if e.kind == "button"]
    assert states == ["pressed", "released", "pressed"]


def test_tap_presses_and_releases():
    loop, clock, backend, devices, rec = setup()
    backend.command("tap call")
    support.run_for(loop, clock, 1000)
    assert [e.state for e in rec.events] == ["pressed", "released"]
    assert isinstance(rec.events[1], ButtonReleased) and rec.events[1].held_ms >= 150


def test_input_levels():
    loop, clock, backend, devices, rec = setup()
    backend.command("input door_sensor 1")
    support.run_for(loop, clock, 100)
    backend.command("input door_sensor 0")
    support.run_for(loop, clock, 100)
    assert rec.events == [InputChanged("door_sensor", 1), InputChanged("door_sensor", 0)]


def test_bad_commands_get_error_events_and_change_nothing():
    loop, clock, backend, devices, rec = setup()
    loop._running = True  # as inside loop.run()
    for line in ["hello", "press", "press nobody", "press call now", "input door_sensor 2", "input call 1",
                 "release", "x" * 600, "quit now", "\x00\xff"]:
        backend.command(line)
    support.run_for(loop, clock, 200)
    assert len(rec.events) == 10
    for e in rec.events:
        d = e.to_dict()
        assert d["event"] == "error" and d["message"], d
    assert devices.buttons["call"].state == 0
    assert loop.running  # "quit now" is not "quit": the station keeps running


def test_blank_lines_are_ignored():
    loop, clock, backend, devices, rec = setup()
    backend.command("")
    backend.command("   ")
    assert rec.events == []


def test_quit_waits_for_earlier_commands():
    loop, clock, backend, devices, rec = setup()
    loop._running = True
    backend.command("tap call")
    backend.command("quit")
    assert loop.running
    support.run_for(loop, clock, 1000)
    assert not loop.running
    assert [e.state for e in rec.events] == ["pressed", "released"]


def test_help_lists_names():
    loop, clock, backend, devices, rec = setup()
    backend.command("help")
    d = rec.events[0].to_dict()
    assert d["event"] == "help" and d["buttons"] == ["call", "exit"]
