"""The one hardware interface every backend provides, and the events it yields.

A backend (rpi, esp32, sim, mock) gives raw pins, audio and a watchdog.
Devices (devices.py) build buttons, relays and LEDs on those pins and turn
them into events. Pin levels here are logical: 1 means pressed / energised /
lit, whatever the wiring; the backend applies active-high or active-low.

Input edges may arrive on another thread (gpiozero) or in an IRQ (ESP32):
backends only append them to an EdgeQueue, which the loop drains.
"""

# -- events (facts, in the past tense) -----------------------------------


class Event:
    kind = "event"

    def to_dict(self):
        d = {"event": self.kind}
        d.update(self.__dict__)
        return d

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.__dict__)

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__


class ButtonPressed(Event):
    kind = "button"

    def __init__(self, name):
        self.name = name
        self.state = "pressed"


class ButtonReleased(Event):
    kind = "button"

    def __init__(self, name, held_ms):
        self.name = name
        self.state = "released"
        self.held_ms = held_ms


class ButtonLongPressed(Event):
    kind = "button"

    def __init__(self, name, held_ms):
        self.name = name
        self.state = "long_press"
        self.held_ms = held_ms


class InputChanged(Event):
    kind = "input"

    def __init__(self, name, state):
        self.name = name
        self.state = state


class RelayChanged(Event):
    kind = "relay"

    def __init__(self, name, state):
        self.name = name
        self.state = state


class LedChanged(Event):
    kind = "led"

    def __init__(self, name, pattern):
        self.name = name
        self.pattern = pattern


# -- pins ------------------------------------------------------------------


class EdgeQueue:
    """Bounded queue of (name, level) edges filled from threads or IRQs.

    When full, the oldest edge is dropped: the latest level always wins, so a
    chattering contact can never grow memory. A list with a fixed limit
    works on both runtimes (MicroPython's deque has no maxlen behaviour we
    can rely on for dropping the oldest).
    """

    def __init__(self, limit=32):
        self.limit = limit
        self.items = []
        self.dropped = 0
        self.wake = None  # set by the backend: called after each put

    def put(self, name, level):
        items = self.items
        if len(items) >= self.limit:
            items.pop(0)
            self.dropped += 1
        items.append((name, level))
        if self.wake is not None:
            self.wake()

    def drain(self):
        items = self.items
        if not items:
            return ()
        self.items = []
        return items


class InputPin:
    """A digital input. value() is the logical level (1 = active)."""

    def value(self):
        raise NotImplementedError

    def close(self):
        pass


class OutputPin:
    """A digital output. set(1) energises / lights it, whatever the wiring."""

    def set(self, level):
        raise NotImplementedError

    def value(self):
        raise NotImplementedError

    def close(self):
        self.set(0)


class Backend:
    """What a platform provides. Subclasses fill in the pin factories.

    edges: the EdgeQueue every input pin writes to.
    attach(loop, emit, stream): register sources (stdin, a wake-up pipe)
    with the loop; emit takes events the backend itself produces (the sim
    board's answers to stdin commands).
    """

    name = "base"

    def __init__(self, board):
        self.board = board
        self.edges = EdgeQueue()

    def input_pin(self, name, spec):
        raise NotImplementedError

    def output_pin(self, name, spec):
        raise NotImplementedError

    def audio(self, audio_in=None, audio_out=None):
        """An audio device for this board, or None when it has none."""
        return None

    def watchdog(self, timeout_s):
        """A watchdog to feed from the loop, or None."""
        return None

    def attach(self, loop, emit, stream=None):
        pass

    def close(self):
        pass


def load_backend(platform):
    """Import only the backend this board needs (no gpiozero on an ESP32)."""
    if platform == "sim":
        from sipdoor.hal import sim as mod
    elif platform == "rpi":
        from sipdoor.hal import rpi as mod
    elif platform == "esp32":
        from sipdoor.hal import esp32 as mod
    elif platform == "mock":
        from sipdoor.hal import mock as mod
    else:
        raise ValueError("unknown platform %r" % platform)
    return mod.Backend
