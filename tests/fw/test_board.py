"""Board files: every shipped board passes the schema; bad wiring is refused."""

import os

import support
from sipdoor import board
from sipdoor.schema import ConfigError

BOARDS = support.repo_path("boards")


def shipped():
    return sorted(n for n in os.listdir(BOARDS) if n.endswith(".json"))


def test_every_board_file_is_valid():
    names = shipped()
    assert "sim.json" in names
    platforms = []
    for name in names:
        b, warnings = board.load(name[:-5], [BOARDS])
        platforms.append(b["platform"])
        assert b["relays"], name
        assert any(s["role"] == "call" for s in b["buttons"].values()), name
    for p in ("sim", "rpi", "esp32"):
        assert p in platforms, p


def base(platform="rpi", **extra):
    b = {"name": "t", "platform": platform,
         "buttons": {"call": {"pin": 17}}, "relays": {"door": {"pin": 23}}}
    b.update(extra)
    return b


def check_error(data, key, words):
    e = support.raises(ConfigError, board.validate, data, "b.json")
    assert e.key == key, (e.key, str(e))
    for w in words:
        assert w in str(e), (w, str(e))


def test_bad_boards():
    check_error(base(platform="arduino"), "platform", ["one of"])
    check_error(base(relays={"door": {"pin": 17}}), "relays.door.pin", ["already used by buttons.call.pin"])
    check_error(base(relays={"door": {}}), "relays.door.pin", ["needs a pin"])
    check_error(base(relays={"door": {"pin": 40}}), "relays.door.pin", ["does not exist"])
    check_error(base(relays={"door": {"pin": -1}}), "relays.door.pin", ["out of range"])
    check_error(base(relays={"door": {"pin": "GPIO23"}}), "relays.door.pin", ["an integer"])
    check_error(base(relays={"door": {"pin": 23, "active": "yes"}}), "relays.door.active", ["one of"])
    check_error(base(buttons={"call": {"pin": 17, "debounce_ms": 5000}}), "buttons.call.debounce_ms", ["range"])
    check_error(base(inputs={"call": {"pin": 5}}), "inputs.call", ["already used"])
    check_error(base(leds={"status": {"pin": 24, "colour": "red"}}), "leds.status.colour", ["unknown key"])
    check_error(base(led_patterns={"odd": [100]}), "led_patterns.odd", ["even"])


def test_esp32_pin_rules():
    esp = base(platform="esp32", chip="esp32")
    esp["buttons"] = {"call": {"pin": 4}}
    esp["relays"] = {"door": {"pin": 26}}
    b, warnings = board.validate(esp, "b.json")
    assert warnings == []
    esp["relays"] = {"door": {"pin": 34}}
    check_error(esp, "relays.door.pin", ["input-only"])
    esp["relays"] = {"door": {"pin": 7}}
    check_error(esp, "relays.door.pin", ["flash"])
    esp["relays"] = {"door": {"pin": 26}}
    esp["buttons"] = {"call": {"pin": 35}}
    check_error(esp, "buttons.call.pin", ["no internal pull"])
    esp["buttons"] = {"call": {"pin": 35, "pull": "none"}}
    board.validate(esp, "b.json")
    esp["buttons"] = {"call": {"pin": 0}}
    b, warnings = board.validate(esp, "b.json")
    assert len(warnings) == 1 and "strapping" in warnings[0]
    s3 = base(platform="esp32", chip="esp32s3")
    s3["buttons"] = {"call": {"pin": 40}}
    s3["relays"] = {"door": {"pin": 28}}
    check_error(s3, "relays.door.pin", ["flash"])


def test_i2s_clock_lines_may_be_shared_but_data_lines_not():
    esp = base(platform="esp32", chip="esp32")
    esp["buttons"] = {"call": {"pin": 4}}
    esp["relays"] = {"door": {"pin": 26}}
    esp["audio"] = {"kind": "i2s", "mic": {"sck": 32, "ws": 25, "sd": 33},
                    "speaker": {"id": 1, "sck": 32, "ws": 25, "sd": 27}}
    board.validate(esp, "b.json")
    esp["audio"]["speaker"]["sd"] = 33
    check_error(esp, "audio.speaker.sd", ["already used by audio.mic.sd"])
    esp["audio"] = {"kind": "i2s"}
    check_error(esp, "audio", ["needs"])


def test_chip_must_fit_platform():
    check_error(base(chip="esp32s3"), "chip", ["platform"])


def test_sim_board_needs_no_pins():
    b, _ = board.validate({"name": "s", "platform": "sim", "buttons": {"call": {}}, "relays": {"door": {}}}, "s")
    assert b["buttons"]["call"]["pin"] is None


def test_unknown_board_names_the_config():
    e = support.raises(ConfigError, board.load, "nope", [BOARDS], "config.json")
    assert e.path == "config.json" and e.key == "board" and "unknown board" in str(e)
