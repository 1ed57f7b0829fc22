"""The mock board for tests: drive inputs and read outputs from test code.

On CPython it is the rpi backend on gpiozero's own MockFactory, so tests
exercise the real Pi code path down to gpiozero's pins. On MicroPython
(no gpiozero) it falls back to plain in-memory pins with the same API.
"""

from sipdoor.hal import base

try:
    from gpiozero.pins.mock import MockFactory
    from sipdoor.hal import rpi
except ImportError:
    MockFactory = None


class _PlainInput(base.InputPin):
    def __init__(self, spec, name, edges):
        self.invert = 1 if spec["active"] == "low" else 0
        # An open contact reads what its pull resistor gives it.
        pull = spec.get("pull", "none")
        self.physical = 1 if pull == "up" else 0 if pull == "down" else self.invert
        self.name = name
        self.edges = edges

    def drive(self, physical):
        if physical != self.physical:
            self.physical = physical
            self.edges.put(self.name, physical ^ self.invert)

    def value(self):
        return self.physical ^ self.invert


class _PlainOutput(base.OutputPin):
    def __init__(self, spec):
        self.invert = 1 if spec["active"] == "low" else 0
        self.physical = self.invert
        self.level = 0

    def set(self, level):
        self.level = 1 if level else 0
        self.physical = self.level ^ self.invert

    def value(self):
        return self.level


class _PlainBackend(base.Backend):
    name = "mock"

    def __init__(self, board):
        base.Backend.__init__(self, board)
        self.pins = {}

    def input_pin(self, name, spec):
        pin = _PlainInput(spec, name, self.edges)
        self.pins[name] = pin
        return pin

    def output_pin(self, name, spec):
        pin = _PlainOutput(spec)
        self.pins[name] = pin
        return pin


if MockFactory is not None:

    class _GpioMockBackend(rpi.Backend):
        name = "mock"

        def __init__(self, board):
            rpi.Backend.__init__(self, board, pin_factory=MockFactory())

    _Base = _GpioMockBackend
else:
    _Base = _PlainBackend


def _physical_active(spec):
    return 0 if spec["active"] == "low" else 1


class Backend(_Base):
    """The board's pins by name, plus ways for a test to act on them."""

    def __init__(self, board):
        _Base.__init__(self, board)
        self.preset = {}  # levels driven before the pins exist (a stuck button)

    def input_pin(self, name, spec):
        pin = _Base.input_pin(self, name, spec)
        if name in self.preset:
            self.drive(name, self.preset.pop(name))
            self.edges.drain()  # the level was there before the station started
        return pin

    def _spec(self, name):
        b = self.board
        for group in ("buttons", "inputs", "relays", "leds"):
            if name in b[group]:
                return b[group][name]
        raise KeyError(name)

    def drive(self, name, active):
        """Set an input as the hardware would: 1 = pressed / contact active."""
        if name not in self.pins:
            self.preset[name] = active
            return
        level = _physical_active(self._spec(name)) ^ (0 if active else 1)
        pin = self.pins[name]
        if MockFactory is not None:
            if level:
                pin.pin.drive_high()
            else:
                pin.pin.drive_low()
        else:
            pin.drive(level)

    def press(self, name):
        self.drive(name, 1)

    def release(self, name):
        self.drive(name, 0)

    def physical(self, name):
        """The electrical level on an output pin (after active-low inversion)."""
        pin = self.pins[name]
        if MockFactory is not None:
            return 1 if pin.pin.state else 0
        return pin.physical
