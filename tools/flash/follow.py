#!/usr/bin/env python3
"""Follow a station's output until it is registered, or give up.

    follow.py [--timeout S] [--serial PORT [--reset] | -- COMMAND...]   (else stdin)

Reads JSON event lines (the station's --view json output) from a serial
port (the ESP32 boot log), a command's output (journalctl -f over ssh,
stopped when done) or stdin, echoes them,
and exits 0 on "registered" (or "ready" in peer-to-peer mode, no account),
1 on registration failure, a crash, the end of the output or the timeout.
"""

import json
import os
import select
import signal
import subprocess
import sys
import time


def verdict(line):
    """'ok', an error message, or None to keep reading."""
    text = line.strip()
    if text.startswith("{"):
        try:
            ev = json.loads(text)
        except ValueError:
            return None
        kind = ev.get("event")
        if kind == "registered":
            return "ok"
        if kind == "ready" and "peer-to-peer" in str(ev.get("registration", "")):
            return "ok"
        if kind == "registration_failed":
            return "registration failed: %s %s" % (ev.get("status", ""), ev.get("reason", ""))
        if kind == "stopped":
            return "the station stopped (%s)" % ev.get("reason", "?")
        return None
    if "Failed with result" in text or "Main process exited" in text:  # systemd, in the journal
        return "the service stopped (see the log above)"
    if 'Type "help()"' in text:  # MicroPython's REPL banner: main.py ended
        return "the station exited on the board (see the log above)"
    return None


class Serial:
    def __init__(self, port, reset):
        import serial  # pyserial, installed with esptool and mpremote

        self.s = serial.Serial(None, 115200, timeout=0.2)
        self.s.port = port
        self.s.dtr = False  # opening must not hold the chip in reset or boot mode
        self.s.rts = False
        self.s.open()
        if reset:  # EN low then high, as esptool's hard reset; IO0 stays high
            self.s.dtr = False
            self.s.rts = True
            time.sleep(0.1)
            self.s.rts = False
        self.buf = b""

    def lines(self):
        while True:
            chunk = self.s.read(256)
            if chunk:
                self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                yield line.decode("utf-8", "replace")
            if not chunk:
                yield None  # nothing yet: lets the caller check the clock


def stream_lines(fd):
    """Lines from a file descriptor, unbuffered so select() tells the truth."""
    buf = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            yield None
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            if buf:
                yield buf.decode("utf-8", "replace")
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode("utf-8", "replace")


def main(argv):
    timeout = 60.0
    port = None
    reset = False
    command = None
    i = 0
    while i < len(argv):
        if argv[i] == "--":
            command = argv[i + 1:]
            break
        if argv[i] == "--timeout":
            timeout = float(argv[i + 1])
            i += 1
        elif argv[i] == "--serial":
            port = argv[i + 1]
            i += 1
        elif argv[i] == "--reset":
            reset = True
        else:
            sys.exit("follow.py: unknown option %r" % argv[i])
        i += 1
    proc = None
    try:
        if port:
            source = Serial(port, reset).lines()
        elif command:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, start_new_session=True)
            source = stream_lines(proc.stdout.fileno())
        else:
            source = stream_lines(sys.stdin.fileno())
    except Exception as e:
        print("follow: cannot open %s: %s" % (port or command, e), file=sys.stderr)
        return 1
    try:
        return follow(source, timeout)
    finally:
        if proc is not None:  # stop the command and its children (ssh, journalctl -f)
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except OSError:
                pass
            proc.wait()


def follow(source, timeout):
    end = time.monotonic() + timeout
    for line in source:
        if line is not None:
            print("  | " + line.rstrip())
            sys.stdout.flush()
            result = verdict(line)
            if result == "ok":
                return 0
            if result:
                print("follow: %s" % result, file=sys.stderr)
                return 1
        if time.monotonic() > end:
            print("follow: not registered after %d s: check the config's sip.account, the network "
                  "and the log above" % timeout, file=sys.stderr)
            return 1
    print("follow: the log ended before the station registered", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
