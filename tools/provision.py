#!/usr/bin/env python3
"""provision: write a door station's config.json, checked as the firmware checks it.

    tools/provision --board rpi-usb-audio --user door --password-file pw.txt \\
        --domain pbx.example --target sip:101@pbx.example --code 482916 \\
        --allow sip:101@pbx.example -o config.json
    tools/provision -i                   # asks for each value
    tools/provision --board esp32-devkitc-i2s --wiring   # only the wiring table

The config goes through firmware/sipdoor/config.py (validate and
check_against_board), so what provision accepts the station accepts. It
prints the chosen board's wiring, refuses weak or default passwords (there
is never a default one), warns about door codes that are easy to guess, and
writes the file atomically and readable by its owner only. Any bad input is
one line on stderr and exit code 2.
"""

import argparse
import copy
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from sipdoor import board as boards  # noqa: E402
from sipdoor import config as configs  # noqa: E402
from sipdoor.net import parse_hostport  # noqa: E402
from sipdoor.schema import ConfigError  # noqa: E402

EXIT_OK, EXIT_USAGE = 0, 2
BOARDS_DIR = os.path.join(ROOT, "boards")
MIN_PASSWORD = 10
GOOD_CODE_LEN = 6
# Passwords that ship on devices or top the leaked-password lists.
COMMON_PASSWORDS = {
    "password", "passwort", "passw0rd", "admin", "administrator", "root", "toor", "secret", "changeme",
    "default", "letmein", "welcome", "qwerty", "qwertz", "azerty", "abc", "abcdef", "iloveyou", "test",
    "guest", "user", "sipdoor", "door", "doorbell", "intercom", "pbx", "asterisk", "fritzbox", "voip",
    "sip", "phone", "master", "dragon", "monkey", "football", "baseball", "sunshine", "princess",
    "0000", "1111", "1234", "12345", "123456", "1234567", "12345678", "123456789", "1234567890",
    "0123456789", "987654321", "9876543210", "111111", "123123", "654321", "qwertyuiop", "asdfghjkl",
}


class UsageError(Exception):
    pass


# -- checks -------------------------------------------------------------------------------


def password_problem(password, user=None, domain=None):
    """Why a password is too weak to put on a door, or None."""
    if not password:
        return "an account needs a password (there is no default password)"
    if len(password) < MIN_PASSWORD:
        return "the password is too short: use at least %d characters" % MIN_PASSWORD
    lower = password.lower()
    core = lower.strip("0123456789!?._-#*@ ")
    if lower in COMMON_PASSWORDS or core in COMMON_PASSWORDS:
        return "the password is a well-known default or common password: choose another"
    for word, what in ((user, "user name"), (domain, "domain")):
        if word and len(word) >= 3 and word.lower() in lower:
            return "the password must not contain the %s" % what
    if len(set(lower)) < 5:
        return "the password is too simple: use more different characters"
    return None


def code_warnings(code):
    """Warnings for a valid door code that is easy to guess."""
    out = []
    if len(code) < GOOD_CODE_LEN:
        out.append("door code %s is short: %d or more digits are far harder to guess "
                   "(the lockout after wrong attempts helps, but only so much)" % (code, GOOD_CODE_LEN))
    digits = [ord(c) for c in code]
    steps = set(b - a for a, b in zip(digits, digits[1:]))
    if len(set(code)) == 1 or steps in ({1}, {-1}) or code in ("1379", "2580", "1470", "0852"):
        out.append("door code %s is a pattern anyone would try first" % code)
    return out


def board_names(boards_dir):
    try:
        return sorted(n[:-5] for n in os.listdir(boards_dir) if n.endswith(".json"))
    except OSError:
        return []


def load_board(name, boards_dir, config_path):
    """(board dict, its file, warnings); ConfigError for an unknown or bad board."""
    board, warnings = boards.load(name, [boards_dir], config_path)
    return board, boards.find(name, [boards_dir]), warnings


# -- the wiring table ---------------------------------------------------------------------


def _pin(board, pin):
    if board["platform"] == "sim":
        return "-"
    if pin is None:
        return "(none)"
    return "GPIO%d%s" % (pin, " (BCM)" if board["platform"] == "rpi" else "")


def wiring_rows(board):
    """(function, name, pin, how it is wired) for everything the board uses."""
    sim = board["platform"] == "sim"
    rows = []
    for name in sorted(board["buttons"]):
        b = board["buttons"][name]
        how = "stdin: tap %s" % name if sim else "%s when pressed%s" % (
            "to GND" if b["active"] == "low" else "to 3.3 V",
            ", internal pull-%s" % b["pull"] if b["pull"] != "none" else ", external pull resistor")
        rows.append(("%s button" % b["role"], name, _pin(board, b["pin"]), how))
    for name in sorted(board["inputs"]):
        i = board["inputs"][name]
        how = "stdin: input %s 0|1" % name if sim else "active %s%s" % (
            i["active"], ", internal pull-%s" % i["pull"] if i["pull"] != "none" else "")
        rows.append((i["role"].replace("_", " "), name, _pin(board, i["pin"]), how))
    for group, what in (("relays", "relay"), ("leds", "LED")):
        for name in sorted(board[group]):
            o = board[group][name]
            how = "an event on stdout" if sim else "active %s%s" % (
                o["active"], " (driver input)" if what == "relay" else " (with a resistor)")
            rows.append((what, name, _pin(board, o["pin"]), how))
    audio = board["audio"]
    if audio["kind"] == "i2s":
        for port, part in (("mic", "I2S microphone"), ("speaker", "I2S amplifier")):
            spec = audio.get(port)
            if spec:
                for sig in ("sck", "ws", "sd"):
                    rows.append((part, "%s.%s" % (port, sig), _pin(board, spec[sig]), "I2S%d %s" % (spec["id"],
                                 sig.upper())))
    elif audio["kind"] == "wav":
        rows.append(("audio", "wav", "-", "files: --audio-in / --audio-out"))
    elif audio["kind"] == "pyaudio":
        rows.append(("audio", "pyaudio", "-", "sound card %r / %r at %d Hz" % (audio["input"], audio["output"],
                                                                               audio["rate"])))
    if board["i2c"]:
        for sig in ("sda", "scl"):
            rows.append(("I2C bus %d" % board["i2c"]["bus"], sig, _pin(board, board["i2c"][sig]), ""))
    return rows


def wiring_table(board, path):
    rows = [("function", "name", "pin", "wiring")] + wiring_rows(board)
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    shown = os.path.abspath(path)
    if shown.startswith(ROOT + os.sep):
        shown = os.path.relpath(shown, ROOT)
    lines = ["Wiring of board %r (%s, %s):" % (board["name"], shown, board["platform"])]
    for i, r in enumerate(rows):
        cells = (r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]), r[3])
        lines.append(("  %s  %s  %s  %s" % cells).rstrip())
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths) + "  ------")
    return "\n".join(lines)


# -- building the config ---------------------------------------------------------------------


def build_config(v, board):
    """The config dict from the collected values v (a dict)."""
    account = None
    if v.get("user") or v.get("password") or v.get("domain") or v.get("registrar"):
        account = {"user": v.get("user") or "", "password": v.get("password") or "",
                   "domain": v.get("domain") or ""}
        if v.get("registrar"):
            account["registrar"] = v["registrar"]
        if v.get("proxy"):
            account["proxy"] = v["proxy"]
    sip = {"listen": v.get("listen") or "0.0.0.0:5060", "account": account, "allow": list(v.get("allow") or [])}
    config = {"board": v["board"], "sip": sip}
    if v.get("targets"):
        config["buttons"] = {v["button"]: {"targets": list(v["targets"]), "mode": v.get("mode") or "parallel"}}
    door = {"relay": v["relay"], "codes": list(v.get("codes") or [])}
    if v.get("pulse_ms"):
        door["pulse_ms"] = v["pulse_ms"]
    config["door"] = door
    config["log"] = {"level": "info"}
    return config


def check_values(v, board, path):
    """Everything the firmware checks plus the password rules; returns warnings."""
    account_wanted = v.get("user") or v.get("password") or v.get("domain") or v.get("registrar")
    if account_wanted:
        for key in ("user", "domain"):
            if not v.get(key):
                raise UsageError("an account needs --%s (or leave out --user/--password for peer-to-peer)" % key)
        problem = password_problem(v.get("password"), v.get("user"), v.get("domain"))
        if problem:
            raise UsageError(problem)
    config = build_config(v, board)
    checked = configs.validate(copy.deepcopy(config), path)
    configs.check_against_board(checked, board, path)
    warnings = []
    for code in checked["door"]["codes"]:
        warnings.extend(code_warnings(code))
    if checked["door"]["codes"] and not checked["sip"]["allow"] and not config.get("buttons"):
        warnings.append("door codes are set but nobody can key them: add --allow or --target")
    if not config.get("buttons"):
        warnings.append("no --target: the call button rings nobody")
    return config, warnings


def write_private(path, text):
    """Replace path atomically (write aside, fsync, rename), mode 0600: it holds a password."""
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# -- interactive questions -------------------------------------------------------------------


class Asker:
    """Prompts on stderr, answers from stdin; the password without echo on a terminal."""

    def __init__(self, stdin=None, stderr=None):
        self.stdin = stdin or sys.stdin
        self.stderr = stderr or sys.stderr
        self.tty = _isatty(self.stdin)

    def line(self, prompt, secret=False):
        if secret and self.tty:
            import getpass

            return getpass.getpass(prompt, self.stderr)
        self.stderr.write(prompt)
        self.stderr.flush()
        text = self.stdin.readline()
        if not text:
            raise UsageError("no answer to %r (end of input)" % prompt.strip())
        return text.strip()

    def ask(self, question, default=None, check=None, secret=False, tries=3):
        for _ in range(tries):
            hint = " [%s]" % default if default not in (None, "") else ""
            answer = self.line("%s%s: " % (question, hint), secret) or (default or "")
            problem = check(answer) if check else None
            if not problem:
                return answer
            self.stderr.write("  %s\n" % problem)
        raise UsageError("%s: %s" % (question, problem))

    def ask_list(self, question, default=(), check=None):
        text = self.ask(question + " (comma-separated)", ", ".join(default),
                        lambda t: _first([check(x) for x in _split(t)]) if check else None)
        return _split(text)


def _split(text):
    return [x.strip() for x in text.split(",") if x.strip()]


def _first(problems):
    for p in problems:
        if p:
            return p
    return None


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, OSError):
        return False


def _sip_uri_or_empty(text):
    return configs.sip_uri(text) if text else None


def interview(v, boards_dir, asker):
    """Ask for every value not given on the command line."""
    names = board_names(boards_dir)
    if not v.get("board"):
        v["board"] = asker.ask("Board (%s)" % ", ".join(names), "sim" if "sim" in names else None,
                               lambda t: None if t in names or t.endswith(".json") else "unknown board %r" % t)
    board, path, _ = load_board(v["board"], boards_dir, v["output"])
    board_defaults(v, board)
    asker.stderr.write(wiring_table(board, path) + "\n")
    if not v.get("listen"):
        v["listen"] = asker.ask("SIP listen address", "0.0.0.0:5060", _hostport_problem)
    if v.get("user") is None and asker.ask("Register with a PBX account? (y/n)", "n").lower().startswith("y"):
        v["user"] = asker.ask("Account user name", None, lambda t: None if t else "needed")
        v["domain"] = v.get("domain") or asker.ask("SIP domain (the PBX)", None,
                                                   lambda t: None if t else "needed")
        v["registrar"] = v.get("registrar") or asker.ask("Registrar URI", "sip:" + v["domain"], configs.sip_uri)
    if v.get("user") and not v.get("password"):
        v["password"] = asker.ask("Account password", None,
                                  lambda t: password_problem(t, v.get("user"), v.get("domain")), secret=True)
    if not v.get("targets") and v.get("button"):
        v["targets"] = asker.ask_list("SIP URIs the %s button rings" % v["button"], (), configs.sip_uri)
    if not v.get("codes"):
        v["codes"] = asker.ask_list("Door codes (4-16 digits; empty: none)", (), configs._door_code)
    if not v.get("allow"):
        v["allow"] = asker.ask_list("SIP URIs allowed to call in and key codes", v.get("targets") or (),
                                    configs.sip_uri)
    return v


def _hostport_problem(text):
    try:
        parse_hostport(text)
    except ValueError as e:
        return str(e)
    return None


# -- the command line --------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def make_parser():
    p = _Parser(prog="provision", description="Create a door station's config.json for a board, checked as "
                "the firmware checks it, and print the board's wiring.",
                epilog="Passwords: at least %d characters, not a common or default one; with no --user and "
                "--password the station works peer-to-peer (no account). Exit status 0, or 2 with one "
                "line on stderr for any bad input." % MIN_PASSWORD)
    p.add_argument("--board", help="board name (a file in boards/) or a path to a board .json")
    p.add_argument("--boards", default=BOARDS_DIR, metavar="DIR", help="where board files live")
    p.add_argument("--wiring", action="store_true", help="only print the board's wiring table")
    p.add_argument("--listen", metavar="HOST:PORT", help="SIP address and port (default 0.0.0.0:5060)")
    p.add_argument("--user", help="SIP account user name (registers with the PBX)")
    p.add_argument("--password", help="SIP account password (better: --password-file or -i)")
    p.add_argument("--password-file", metavar="FILE", help="read the password from the first line of FILE")
    p.add_argument("--domain", help="SIP domain of the account, e.g. pbx.example")
    p.add_argument("--registrar", metavar="URI", help="registrar URI (default: sip: + domain)")
    p.add_argument("--proxy", metavar="URI", help="outbound proxy URI")
    p.add_argument("--button", help="the call button --target rings (default: the board's first call button)")
    p.add_argument("--target", action="append", default=[], metavar="URI",
                   help="a SIP URI the call button rings (repeat for several)")
    p.add_argument("--mode", choices=("parallel", "sequential"), help="ring targets together or in turn")
    p.add_argument("--code", action="append", default=[], metavar="DIGITS", help="a door code (repeat for several)")
    p.add_argument("--allow", action="append", default=[], metavar="URI",
                   help="a SIP URI allowed to call in and key codes (repeat for several)")
    p.add_argument("--relay", help="the relay that opens the door (default: door, else the board's first)")
    p.add_argument("--pulse-ms", type=int, metavar="MS", help="how long the relay opens (default 3000)")
    p.add_argument("-o", "--output", default="config.json", metavar="FILE", help="where to write (default config.json)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("-i", "--interactive", action="store_true", help="ask for every value not given")
    return p


def values_from(opts):
    v = {"board": opts.board, "listen": opts.listen, "user": opts.user, "password": opts.password,
         "domain": opts.domain, "registrar": opts.registrar, "proxy": opts.proxy, "button": opts.button,
         "targets": opts.target, "mode": opts.mode, "codes": [c.upper() for c in opts.code],
         "allow": opts.allow, "relay": opts.relay, "pulse_ms": opts.pulse_ms, "output": opts.output}
    if opts.password_file:
        try:
            with open(opts.password_file) as f:
                v["password"] = f.readline().rstrip("\r\n")
        except OSError as e:
            raise UsageError("--password-file %s: %s" % (opts.password_file, e.strerror))
    if v["registrar"] and not v["domain"]:
        host = v["registrar"].split(":", 1)[-1].rsplit("@", 1)[-1].split(";")[0]
        v["domain"] = host.split(":")[0] if not host.startswith("[") else host
    return v


def board_defaults(v, board):
    """The button and relay the config uses, from the board when not given."""
    if not v.get("button"):
        calls = [n for n in sorted(board["buttons"]) if board["buttons"][n]["role"] == "call"]
        v["button"] = "call" if "call" in calls else (calls[0] if calls else None)
    if not v.get("relay"):
        relays = sorted(board["relays"])
        v["relay"] = "door" if "door" in relays or not relays else relays[0]
    if v.get("targets") and not v["button"]:
        raise UsageError("board %r has no call button for --target" % board["name"])


def run(argv, stdin=None, stdout=None, stderr=None):
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    opts = make_parser().parse_args(argv)
    interactive = opts.interactive or (not argv and _isatty(stdin or sys.stdin))
    v = values_from(opts)
    path = opts.output
    if opts.wiring:
        if not opts.board:
            raise UsageError("--wiring needs --board (one of: %s)" % ", ".join(board_names(opts.boards)))
        board, board_path, _ = load_board(opts.board, opts.boards, "--board")
        out.write(wiring_table(board, board_path) + "\n")
        return EXIT_OK
    asker = Asker(stdin, err)
    if os.path.exists(path) and not opts.force:
        if not (interactive and asker.ask("%s exists: replace it? (y/n)" % path, "n").lower().startswith("y")):
            raise UsageError("%s exists (use --force to replace it)" % path)
    if interactive:
        interview(v, opts.boards, asker)
    if not v["board"]:
        raise UsageError("--board is needed (one of: %s), or -i to be asked" % ", ".join(board_names(opts.boards)))
    board, board_path, board_warnings = load_board(v["board"], opts.boards, path)
    board_defaults(v, board)
    config, warnings = check_values(v, board, path)
    for w in board_warnings + warnings:
        err.write("provision: warning: %s\n" % w)
    if not interactive:
        out.write(wiring_table(board, board_path) + "\n")
    write_private(path, json.dumps(config, indent=2) + "\n")
    configs.check_against_board(configs.load(path), board, path)  # what the station will read
    account = config["sip"]["account"]
    out.write("\nWrote %s: board %s, %s, %d door code(s), %d allowed caller(s).\n" % (
        path, v["board"], "account %s@%s" % (account["user"], account["domain"]) if account else "peer-to-peer",
        len(config["door"]["codes"]), len(config["sip"]["allow"])))
    out.write("Start the station with: make run CONFIG=%s\n" % path)
    return EXIT_OK


def main(argv=None, stdin=None, stdout=None, stderr=None):
    err = stderr or sys.stderr
    try:
        return run(sys.argv[1:] if argv is None else argv, stdin, stdout, stderr)
    except (UsageError, ConfigError) as e:
        err.write("provision: %s\n" % e)
        return EXIT_USAGE
    except OSError as e:
        err.write("provision: %s: %s\n" % (getattr(e, "filename", None) or "", e.strerror or e))
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.write("provision: interrupted; nothing written\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
