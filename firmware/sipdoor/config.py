"""The station's JSON config: defaults, validation, atomic save.

Defaults are safe: no door code until one is set, nobody may call in until
listed in sip.allow, and there is no default password (an account needs one).
Every problem becomes one ConfigError line: file, key, what is wrong.
"""

from sipdoor.schema import (ConfigError, Field, check_object, in_range, load_json, non_empty, one_of,
                            valid_name)
from sipdoor.storage import write_atomic
from sipdoor.net import parse_hostport, parse_http_url

CODE_DIGITS = "0123456789ABCD"
MIN_CODE_LEN = 4
MAX_CODE_LEN = 16


def _hostport(value):
    try:
        parse_hostport(value)
    except ValueError as e:
        return str(e)
    return None


def sip_uri(value):
    """A SIP URI as the user writes it: sip:user@host[:port] or sip:host."""
    lower = value.lower()
    if not (lower.startswith("sip:") or lower.startswith("sips:")):
        return "must be a SIP URI starting with sip: or sips:, not %r" % value
    rest = value.split(":", 1)[1]
    host = rest.rsplit("@", 1)[-1]
    if not rest or not host or " " in value:
        return "must be a SIP URI like sip:101@pbx.example, not %r" % value
    return None


def _door_code(value):
    if not MIN_CODE_LEN <= len(value) <= MAX_CODE_LEN:
        return "door codes need %d to %d digits" % (MIN_CODE_LEN, MAX_CODE_LEN)
    for ch in value:
        if ch not in CODE_DIGITS:
            return "door codes use the digits 0-9 and A-D only ('*' clears and '#' ends an attempt)"
    return None


def _unique(value):
    seen = []
    for v in value:
        if v in seen:
            return "%r appears twice" % v
        seen.append(v)
    return None


def _targets(value):
    if not value:
        return "needs at least one target"
    return _unique(value)


ACCOUNT = {
    "user": Field(str, required=True, check=non_empty),
    "password": Field(str, required=True, check=non_empty),
    "domain": Field(str, required=True, check=non_empty),
    "registrar": Field(str, nullable=True, check=sip_uri),
    "proxy": Field(str, nullable=True, check=sip_uri),
    "expires": Field(int, default=600, check=in_range(60, 86400, " s")),
}

SIP = {
    "listen": Field(str, default="0.0.0.0:5060", check=_hostport),
    "account": Field(dict, nullable=True, fields=ACCOUNT),
    "allow": Field(list, default=[], items=Field(str, check=sip_uri), check=_unique),
    "auto_answer": Field(bool, default=True),
    "reject_status": Field(int, default=403, check=one_of(403, 486, 603)),
    "keepalive_s": Field(int, default=30, check=lambda v: None if v == 0 or 5 <= v <= 3600
                         else "must be 0 (off) or 5 to 3600 s"),
    "keepalive_kind": Field(str, default="options", check=one_of("options", "crlf")),
    "t1_ms": Field(int, default=500, check=in_range(50, 5000, " ms")),
}

BUTTON = {
    "targets": Field(list, required=True, items=Field(str, check=sip_uri), check=_targets),
    "mode": Field(str, default="parallel", check=one_of("parallel", "sequential")),
    "ring_timeout_s": Field(int, default=30, check=in_range(5, 600, " s")),
    "fallback": Field(str, nullable=True, check=sip_uri),
    "repeat_press": Field(str, default="ignore", check=one_of("ignore", "hangup", "restart")),
    "cooldown_s": Field(int, default=5, check=in_range(0, 600, " s")),
}


def _code_entry(value):
    """A door.codes entry: "1234" (opens door.relay) or {"code": "5678",
    "relay": "gate"}. Returns None, or (sub-key, problem)."""
    if isinstance(value, str):
        problem = _door_code(value)
        return ("", problem) if problem else None
    if not isinstance(value, dict):
        return ("", 'must be a code string or an object like {"code": "5678", "relay": "gate"}')
    for key in value:
        if key not in ("code", "relay"):
            return ("." + key, "unknown key (known here: code, relay)")
    code = value.get("code")
    if code is None:
        return (".code", "missing (required)")
    if not isinstance(code, str):
        return (".code", "must be a string of 4 to 16 digits")
    relay = value.get("relay")
    if relay is not None and (not isinstance(relay, str) or not valid_name(relay)):
        return (".relay", "must be the name of a board relay, or null for door.relay")
    problem = _door_code(code)
    return (".code", problem) if problem else None


def code_of(entry):
    """The digits of a door.codes entry (a string or a {code, relay} object)."""
    return entry if isinstance(entry, str) else entry["code"]


def _check_codes(codes, path):
    """Each door.codes entry, with its index in the one-line error."""
    for i, entry in enumerate(codes):
        bad = _code_entry(entry)
        if bad:
            raise ConfigError(path, "door.codes[%d]%s" % (i, bad[0]), bad[1])


def _unique_codes(value):
    seen = []
    for entry in value:
        if _code_entry(entry):
            continue  # _check_codes names it
        code = code_of(entry).upper()
        if code in seen:
            return "a door code appears twice (each code opens one relay)"
        seen.append(code)
    return None


RELAY = {
    "mode": Field(str, default="pulse", check=one_of("pulse", "latch")),
    "pulse_ms": Field(int, nullable=True, check=in_range(100, 60000, " ms")),
}

DOOR = {
    "relay": Field(str, default="door"),
    "pulse_ms": Field(int, default=3000, check=in_range(100, 60000, " ms")),
    "relays": Field(dict, default={}, entries=Field(dict, fields=RELAY)),
    "codes": Field(list, default=[], check=_unique_codes),  # entries: _check_codes
    "code_gap_ms": Field(int, default=3000, check=in_range(1000, 30000, " ms")),
    "hangup_after_open_s": Field(int, default=0, check=in_range(0, 600, " s")),
    "held_open_alarm_s": Field(int, default=60, check=in_range(0, 3600, " s")),
    "tamper_block_s": Field(int, default=0, check=in_range(0, 86400, " s")),
    "lockout": Field(dict, default={}, fields={
        "attempts": Field(int, default=5, check=in_range(1, 100)),
        "seconds": Field(int, default=60, check=in_range(1, 86400, " s")),
    }),
}

def _http_url(value):
    try:
        parse_http_url(value)
    except ValueError as e:
        return "%s, not %r" % (e, value)
    return None


def _mqtt(value):
    if value["commands"] and not value["user"]:
        return "commands need a user (an open broker must not open the door)"
    if not valid_name(value["topic_prefix"].replace("/", "_")):
        return "topic_prefix: use letters, digits, '_', '-' or '/'"
    if value["station_id"] is not None and not valid_name(value["station_id"]):
        return "station_id: use letters, digits, '_' or '-'"
    return None


EVENTS = {
    "log_file": Field(str, nullable=True, check=non_empty),
    "log_size": Field(int, default=200, check=in_range(10, 5000)),
    "message_uris": Field(list, default=[], items=Field(str, check=sip_uri), check=_unique),
    "webhooks": Field(list, default=[], items=Field(str, check=_http_url), check=_unique),
    "mqtt": Field(dict, nullable=True, check=_mqtt, fields={
        "host": Field(str, required=True, check=non_empty),
        "port": Field(int, default=1883, check=in_range(1, 65535)),
        "user": Field(str, nullable=True, check=non_empty),
        "password": Field(str, nullable=True),
        "topic_prefix": Field(str, default="sipdoor", check=non_empty),
        "station_id": Field(str, nullable=True),
        "discovery": Field(bool, default=True),
        "discovery_prefix": Field(str, default="homeassistant", check=non_empty),
        "commands": Field(bool, default=False),
        "keepalive_s": Field(int, default=30, check=in_range(5, 3600, " s")),
    }),
}

SPEC = {
    "board": Field(str, required=True, check=non_empty),
    "sip": Field(dict, default={}, fields=SIP),
    "buttons": Field(dict, default={}, entries=Field(dict, fields=BUTTON)),
    "door": Field(dict, default={}, fields=DOOR),
    "call": Field(dict, default={}, fields={
        "max_duration_s": Field(int, default=180, check=in_range(10, 3600, " s")),
        "warning_s": Field(int, default=10, check=in_range(0, 60, " s")),
        "extend_key": Field(str, nullable=True, check=one_of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
                                                             "*", "#", "A", "B", "C", "D")),
        "extend_s": Field(int, default=60, check=in_range(10, 3600, " s")),
    }),
    "audio": Field(dict, default={}, fields={
        "codecs": Field(list, default=["PCMU", "PCMA"], items=Field(str, check=one_of("PCMU", "PCMA")),
                        check=lambda v: _unique(v) or (None if v else "needs at least one codec")),
        "ptime_ms": Field(int, default=20, check=one_of(10, 20, 30, 40)),
    }),
    "log": Field(dict, default={}, fields={
        "level": Field(str, default="info", check=one_of("debug", "info", "warning", "error")),
    }),
    "events": Field(dict, default={}, fields=EVENTS),
}


def validate(data, path="config"):
    """Check a parsed config; return it with every default filled in."""
    config = check_object(SPEC, data, path)
    _check_codes(config["door"]["codes"], path)
    _check_call_warning(config["call"], data.get("call"), path)
    account = config["sip"]["account"]
    if account is not None and account["registrar"] is None:
        account["registrar"] = "sip:" + account["domain"]
    return config


def _check_call_warning(call, given, path):
    """call.warning_s (0: no warning) must leave time before the limit it
    warns of: call.max_duration_s, and call.extend_s once extended. A
    warning the user set is an error then; the default one shrinks to half
    the shortest limit (configs that set only a short limit stay valid)."""
    warn = call["warning_s"]
    if not warn:
        return
    limits = [("call.max_duration_s", call["max_duration_s"])]
    if call["extend_key"] is not None:
        limits.append(("call.extend_s", call["extend_s"]))
    if not (isinstance(given, dict) and "warning_s" in given):
        for _, limit in limits:
            if warn >= limit:
                warn = limit // 2
        call["warning_s"] = warn
        return
    for key, limit in limits:
        if warn >= limit:
            raise ConfigError(path, "call.warning_s", "%d s must be smaller than %s (%d s); lower it, or 0 for no "
                              "warning" % (warn, key, limit))


def load(path):
    return validate(load_json(path), path)


def check_against_board(config, board, path):
    """The config may only name buttons and relays the board has."""
    for name in config["buttons"]:
        spec = board["buttons"].get(name)
        if spec is None:
            raise ConfigError(path, "buttons." + name, "no such button on board %r (it has: %s)"
                              % (board["name"], ", ".join(sorted(board["buttons"])) or "none"))
        if spec["role"] != "call":
            raise ConfigError(path, "buttons." + name, "board button %r is an %s button, not a call button"
                              % (name, spec["role"]))
    door = config["door"]
    have = ", ".join(sorted(board["relays"])) or "none"
    if door["relay"] not in board["relays"]:
        raise ConfigError(path, "door.relay", "no such relay on board %r (it has: %s)" % (board["name"], have))
    for name in sorted(door["relays"]):
        if name not in board["relays"]:
            raise ConfigError(path, "door.relays." + name, "no such relay on board %r (it has: %s)"
                              % (board["name"], have))
    for i, entry in enumerate(door["codes"]):
        if isinstance(entry, dict) and entry.get("relay") and entry["relay"] not in board["relays"]:
            raise ConfigError(path, "door.codes[%d].relay" % i, "no such relay %r on board %r (it has: %s)"
                              % (entry["relay"], board["name"], have))


def save(config, path):
    """Write the config so a power cut leaves either the old or the new file."""
    import json

    validate(config, path)
    write_atomic(path, json.dumps(config) + "\n")
