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


class FakeI2C:
    """Records register writes in order (no I2C hardware here)."""

    last = None

    def __init__(self, bus, scl=None, sda=None, freq=None):
        self.bus = bus
        self.pins = (scl.num, sda.num)
        self.freq = freq
        self.sent = []
        FakeI2C.last = self

    def writeto(self, address, buf):
        self.sent.append((address, buf[0], buf[1]))
        return len(buf)

    def writeto_mem(self, address, memaddr, buf):
        self.sent.append((address, memaddr, buf[0]))


class FakeI2S:
    RX, TX, MONO = 0, 1, 0
    opened = []

    def __init__(self, id, sck=None, ws=None, sd=None, mode=None, bits=None, format=None, rate=None, ibuf=None):
        self.rate = rate
        FakeI2S.opened.append((id, mode, rate, FakeI2C.last and len(FakeI2C.last.sent)))

    def deinit(self):
        pass


class FakeMachine:
    Pin = FakePin
    WDT = FakeWDT
    I2C = FakeI2C
    I2S = FakeI2S


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


def backend(board=None):
    sys.modules["machine"] = FakeMachine
    try:
        from sipdoor.hal import esp32

        return esp32.Backend(board or BOARD)
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


def test_codec_is_set_up_before_i2s_starts():
    from sipdoor import board as boards

    b, _ = boards.load("esp32-es8311", [support.repo_path("boards")])
    be = backend(b)
    FakeI2S.opened = []
    dev = be.audio()
    bus = FakeI2C.last
    assert (bus.bus, bus.pins, bus.freq) == (0, (22, 21), 100000)
    init = b["i2c"]["devices"]["codec"]["init"]
    assert bus.sent == [(0x18, i["reg"], i["value"]) for i in init]  # in order, 8-bit writes
    assert FakeI2S.opened == [(0, FakeI2S.RX, 16000, len(init)), (1, FakeI2S.TX, 16000, len(init))]
    assert dev.echo_cancel == "auto"
    dev.close()


def test_without_speexdsp_the_call_keeps_ducking():
    # audio.echo_cancel "auto" on a board: where speexdsp cannot be imported
    # (MicroPython, a Pi without it) CallMedia falls back to ducking, said once
    from sipdoor.callmedia import AEC_DUCK_DB, CallMedia, RtpPorts
    from sipdoor.media import aec

    class Log:
        def __init__(self):
            self.lines = []

        def info(self, msg, *args):
            self.lines.append(msg % args if args else msg)

        debug = warning = error = info

    class Dev:
        echo_cancel = "auto"

    loop, clock = support.make_loop()
    log = Log()
    m = CallMedia(loop, None, RtpPorts("127.0.0.1", 41000, 41010), Dev(), None, None, log, 20, ducking_db=20)
    if aec.AVAILABLE:
        assert m.aec is not None and m.ducker.depth_db == AEC_DUCK_DB
        assert [l for l in log.lines if "echo cancelling on" in l]
    else:
        assert m.aec is None and m.ducker.depth_db == 20
        assert [l for l in log.lines if "ducking only" in l] == [
            "echo cancelling is not available here (no speexdsp): echo ducking only"]
    m = CallMedia(loop, None, RtpPorts("127.0.0.1", 41000, 41010), Dev(), None, None, log, 20, ducking_db=20,
                  echo_cancel="off")
    assert m.aec is None and m.ducker.depth_db == 20
