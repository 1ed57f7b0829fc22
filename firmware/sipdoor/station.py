"""sipdoor: the door station's only wiring point (firmware/main.py runs it).

    python3 firmware/main.py --config config.json
    micropython firmware/main.py --config config.json

Reads the config and the board, builds the hardware layer, the loop and the
application, and runs until `quit` (sim board), SIGTERM or Ctrl-C. A bad
config or board file stops start-up with exit code 2 and one line on stderr
naming the file, the key and the problem.
"""

import gc
import sys

from sipdoor import VERSION
from sipdoor.app import App, StationStarted, StationStopped
from sipdoor.clock import Clock, ticks_add, ticks_diff
from sipdoor.callmedia import CallMedia, RtpPorts
from sipdoor.driver import Random, SipDriver
from sipdoor.hal.base import load_backend
from sipdoor.hal.devices import Devices
from sipdoor.log import Log
from sipdoor.loop import Loop
from sipdoor.net import Poller, Resolver, Udp, local_address, parse_hostport
from sipdoor.report import Fanout, JsonLines
from sipdoor.schema import ConfigError
from sipdoor.sip.timers import TimerConfig
from sipdoor.sip.ua import UserAgent

EXIT_USAGE = 2

USAGE = """usage: main.py --config FILE [options]

Run the sipdoor door station.

options:
  --config FILE        the station's config (JSON, see README); required
  --board NAME         use this board instead of the config's "board"
  --boards DIR         where board files live (default: boards/ beside firmware/)
  --audio-in WAV       what the station sends: an 8 kHz mono 16-bit WAV file
  --audio-out WAV      where the station writes what it receives
  --view auto|tty|json how events are shown on stdout (auto: live view on a
                       terminal, JSON lines otherwise)
  --log-level LEVEL    debug, info, warning or error (default: the config's)
  --version            print the version and exit
  -h, --help           show this help and exit

The simulated board reads commands from stdin: tap NAME, press NAME,
release NAME, input NAME 0|1, dtmf KEYS, help, quit."""

OPTIONS = ("--config", "--board", "--boards", "--audio-in", "--audio-out", "--view", "--log-level")


class UsageError(Exception):
    pass


def parse_args(argv):
    """Options as a dict; a hand-written parser so the ESP32 needs no argparse."""
    opts = {"view": "auto"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            return {"help": True}
        if arg == "--version":
            return {"version": True}
        name, value = arg, None
        if "=" in arg and arg.startswith("--"):
            name, value = arg.split("=", 1)
        if name not in OPTIONS:
            raise UsageError("unknown option %r" % arg)
        if value is None:
            i += 1
            if i >= len(argv):
                raise UsageError("%s needs a value" % name)
            value = argv[i]
        opts[name[2:].replace("-", "_")] = value
        i += 1
    if "config" not in opts:
        raise UsageError("--config FILE is required")
    if opts["view"] not in ("auto", "tty", "json"):
        raise UsageError("--view must be auto, tty or json")
    if "log_level" in opts and opts["log_level"] not in ("debug", "info", "warning", "error"):
        raise UsageError("--log-level must be debug, info, warning or error")
    return opts


def _here():
    """The firmware directory (this file is in firmware/sipdoor/)."""
    path = __file__ if "/" in __file__ else "./" + __file__
    return path.rsplit("/", 2)[0] if path.count("/") >= 2 else "."


def board_dirs(opts):
    if "boards" in opts:
        return [opts["boards"]]
    here = _here()
    return [here + "/../boards", here + "/boards", "boards"]


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, OSError):
        return False


def make_reporter(opts, clock, board, listen):
    view = opts["view"]
    if view == "tty" or (view == "auto" and _isatty(sys.stdout)):
        from sipdoor.view import LiveView

        return LiveView(sys.stdout, clock, board, listen)
    return JsonLines(sys.stdout, clock)


def _install_signals(loop):
    try:
        import signal
    except ImportError:
        return  # MicroPython: Ctrl-C still raises KeyboardInterrupt

    def stop(_signum, _frame):
        loop.stop(0)

    signal.signal(signal.SIGTERM, stop)


def _report_error(log):
    def report(exc):
        log.error("unexpected error (the station keeps running): %r", exc)
        if hasattr(sys, "print_exception"):
            sys.print_exception(exc, sys.stderr)
        else:
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__)
    return report


# Needed only to read and check the files and set up the codec at start-up;
# on a board their code and specs (~50 KB of heap on the 64-bit unix port)
# are freed after.
STARTUP_ONLY = ("config", "board", "hal.codecs")


def build(opts):
    """Load and check everything; ConfigError for any bad input."""
    from sipdoor import board as boards
    from sipdoor import config as configs

    config_path = opts["config"]
    config = configs.load(config_path)
    board_name = opts.get("board") or config["board"]
    board, warnings = boards.load(board_name, board_dirs(opts), config_path)
    configs.check_against_board(config, board, config_path)
    return config, board, warnings


def forget_startup_modules():
    """Unload the config and board checkers so the GC can reclaim them
    (MicroPython only: on CPython RAM is plenty and a re-import would give
    tests in the same process second copies of those modules)."""
    if sys.implementation.name != "micropython":
        return
    for name in STARTUP_ONLY:
        sys.modules.pop("sipdoor." + name, None)
        parent, _, leaf = ("sipdoor." + name).rpartition(".")
        package = sys.modules.get(parent)
        if package is not None and hasattr(package, leaf):
            delattr(package, leaf)  # a backend that uses it keeps its own reference
    gc.collect()


def open_audio(backend, opts):
    from sipdoor.hal.wav import WavError

    try:
        return backend.audio(opts.get("audio_in"), opts.get("audio_out"))
    except WavError as e:
        raise ConfigError(e.path or "audio", None, e.message)
    except Exception as e:  # a missing sound card, I2S not available, ...
        raise ConfigError(opts["config"], "board", "cannot open the board's audio device: %s" % e)


def run(opts):
    config, board, warnings = build(opts)
    log = Log(opts.get("log_level") or config["log"]["level"])
    for w in warnings:
        log.warning(w)

    clock = Clock()
    loop = Loop(clock, Poller())
    loop.on_error = _report_error(log)
    listen = config["sip"]["listen"]
    host, port = parse_hostport(listen)
    try:
        sip_sock = Udp(host, port)
    except OSError as e:
        raise ConfigError(opts["config"], "sip.listen", "cannot listen on %s: %s" % (listen, e))

    try:
        backend = load_backend(board["platform"])(board)
    except Exception as e:  # no GPIO on this machine, gpiozero missing, ...
        raise ConfigError(opts["config"], "board", "cannot use the %s hardware of board %r here: %s"
                          % (board["platform"], board["name"], e))
    audio = open_audio(backend, opts)
    forget_startup_modules()
    emit = Fanout()
    emit.on_error = loop.on_error
    reporter = make_reporter(opts, clock, board, listen)
    emit.add(reporter.event)
    devices = Devices(loop, backend, board, emit)
    rng = Random()
    ports = RtpPorts(host)
    ua = make_ua(config, host, sip_sock.port, log, rng, ports)
    duck = board["audio"]
    media = CallMedia(loop, ua, ports, audio, rng, emit, log, config["audio"]["ptime_ms"],
                      ducking_db=duck["ducking_db"], ducking_threshold_dbfs=duck["ducking_threshold_dbfs"],
                      ducking_hang_ms=duck["ducking_hang_ms"])
    emit.add(media.handle)
    app = App(config, devices, emit, log, ua)
    emit.add(app.handle)
    notifier = None
    events = config["events"]
    if events["log_file"] or events["message_uris"] or events["webhooks"] or events["mqtt"]:
        from sipdoor.notify import Notifier  # imported only when used: RAM on a board

        notifier = Notifier(config, loop, ua, app, log, VERSION)
        emit.add(notifier)
    driver = SipDriver(loop, sip_sock, ua, emit, log)
    watchdog = backend.watchdog(board["watchdog_s"])
    if watchdog is not None:
        loop.every(1000, watchdog.feed)
    backend.attach(loop, emit)
    _install_signals(loop)

    account = config["sip"]["account"]
    registration = "off (peer-to-peer)" if account is None else "not registered"
    emit(StationStarted(board["name"], board["platform"], listen, registration))
    if hasattr(gc, "mem_alloc"):  # MicroPython: what a call can still use
        gc.collect()
        log.info("heap after start-up: %d bytes used, %d free", gc.mem_alloc(), gc.mem_free())
    app.start()
    ua.start(clock.now())
    driver.pump()
    reason = "quit"
    code = 0
    try:
        code = loop.run()
    except KeyboardInterrupt:
        reason = "interrupted"
    finally:
        app.stop(reason)
        say_goodbye(loop, ua, driver)
        media.close()
        emit(StationStopped(reason))
        if notifier is not None:
            notifier.close()  # the event log's last lines, MQTT "offline"
        devices.close()
        audio.close()
        backend.close()
        sip_sock.close()
    return code


def make_ua(config, listen_host, port, log, rng, rtp_ports):
    sip = config["sip"]
    account = sip["account"]
    towards = None
    if account is not None:
        towards = parse_hostport(account["registrar"].split(":", 1)[1].split(";")[0].rsplit("@", 1)[-1])[0]
    settings = {
        "local_host": local_address(listen_host, towards),
        "local_port": port,
        "account": account,
        "codecs": config["audio"]["codecs"],
        "ptime": config["audio"]["ptime_ms"],
        "dtmf_pt": 101,
        "keepalive_s": sip["keepalive_s"],
        "keepalive_kind": sip["keepalive_kind"],
    }
    t1 = sip["t1_ms"]
    timers = TimerConfig(t1=t1, t2=max(4000, t1 * 8))
    return UserAgent(settings, rng, log, timers, Resolver(), rtp_ports, user_agent="sipdoor/%s" % VERSION)


def say_goodbye(loop, ua, driver):
    """Hang up and unregister, waiting up to 2 s for the registrar's answer
    (a station that restarts should not leave a stale binding behind)."""
    clock = loop.clock
    ua.stop(clock.now())
    driver.pump()
    end = ticks_add(clock.now(), 2000)
    loop._running = True
    while ua.stopping() and ticks_diff(end, clock.now()) > 0:
        loop.run_once()


def main(argv):
    try:
        opts = parse_args(argv)
    except UsageError as e:
        sys.stderr.write("main.py: %s (see --help)\n" % e)
        return EXIT_USAGE
    if opts.get("help"):
        print(USAGE)
        return 0
    if opts.get("version"):
        print("sipdoor %s" % VERSION)
        return 0
    try:
        return run(opts)
    except ConfigError as e:
        sys.stderr.write("%s\n" % e)
        return EXIT_USAGE

