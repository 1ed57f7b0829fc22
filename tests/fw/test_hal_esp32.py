"""The ESP32 backend's wiring logic against a stand-in `machine` module.

No board is attached here, so a small fake of machine.Pin/WDT/I2S/I2C
records what the backend asks of the hardware: pull and polarity, IRQ
edges queued, relays off before the pin becomes an output. Real boards are
checked by the flashing work (issue 6).
"""

import sys

import support


class FakePin:
    IN, OUT = 1, 3
    PULL_UP, PULL_DOWN = 2, 1
    IRQ_RISING, IRQ_FALLING = 1, 2

    def __init__(self, num, mode=None, pull=None, value=None):
        self.num = num
        self.mode = mode
        self.pull = pull
        self.level = value if value is not None else (1 if pull == FakePin.PULL_UP else 0)
        self.initial = value
        self.handler = None

    def irq(self, handler=None, trigger=0):
        self.handler = handler
        self.trigger = trigger

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v

    def drive(self, v):
        self.level = v
        if self.handler:
            self.handler(self)


class FakeWDT:
    def __init__(self, timeout):
        self.timeout = timeout
        self.fed = 0

    def feed(self):
        self.fed += 1


class FakeMachine:
    Pin = FakePin
    WDT = FakeWDT


BOARD = {
    "name": "t", "platform": "esp32", "chip": "esp32",
    "buttons": {"call": {"pin": 4, "active": "low", "pull": "up", "debounce_ms": 30, "long_press_ms": 0,
                         "role": "call"}},
    "inputs": {},
    "relays": {"door": {"pin": 26, "active": "low"}},
    "leds": {},
    "led_patterns": {},
    "audio": {"kind": "none"},
}


def backend():
    sys.modules["machine"] = FakeMachine
    try:
        from sipdoor.hal import esp32

        return esp32.Backend(BOARD)
    finally:
        # Leave no trace: other tests check what a Pi imports.
        del sys.modules["machine"]
        sys.modules.pop("sipdoor.hal.esp32", None)


def test_button_irq_queues_logical_edges():
    from sipdoor.hal.base import ButtonPressed
    from sipdoor.hal.devices import Devices

    be = backend()
    loop, clock = support.make_loop()
    rec = support.Recorder()
    devices = Devices(loop, be, BOARD, rec)
    be.attach(loop, rec)
    assert loop.max_wait_ms == 20  # IRQ flags are seen within one media tick
    pin = devices.buttons["call"].pin.pin
    assert pin.pull == FakePin.PULL_UP and pin.trigger == 3
    pin.drive(0)  # pressed: active low
    support.run_for(loop, clock, 31)
    assert rec.events == [ButtonPressed("call")]


def test_relay_is_off_before_it_is_an_output():
    from sipdoor.hal.devices import Devices

    be = backend()
    loop, clock = support.make_loop()
    devices = Devices(loop, be, BOARD, support.Recorder())
    pin = devices.relays["door"].pin.pin
    assert pin.mode == FakePin.OUT and pin.initial == 1  # active-low: high is off
    devices.relays["door"].on()
    assert pin.level == 0


def test_watchdog():
    be = backend()
    sys.modules["machine"] = FakeMachine
    try:
        wd = be.watchdog(30)
    finally:
        del sys.modules["machine"]
    assert wd.wdt.timeout == 30000
    wd.feed()
    assert wd.wdt.fed == 1
    assert be.watchdog(0) is None
