"""Buttons, inputs, relays and LEDs on the mock board with a fake clock.

On CPython the mock board is the rpi backend on gpiozero's MockFactory, so
these also prove the Pi's pin code; on MicroPython it is plain pins.
"""

import support
from sipdoor.hal.base import (ButtonLongPressed, ButtonPressed, ButtonReleased, InputChanged, LedChanged,
                              RelayChanged, load_backend)
from sipdoor.hal.devices import Devices

BOARD = {
    "name": "t", "platform": "rpi",
    "buttons": {"call": {"pin": 17, "active": "low", "pull": "up", "debounce_ms": 30, "long_press_ms": 2000,
                         "role": "call"},
                "exit": {"pin": 27, "active": "low", "pull": "up", "debounce_ms": 30, "long_press_ms": 0,
                         "role": "exit"}},
    "inputs": {"door_sensor": {"pin": 22, "active": "high", "pull": "up", "debounce_ms": 50,
                               "role": "door_sensor"}},
    "relays": {"door": {"pin": 23, "active": "high"}, "gate": {"pin": 5, "active": "low"}},
    "leds": {"status": {"pin": 24, "active": "high"}},
    "led_patterns": {},
}


def setup():
    loop, clock = support.make_loop()
    backend = load_backend("mock")(BOARD)
    rec = support.Recorder()
    devices = Devices(loop, backend, BOARD, rec)
    return loop, clock, backend, devices, rec


def test_press_gives_one_event_after_debounce():
    loop, clock, backend, devices, rec = setup()
    backend.press("call")
    support.run_for(loop, clock, 29)
    assert rec.events == []
    support.run_for(loop, clock, 2)
    assert rec.events == [ButtonPressed("call")]
    backend.release("call")
    support.run_for(loop, clock, 40)
    assert rec.events[-1] == ButtonReleased("call", 31)  # pressed at 30, released at 61


def test_bounce_is_ignored():
    loop, clock, backend, devices, rec = setup()
    for _ in range(5):  # contact chatter: 5 ms closed, 5 ms open
        backend.press("call")
        support.run_for(loop, clock, 5)
        backend.release("call")
        support.run_for(loop, clock, 5)
    support.run_for(loop, clock, 100)
    assert rec.events == []
    backend.press("call")
    support.run_for(loop, clock, 100)
    assert rec.events == [ButtonPressed("call")]


def test_long_press_once_and_a_stuck_button_calls_once():
    loop, clock, backend, devices, rec = setup()
    backend.press("call")
    support.run_for(loop, clock, 10 * 60 * 1000)  # held (or taped) for ten minutes
    assert rec.events == [ButtonPressed("call"), ButtonLongPressed("call", 2000)]
    assert devices.buttons["call"].held_ms() >= 10 * 60 * 1000 - 30


def test_button_held_at_start_is_not_a_press():
    loop, clock = support.make_loop()
    backend = load_backend("mock")(BOARD)
    backend.press("call")  # stuck before the station starts
    rec = support.Recorder()
    devices = Devices(loop, backend, BOARD, rec)
    support.run_for(loop, clock, 500)
    assert rec.events == []
    assert devices.buttons["call"].state == 1
    backend.release("call")
    support.run_for(loop, clock, 100)
    assert rec.events[0].state == "released"


def test_input_changes_are_debounced_events():
    loop, clock = support.make_loop()
    backend = load_backend("mock")(BOARD)
    backend.drive("door_sensor", 0)  # door closed when the station starts
    rec = support.Recorder()
    devices = Devices(loop, backend, BOARD, rec)
    assert devices.inputs["door_sensor"].state == 0
    backend.drive("door_sensor", 1)
    support.run_for(loop, clock, 60)
    backend.drive("door_sensor", 0)
    support.run_for(loop, clock, 60)
    assert rec.events == [InputChanged("door_sensor", 1), InputChanged("door_sensor", 0)]


def test_relays_start_off_and_pulse_for_the_configured_time():
    loop, clock, backend, devices, rec = setup()
    assert backend.physical("door") == 0
    assert backend.physical("gate") == 1  # active-low: off means high
    devices.relays["door"].pulse(3000)
    assert backend.physical("door") == 1
    support.run_for(loop, clock, 2999)
    assert backend.physical("door") == 1
    support.run_for(loop, clock, 1)
    assert backend.physical("door") == 0
    assert rec.events == [RelayChanged("door", 1), RelayChanged("door", 0)]


def test_pulse_during_pulse_restarts_the_time():
    loop, clock, backend, devices, rec = setup()
    door = devices.relays["door"]
    door.pulse(1000)
    support.run_for(loop, clock, 800)
    door.pulse(1000)
    support.run_for(loop, clock, 999)
    assert door.state == 1
    support.run_for(loop, clock, 1)
    assert door.state == 0
    assert len(rec.of(RelayChanged)) == 2


def test_latch_and_active_low():
    loop, clock, backend, devices, rec = setup()
    gate = devices.relays["gate"]
    gate.toggle()
    assert gate.state == 1 and backend.physical("gate") == 0
    support.run_for(loop, clock, 60000)
    assert gate.state == 1  # a latch stays until told
    gate.toggle()
    assert backend.physical("gate") == 1


def test_led_blinks_from_absolute_deadlines():
    loop, clock, backend, devices, rec = setup()
    led = devices.leds["status"]
    led.set_pattern("slow_blink")
    seen = []
    for _ in range(8):
        seen.append(backend.physical("status"))
        support.run_for(loop, clock, 500)
    assert seen == [1, 0, 1, 0, 1, 0, 1, 0]
    led.set_pattern("on")
    support.run_for(loop, clock, 2000)
    assert backend.physical("status") == 1
    assert [e.pattern for e in rec.of(LedChanged)] == ["slow_blink", "on"]
    support.raises(ValueError, led.set_pattern, "disco")


def test_all_off_and_close():
    loop, clock, backend, devices, rec = setup()
    devices.relays["door"].on()
    devices.leds["status"].set_pattern("fast_blink")
    devices.all_off()
    assert backend.physical("door") == 0 and backend.physical("status") == 0
    assert loop.next_delay(clock.now()) is None  # no stray timers
