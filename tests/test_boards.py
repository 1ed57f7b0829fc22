"""The shipped board files: each valid, documented, and wired the way its
hardware is (pins the HAT or module takes, input-only pins, PSRAM pins)."""

import copy
import json
import os

import pytest

from conftest import ROOT
from sipdoor import board
from sipdoor.schema import ConfigError

BOARDS = os.path.join(ROOT, "boards")
NAMES = sorted(n[:-5] for n in os.listdir(BOARDS) if n.endswith(".json"))
README = open(os.path.join(BOARDS, "README.md")).read()


def raw(name):
    return json.load(open(os.path.join(BOARDS, name + ".json")))


def refused(data, key, word):
    with pytest.raises(ConfigError) as e:
        board.validate(data, "b.json")
    assert e.value.key == key, str(e.value)
    assert word in str(e.value), str(e.value)


def pins_of(b, groups=("buttons", "inputs", "relays", "leds")):
    return {b[g][n]["pin"] for g in groups for n in b[g]}


def test_the_issue_boards_are_shipped():
    for name in ("rpi-usb-audio", "rpi-wm8960-hat", "rpi-i2s-inmp441-max98357a", "esp32-devkitc-i2s",
                 "esp32s3-n16r8-i2s", "m5stack-atom-echo", "esp32-es8311"):
        assert name in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_board_is_valid_and_documented(name):
    b, warnings = board.load(name, [BOARDS])
    assert warnings == [], warnings  # no shipped board sits on a strapping pin
    assert "`%s.json`" % name in README, "add %s to the table in boards/README.md" % name
    assert any(s["role"] == "call" for s in b["buttons"].values())
    assert "door" in b["relays"]
    if b["platform"] == "esp32":
        mp = b["micropython"]
        assert mp and mp["image"] and mp["version"], "pin a MicroPython image for " + name
        s3 = b["chip"] == "esp32s3"
        assert mp["image"].startswith("ESP32_GENERIC_S3") == s3
        assert ("SPIRAM_OCT" in mp["image"]) == (b["psram"] == "octal")
        assert ("SPIRAM" in mp["image"]) == (b["psram"] != "none"), "a PSRAM board needs a SPIRAM image"
    if b["platform"] != "sim":
        assert "`%s`" % name in README.split("## Wiring")[1], "add a wiring table for " + name


def test_esp32_images_share_one_micropython_release():
    # one mpy-cross compiles for all of them
    versions = {raw(n)["micropython"]["version"] for n in NAMES if raw(n)["platform"] == "esp32"}
    assert len(versions) == 1, versions


def test_wm8960_hat_keeps_its_pins_free():
    b, _ = board.load("rpi-wm8960-hat", [BOARDS])
    hat = {2, 3, 18, 19, 20, 21}
    assert not pins_of(b) & hat
    assert set(b["reserved"].values()) == {18, 19, 20, 21}
    assert (b["i2c"]["sda"], b["i2c"]["scl"], b["i2c"]["bus"]) == (2, 3, 1)
    assert b["i2c"]["devices"]["codec"] == {"address": 0x1A, "kind": "wm8960", "init": []}
    controls = [c["control"] for c in b["audio"]["mixer"]]
    for word in ("Playback Volume", "Capture Volume", "Boost"):  # volumes, mic gain, routing
        assert any(word in c for c in controls), word
    for pin, key in ((18, "reserved.i2s_bclk"), (2, "i2c.sda"), (21, "reserved.i2s_dac_data")):
        data = raw("rpi-wm8960-hat")
        data["buttons"]["call"]["pin"] = pin
        refused(data, key, "already used by buttons.call.pin")


def test_pi_i2s_mic_and_amp_reserve_the_i2s_pins():
    b, _ = board.load("rpi-i2s-inmp441-max98357a", [BOARDS])
    assert set(b["reserved"].values()) == {18, 19, 20, 21}
    assert not pins_of(b) & {18, 19, 20, 21}
    data = raw("rpi-i2s-inmp441-max98357a")
    data["leds"]["status"]["pin"] = 20
    refused(data, "reserved.i2s_mic_data", "already used by leds.status.pin")


def test_atom_echo_pins():
    b, _ = board.load("m5stack-atom-echo", [BOARDS])
    assert b["chip"] == "esp32"
    assert b["audio"]["speaker"]["sck"] == 19 and b["audio"]["speaker"]["ws"] == 33
    assert b["audio"]["speaker"]["sd"] == 22 and b["audio"]["mic"]["sd"] == 23
    assert b["buttons"]["call"]["pin"] == 39 and b["buttons"]["call"]["pull"] == "none"
    assert b["reserved"] == {"rgb_led": 27}
    assert pins_of(b) <= {39, 26, 32}  # the button and the Grove port
    data = raw("m5stack-atom-echo")
    data["buttons"]["call"]["pull"] = "up"
    refused(data, "buttons.call.pin", "no internal pull")
    data = raw("m5stack-atom-echo")
    data["leds"] = {"status": {"pin": 39}}
    refused(data, "leds.status.pin", "already used")
    data["buttons"]["call"]["pin"] = 36
    data["buttons"]["call"]["pull"] = "none"
    refused(data, "leds.status.pin", "input-only")
    data = raw("m5stack-atom-echo")
    data["relays"]["door"]["pin"] = 27
    refused(data, "reserved.rgb_led", "already used by relays.door.pin")


def test_s3_octal_psram_pins_are_refused():
    data = raw("esp32s3-n16r8-i2s")
    assert data["psram"] == "octal"
    for pin in (33, 35, 37):
        d = copy.deepcopy(data)
        d["relays"]["door"]["pin"] = pin
        refused(d, "relays.door.pin", "octal PSRAM")
    d = copy.deepcopy(data)
    d["psram"] = "none"
    d["relays"]["door"]["pin"] = 35
    board.validate(d, "b.json")  # an S3 without octal PSRAM has GPIO35
    d["relays"]["door"]["pin"] = 28
    refused(d, "relays.door.pin", "flash")
    d["relays"]["door"]["pin"] = 19
    refused(d, "reserved.usb_dm", "already used")


@pytest.mark.parametrize("name", ["esp32-devkitc-i2s", "esp32-es8311"])
def test_esp32_wrover_devkitc_keeps_gpio16_and_17_free(name):
    data = raw(name)
    assert data["psram"] == "quad" and data["micropython"]["image"] == "ESP32_GENERIC-SPIRAM"
    b, warnings = board.validate(data, "b.json")
    assert not warnings
    assert not pins_of(b) & {16, 17}
    assert b["leds"]["status"]["pin"] == 18  # was GPIO16 on the WROOM DevKitC
    assert "GPIO16" not in data["description"].replace("GPIO16/17 are taken", "")
    for pin, key in ((16, "leds.status.pin"), (17, "relays.door.pin")):
        d = copy.deepcopy(data)
        d[key.split(".")[0]][key.split(".")[1]]["pin"] = pin
        refused(d, key, "quad PSRAM")
    d = copy.deepcopy(data)
    d["psram"] = "none"  # the same wiring on a WROOM module (no PSRAM) may use GPIO16
    d["leds"]["status"]["pin"] = 16
    board.validate(d, "b.json")


def test_boards_without_psram_are_documented():
    install = open(os.path.join(ROOT, "README.md")).read().split("## Install on a board")[1].split("\n## ")[0]
    assert "--frozen" in install and "tools/freeze/README.md" in install
    for name in NAMES:
        b = raw(name)
        if b["platform"] != "esp32":
            continue
        assert "psram" in b, "say whether %s has PSRAM" % name
        assert name in install, "README.md, Install on a board: name %s" % name
        if b["psram"] == "none":
            assert "PSRAM" in b["description"] and "tools/freeze/README.md" in b["description"], name
    psram_row = [l for l in README.split("## Wiring")[1].splitlines() if l.startswith("| PSRAM")]
    assert len(psram_row) == 1, "boards/README.md: one PSRAM row in the ESP32 wiring table"


def test_es8311_codec_on_i2c():
    b, _ = board.load("esp32-es8311", [BOARDS])
    i2c = b["i2c"]
    assert (i2c["sda"], i2c["scl"]) == (21, 22)
    codec = i2c["devices"]["codec"]
    assert codec["kind"] == "es8311" and codec["address"] == 0x18
    regs = codec["init"]
    assert regs and all(0 <= r["reg"] <= 0xFF and 0 <= r["value"] <= 0xFF and r["note"] for r in regs)
    assert regs[0]["reg"] == 0 and regs[0]["value"] == 0x1F  # starts with a reset
    assert not pins_of(b) & {21, 22}
    data = raw("esp32-es8311")
    data["i2c"]["devices"]["codec"]["init"].append({"reg": 1, "value": 70000})
    refused(data, "i2c.devices.codec.init[%d]" % (len(data["i2c"]["devices"]["codec"]["init"]) - 1), "0-65535")


def test_esp32_only_keys_stay_on_esp32():
    data = raw("rpi-usb-audio")
    data["psram"] = "quad"
    refused(data, "psram", "ESP32")
    data = raw("rpi-usb-audio")
    data["micropython"] = {"image": "ESP32_GENERIC", "version": "1.29.0"}
    refused(data, "micropython", "ESP32")
    data = raw("esp32-devkitc-i2s")
    data["micropython"] = {"image": "ESP32_GENERIC"}
    refused(data, "micropython.version", "required")
