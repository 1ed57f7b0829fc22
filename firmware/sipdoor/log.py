"""Log lines to stderr (never stdout: stdout carries the sim's JSON events)."""

import sys

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class Log:
    def __init__(self, level="info", stream=None, clock=None):
        self.threshold = LEVELS[level]
        self.stream = stream or sys.stderr
        self.clock = clock

    def _write(self, level, msg, args):
        if LEVELS[level] < self.threshold:
            return
        if args:
            msg = msg % args
        stamp = ""
        if self.clock is not None:
            t = self.clock.wall()
            stamp = "%02d:%02d:%02d " % ((t // 3600) % 24, (t // 60) % 60, t % 60)
        try:
            self.stream.write("%s%s %s\n" % (stamp, level.upper(), msg))
        except (OSError, ValueError):
            pass  # a closed stderr must not stop the door

    def debug(self, msg, *args):
        self._write("debug", msg, args)

    def info(self, msg, *args):
        self._write("info", msg, args)

    def warning(self, msg, *args):
        self._write("warning", msg, args)

    def error(self, msg, *args):
        self._write("error", msg, args)
