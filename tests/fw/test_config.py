"""Config: safe defaults, one clear line per mistake, atomic save."""

import json
import os

import support
from sipdoor import config
from sipdoor.schema import ConfigError

MINIMAL = {"board": "sim"}


def check_error(data, key, words):
    e = support.raises(ConfigError, config.validate, data, "c.json")
    line = str(e)
    assert line.startswith("c.json: "), line
    assert e.key == key, (e.key, line)
    for w in words:
        assert w in line, (w, line)
    assert "\n" not in line


def test_defaults_are_safe():
    c = config.validate(dict(MINIMAL))
    assert c["door"]["codes"] == []  # no door code until one is set
    assert c["sip"]["allow"] == []  # nobody may call in until listed
    assert c["sip"]["account"] is None  # no account, so no default password
    assert c["sip"]["listen"] == "0.0.0.0:5060"
    assert c["door"]["lockout"] == {"attempts": 5, "seconds": 60}
    assert c["audio"]["codecs"] == ["PCMU", "PCMA"]


def test_example_config_is_valid():
    c = config.load(support.repo_path("firmware/config.example.json"))
    assert c["board"] == "sim"
    assert c["door"]["codes"] == []


def test_account_gets_registrar_from_domain():
    c = config.validate({"board": "sim", "sip": {"account": {"user": "door", "password": "x7!kq", "domain": "pbx.lan"}}})
    assert c["sip"]["account"]["registrar"] == "sip:pbx.lan"
    assert c["sip"]["account"]["expires"] == 600


def test_bad_inputs_each_get_one_line():
    cases = [
        ({"board": "sim", "colour": "red"}, "colour", ["unknown key"]),
        ({"board": 5}, "board", ["must be a string", "an integer"]),
        ({}, "board", ["missing"]),
        ({"board": "sim", "sip": {"listen": "0.0.0.0:99999"}}, "sip.listen", ["bad port"]),
        ({"board": "sim", "sip": {"listen": "0.0.0.0:http"}}, "sip.listen", ["bad port"]),
        ({"board": "sim", "sip": {"allow": ["101@pbx"]}}, "sip.allow[0]", ["SIP URI"]),
        ({"board": "sim", "sip": {"account": {"user": "door", "domain": "pbx"}}}, "sip.account.password",
         ["missing"]),
        ({"board": "sim", "sip": {"account": {"user": "door", "password": "", "domain": "pbx"}}},
         "sip.account.password", ["empty"]),
        ({"board": "sim", "sip": {"auto_answer": "yes"}}, "sip.auto_answer", ["true or false"]),
        ({"board": "sim", "door": {"codes": ["12"]}}, "door.codes[0]", ["4 to 16 digits"]),
        ({"board": "sim", "door": {"codes": ["12#4"]}}, "door.codes[0]", ["0-9"]),
        ({"board": "sim", "door": {"codes": ["1234", "1234"]}}, "door.codes", ["twice"]),
        ({"board": "sim", "door": {"pulse_ms": 10}}, "door.pulse_ms", ["out of range"]),
        ({"board": "sim", "door": {"pulse_ms": True}}, "door.pulse_ms", ["an integer", "true or false"]),
        ({"board": "sim", "buttons": {"call": {"targets": []}}}, "buttons.call.targets", ["at least one"]),
        ({"board": "sim", "buttons": {"call": {"targets": ["sip:1@h"], "mode": "random"}}}, "buttons.call.mode",
         ["one of"]),
        ({"board": "sim", "buttons": {"bad name": {"targets": ["sip:1@h"]}}}, "buttons.bad name", ["bad name"]),
        ({"board": "sim", "audio": {"codecs": ["G729"]}}, "audio.codecs[0]", ["one of"]),
        ({"board": "sim", "sip": None}, "sip", ["not null"]),
        (["board"], "", ["must be an object"]),
    ]
    for data, key, words in cases:
        check_error(data, key, words)


def test_file_errors_name_the_file():
    d = support.tmpdir()
    missing = d + "/nope.json"
    e = support.raises(ConfigError, config.load, missing)
    assert str(e) == missing + ": file not found"
    bad = support.write_file(d + "/bad.json", '{"board": "sim",')
    e = support.raises(ConfigError, config.load, bad)
    assert str(e).startswith(bad + ": malformed JSON")
    e = support.raises(ConfigError, config.load, d)
    assert str(e).startswith(d + ": ")


def test_save_is_atomic_and_round_trips():
    d = support.tmpdir()
    path = d + "/config.json"
    support.write_file(path, "old contents")
    c = config.validate({"board": "sim", "door": {"codes": ["2468"]}})
    config.save(c, path)
    assert config.load(path) == c
    assert "config.json.tmp" not in os.listdir(d)


def test_save_refuses_an_invalid_config():
    d = support.tmpdir()
    path = support.write_file(d + "/config.json", json.dumps({"board": "sim"}))
    bad = {"board": "sim", "door": {"codes": ["1"]}}
    support.raises(ConfigError, config.save, bad, path)
    assert config.load(path)["board"] == "sim"  # the old file is untouched


def test_config_must_match_the_board():
    from sipdoor import board

    b, _ = board.load("sim", [support.repo_path("boards")])
    ok = config.validate({"board": "sim", "buttons": {"call": {"targets": ["sip:1@h"]}}})
    config.check_against_board(ok, b, "c.json")
    wrong = config.validate({"board": "sim", "buttons": {"front": {"targets": ["sip:1@h"]}}})
    e = support.raises(ConfigError, config.check_against_board, wrong, b, "c.json")
    assert e.key == "buttons.front" and "no such button" in str(e)
    exit_btn = config.validate({"board": "sim", "buttons": {"exit": {"targets": ["sip:1@h"]}}})
    e = support.raises(ConfigError, config.check_against_board, exit_btn, b, "c.json")
    assert "not a call button" in str(e)
    relay = config.validate({"board": "sim", "door": {"relay": "gate"}})
    e = support.raises(ConfigError, config.check_against_board, relay, b, "c.json")
    assert e.key == "door.relay"


def test_call_warning_must_come_before_the_limit():
    def call(**c):
        return {"board": "sim", "call": c}

    check_error(call(max_duration_s=30, warning_s=30), "call.warning_s",
                ["30 s must be smaller than call.max_duration_s (30 s)", "0 for no warning"])
    check_error(call(max_duration_s=20, warning_s=45), "call.warning_s", ["call.max_duration_s (20 s)"])
    # the default warning (10 s) against a short limit shrinks to half of it
    assert config.validate(call(max_duration_s=10))["call"]["warning_s"] == 5
    assert config.validate(call(max_duration_s=60, extend_key="0", extend_s=10))["call"]["warning_s"] == 5
    assert config.validate(call())["call"]["warning_s"] == 10
    # with an extend key, the extension is a limit too
    check_error(call(max_duration_s=120, warning_s=20, extend_key="0", extend_s=15), "call.warning_s",
                ["call.extend_s (15 s)"])
    ok = [call(max_duration_s=10, warning_s=0), call(max_duration_s=10, warning_s=9),
          call(max_duration_s=120, warning_s=20, extend_s=15),  # no extend key: extend_s unused
          call(max_duration_s=120, warning_s=20, extend_key="0", extend_s=21), call()]
    for data in ok:
        c = config.validate(data)
        assert c["call"]["max_duration_s"] == data["call"].get("max_duration_s", 180)


def test_call_warning_error_stops_loading_a_file():
    d = support.tmpdir()
    path = support.write_file(d + "/config.json", json.dumps({"board": "sim", "call": {"max_duration_s": 60,
                                                                                        "warning_s": 60}}))
    e = support.raises(ConfigError, config.load, path)
    assert str(e).startswith(path + ": call.warning_s: 60 s must be smaller"), str(e)


def test_codes_may_name_their_relay():
    c = config.validate({"board": "sim", "door": {"codes": ["1234", {"code": "5678", "relay": "gate"},
                                                            {"code": "4321"}]}})
    assert c["door"]["codes"][0] == "1234" and c["door"]["codes"][1]["relay"] == "gate"
    cases = [
        ({"codes": [{"code": "12", "relay": "gate"}]}, "door.codes[0].code", ["4 to 16 digits"]),
        ({"codes": ["1234", {"relay": "gate"}]}, "door.codes[1].code", ["missing"]),
        ({"codes": [{"code": 1234}]}, "door.codes[0].code", ["a string"]),
        ({"codes": [{"code": "1234", "relay": "a b"}]}, "door.codes[0].relay", ["relay"]),
        ({"codes": [{"code": "1234", "relais": "gate"}]}, "door.codes[0].relais", ["unknown key"]),
        ({"codes": [5]}, "door.codes[0]", ["code string or an object"]),
        ({"codes": ["1234", {"code": "1234", "relay": "gate"}]}, "door.codes", ["twice"]),
        ({"relays": {"gate": {"mode": "bistable"}}}, "door.relays.gate.mode", ["one of"]),
        ({"relays": {"gate": {"pulse_ms": 50}}}, "door.relays.gate.pulse_ms", ["out of range"]),
    ]
    for door, key, words in cases:
        check_error({"board": "sim", "door": door}, key, words)


def test_relay_modes_and_button_cooldown_defaults():
    c = config.validate({"board": "sim", "buttons": {"call": {"targets": ["sip:1@h"]}},
                         "door": {"relays": {"gate": {"mode": "latch"}, "door": {"pulse_ms": 800}}}})
    assert c["door"]["relays"]["gate"] == {"mode": "latch", "pulse_ms": None}
    assert c["door"]["relays"]["door"] == {"mode": "pulse", "pulse_ms": 800}
    assert config.validate({"board": "sim"})["door"]["relays"] == {}  # old configs: every relay pulses
    assert c["buttons"]["call"]["cooldown_s"] == 5
    check_error({"board": "sim", "buttons": {"call": {"targets": ["sip:1@h"], "cooldown_s": -1}}},
                "buttons.call.cooldown_s", ["out of range"])


def test_code_and_relay_names_must_match_the_board():
    from sipdoor import board

    b, _ = board.load("sim", [support.repo_path("boards")])
    ok = config.validate({"board": "sim", "door": {"codes": [{"code": "1234", "relay": "door"}],
                                                   "relays": {"door": {"mode": "latch"}}}})
    config.check_against_board(ok, b, "c.json")
    bad = config.validate({"board": "sim", "door": {"codes": ["1111", {"code": "1234", "relay": "gate"}]}})
    e = support.raises(ConfigError, config.check_against_board, bad, b, "c.json")
    assert e.key == "door.codes[1].relay" and "no such relay 'gate'" in str(e), str(e)
    assert str(e).startswith("c.json: door.codes[1].relay: ") and "\n" not in str(e)
    bad = config.validate({"board": "sim", "door": {"relays": {"gate": {"mode": "latch"}}}})
    e = support.raises(ConfigError, config.check_against_board, bad, b, "c.json")
    assert e.key == "door.relays.gate" and "no such relay" in str(e)
