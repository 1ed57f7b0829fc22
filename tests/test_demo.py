"""`make demo` runs a whole scripted call on 127.0.0.1 and its timeline shows every step (issue 6)."""

import subprocess

from conftest import ROOT

STEPS = ("press", "ring", "answer", "talk", "door code", "relay", "hang up", "exit")
EVENTS = ("phone  ready", "door   ready", "door   button", "phone  incoming_call", "door   call_ringing",
          "phone  call_answered", "door   call_answered", "phone  dtmf_sent", "door   dtmf",
          "door   door_code", "door   relay", "door   door_opened", "phone  hangup", "door   call_ended",
          "phone  call_ended", "door   stopped")


def run_demo():
    return subprocess.run(["make", "-s", "demo"], capture_output=True, text=True, timeout=180, cwd=ROOT)


def test_make_demo_runs_every_step():
    proc = run_demo()
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "demo: every step happened." in out
    for step in STEPS:
        assert any(line.split()[:2] == ["ok"] + step.split()[:1] for line in out.splitlines()), step
    timeline = out.split("Timeline", 1)[1].split("Steps:", 1)[0]
    for event in EVENTS:
        assert event in timeline, event
    lines = [l for l in timeline.splitlines()[1:] if l.strip()]
    times = [float(l.split()[0]) for l in lines]
    assert times == sorted(times)  # merged from both and sorted by time
    assert "".join(l.split()[-2] for l in lines if " door   dtmf " in l) == "1234"
