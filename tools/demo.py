#!/usr/bin/env python3
"""make demo: a whole door call on this PC, scripted, on 127.0.0.1 only.

The station (firmware/main.py, sim board, a temporary config) sends a
1000 Hz tone; tools/sipcall plays the flat's phone in answer mode and sends
440 Hz. A visitor presses the call button, the phone rings and answers,
both talk, the resident keys the door code 1234 (RFC 4733), the relay
opens and closes, the phone hangs up. The events of both are printed as
one timeline, then a check of every step; exit 0 only if all happened.
Nothing beyond the project venv is needed (no baresip, no sound card).
"""

import argparse
import json
import math
import os
import queue
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from sipcall import describe  # noqa: E402
from sipdoor import config as configs  # noqa: E402

CODE = "1234"
# Far from the station's own tones (ringback 425 Hz, beeps 440-1400 Hz) and DTMF.
DOOR_TONE, PHONE_TONE = 1000, 300
PULSE_MS = 1000
QUIET = ("media_stats", "led")  # left out of the printed timeline


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_tone(path, freq, seconds, amplitude=8000, rate=8000):
    """An 8 kHz mono 16-bit WAV with a sine tone."""
    step = 2 * math.pi * freq / rate
    frames = b"".join(struct.pack("<h", int(amplitude * math.sin(step * i))) for i in range(int(rate * seconds)))
    w = wave.open(path, "wb")
    try:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    finally:
        w.close()


def tone_in(path, freq, rate=8000, frame=160, level=1000):
    """(frequency in Hz, seconds) of the 20 ms frames of a WAV that carry a loud
    tone within 10% of freq, by zero crossings; other sounds (the station's
    ringback and beeps, silence while DTMF is sent) are left out."""
    try:
        w = wave.open(path, "rb")
    except (OSError, EOFError, wave.Error):
        return 0.0, 0.0
    try:
        data = w.readframes(w.getnframes())
    finally:
        w.close()
    samples = struct.unpack("<%dh" % (len(data) // 2), data)
    crossings = frames = 0
    for i in range(frame, len(samples) - frame + 1, frame):
        f = samples[i - 1:i + frame]  # the sample before: crossings at frame edges count too
        if math.sqrt(sum(s * s for s in f) / frame) < level:
            continue
        n = sum(1 for a, b in zip(f, f[1:]) if (a < 0) != (b < 0))
        if abs(n * rate / 2.0 / frame - freq) <= freq * 0.1:
            crossings += n
            frames += 1
    if not frames:
        return 0.0, 0.0
    seconds = frames * frame / float(rate)
    return crossings / 2.0 / seconds, seconds


class Proc:
    """A child process whose stdout JSON lines are collected with arrival times."""

    def __init__(self, who, cmd, timeline, t0, errfile):
        self.who = who
        self.timeline = timeline
        self.t0 = t0
        self.events = []
        self.lines = queue.Queue()
        self.err = open(errfile, "w")
        self.errfile = errfile
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                     text=True, cwd=ROOT)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "output", "text": line.rstrip()}
            ev["_at"] = time.monotonic() - self.t0
            ev["_who"] = self.who
            self.events.append(ev)
            self.timeline.append(ev)
            self.lines.put(ev)
        self.lines.put(None)

    def wait_for(self, predicate, timeout):
        """The first new event matching predicate, or None at the timeout or the end."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                ev = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if ev is None:
                self.lines.put(None)
                return None
            if predicate(ev):
                return ev

    def send(self, line):
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            pass

    def finish(self, timeout):
        """Exit code (None if it had to be killed)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = None
        self.reader.join(5)
        self.err.close()
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr_tail(self, n=15):
        try:
            return "".join(open(self.errfile).readlines()[-n:])
        except OSError:
            return ""


def station_config(path, door_port, phone_port):
    sip = {"listen": "127.0.0.1:%d" % door_port, "account": None, "allow": ["sip:flat@127.0.0.1"],
           "keepalive_s": 5}
    config = {"board": "sim", "sip": sip,
              "buttons": {"call": {"targets": ["sip:flat@127.0.0.1:%d" % phone_port], "ring_timeout_s": 20}},
              "door": {"relay": "door", "pulse_ms": PULSE_MS, "codes": [CODE]},
              "log": {"level": "info"}}
    configs.validate(json.loads(json.dumps(config)), path)
    with open(path, "w") as f:
        json.dump(config, f, indent=2)


def first(events, who, kind, **match):
    for ev in events:
        if ev["_who"] == who and ev["event"] == kind and all(ev.get(k) == v for k, v in match.items()):
            return ev
    return None


def check_steps(events, heard, codes):
    """[(step, ok, detail)] for every step of the call."""
    door = lambda kind, **m: first(events, "door", kind, **m)  # noqa: E731
    phone = lambda kind, **m: first(events, "phone", kind, **m)  # noqa: E731
    steps = []
    press = door("button", name="call", state="pressed")
    steps.append(("press", bool(press), "the call button was pressed"))
    ring = door("call_ringing", status=180)
    steps.append(("ring", bool(ring and phone("incoming_call") and phone("ringing_sent")),
                  "the station called sipcall and heard 180 Ringing"))
    answered = door("call_answered")
    steps.append(("answer", bool(answered and phone("call_answered")),
                  "sipcall answered; %s" % (answered["negotiated"]["codec"] if answered else "no media")))
    (ph_f, ph_s), (dr_f, dr_s) = heard
    talk = abs(ph_f - DOOR_TONE) <= DOOR_TONE * 0.03 and abs(dr_f - PHONE_TONE) <= PHONE_TONE * 0.03 \
        and ph_s >= 2 and dr_s >= 2
    steps.append(("talk", talk, "phone heard %.0f Hz for %.1f s (door sends %d), door heard %.0f Hz for %.1f s "
                  "(phone sends %d)" % (ph_f, ph_s, DOOR_TONE, dr_f, dr_s, PHONE_TONE)))
    digits = "".join(ev["digit"] for ev in events if ev["_who"] == "door" and ev["event"] == "dtmf"
                     and ev.get("source") == "rfc4733")
    accepted = door("door_code", state="accepted")
    steps.append(("door code", bool(phone("dtmf_sent", digits=CODE) and digits == CODE and accepted),
                  "sipcall sent %s, the station received %r over RFC 4733" % (CODE, digits)))
    on = door("relay", name="door", state=1)
    off = None
    if on is not None:
        off = next((ev for ev in events[events.index(on):] if ev["_who"] == "door" and ev["event"] == "relay"
                    and ev.get("name") == "door" and ev.get("state") == 0), None)
    pulse = (off["t"] - on["t"]) if on and off else 0
    steps.append(("relay", bool(on and off and door("door_opened")),
                  "relay door on, off after %.2f s (pulse_ms %d)" % (pulse, PULSE_MS)))
    ended = door("call_ended", reason="hangup_remote")
    steps.append(("hang up", bool(phone("hangup") and phone("call_ended") and ended),
                  "sipcall hung up; the station saw %s" % (ended["reason"] if ended else "no end")))
    steps.append(("exit", codes == (0, 0), "sipcall exit %s, station exit %s" % codes))
    return steps


def print_timeline(events, out):
    out.write("\nTimeline (seconds since the demo started; door = the station, phone = sipcall):\n")
    for ev in sorted(events, key=lambda e: e["_at"]):
        if ev["event"] in QUIET:
            continue
        d = dict((k, v) for k, v in ev.items() if not k.startswith("_"))
        try:
            text = describe(d)
        except (KeyError, TypeError):
            text = json.dumps(d)
        out.write("%8.3f  %-5s  %-16s %s\n" % (ev["_at"], ev["_who"], ev["event"], text))


def run(keep=None, out=sys.stdout):
    work = keep or tempfile.mkdtemp(prefix="sipdoor-demo-")
    os.makedirs(work, exist_ok=True)
    f = lambda name: os.path.join(work, name)  # noqa: E731
    write_tone(f("door-tone.wav"), DOOR_TONE, 10)
    write_tone(f("phone-tone.wav"), PHONE_TONE, 10)
    door_port, phone_port = free_udp_port(), free_udp_port()
    while phone_port == door_port:
        phone_port = free_udp_port()
    station_config(f("config.json"), door_port, phone_port)
    py = sys.executable
    out.write("sipdoor demo: station on 127.0.0.1:%d, the flat's phone (tools/sipcall) on 127.0.0.1:%d\n"
              % (door_port, phone_port))
    out.write("files in %s\n" % work)
    out.flush()

    timeline = []
    t0 = time.monotonic()
    procs = []
    codes = (None, None)
    try:
        phone = Proc("phone", [py, os.path.join(HERE, "sipcall.py"), "answer", "--listen",
                               "127.0.0.1:%d" % phone_port, "--user", "flat", "--answer-after", "1",
                               "--audio-in", f("phone-tone.wav"), "--audio-out", f("phone-heard.wav"),
                               "--dtmf", CODE, "--dtmf-after", "1.5", "--hangup-after", "5", "--wait", "30",
                               "--json"], timeline, t0, f("phone.log"))
        procs.append(phone)
        if not phone.wait_for(lambda e: e["event"] == "ready", 15):
            raise RuntimeError("sipcall did not start:\n" + phone.stderr_tail())
        door = Proc("door", [py, os.path.join(ROOT, "firmware", "main.py"), "--config", f("config.json"),
                             "--audio-in", f("door-tone.wav"), "--audio-out", f("door-heard.wav"),
                             "--view", "json"], timeline, t0, f("station.log"))
        procs.append(door)
        if not door.wait_for(lambda e: e["event"] == "ready", 20):
            raise RuntimeError("the station did not start:\n" + door.stderr_tail())
        door.send("tap call")
        door.wait_for(lambda e: e["event"] == "call_ended", 30)
        try:
            phone_code = phone.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            phone_code = None
        door.send("quit")
        door.wait_for(lambda e: e["event"] == "stopped", 10)
        codes = (phone.finish(10) if phone_code is None else phone.finish(1), door.finish(10))
    except RuntimeError as e:
        out.write("demo: %s\n" % e)
    finally:
        for p in procs:
            p.kill()

    heard = (tone_in(f("phone-heard.wav"), DOOR_TONE), tone_in(f("door-heard.wav"), PHONE_TONE))
    events = sorted(timeline, key=lambda e: e["_at"])
    with open(f("timeline.jsonl"), "w") as tl:
        for ev in events:
            tl.write(json.dumps(ev) + "\n")
    print_timeline(events, out)
    steps = check_steps(events, heard, codes)
    out.write("\nSteps:\n")
    for name, ok, detail in steps:
        out.write("  %-4s %-10s %s\n" % ("ok" if ok else "FAIL", name, detail))
    good = all(ok for _, ok, _ in steps)
    if not good:
        for p in procs:
            out.write("\n-- %s stderr (last lines, %s) --\n%s" % (p.who, p.errfile, p.stderr_tail()))
    out.write("\n%s\n" % ("demo: every step happened." if good else "demo: FAILED (see above)."))
    out.flush()
    if keep is None and good:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if good else 1


def main(argv=None):
    p = argparse.ArgumentParser(prog="demo.py", description="A scripted door call on 127.0.0.1: the station "
                                "and tools/sipcall as the flat's phone.")
    p.add_argument("--keep", metavar="DIR", help="keep the config, tones, recordings and logs in DIR")
    opts = p.parse_args(argv)
    return run(opts.keep)


if __name__ == "__main__":
    sys.exit(main())
