"""The event log: the station's last N events as JSON lines, kept through a power cut.

Two files, not one rewritten ring: `path` is appended to, and when it holds
`size` lines it is renamed (atomically) to `path.1`, replacing the previous
one. Reading joins `path.1` and `path` and keeps the last `size` lines.
Why: rewriting the whole ring on every flush would hold it in RAM (200
events are ~30 KB, a tenth of a board's heap), rewrite all of it to flash
each time (wear, and tens of ms of blocked loop on an ESP32), while an
append writes only the new lines. A power cut can tear at most the last
line being appended; readers skip a line that does not parse, and the file
is re-opened on a fresh line. The rename leaves either the old or the new
pair of files.

Writes are coalesced: events wait in RAM and go to flash at most once per
`min_interval_ms`, from a loop timer; close() writes what is pending, so a
clean stop never loses the latest events.
"""

import json
import os

from sipdoor.clock import ticks_add, ticks_diff
from sipdoor.storage import rename_over


def _scan(path):
    """(complete lines, ends on a newline) of path; (0, True) if missing.
    Reads line by line so a long file never sits in RAM at once."""
    count = 0
    clean = True
    try:
        f = open(path)
    except OSError:
        return 0, True
    try:
        while True:
            line = f.readline()
            if not line:
                break
            count += 1
            clean = line.endswith("\n")
    finally:
        f.close()
    return count, clean


def read_events(path, size=None):
    """The logged events (dicts), oldest first, at most size; torn or
    corrupt lines are skipped."""
    out = []
    for name in (path + ".1", path):
        try:
            f = open(name)
        except OSError:
            continue
        try:
            while True:
                line = f.readline()
                if not line:
                    break
                if not line.endswith("\n"):
                    continue  # torn by a power cut mid-append
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if isinstance(ev, dict):
                    out.append(ev)
                    if size is not None and len(out) > size:
                        out.pop(0)
        finally:
            f.close()
    return out


class EventLog:
    """A bounded JSON-lines log written from the loop, rate-limited."""

    def __init__(self, path, size, loop, log=None, min_interval_ms=1000):
        self.path = path
        self.size = size
        self.loop = loop
        self.log = log
        self.min_interval_ms = min_interval_ms
        self.pending = []  # JSON lines not yet on flash
        self.dropped = 0  # lines lost because flash writes kept failing
        self.writes = 0
        self.failures = 0
        self._timer = None
        self._last = None  # tick of the last write
        self.lines, clean = _scan(path)
        self._needs_newline = not clean

    def add(self, record):
        """Queue one event (a dict); it reaches flash within min_interval_ms."""
        pending = self.pending
        pending.append(json.dumps(record))
        if len(pending) > self.size:  # flash is failing: keep the newest
            pending.pop(0)
            self.dropped += 1
        if self._timer is None:
            now = self.loop.clock.now()
            when = now
            if self._last is not None:
                earliest = ticks_add(self._last, self.min_interval_ms)
                if ticks_diff(earliest, now) > 0:
                    when = earliest
            self._timer = self.loop.call_at(when, self._due)

    def _due(self):
        self._timer = None
        self.flush()

    def flush(self):
        """Append the pending lines now (rotating first when full)."""
        if not self.pending:
            return True
        self._last = self.loop.clock.now()
        try:
            if self.lines >= self.size:
                rename_over(self.path, self.path + ".1")
                self.lines = 0
                self._needs_newline = False
            lines = self.pending
            room = self.size - self.lines
            chunk = lines[:room]
            f = open(self.path, "a")
            try:
                if self._needs_newline:
                    f.write("\n")  # end the torn line, so the next one starts clean
                    self._needs_newline = False
                f.write("\n".join(chunk) + "\n")
                f.flush()
                if hasattr(os, "fsync"):
                    os.fsync(f.fileno())
            finally:
                f.close()
        except OSError as e:
            self.failures += 1
            if self.log is not None and self.failures == 1:
                self.log.warning("event log %s: cannot write (%s); keeping events in RAM", self.path, e)
            if self._timer is None and self.loop is not None:
                self._timer = self.loop.call_later(max(self.min_interval_ms, 5000), self._due)
            return False
        self.writes += 1
        self.lines += len(chunk)
        self.pending = lines[len(chunk):]
        if self.pending:  # more than fit before the rotation
            return self.flush()
        return True

    def read(self):
        """Everything kept, pending included, oldest first."""
        events = read_events(self.path, self.size)
        for line in self.pending:
            events.append(json.loads(line))
        while len(events) > self.size:
            events.pop(0)
        return events

    def close(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
