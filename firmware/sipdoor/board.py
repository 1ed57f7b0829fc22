"""Board files: which pin does what, as data (boards/*.json).

load() validates the schema, then the pins against the chip: a pin used
twice, a pin the chip does not have, an input-only pin used as an output or
a pin wired to flash are refused; strapping pins only draw a warning.
"""

from sipdoor.hal import codecs
from sipdoor.schema import ConfigError, Field, check_object, in_range, load_json, non_empty, one_of

PLATFORMS = ("sim", "rpi", "esp32")


def _pin(value):
    if not 0 <= value <= 63:
        return "pin %d out of range (0-63)" % value
    return None


PIN = Field(int, nullable=True, check=_pin)
DEBOUNCE = Field(int, default=30, check=in_range(0, 1000, " ms"))

BUTTON = {
    "pin": PIN,
    "active": Field(str, default="low", check=one_of("low", "high")),
    "pull": Field(str, default="up", check=one_of("up", "down", "none")),
    "debounce_ms": DEBOUNCE,
    "long_press_ms": Field(int, default=2000, check=in_range(0, 60000, " ms")),
    "role": Field(str, default="call", check=one_of("call", "exit")),
}

INPUT = {
    "pin": PIN,
    "active": Field(str, default="high", check=one_of("low", "high")),
    "pull": Field(str, default="up", check=one_of("up", "down", "none")),
    "debounce_ms": Field(int, default=50, check=in_range(0, 1000, " ms")),
    "role": Field(str, default="generic", check=one_of("door_sensor", "tamper", "generic")),
}

OUTPUT = {
    "pin": PIN,
    "active": Field(str, default="high", check=one_of("low", "high")),
}

I2S_PORT = {
    "id": Field(int, default=0, check=in_range(0, 1)),
    "sck": PIN,
    "ws": PIN,
    "sd": PIN,
}

MIXER_CONTROL = {
    "control": Field(str, required=True, check=non_empty),
    "value": Field(str, required=True, check=non_empty),
}

# An I2C codec's set-up as settings (hal/codecs.py turns them into register
# writes for the chip): volumes and gains in dB, routing, the master clock.
CODEC = {
    "device": Field(str, default="codec", check=non_empty),
    "speaker_db": Field(float, nullable=True),
    "headphone_db": Field(float, nullable=True),
    "dac_db": Field(float, nullable=True),
    "adc_db": Field(float, nullable=True),
    "mic_gain_db": Field(float, nullable=True),
    "mic_boost_db": Field(float, nullable=True),
    "input": Field(str, nullable=True),
    "output": Field(str, nullable=True),
    "mclk_hz": Field(int, nullable=True, check=in_range(1000000, 50000000, " Hz")),
}

AUDIO = {
    "kind": Field(str, default="none", check=one_of("none", "wav", "pyaudio", "i2s")),
    "input": Field(str, nullable=True),
    "output": Field(str, nullable=True),
    "rate": Field(int, default=8000, check=one_of(8000, 16000, 32000, 44100, 48000)),
    "mic": Field(dict, nullable=True, fields=I2S_PORT),
    "speaker": Field(dict, nullable=True, fields=I2S_PORT),
    # ALSA mixer controls set before the station starts (a codec HAT on a Pi).
    "mixer": Field(list, default=[], items=Field(dict, fields=MIXER_CONTROL)),
    # Half-duplex echo control: attenuate the microphone while the far end talks.
    "ducking_db": Field(int, default=0, check=in_range(0, 60, " dB")),
    "ducking_threshold_dbfs": Field(int, default=-36, check=in_range(-60, 0, " dBFS")),
    "ducking_hang_ms": Field(int, default=300, check=in_range(0, 2000, " ms")),
    # Acoustic echo cancellation (media/aec.py, speexdsp on CPython): "auto"
    # runs it where it can on a real sound device, "on" wants it, "off" never.
    "echo_cancel": Field(str, default="auto", check=one_of("auto", "on", "off")),
    "codec": Field(dict, nullable=True, fields=CODEC),
}

def _register_write(value):
    if not 0 <= value["reg"] <= 0xFFFF or not 0 <= value["value"] <= 0xFFFF:
        return "reg and value must be 0-65535"
    return None


# One register write of a codec's set-up, applied in order at start.
REGISTER_WRITE = {
    "reg": Field(int, required=True),
    "value": Field(int, required=True),
    "note": Field(str, default=""),
}

I2C_DEVICE = {
    "address": Field(int, required=True, check=in_range(0x08, 0x77)),
    "kind": Field(str, required=True, check=non_empty),
    "init": Field(list, default=[], items=Field(dict, fields=REGISTER_WRITE, check=_register_write)),
}

I2C = {
    "bus": Field(int, default=1, check=in_range(0, 10)),
    "sda": PIN,
    "scl": PIN,
    "freq": Field(int, default=100000, check=in_range(10000, 1000000, " Hz")),
    "devices": Field(dict, default={}, entries=Field(dict, fields=I2C_DEVICE)),
}


# The MicroPython image flash.sh writes: a board id from
# micropython.org/download (e.g. ESP32_GENERIC) and a release, plus the
# micropython-lib packages `mpremote mip install` puts on the board.
MICROPYTHON = {
    "image": Field(str, required=True, check=non_empty),
    "version": Field(str, required=True, check=non_empty),
    "mip": Field(list, default=[], items=Field(str, check=non_empty)),
}


def _pattern(value):
    if not value or len(value) % 2:
        return "a pattern is an even, non-empty list of on/off times in ms"
    for ms in value:
        if not 10 <= ms <= 60000:
            return "pattern times must be 10-60000 ms"
    return None


SPEC = {
    "name": Field(str, required=True, check=non_empty),
    "platform": Field(str, required=True, check=one_of(*PLATFORMS)),
    "chip": Field(str, nullable=True, check=one_of("esp32", "esp32s3", "bcm2837", "bcm2711", "bcm2712")),
    "description": Field(str, default=""),
    "buttons": Field(dict, default={}, entries=Field(dict, fields=BUTTON)),
    "inputs": Field(dict, default={}, entries=Field(dict, fields=INPUT)),
    "relays": Field(dict, default={}, entries=Field(dict, fields=OUTPUT)),
    "leds": Field(dict, default={}, entries=Field(dict, fields=OUTPUT)),
    "led_patterns": Field(dict, default={}, entries=Field(list, items=Field(int), check=_pattern)),
    "audio": Field(dict, default={}, fields=AUDIO),
    "i2c": Field(dict, nullable=True, fields=I2C),
    "watchdog_s": Field(int, default=30, check=in_range(0, 600, " s")),
    "psram": Field(str, default="none", check=one_of("none", "quad", "octal")),
    # Pins the board's own parts use that the firmware does not drive
    # (a HAT's I2S lines, an RGB LED): listed so nothing else takes them.
    "reserved": Field(dict, default={}, entries=Field(int, check=_pin)),
    "micropython": Field(dict, nullable=True, fields=MICROPYTHON),
}

# Pins each chip has, and the ones that must not be used.
# ESP32: GPIO 6-11 drive the SPI flash; 34-39 are input-only without pulls.
# ESP32-S3: GPIO 26-32 drive the SPI flash/PSRAM (33-37 also on octal PSRAM).
# Extra pins a PSRAM chip takes, by chip and PSRAM kind.
_PSRAM_PINS = {
    ("esp32", "quad"): (16, 17),
    ("esp32", "octal"): (16, 17),
    ("esp32s3", "octal"): (33, 34, 35, 36, 37),
}
_CHIP_RULES = {
    "esp32": {
        "pins": [p for p in range(40) if p not in (20, 24, 28, 29, 30, 31)],
        "flash": (6, 7, 8, 9, 10, 11),
        "input_only": (34, 35, 36, 37, 38, 39),
        "strapping": (0, 2, 5, 12, 15),
    },
    "esp32s3": {
        "pins": list(range(22)) + list(range(26, 49)),
        "flash": (26, 27, 28, 29, 30, 31, 32),
        "input_only": (),
        "strapping": (0, 3, 45, 46),
    },
    "rpi": {
        "pins": list(range(28)),
        "flash": (),
        "input_only": (),
        "strapping": (),
    },
}


def _uses(board):
    """Every (key, pin, direction) the board wires: in/out/io, or reserved."""
    for group, direction in (("buttons", "in"), ("inputs", "in"), ("relays", "out"), ("leds", "out")):
        for name in sorted(board[group]):
            yield "%s.%s.pin" % (group, name), board[group][name]["pin"], direction
    audio = board["audio"]
    for port, data_dir in (("mic", "in"), ("speaker", "out")):
        spec = audio.get(port)
        if spec:
            for sig in ("sck", "ws"):
                yield "audio.%s.%s" % (port, sig), spec[sig], "out"
            yield "audio.%s.sd" % port, spec["sd"], data_dir
    if board["i2c"]:
        for sig in ("sda", "scl"):
            yield "i2c.%s" % sig, board["i2c"][sig], "io"
    for name in sorted(board["reserved"]):
        yield "reserved.%s" % name, board["reserved"][name], "reserved"


def check_pins(board, path):
    """Refuse impossible wiring; return warnings for risky but legal pins."""
    platform = board["platform"]
    rules = None
    if platform == "esp32":
        rules = _CHIP_RULES[board["chip"] or "esp32"]
    elif platform == "rpi":
        rules = _CHIP_RULES["rpi"]
    warnings = []
    owner = {}
    shared_ok = {}
    for key, pin, direction in _uses(board):
        if pin is None:
            if platform != "sim":
                raise ConfigError(path, key, "missing (a %s board needs a pin here)" % platform)
            continue
        # A mic and a speaker may share the I2S clock lines.
        if key.endswith(".sck") or key.endswith(".ws"):
            sig = key.rsplit(".", 1)[1]
            if shared_ok.get(pin) == sig:
                continue
            shared_ok[pin] = sig
        if pin in owner:
            raise ConfigError(path, key, "pin %d is already used by %s" % (pin, owner[pin]))
        owner[pin] = key
        if rules is None:
            continue
        if pin not in rules["pins"]:
            raise ConfigError(path, key, "pin %d does not exist on %s" % (pin, board["chip"] or platform))
        if pin in rules["flash"]:
            raise ConfigError(path, key, "pin %d is wired to the flash chip" % pin)
        if pin in _PSRAM_PINS.get((board["chip"] or "esp32", board["psram"]), ()):
            raise ConfigError(path, key, "pin %d is wired to the %s PSRAM" % (pin, board["psram"]))
        if direction == "reserved":
            continue
        if pin in rules["input_only"]:
            if direction != "in":
                raise ConfigError(path, key, "pin %d is input-only and cannot drive an output" % pin)
            group, name = key.split(".")[0:2]
            if group in board and board[group][name].get("pull", "none") != "none":
                raise ConfigError(path, key, "pin %d has no internal pull resistor: set \"pull\": \"none\" "
                                  "and fit an external one" % pin)
        if pin in rules["strapping"]:
            warnings.append("%s: %s: pin %d is a strapping pin; keep it at its boot level" % (path, key, pin))
    return warnings


def validate(data, path="board"):
    """Check a parsed board file; return (board, warnings)."""
    board = check_object(SPEC, data, path)
    if board["platform"] != "esp32" and board["chip"] in ("esp32", "esp32s3"):
        raise ConfigError(path, "chip", "%r is an ESP32 chip but platform is %r" % (board["chip"], board["platform"]))
    if board["platform"] == "esp32" and board["chip"] not in (None, "esp32", "esp32s3"):
        raise ConfigError(path, "chip", "%r is not an ESP32 chip" % board["chip"])
    if board["platform"] != "esp32":
        if board["psram"] != "none":
            raise ConfigError(path, "psram", "only ESP32 boards name their PSRAM")
        if board["micropython"] is not None:
            raise ConfigError(path, "micropython", "only ESP32 boards run a MicroPython image")
    names = {}
    for group in ("buttons", "inputs"):
        for name in board[group]:
            if name in names:
                raise ConfigError(path, "%s.%s" % (group, name), "name already used in %s" % names[name])
            names[name] = group
    if board["audio"]["kind"] == "i2s" and not (board["audio"]["mic"] or board["audio"]["speaker"]):
        raise ConfigError(path, "audio", "kind \"i2s\" needs \"mic\" and/or \"speaker\" pins")
    problem = codecs.validate(board, path)
    if problem:
        raise ConfigError(path, problem[0], problem[1])
    return board, check_pins(board, path)


def find(name, search_dirs):
    """Path of the board file for a name (or a path ending in .json)."""
    if name.endswith(".json") or "/" in name:
        return name
    for d in search_dirs:
        path = "%s/%s.json" % (d, name)
        try:
            open(path).close()
            return path
        except OSError:
            pass
    return None


def load(name, search_dirs, config_path="config"):
    """Find, read and validate a board; an unknown name is the config's error."""
    path = find(name, search_dirs)
    if path is None:
        raise ConfigError(config_path, "board", "unknown board %r (no %s.json in %s)"
                          % (name, name, ", ".join(search_dirs)))
    return validate(load_json(path), path)
