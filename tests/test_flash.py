"""flash.sh: --dry-run transcripts per board kind, one-line errors, and a
real `flash.sh pi --root DIR` install (systemd unit verified, venv runs the
station with the sim board). Nothing here talks to a real device: the
serial port, esptool and ssh are fakes or never run."""

import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import time

import pytest

from conftest import ROOT

FLASH = os.path.join(ROOT, "flash.sh")


def flash(*args, env=None, timeout=300):
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([FLASH] + list(args), capture_output=True, text=True, env=full, timeout=timeout)


def commands(out):
    return [l[2:] for l in out.splitlines() if l.startswith("+ ")]


def one(lines, *words):
    """The one command line holding all the words."""
    hits = [l for l in lines if all(w in l for w in words)]
    assert len(hits) == 1, (words, hits)
    return hits[0]


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.json"
    shutil.copy(os.path.join(ROOT, "firmware", "config.example.json"), path)
    return str(path)


ESP_BOARDS = [
    ("esp32-devkitc-i2s", "esp32", "0x1000"),
    ("esp32-es8311", "esp32", "0x1000"),
    ("m5stack-atom-echo", "esp32", "0x1000"),
    ("esp32s3-n16r8-i2s", "esp32s3", "0x0"),
]


@pytest.mark.parametrize("board,chip,offset", ESP_BOARDS)
def test_esp32_dry_run_transcript(tmp_path, config, board, chip, offset):
    image = tmp_path / "mp.bin"
    image.write_bytes(b"\0")
    proc = flash("esp32", "--board", board, "--port", "/dev/ttyFAKE0", "--config", config,
                 "--firmware", str(image), "--erase", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc.stdout)
    # esptool: the right chip and offset, erase before write
    erase = one(cmds, "esptool", "erase_flash")
    write = one(cmds, "esptool", "write_flash")
    assert "--chip %s --port /dev/ttyFAKE0" % chip in erase
    assert write.endswith("-z %s %s" % (offset, image))
    assert cmds.index(erase) < cmds.index(write)
    # the chip is checked before anything is written
    assert cmds.index(one(cmds, "esptool", "chip_id")) < cmds.index(erase)
    one(cmds, "pip install", "tools/flash/requirements.txt")
    one(cmds, "tools/mpy.py", "build/esp32-" + board)
    # mpremote: old main.py out first, then the tree, the board, config; main.py last
    one(cmds, "mpremote connect /dev/ttyFAKE0 exec", "os.remove('main.py')", "+ reset")
    cp = one(cmds, "mpremote connect /dev/ttyFAKE0 cp -r")
    assert "/sipdoor" in cp and "/boards" in cp and "config.json" in cp and "boot.py" in cp
    assert cp.endswith("main.py :main.py")
    one(cmds, "cp", "boards/%s.json" % board)
    argv = one(cmds, "printf", "argv.json")
    assert '"--board", "%s"' % board in argv
    assert not [c for c in cmds if "mip install" in c]  # shipped boards need none
    one(cmds, "follow.py --serial /dev/ttyFAKE0 --reset")
    assert "\u2713" in proc.stdout and "[8/8]" in proc.stdout


def test_esp32_pinned_image_is_downloaded(config):
    proc = flash("esp32", "--board", "esp32s3-n16r8-i2s", "--port", "/dev/ttyFAKE0", "--config", config,
                 "--dry-run")
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc.stdout)
    board = json.load(open(os.path.join(ROOT, "boards", "esp32s3-n16r8-i2s.json")))
    mp = board["micropython"]
    name = "%s-v%s.bin" % (mp["image"], mp["version"])
    one(cmds, "curl", "micropython.org/download/%s/" % mp["image"])
    assert one(cmds, "write_flash").endswith("-z 0x0 build/micropython/" + name)
    assert not [c for c in cmds if "erase_flash" in c]


def test_esp32_no_image_copies_only(config):
    proc = flash("esp32", "--board", "esp32-devkitc-i2s", "--port", "/dev/ttyFAKE0", "--config", config,
                 "--no-image", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc.stdout)
    assert not [c for c in cmds if "write_flash" in c or "curl" in c]
    one(cmds, "mpremote", "cp -r")


def test_esp32_mip_installs_what_the_board_lists(tmp_path, config):
    board = json.load(open(os.path.join(ROOT, "boards", "esp32-devkitc-i2s.json")))
    board["micropython"]["mip"] = ["logging", "umqtt.simple"]
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(board))
    proc = flash("esp32", "--board", str(path), "--port", "/dev/ttyFAKE0", "--config", config,
                 "--wifi", config, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc.stdout)
    mips = [c for c in cmds if "mip install" in c]
    assert [m.split()[-1] for m in mips] == ["logging", "umqtt.simple"]
    assert all("mpremote connect /dev/ttyFAKE0 mip install" in m for m in mips)
    assert "wifi.json" in one(cmds, "mpremote", "cp -r")


def test_dry_run_changes_nothing(tmp_path, config):
    target = tmp_path / "image"
    proc = flash("pi", "--root", str(target), "--board", "rpi-wm8960-hat", "--config", config, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert not target.exists()
    cmds = commands(proc.stdout)
    one(cmds, "venv --system-site-packages", str(target))


def test_pi_ssh_dry_run_transcript(config):
    proc = flash("pi", "--host", "pi@door.local", "--board", "rpi-wm8960-hat", "--config", config, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc.stdout)
    one(cmds, "ssh -o BatchMode=yes", "pi@door.local true")
    one(cmds, "tar -C", "ssh pi@door.local", "sudo cp -r --no-preserve=ownership")
    one(cmds, "ssh pi@door.local", "apt-get install", "python3-venv", "requirements-pi.txt")
    one(cmds, "ssh pi@door.local", "systemd-sysusers", "systemctl enable sipdoor.service")
    one(cmds, "ssh pi@door.local sudo systemctl restart sipdoor.service")
    one(cmds, "follow.py", "-- ssh pi@door.local journalctl -u sipdoor -f")
    assert "[6/6]" in proc.stdout


def error_line(proc, code=1):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [l for l in proc.stderr.splitlines() if l.startswith("flash.sh:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_one_line_errors(tmp_path, config):
    assert "unknown board 'nope'" in error_line(flash("esp32", "--board", "nope", "--port", "/dev/x",
                                                      "--config", config, "--dry-run"))
    assert "use ./flash.sh pi" in error_line(flash("esp32", "--board", "rpi-usb-audio", "--port", "/dev/x",
                                                   "--config", config, "--dry-run"))
    assert "use ./flash.sh esp32" in error_line(flash("pi", "--root", str(tmp_path / "r"),
                                                      "--board", "esp32-es8311", "--dry-run"))
    missing = str(tmp_path / "ttyNOPE")
    assert "no serial port " + missing in error_line(flash("esp32", "--board", "esp32-es8311", "--port", missing,
                                                           "--config", config))
    assert "--port" in error_line(flash("esp32", "--board", "esp32-es8311", "--config", config), code=2)
    assert "unknown target" in error_line(flash("arduino"), code=2)
    bad = tmp_path / "bad.json"
    bad.write_text('{"board": "sim", "door": {"relay": "gate"}}')
    assert "door.relay" in error_line(flash("pi", "--root", str(tmp_path / "r"), "--config", str(bad),
                                            "--dry-run"))
    # no ssh: a fake ssh that cannot connect
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ssh").write_text("#!/bin/sh\necho 'ssh: connect: No route to host' >&2\nexit 255\n")
    (fake / "ssh").chmod(0o755)
    env = {"PATH": "%s:%s" % (fake, os.environ["PATH"])}
    assert "cannot reach pi@door.local over ssh" in error_line(flash("pi", "--host", "pi@door.local", env=env))


def fake_venv(tmp_path, chip_line):
    """A venv whose python logs its arguments and plays esptool's chip_id."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "calls.log"
    py = venv / "bin" / "python"
    py.write_text("#!/bin/sh\necho \"$*\" >> %s\ncase \"$*\" in *chip_id*) echo '%s';; esac\n" % (log, chip_line))
    py.chmod(py.stat().st_mode | stat.S_IEXEC)
    want = hashlib.sha256(open(os.path.join(ROOT, "tools", "flash", "requirements.txt"), "rb").read()).hexdigest()
    (venv / ".installed-flash").write_text(want + "\n")
    return venv, log


def test_wrong_chip_writes_nothing(tmp_path, config):
    venv, log = fake_venv(tmp_path, "Detecting chip type... ESP32")
    port = tmp_path / "ttyUSB0"
    port.write_text("")
    proc = flash("esp32", "--board", "esp32s3-n16r8-i2s", "--port", str(port), "--config", config,
                 "--firmware", config, "--erase", env={"SIPDOOR_VENV": str(venv)})
    line = error_line(proc)
    assert "wrong chip" in line and "esp32s3" in line and "nothing was written" in line
    calls = log.read_text().splitlines()
    assert len(calls) == 1 and "chip_id" in calls[0]


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def unit_value(text, key):
    return [l.split("=", 1)[1] for l in text.splitlines() if l.startswith(key + "=")]


def test_pi_root_install(tmp_path):
    root = tmp_path / "root"
    cfg = json.load(open(os.path.join(ROOT, "firmware", "config.example.json")))
    cfg["sip"]["listen"] = "127.0.0.1:%d" % free_port()
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(json.dumps(cfg))
    proc = flash("pi", "--root", str(root), "--board", "rpi-wm8960-hat", "--config", str(cfg_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("\u2713") == 6

    app = root / "opt" / "sipdoor"
    unit_path = root / "etc" / "systemd" / "system" / "sipdoor.service"
    unit = unit_path.read_text()
    assert unit_value(unit, "Type") == ["notify"]
    assert unit_value(unit, "WatchdogSec") == ["30"]
    assert unit_value(unit, "Restart") == ["on-failure"]
    assert unit_value(unit, "User") == ["sipdoor"]
    assert unit_value(unit, "WantedBy") == ["multi-user.target"]
    assert "@" not in "".join(unit_value(unit, "ExecStart"))
    wants = root / "etc" / "systemd" / "system" / "multi-user.target.wants" / "sipdoor.service"
    assert os.readlink(str(wants)) == "/etc/systemd/system/sipdoor.service"
    sysusers = (root / "usr" / "lib" / "sysusers.d" / "sipdoor.conf").read_text()
    for group in ("gpio", "i2c", "audio"):
        assert "m sipdoor %s" % group in sysusers
    assert json.load(open(str(root / "etc" / "sipdoor" / "config.json"))) == cfg

    # systemd-analyze verify, with the unit's paths mapped into DIR
    mapped = unit.replace("/opt/sipdoor", str(app)).replace("/etc/sipdoor", str(root / "etc" / "sipdoor"))
    check = tmp_path / "sipdoor.service"
    check.write_text(mapped)
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: make test installs the Debian package systemd"
    v = subprocess.run([analyze, "verify", "--man=no", str(check)], capture_output=True, text=True)
    complaints = [l for l in (v.stdout + v.stderr).splitlines() if "sipdoor.service" in l]
    assert v.returncode == 0 and not complaints, v.stdout + v.stderr

    # the venv has the pinned packages and runs the unit's command (sim board)
    py = str(app / "venv" / "bin" / "python")
    pins = subprocess.run([py, "-c", "import gpiozero, smbus2"],
                          capture_output=True, text=True)
    assert pins.returncode == 0, pins.stderr
    argv = unit_value(mapped, "ExecStart")[0].split()
    argv[argv.index("--board") + 1] = "sim"
    station = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=str(app))
    try:
        events = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = station.stdout.readline()
            if not line:
                break
            events.append(json.loads(line)["event"])
            if events[-1] == "ready":
                break
        assert "ready" in events, (events, station.stderr.read() if station.poll() is not None else "")
        station.stdin.write("quit\n")
        station.stdin.flush()
        out, err = station.communicate(timeout=20)
        assert station.returncode == 0, err
        assert '"stopped"' in out
    finally:
        if station.poll() is None:
            station.kill()
            station.wait()


FOLLOW = os.path.join(ROOT, "tools", "flash", "follow.py")


@pytest.mark.parametrize("lines,code,words", [
    (['{"event": "ready", "registration": "not registered"}', '{"event": "registered", "aor": "sip:door@pbx"}'],
     0, []),
    (['{"event": "ready", "registration": "off (peer-to-peer)"}'], 0, []),
    (['{"event": "registration_failed", "status": 403, "reason": "Forbidden"}'], 1, ["registration failed: 403"]),
    (['MicroPython v1.29.0 on 2026-01-01; Generic ESP32', 'Type "help()" for more information.'], 1,
     ["exited on the board"]),
    (["boot: Wi-Fi not connected"], 1, ["not registered after 1 s"]),
])
def test_follow_waits_for_registered(lines, code, words):
    script = "".join("echo %s; " % shlex_quote(l) for l in lines) + "sleep 20"
    start = time.monotonic()
    proc = subprocess.run([FOLLOW, "--timeout", "1", "--", "sh", "-c", script], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert time.monotonic() - start < 10  # the followed command is stopped, not waited for
    for w in words:
        assert w in proc.stderr


def shlex_quote(text):
    import shlex

    return shlex.quote(text)


def test_esp32_boot_py_sets_argv_under_micropython(tmp_path):
    from conftest import venv_tool

    (tmp_path / "argv.json").write_text(json.dumps(["main.py", "--config", "config.json", "--board", "x"]))
    shutil.copy(os.path.join(ROOT, "tools", "flash", "boot.py"), str(tmp_path / "boot.py"))
    (tmp_path / "check.py").write_text("exec(open('boot.py').read())\nimport sys\nprint(sys.argv[1:])\n")
    proc = subprocess.run([venv_tool("micropython"), "check.py"], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['--config', 'config.json', '--board', 'x']"
