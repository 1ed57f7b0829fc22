"""A live status screen for a person at a terminal (make run).

Shows the same events as the JSON lines, folded into the current state:
registration, call, relays, LEDs, inputs, and the latest events. Redraws
only when something changes (LED blinking is shown by pattern name, so a
blink does not redraw), and the command prompt stays at the bottom.
"""

from sipdoor.clock import ticks_diff

RECENT = 8
CLEAR = "\x1b[H\x1b[2J"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"
GREEN = "\x1b[32m"
RED = "\x1b[31m"
YELLOW = "\x1b[33m"
RESET = "\x1b[0m"


def _describe(d):
    kind = d["event"]
    name = d.get("name", "")
    if kind == "button":
        return "button %s %s" % (name, d["state"].replace("_", " "))
    if kind == "input":
        return "input %s = %s" % (name, d["state"])
    if kind == "relay":
        return "relay %s %s" % (name, "ON" if d["state"] else "off")
    if kind == "led":
        return "LED %s %s" % (name, d["pattern"])
    if kind == "door_opened":
        return "door opened (relay %s, by %s)" % (d["relay"], d["by"])
    if kind == "error":
        return "error: %s" % d["message"]
    if kind == "help":
        return d["message"]
    parts = ["%s=%s" % (k, d[k]) for k in sorted(d) if k not in ("event", "t")]
    return "%s %s" % (kind, " ".join(parts))


class LiveView:
    def __init__(self, stream, clock, board, listen):
        self.stream = stream
        self.clock = clock
        self.start = clock.now()
        self.board = board
        self.listen = listen
        self.registration = "starting"
        self.call = "idle"
        self.relays = dict((n, 0) for n in board["relays"])
        self.leds = dict((n, "off") for n in board["leds"])
        self.inputs = dict((n, 0) for n in board["inputs"])
        self.recent = []

    def event(self, ev):
        d = ev.to_dict()
        kind = d["event"]
        if kind == "relay":
            self.relays[d["name"]] = d["state"]
        elif kind == "led":
            self.leds[d["name"]] = d["pattern"]
        elif kind == "input":
            self.inputs[d["name"]] = d["state"]
        elif kind == "registration":
            self.registration = d.get("state", "?")
        elif kind == "call":
            self.call = d.get("state", "?")
        elif kind == "ready":
            self.registration = d["registration"]
        secs = ticks_diff(self.clock.now(), self.start) / 1000
        self.recent.append("%8.1fs  %s" % (secs, _describe(d)))
        if len(self.recent) > RECENT:
            self.recent.pop(0)
        self.redraw()
        if kind == "stopped":
            self.stream.write("\n")

    def render(self):
        b = self.board
        lines = [
            "%ssipdoor%s  board %s (%s)  SIP on %s" % (BOLD, RESET, b["name"], b["platform"], self.listen),
            "",
            "  registration  %s" % self.registration,
            "  call          %s" % self.call,
            "  relays        %s" % ("  ".join(
                "%s %s" % (n, (RED + "ON" + RESET) if v else "off") for n, v in sorted(self.relays.items())) or "-"),
            "  LEDs          %s" % ("  ".join(
                "%s %s" % (n, (GREEN + p + RESET) if p != "off" else "off") for n, p in sorted(self.leds.items()))
                or "-"),
            "  inputs        %s" % ("  ".join("%s=%d" % (n, v) for n, v in sorted(self.inputs.items())) or "-"),
            "  buttons       %s" % (", ".join(sorted(b["buttons"])) or "-"),
            "",
            "%srecent events%s" % (DIM, RESET),
        ]
        lines.extend("  " + r for r in self.recent)
        lines.append("")
        lines.append("%stype: tap NAME (press+release), press NAME, release NAME, input NAME 0|1, help, quit%s"
                     % (YELLOW, RESET))
        return "\n".join(lines)

    def redraw(self):
        try:
            self.stream.write(CLEAR + self.render() + "\n> ")
            self.stream.flush()
        except (OSError, ValueError):
            pass
