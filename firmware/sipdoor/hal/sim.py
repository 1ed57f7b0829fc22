"""The simulated board: a PC stands in for the door.

Buttons and inputs come from stdin, one command a line (the sim line
protocol in DESIGN.md, stable because tests and tools drive it):
    press NAME | release NAME | tap NAME | input NAME 0|1 | dtmf KEYS | help | quit
Outputs (relays, LEDs) are plain variables; their events reach stdout
through the station's reporter. Audio comes from and goes to WAV files.
"""

import sys

from sipdoor.clock import ticks_add, ticks_diff
from sipdoor.hal import base
from sipdoor.hal.wav import WavAudio

MAX_LINE = 512
TAP_MS = 150  # how long `tap` holds a button down
SETTLE_MARGIN_MS = 5

HELP = ("commands: press NAME, release NAME, tap NAME, input NAME 0|1, dtmf KEYS, help, quit")


class CommandRejected(base.Event):
    """A stdin command the station could not carry out (it keeps running)."""

    kind = "error"

    def __init__(self, command, message):
        self.command = command
        self.message = message


class DtmfKeyed(base.Event):
    """Keys typed at the door (the sim's stand-in for a keypad): the call
    in progress sends them as RFC 4733 events."""

    kind = "dtmf_keyed"

    def __init__(self, digits):
        self.digits = digits


class HelpShown(base.Event):
    kind = "help"

    def __init__(self, buttons, inputs):
        self.message = HELP
        self.buttons = buttons
        self.inputs = inputs


class SimInputPin(base.InputPin):
    def __init__(self):
        self.level = 0

    def value(self):
        return self.level


class SimOutputPin(base.OutputPin):
    def __init__(self):
        self.level = 0

    def set(self, level):
        self.level = 1 if level else 0

    def value(self):
        return self.level


class StdinLines:
    """Whole lines from stdin without blocking the loop on CPython.

    On CPython one os.read() after poll() returns what is there; on
    MicroPython readline() is used (lines arrive whole from a pipe or a
    terminal in line mode).
    """

    def __init__(self, stream):
        self.stream = stream
        self.buf = b""
        self.eof = False
        try:
            import os

            self._read = os.read
            self.fd = stream.fileno()
        except (ImportError, AttributeError, OSError):
            self._read = None

    def lines(self):
        if self._read is None:
            line = self.stream.readline()
            if not line:
                self.eof = True
                return []
            return [line[:MAX_LINE + 1]]
        chunk = self._read(self.fd, 4096)
        if not chunk:
            self.eof = True
            chunk = b"\n" if self.buf else b""
        self.buf += chunk
        parts = self.buf.split(b"\n")
        self.buf = parts.pop()
        if len(self.buf) > MAX_LINE:
            parts.append(self.buf)  # an endless line is still answered
            self.buf = b""
        out = []
        for p in parts:
            try:
                out.append(p.decode())
            except UnicodeError:
                out.append("\ufffd")
        return out


class SimWatchdog:
    """A software watchdog: SIGALRM (whose default action ends the process)
    unless fed within timeout_s, so a stalled loop is restarted by whatever
    supervises the process (systemd, a test). CPython only: the MicroPython
    unix port has no signal module."""

    def __init__(self, timeout_s, alarm):
        self.timeout_s = timeout_s
        self._alarm = alarm
        alarm(timeout_s)

    def feed(self):
        self._alarm(self.timeout_s)

    def close(self):
        self._alarm(0)


class Backend(base.Backend):
    name = "sim"

    def __init__(self, board):
        base.Backend.__init__(self, board)
        self.inputs = {}
        self.outputs = {}
        self.loop = None
        self.emit = None
        self.stdin = None
        self._not_before = {}  # name -> tick before which no new level applies

    def input_pin(self, name, spec):
        pin = SimInputPin()
        self.inputs[name] = pin
        return pin

    def output_pin(self, name, spec):
        pin = SimOutputPin()
        self.outputs[name] = pin
        return pin

    def audio(self, audio_in=None, audio_out=None):
        return WavAudio(audio_in, audio_out)

    _watchdog = None

    def watchdog(self, timeout_s):
        try:
            from signal import alarm
        except ImportError:
            return None
        if timeout_s:
            self._watchdog = SimWatchdog(timeout_s, alarm)
        return self._watchdog

    def close(self):
        # Shutdown may wait for BYE and unregister after the loop stopped feeding.
        if self._watchdog is not None:
            self._watchdog.close()
        base.Backend.close(self)

    def set_level(self, name, level):
        pin = self.inputs[name]
        if pin.level != level:
            pin.level = level
            self.edges.put(name, level)

    def change(self, name, level, hold_ms=0):
        """Apply a commanded level as a clean edge that outlasts the debounce.

        Commands can arrive faster than a debounce time (a script writing
        `press` and `release` back to back); each change is then delayed
        until the previous one has settled, so none is lost as a bounce.
        """
        spec = self.board["buttons"].get(name) or self.board["inputs"][name]
        now = self.loop.clock.now()
        at = self._not_before.get(name, now)
        if ticks_diff(at, now) < 0:
            at = now
        self._not_before[name] = ticks_add(at, max(spec["debounce_ms"] + SETTLE_MARGIN_MS, hold_ms))
        if at == now:
            self.set_level(name, level)
        else:
            self.loop.call_at(at, lambda: self.set_level(name, level))

    def quit(self):
        """Stop once every earlier command has taken effect."""
        now = self.loop.clock.now()
        last = now
        for at in self._not_before.values():
            if ticks_diff(at, last) > 0:
                last = at
        if last == now:
            self.loop.stop(0)
        else:
            self.loop.call_at(last, lambda: self.loop.stop(0))

    # -- the stdin line protocol -------------------------------------------

    def attach(self, loop, emit, stream=None):
        self.loop = loop
        self.emit = emit
        self.stdin = StdinLines(stream or sys.stdin)
        loop.poller.register(self.stdin.stream, self._readable)

    def _readable(self, _stream):
        for line in self.stdin.lines():
            self.command(line)
        if self.stdin.eof:
            # No more commands (stdin closed); the station keeps running.
            self.loop.poller.unregister(self.stdin.stream)

    def command(self, line):
        """Carry out one protocol line; anything wrong becomes an error event."""
        if len(line) > MAX_LINE:
            self.emit(CommandRejected(line[:40] + "...", "line too long"))
            return
        words = line.split()
        if not words:
            return
        verb = words[0]
        board = self.board
        if verb in ("press", "release", "tap") and len(words) == 2:
            name = words[1]
            if name not in board["buttons"]:
                self.emit(CommandRejected(line.strip(), "no button %r (buttons: %s)"
                                          % (name, ", ".join(sorted(board["buttons"])) or "none")))
            elif verb == "tap":
                self.change(name, 1, TAP_MS)
                self.change(name, 0)
            else:
                self.change(name, 1 if verb == "press" else 0)
        elif verb == "input" and len(words) == 3:
            name, value = words[1], words[2]
            if name not in board["inputs"]:
                self.emit(CommandRejected(line.strip(), "no input %r (inputs: %s)"
                                          % (name, ", ".join(sorted(board["inputs"])) or "none")))
            elif value not in ("0", "1"):
                self.emit(CommandRejected(line.strip(), "input level must be 0 or 1"))
            else:
                self.change(name, int(value))
        elif verb == "dtmf" and len(words) == 2:
            digits = words[1].upper()
            bad = [d for d in digits if d not in "0123456789*#ABCD"]
            if bad or len(digits) > 32:
                self.emit(CommandRejected(line.strip(), "DTMF keys are 0-9, *, #, A-D (at most 32)"))
            else:
                self.emit(DtmfKeyed(digits))
        elif verb == "quit" and len(words) == 1:
            self.quit()
        elif verb == "help" and len(words) == 1:
            self.emit(HelpShown(sorted(board["buttons"]), sorted(board["inputs"])))
        else:
            self.emit(CommandRejected(line.strip()[:80], "unknown command; " + HELP))
