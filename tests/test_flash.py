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


# board, chip, image offset, --frozen needed (no PSRAM)
ESP_BOARDS = [
    ("esp32-devkitc-i2s", "esp32", "0x1000", False),
    ("esp32-es8311", "esp32", "0x1000", False),
    ("m5stack-atom-echo", "esp32", "0x1000", True),
    ("esp32s3-n16r8-i2s", "esp32s3", "0x0", False),
]
NO_PSRAM = [b for b, _, _, frozen in ESP_BOARDS if frozen]


def test_esp_boards_lists_every_esp32_board():
    names = sorted(n[:-5] for n in os.listdir(os.path.join(ROOT, "boards")) if n.endswith(".json"))
    boards = {n: json.load(open(os.path.join(ROOT, "boards", n + ".json"))) for n in names}
    esp = {n: b for n, b in boards.items() if b["platform"] == "esp32"}
    assert sorted(esp) == sorted(b for b, _, _, _ in ESP_BOARDS)
    assert sorted(NO_PSRAM) == sorted(n for n, b in esp.items() if b.get("psram", "none") == "none")


@pytest.mark.parametrize("board,chip,offset,frozen", ESP_BOARDS)
def test_esp32_dry_run_transcript(tmp_path, config, board, chip, offset, frozen):
    image = tmp_path / "mp.bin"
    image.write_bytes(b"\0")
    proc = flash("esp32", "--board", board, "--port", "/dev/ttyFAKE0", "--config", config,
                 "--firmware", str(image), "--erase", "--dry-run", *(["--frozen"] if frozen else []))
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
    # mpremote: old main.py set aside first, then the tree, the board, config; main.py
    # last, and the old one dropped only then
    aside = one(cmds, "mpremote connect /dev/ttyFAKE0 exec", "os.rename('main.py', 'main.off')", "+ reset")
    drop = one(cmds, "mpremote connect /dev/ttyFAKE0 exec", "os.remove('main.off')")
    cp = one(cmds, "mpremote connect /dev/ttyFAKE0 cp -r")
    assert "/boards" in cp and "config.json" in cp and "boot.py" in cp
    assert cp.endswith("main.py :main.py")
    if frozen:  # the package is in the image: nothing compiled, nothing of it copied
        assert "/sipdoor" not in cp
        assert not [c for c in cmds if "tools/mpy.py" in c]
    else:
        one(cmds, "tools/mpy.py", "build/esp32-" + board)
        assert "/sipdoor" in cp
        ram = one(cmds, "mpremote connect /dev/ttyFAKE0 exec", "esp32.idf_heap_info")
        assert cmds.index(aside) < cmds.index(ram) < cmds.index(cp)  # PSRAM is checked before the copy
    assert cmds.index(cp) < cmds.index(drop)
    one(cmds, "cp", "boards/%s.json" % board)
    argv = one(cmds, "printf", "argv.json")
    assert '"--board", "%s"' % board in argv
    assert not [c for c in cmds if "mip install" in c]  # shipped boards need none
    one(cmds, "follow.py --serial /dev/ttyFAKE0 --reset")
    assert "\u2713" in proc.stdout and "[8/8]" in proc.stdout


@pytest.mark.parametrize("board,page,offset", [
    ("esp32s3-n16r8-i2s", "ESP32_GENERIC_S3", "0x0"),
    ("esp32-devkitc-i2s", "ESP32_GENERIC", "0x1000"),  # the WROVER DevKitC: SPIRAM image at 0x1000
])
def test_esp32_pinned_image_is_downloaded(config, board, page, offset):
    proc = flash("esp32", "--board", board, "--port", "/dev/ttyFAKE0", "--config", config,
                 "--dry-run")
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc.stdout)
    mp = json.load(open(os.path.join(ROOT, "boards", board + ".json")))["micropython"]
    assert "SPIRAM" in mp["image"]
    name = "%s-v%s.bin" % (mp["image"], mp["version"])
    # a variant is listed on its board's download page; the file name has the variant
    get = one(cmds, "curl", "micropython.org/download/%s/" % page)
    assert "resources/firmware/%s-[0-9]*-v%s" % (mp["image"], mp["version"]) in get
    assert one(cmds, "write_flash").endswith("-z %s build/micropython/%s" % (offset, name))
    assert not [c for c in cmds if "erase_flash" in c]


NO_PSRAM_LINE = ("flash.sh: board m5stack-atom-echo has no PSRAM: the station as .mpy needs ~250 KB of heap and "
                 "this board has ~110 KB; build MicroPython with sipdoor frozen in (tools/freeze/README.md) "
                 "and pass --firmware FILE --frozen")


@pytest.mark.parametrize("board", NO_PSRAM)
def test_no_psram_board_refused_without_frozen(tmp_path, config, board):
    image = tmp_path / "mp.bin"
    image.write_bytes(b"\0")
    for extra in ([], ["--firmware", str(image)], ["--no-image"]):
        proc = flash("esp32", "--board", board, "--port", "/dev/ttyFAKE0", "--config", config, "--dry-run", *extra)
        assert error_line(proc) == NO_PSRAM_LINE.replace("m5stack-atom-echo", board)
        assert not commands(proc.stdout)  # not even the host tools
        assert "[2/" not in proc.stdout
    # and for real: a port that exists, a venv that logs every call: nothing runs
    venv, log = fake_venv(tmp_path, "Detecting chip type... ESP32")
    port = tmp_path / "ttyUSB0"
    port.write_text("")
    proc = flash("esp32", "--board", board, "--port", str(port), "--config", config, "--firmware", str(image),
                 env={"SIPDOOR_VENV": str(venv)})
    assert error_line(proc) == NO_PSRAM_LINE.replace("m5stack-atom-echo", board)
    assert not log.exists()


def test_esp32_frozen_transcript(tmp_path, config):
    image = tmp_path / "frozen.bin"
    image.write_bytes(b"\0")
    proc = flash("esp32", "--board", "m5stack-atom-echo", "--port", "/dev/ttyFAKE0", "--config", config,
                 "--firmware", str(image), "--frozen", "--wifi", config, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc.stdout)
    write = one(cmds, "esptool", "write_flash")
    assert write.endswith("-z 0x1000 %s" % image)
    assert not [c for c in cmds if "tools/mpy.py" in c or "curl" in c]
    assert not [c for c in cmds if "idf_heap_info" in c]  # frozen: the PSRAM check does not apply
    assert "--frozen" in proc.stdout and "[8/8]" in proc.stdout
    one(cmds, "cp firmware/main.py", "build/esp32-m5stack-atom-echo/main.py")
    one(cmds, "cp", "boards/m5stack-atom-echo.json")
    # the old main.py goes aside, the image is checked for the frozen package
    # (only '.frozen' on the path), then a stale sipdoor/ (it would shadow it) goes
    aside = one(cmds, "mpremote connect /dev/ttyFAKE0 exec", "os.rename('main.py', 'main.off')", "+ reset")
    check = one(cmds, "mpremote connect /dev/ttyFAKE0 exec", "sys.path[:] = ['.frozen']", "import sipdoor.station")
    clean = one(cmds, "mpremote connect /dev/ttyFAKE0 exec", "r('sipdoor')")
    copies = [c for c in cmds if " cp " in c and "mpremote" in c]
    assert len(copies) == 1
    cp = copies[0]
    assert cmds.index(write) < cmds.index(aside) < cmds.index(check) < cmds.index(clean) < cmds.index(cp)
    assert "sipdoor" not in cp.replace("build/esp32-m5stack-atom-echo", "")
    for name in ("/boards", "boot.py", "config.json", "argv.json", "wifi.json"):
        assert name in cp, name
    assert cp.endswith("main.py :main.py")
    one(cmds, "follow.py --serial /dev/ttyFAKE0 --reset")


def test_esp32_frozen_options(tmp_path, config):
    base = ("esp32", "--board", "m5stack-atom-echo", "--port", "/dev/ttyFAKE0", "--config", config, "--dry-run")
    line = error_line(flash(*base, "--frozen"), code=2)
    assert "--frozen needs --firmware FILE" in line and "--no-image" in line
    # --no-image: the board already runs a frozen image; copy files only
    proc = flash(*base, "--frozen", "--no-image")
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc.stdout)
    assert not [c for c in cmds if "write_flash" in c or "curl" in c or "tools/mpy.py" in c]
    one(cmds, "exec", "import sipdoor.station")
    # a board with PSRAM may run a frozen image too
    image = tmp_path / "frozen.bin"
    image.write_bytes(b"\0")
    proc = flash("esp32", "--board", "esp32s3-n16r8-i2s", "--port", "/dev/ttyFAKE0", "--config", config,
                 "--firmware", str(image), "--frozen", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert one(commands(proc.stdout), "write_flash").endswith("-z 0x0 %s" % image)
    assert "for ./flash.sh esp32" in error_line(flash("pi", "--root", str(tmp_path / "r"), "--frozen",
                                                      "--dry-run"), code=2)


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


def fake_venv(tmp_path, chip_line, cases=""):
    """A venv whose python logs its arguments and plays esptool's chip_id
    (and whatever `cases`, shell case branches on "$*", adds)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "calls.log"
    py = venv / "bin" / "python"
    py.write_text("#!/bin/sh\necho \"$*\" >> %s\ncase \"$*\" in *chip_id*) echo '%s';; %s esac\n"
                  % (log, chip_line, cases))
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


@pytest.mark.parametrize("largest,ok", [(4063232, True), (2031616, True), (113152, False)])
def test_psram_is_checked_before_the_copy(tmp_path, config, largest, ok):
    # a WROVER board file on a WROOM board (or an image without SPIRAM): no PSRAM region
    venv, log = fake_venv(tmp_path, "Detecting chip type... ESP32",
                          "*idf_heap_info*) printf 'ram %d\\r\\n';;" % largest)
    port = tmp_path / "ttyUSB0"
    port.write_text("")
    proc = flash("esp32", "--board", "esp32-devkitc-i2s", "--port", str(port), "--config", config,
                 "--no-image", "--no-follow", env={"SIPDOOR_VENV": str(venv)})
    calls = log.read_text()
    assert "idf_heap_info" in calls
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "PSRAM: %d KB" % (largest // 1024) in proc.stdout
        assert "/sipdoor" in [c for c in calls.splitlines() if " cp " in c][0]
    else:
        line = error_line(proc)
        assert "sees no PSRAM (largest RAM region 110 KB)" in line and "~250 KB" in line and "--frozen" in line
        assert " cp " not in calls
        assert "os.rename('main.off', 'main.py')" in calls  # the board keeps its old station


def test_frozen_image_is_checked_on_the_board(tmp_path, config):
    venv, log = fake_venv(tmp_path, "Detecting chip type... ESP32",
                          "*'import sipdoor.station'*|*import\\ sipdoor.station*) exit 1;;")
    port = tmp_path / "ttyUSB0"
    port.write_text("")
    proc = flash("esp32", "--board", "m5stack-atom-echo", "--port", str(port), "--config", config,
                 "--no-image", "--frozen", "--no-follow", env={"SIPDOOR_VENV": str(venv)})
    assert "has no sipdoor frozen in" in error_line(proc)
    calls = log.read_text()
    assert "import sipdoor.station" in calls and " cp " not in calls
    assert "os.rename('main.off', 'main.py')" in calls  # the board keeps its old station
    assert "r('sipdoor')" not in calls  # nor its old package
    # an image that has it: the files go over, the package does not
    venv2, log2 = fake_venv(tmp_path / "ok", "Detecting chip type... ESP32")
    proc = flash("esp32", "--board", "m5stack-atom-echo", "--port", str(port), "--config", config,
                 "--no-image", "--frozen", "--no-follow", env={"SIPDOOR_VENV": str(venv2)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cp = [c for c in log2.read_text().splitlines() if "mpremote" in c and " cp " in c]
    assert len(cp) == 1 and "/sipdoor" not in cp[0] and cp[0].endswith(":main.py")


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


def test_freeze_manifest_names_the_package():
    """tools/freeze/manifest.py, run with stand-ins for MicroPython's manifest
    functions: it includes the port's manifest and freezes firmware/sipdoor.
    (The image build itself needs ESP-IDF and the MicroPython source.)"""
    here = os.path.join(ROOT, "tools", "freeze")
    path = os.path.join(here, "manifest.py")
    calls = []

    def record(name):
        return lambda *args, **kwargs: calls.append((name, args, kwargs))

    names = {n: record(n) for n in ("include", "package", "module", "freeze", "require", "metadata")}
    exec(compile(open(path).read(), path, "exec"), dict(names))
    assert ("include", ("$(PORT_DIR)/boards/manifest.py",), {}) in calls
    packages = [c for c in calls if c[0] == "package"]
    assert len(packages) == 1
    _, args, kwargs = packages[0]
    assert args == ("sipdoor",)
    base = os.path.normpath(os.path.join(here, kwargs["base_path"]))
    assert base == os.path.join(ROOT, "firmware")
    assert os.path.isfile(os.path.join(base, "sipdoor", "__init__.py"))
    # package() freezes .py files only: the package must need nothing else
    for dirpath, dirnames, filenames in os.walk(os.path.join(base, "sipdoor")):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        assert "__init__.py" in filenames, dirpath
        assert all(f.endswith(".py") for f in filenames), (dirpath, filenames)
    # nothing else is frozen: main.py stays a file on the board
    assert {c[0] for c in calls} == {"include", "package"}
    readme = open(os.path.join(here, "README.md")).read()
    assert "FROZEN_MANIFEST=/path/to/sipdoor/tools/freeze/manifest.py" in readme
    assert "--frozen" in readme
