"""Where the station's events go for a person or a program to see.

JsonLines writes one JSON object per line, flushed at once (the sim line
protocol: the reader is another program, often through a pipe). The
terminal view (view.py) renders the same events as a live status screen.
"""

import json

from sipdoor.clock import ticks_diff


class JsonLines:
    def __init__(self, stream, clock):
        self.stream = stream
        self.clock = clock
        self.start = clock.now()

    def event(self, ev):
        d = ev.to_dict()
        d["t"] = ticks_diff(self.clock.now(), self.start) / 1000
        try:
            self.stream.write(json.dumps(d) + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # the reader went away; the door keeps working


class Fanout:
    """Send every event to several sinks (media, app, reporter, notifier).

    A sink that fails (a MemoryError on a small board, a bug) must not keep
    the event from the others: the door relay must not depend on MQTT."""

    def __init__(self):
        self.sinks = []
        self.errors = 0
        self.on_error = None

    def add(self, sink):
        self.sinks.append(sink)

    def __call__(self, ev):
        for sink in self.sinks:
            try:
                sink(ev)
            except Exception as e:
                self.errors += 1
                if self.on_error is None:
                    raise
                self.on_error(e)
