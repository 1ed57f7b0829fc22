"""main.py's command line: --help, and one clear line with exit 2 for every bad input."""

import json
import os
import shutil
import socket
import subprocess

import pytest

from stationproc import ROOT, station_cmd, write_config

RUNTIMES = ["cpython", "micropython"]


def run(runtime, *args, stdin=""):
    return subprocess.run(station_cmd(runtime) + list(args), input=stdin, capture_output=True,
                          text=True, timeout=30, cwd=ROOT)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_help(runtime):
    proc = run(runtime, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: main.py --config FILE")
    assert "--audio-in" in proc.stdout


def _board_dir(tmp_path, **changes):
    """A copy of boards/ with sim.json changed, for bad-board cases."""
    d = tmp_path / "boards"
    shutil.copytree(os.path.join(ROOT, "boards"), d)
    sim = json.load(open(d / "sim.json"))
    sim.update(changes)
    (d / "sim.json").write_text(json.dumps(sim))
    return str(d)


def _config(tmp_path, text):
    p = tmp_path / "c.json"
    p.write_text(text)
    return str(p)


def _edit(tmp_path, change):
    path = write_config(tmp_path)
    data = json.load(open(path))
    change(data)
    with open(path, "w") as f:
        json.dump(data, f)
    return path


def _cases():
    """(id, builder(tmp_path) -> (args, words that must be on the one stderr line))."""
    def unknown_key(t):
        p = _edit(t, lambda c: c.update(colour="red"))
        return ["--config", p], [p, "colour", "unknown key"]

    def wrong_type(t):
        p = _edit(t, lambda c: c["door"].update(pulse_ms="3s"))
        return ["--config", p], [p, "door.pulse_ms", "must be an integer"]

    def missing_required(t):
        p = _edit(t, lambda c: c.pop("board"))
        return ["--config", p], [p, "board", "missing"]

    def unknown_board(t):
        p = _edit(t, lambda c: c.update(board="pi9000"))
        return ["--config", p], [p, "board", "unknown board 'pi9000'"]

    def bad_pin(t):
        d = _board_dir(t, platform="rpi", buttons={"call": {"pin": 17}}, inputs={},
                       relays={"door": {"pin": 99}}, leds={}, audio={"kind": "none"})
        return ["--config", write_config(t), "--boards", d], [d + "/sim.json", "relays.door.pin", "out of range"]

    def pin_twice(t):
        d = _board_dir(t, platform="rpi", buttons={"call": {"pin": 17}}, inputs={},
                       relays={"door": {"pin": 17}}, leds={}, audio={"kind": "none"})
        return ["--config", write_config(t), "--boards", d], [d + "/sim.json", "relays.door.pin", "already used"]

    def bad_port(t):
        p = _edit(t, lambda c: c["sip"].update(listen="0.0.0.0:70000"))
        return ["--config", p], [p, "sip.listen", "bad port"]

    def malformed_json(t):
        p = _config(t, '{"board": "sim", "sip": {')
        return ["--config", p], [p, "malformed JSON"]

    def missing_file(t):
        p = str(t / "nope.json")
        return ["--config", p], [p, "file not found"]

    def unreadable(t):
        # Root can read any file, so a directory stands for an unreadable one.
        p = str(t / "adir")
        os.mkdir(p)
        return ["--config", p], [p]

    def no_such_button(t):
        p = _edit(t, lambda c: c.update(buttons={"flat2": {"targets": ["sip:102@pbx"]}}))
        return ["--config", p], [p, "buttons.flat2", "no such button"]

    def weak_code(t):
        p = _edit(t, lambda c: c["door"].update(codes=["12"]))
        return ["--config", p], [p, "door.codes[0]", "4 to 16 digits"]

    def malformed_board(t):
        d = _board_dir(t)
        with open(d + "/sim.json", "w") as f:
            f.write("{nope")
        return ["--config", write_config(t), "--boards", d], [d + "/sim.json", "malformed JSON"]

    def bad_wav(t):
        w = t / "in.wav"
        w.write_text("not audio")
        return ["--config", write_config(t), "--audio-in", str(w)], [str(w), "not a WAV file"]

    def bad_option(t):
        return ["--config", write_config(t), "--colour"], ["unknown option", "--colour"]

    def no_config_option(t):
        return [], ["--config FILE is required"]

    return [unknown_key, wrong_type, missing_required, unknown_board, bad_pin, pin_twice, bad_port,
            malformed_json, missing_file, unreadable, no_such_button, weak_code, malformed_board, bad_wav,
            bad_option, no_config_option]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.__name__)
def test_bad_input_stops_with_one_line(runtime, case, tmp_path):
    args, words = case(tmp_path)
    proc = run(runtime, *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert proc.stdout == ""


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_port_in_use_is_one_line(runtime, tmp_path):
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    try:
        port = blocker.getsockname()[1]
        p = _edit(tmp_path, lambda c: c["sip"].update(listen="127.0.0.1:%d" % port))
        proc = run(runtime, "--config", p)
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1
        assert "sip.listen" in proc.stderr and "cannot listen" in proc.stderr
    finally:
        blocker.close()
