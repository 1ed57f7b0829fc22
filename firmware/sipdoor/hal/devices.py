"""Buttons, inputs, relays and LEDs, built on a backend's pins and the loop.

Debounce is done here, once for every backend: a level counts only after it
has held for debounce_ms, so contact bounce and noise spikes on a long cable
to the door never become a press. Relays and LED patterns use loop timers
from absolute deadlines, never threads or sleeps.
"""

from sipdoor.clock import ticks_add, ticks_diff
from sipdoor.hal.base import (ButtonLongPressed, ButtonPressed, ButtonReleased, InputChanged,
                              LedChanged, RelayChanged)

# Named LED patterns: on/off times in ms, starting with "on". A board file
# may add or replace patterns (led_patterns).
PATTERNS = {
    "slow_blink": [500, 500],
    "fast_blink": [100, 100],
    "double_flash": [100, 150, 100, 650],
    "heartbeat": [60, 1940],
}


class _Debounced:
    """A digital input whose level counts only after it holds debounce_ms."""

    def __init__(self, loop, name, pin, debounce_ms):
        self.loop = loop
        self.name = name
        self.pin = pin
        self.debounce_ms = debounce_ms
        self.raw = 0
        self.state = 0
        self._settle = None

    def baseline(self, level):
        """The level found at start: becomes the state without an event, so a
        button stuck down at boot does not ring the flat."""
        self.raw = self.state = 1 if level else 0

    def sample(self, level):
        """A raw edge (or a fresh reading) from the backend."""
        level = 1 if level else 0
        if level == self.raw:
            return
        self.raw = level
        if self._settle is not None:
            self._settle.cancel()
            self._settle = None
        if level == self.state:
            return  # bounced back before settling: nothing happened
        if self.debounce_ms:
            self._settle = self.loop.call_later(self.debounce_ms, self._settled)
        else:
            self._settled()

    def _settled(self):
        self._settle = None
        if self.raw != self.state:
            self.state = self.raw
            self.changed(self.state)

    def changed(self, state):
        raise NotImplementedError

    def close(self):
        if self._settle is not None:
            self._settle.cancel()
        self.pin.close()


class Button(_Debounced):
    """Emits ButtonPressed, ButtonLongPressed (once per hold), ButtonReleased."""

    def __init__(self, loop, name, pin, spec, emit):
        _Debounced.__init__(self, loop, name, pin, spec["debounce_ms"])
        self.role = spec["role"]
        self.long_press_ms = spec["long_press_ms"]
        self.emit = emit
        self.pressed_at = None
        self._long = None

    def changed(self, state):
        now = self.loop.clock.now()
        if state:
            self.pressed_at = now
            self.emit(ButtonPressed(self.name))
            if self.long_press_ms:
                self._long = self.loop.call_later(self.long_press_ms, self._long_press)
        else:
            if self._long is not None:
                self._long.cancel()
                self._long = None
            held = ticks_diff(now, self.pressed_at) if self.pressed_at is not None else 0
            self.pressed_at = None
            self.emit(ButtonReleased(self.name, held))

    def _long_press(self):
        self._long = None
        held = ticks_diff(self.loop.clock.now(), self.pressed_at)
        self.emit(ButtonLongPressed(self.name, held))

    def held_ms(self):
        """How long the button has been held, or 0 when it is up."""
        if self.pressed_at is None:
            return 0
        return ticks_diff(self.loop.clock.now(), self.pressed_at)


class Input(_Debounced):
    """A door sensor, tamper switch or other contact: emits InputChanged."""

    def __init__(self, loop, name, pin, spec, emit):
        _Debounced.__init__(self, loop, name, pin, spec["debounce_ms"])
        self.role = spec["role"]
        self.emit = emit

    def changed(self, state):
        self.emit(InputChanged(self.name, state))


class Relay:
    """A relay: pulse for a time (door strike) or latch (bistable lock).

    Off at construction, whatever the pin was before: a restart never leaves
    a door unlocked.
    """

    def __init__(self, loop, name, pin, emit):
        self.loop = loop
        self.name = name
        self.pin = pin
        self.emit = emit
        self.state = 0
        self._off_timer = None
        pin.set(0)

    def _set(self, state):
        self.pin.set(state)
        if state != self.state:
            self.state = state
            self.emit(RelayChanged(self.name, state))

    def _cancel_timer(self):
        if self._off_timer is not None:
            self._off_timer.cancel()
            self._off_timer = None

    def pulse(self, ms):
        """Energise for ms; a pulse during a pulse restarts the time."""
        self._cancel_timer()
        self._set(1)
        self._off_timer = self.loop.call_later(ms, self.off)

    def on(self):
        self._cancel_timer()
        self._set(1)

    def off(self):
        self._cancel_timer()
        self._set(0)

    def toggle(self):
        if self.state:
            self.off()
        else:
            self.on()

    def close(self):
        self.off()
        self.pin.close()


class LED:
    """An LED showing a named pattern: "off", "on" or a blink pattern."""

    def __init__(self, loop, name, pin, emit, patterns=None):
        self.loop = loop
        self.name = name
        self.pin = pin
        self.emit = emit
        self.patterns = dict(PATTERNS)
        if patterns:
            self.patterns.update(patterns)
        self.pattern = "off"
        self._times = None
        self._step = 0
        self._deadline = 0
        self._timer = None
        pin.set(0)

    def set_pattern(self, name):
        if name == self.pattern:
            return
        if name not in ("on", "off") and name not in self.patterns:
            raise ValueError("unknown LED pattern %r" % name)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.pattern = name
        self.emit(LedChanged(self.name, name))
        if name in ("on", "off"):
            self.pin.set(1 if name == "on" else 0)
            return
        self._times = self.patterns[name]
        self._step = 0
        self._deadline = self.loop.clock.now()
        self._next()

    def _next(self):
        # Each step is scheduled from the previous deadline, so a slow loop
        # iteration never stretches the pattern.
        times = self._times
        self.pin.set(1 if self._step % 2 == 0 else 0)
        self._deadline = ticks_add(self._deadline, times[self._step])
        self._step = (self._step + 1) % len(times)
        self._timer = self.loop.call_at(self._deadline, self._next)

    def close(self):
        if self._timer is not None:
            self._timer.cancel()
        self.pin.close()


class Devices:
    """Every device of a board, built from its file and one backend."""

    def __init__(self, loop, backend, board, emit):
        self.loop = loop
        self.backend = backend
        self.buttons = {}
        self.inputs = {}
        self.relays = {}
        self.leds = {}
        for name in sorted(board["relays"]):
            self.relays[name] = Relay(loop, name, backend.output_pin(name, board["relays"][name]), emit)
        for name in sorted(board["leds"]):
            self.leds[name] = LED(loop, name, backend.output_pin(name, board["leds"][name]), emit,
                                  board["led_patterns"])
        for name in sorted(board["buttons"]):
            spec = board["buttons"][name]
            self.buttons[name] = Button(loop, name, backend.input_pin(name, spec), spec, emit)
        for name in sorted(board["inputs"]):
            spec = board["inputs"][name]
            self.inputs[name] = Input(loop, name, backend.input_pin(name, spec), spec, emit)
        for dev in list(self.buttons.values()) + list(self.inputs.values()):
            dev.baseline(dev.pin.value())
        loop.wake_hooks.append(self.drain_edges)

    def drain_edges(self):
        """Feed queued edges from threads/IRQs into the debouncers."""
        for name, level in self.backend.edges.drain():
            dev = self.buttons.get(name) or self.inputs.get(name)
            if dev is not None:
                dev.sample(level)

    def all_off(self):
        for relay in self.relays.values():
            relay.off()
        for led in self.leds.values():
            led.set_pattern("off")

    def close(self):
        for group in (self.relays, self.leds, self.buttons, self.inputs):
            for dev in group.values():
                dev.close()
