"""Black-box: the real firmware/main.py with the sim board, on both interpreters."""

import os
import pty
import select
import subprocess
import time

import pytest

from stationproc import ROOT, Station, station_cmd, write_config

RUNTIMES = ["cpython", "micropython"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_press_call_gives_a_button_event_and_quit_exits_zero(runtime, tmp_path):
    st = Station(runtime, write_config(tmp_path))
    try:
        ready = st.wait_for(lambda e: e["event"] == "ready")
        assert ready["platform"] == "sim"
        st.send("press call")
        ev = st.wait_for(lambda e: e["event"] == "button")
        assert ev == {"event": "button", "name": "call", "state": "pressed", "t": ev["t"]}
        st.send("quit")
        code, rest, err = st.finish()
        assert code == 0, err
        assert rest[-1]["event"] == "stopped"
    finally:
        st.kill()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_exit_button_pulses_the_door_relay(runtime, tmp_path):
    st = Station(runtime, write_config(tmp_path, door={"relay": "door", "pulse_ms": 300}))
    try:
        st.wait_for(lambda e: e["event"] == "ready")
        st.send("tap exit")
        on = st.wait_for(lambda e: e["event"] == "relay" and e["state"] == 1)
        off = st.wait_for(lambda e: e["event"] == "relay" and e["state"] == 0)
        assert 0.25 <= off["t"] - on["t"] <= 1.5
        assert any(e["event"] == "door_opened" and e["by"] == "exit_button" for e in st.events)
        st.send("quit")
        assert st.finish()[0] == 0
    finally:
        st.kill()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_unknown_commands_get_an_error_and_the_station_keeps_running(runtime, tmp_path):
    st = Station(runtime, write_config(tmp_path))
    try:
        st.wait_for(lambda e: e["event"] == "ready")
        st.send("open sesame")
        err = st.wait_for(lambda e: e["event"] == "error")
        assert "unknown command" in err["message"]
        st.send("press call")
        st.wait_for(lambda e: e["event"] == "button")
        st.send("quit")
        assert st.finish()[0] == 0
    finally:
        st.kill()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_closed_stdin_does_not_stop_the_station(runtime, tmp_path):
    st = Station(runtime, write_config(tmp_path))
    try:
        st.wait_for(lambda e: e["event"] == "ready")
        st.proc.stdin.close()
        time.sleep(0.5)
        assert st.proc.poll() is None  # still serving the door
        st.proc.terminate()
        st.proc.wait(timeout=10)
    finally:
        st.kill()


def test_sigterm_stops_cleanly_with_relays_off(tmp_path):
    # CPython only: MicroPython has no signal module (on a board the
    # watchdog and a reset stand in for SIGTERM; relays start off).
    st = Station("cpython", write_config(tmp_path, door={"relay": "door", "pulse_ms": 60000}))
    try:
        st.wait_for(lambda e: e["event"] == "ready")
        st.send("tap exit")
        st.wait_for(lambda e: e["event"] == "relay" and e["state"] == 1)
        st.proc.terminate()
        code, rest, err = st.finish()
        assert code == 0, err
        kinds = [(e["event"], e.get("state")) for e in rest]
        assert ("relay", 0) in kinds, rest  # switched off on the way out...
        assert kinds.index(("relay", 0)) < kinds.index(("stopped", None))  # ...before the station says stopped
        assert rest[-1]["event"] == "stopped"
    finally:
        st.kill()


def _read_pty(fd, want, timeout=10.0):
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and want not in out:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


def test_live_view_on_a_terminal(tmp_path):
    # CPython only: MicroPython's stdout has no isatty(), so it always writes
    # JSON lines (a board has no terminal to draw on).
    master, slave = pty.openpty()
    proc = subprocess.Popen(station_cmd("cpython") + ["--config", write_config(tmp_path)],
                            stdin=slave, stdout=slave, stderr=subprocess.PIPE, cwd=ROOT)
    os.close(slave)
    try:
        screen = _read_pty(master, b"LEDs          status \x1b[32mon")
        assert b"registration  off (peer-to-peer)" in screen
        assert b"relays        door off" in screen
        os.write(master, b"tap exit\n")
        screen = _read_pty(master, b"door opened")
        assert b"door \x1b[31mON" in screen
        os.write(master, b"quit\n")
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        proc.stderr.close()


def test_software_watchdog_ends_a_stalled_station_and_a_restart_starts_with_relays_off(tmp_path):
    import json
    import signal

    board = json.load(open(os.path.join(ROOT, "boards", "sim.json")))
    board["watchdog_s"] = 2
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "sim.json").write_text(json.dumps(board))
    cfg = write_config(tmp_path, door={"relay": "door", "pulse_ms": 60000})
    st = Station("cpython", cfg, "--boards", str(boards))
    try:
        st.wait_for(lambda e: e["event"] == "ready")
        st.send("tap exit")  # the door relay is on for a minute...
        st.wait_for(lambda e: e["event"] == "relay" and e["state"] == 1)
        st.proc.send_signal(signal.SIGSTOP)  # ...when the loop stalls
        time.sleep(3)
        st.proc.send_signal(signal.SIGCONT)
        assert st.proc.wait(10) == -signal.SIGALRM
    finally:
        st.kill()
    again = Station("cpython", cfg, "--boards", str(boards))
    try:
        again.wait_for(lambda e: e["event"] == "ready")
        again.send("quit")
        code, rest, err = again.finish()
        assert code == 0, err
        assert not [e for e in again.events if e["event"] == "relay" and e["state"] == 1]
    finally:
        again.kill()
