"""I2C codec set-up (hal/codecs.py) and the backends sending it (both runtimes).

The expected sequences are pinned by hand from the datasheets' register
tables (WM8960 Rev 4.2; Everest ES8311), not computed by the code under
test. No I2C hardware (nor Linux's i2c-stub module) exists where the tests
run, so a recording bus stands in for smbus2.SMBus and machine.I2C.
"""

import sys

import support
from sipdoor import board as boards
from sipdoor.hal import codecs
from sipdoor.schema import ConfigError

# The WM8960 HAT's amixer settings (boards/rpi-wm8960-hat.json audio.mixer)
# as a description: speaker 110 = -11 dB, headphone 100 = -21 dB, PCM 230 =
# -12.5 dB, Capture 45 = +16.5 dB, ADC PCM 195 = 0 dB, boost 2 = +20 dB.
WM8960_DESC = {"speaker_db": -11, "headphone_db": -21, "dac_db": -12.5, "adc_db": 0, "mic_gain_db": 16.5,
               "mic_boost_db": 20, "input": "in1", "output": "both", "mclk_hz": 12288000}

WM8960_EXPECTED = [
    (15, 0x000),  # R15 software reset
    (25, 0x0FE),  # R25 VMIDSEL=01 (2x50k), VREF, AINL, AINR, ADCL, ADCR, MICB
    (26, 0x1F8),  # R26 DACL, DACR, LOUT1, ROUT1, SPKL, SPKR
    (47, 0x03C),  # R47 LMIC, RMIC, LOMIX, ROMIX
    (4, 0x1B0),  # R4 ADCDIV=DACDIV=110 (/6): 12.288 MHz / 256 / 6 = 8 kHz, SYSCLKDIV /1, MCLK
    (7, 0x002),  # R7 slave (MS=0), WL=00 16 bit, FORMAT=10 I2S
    (5, 0x000),  # R5 DACMU=0: DAC soft mute off
    (0, 0x02D),  # R0 LINMUTE=0, LINVOL=45: -17.25 + 45 x 0.75 = +16.5 dB
    (1, 0x12D),  # R1 IPVU + RINVOL=45
    (32, 0x128),  # R32 LMN1 (LINPUT1 to PGA-), LMICBOOST=10 (+20 dB), LMIC2B
    (33, 0x128),  # R33 the same for the right channel
    (21, 0x0C3),  # R21 LADCVOL 0xC3 = 0 dB
    (22, 0x1C3),  # R22 ADCVU + RADCVOL 0xC3
    (10, 0x0E6),  # R10 LDACVOL 230: -127 + (230 - 1) x 0.5 = -12.5 dB
    (11, 0x1E6),  # R11 DACVU + RDACVOL 230
    (34, 0x100),  # R34 LD2LO: left DAC to left output mixer
    (37, 0x100),  # R37 RD2RO: right DAC to right output mixer
    (2, 0x064),  # R2 LOUT1VOL 100: -73 + (100 - 48) = -21 dB
    (3, 0x164),  # R3 OUT1VU + ROUT1VOL 100
    (40, 0x06E),  # R40 SPKLVOL 110: -73 + (110 - 48) = -11 dB
    (41, 0x16E),  # R41 SPKVU + SPKRVOL 110
    (49, 0x0F7),  # R49 SPK_OP_EN=11 (both class D outputs), bits 5:0 at reset 110111
]

ES8311_DESC = {"mic_gain_db": 30, "mic_boost_db": 12, "adc_db": 0, "dac_db": -6}

ES8311_EXPECTED = [
    (0x00, 0x1F),  # reset: all RST bits
    (0x00, 0x00),  # out of reset
    (0x45, 0x00),  # GP control default
    (0x01, 0xBF),  # MCLK_SEL=1 (MCLK from BCLK), all clocks on
    (0x02, 0x18),  # pre-divider 1, pre-multiplier x8 (BCLK 32 fs -> 256 fs)
    (0x03, 0x10),  # ADC single speed, OSR 16
    (0x04, 0x10),  # DAC OSR 16
    (0x05, 0x00),  # ADC and DAC clock dividers 1
    (0x09, 0x0C),  # SDP in: I2S, WL=011 16 bit
    (0x0A, 0x0C),  # SDP out: I2S, 16 bit
    (0x0B, 0x00), (0x0C, 0x00),  # system defaults
    (0x10, 0x1F), (0x11, 0x7F),  # references and bias on
    (0x00, 0x80),  # CSM_ON, slave
    (0x0D, 0x01),  # analog power up
    (0x0E, 0x02),  # PGA and ADC modulator powered
    (0x12, 0x00),  # DAC powered
    (0x13, 0x10),  # output driver on
    (0x14, 0x1A),  # LINSEL (MIC1P/N), PGA gain 10 = 30 dB
    (0x16, 0x02),  # ADC scale 2 = +12 dB
    (0x17, 0xBF),  # ADC volume 0xBF = 0 dB
    (0x1C, 0x6A),  # ADC equaliser bypass, DC offset cancel
    (0x44, 0x00),  # ADC on both slots, no loopback
    (0x37, 0x08),  # DAC equaliser bypass
    (0x31, 0x00),  # DAC unmuted
    (0x32, 0xB3),  # DAC volume: 0xBF - 12 half-dB steps = -6 dB
]


def _board(name):
    b, _ = boards.load(name, [support.repo_path("boards")])
    return b


def _with_codec(name, desc, init=None):
    import json

    data = json.loads(open(support.repo_path("boards/%s.json" % name)).read())
    data["audio"]["codec"] = desc
    if init is not None:
        data["i2c"]["devices"]["codec"]["init"] = init
    return data


def test_wm8960_sequence_is_exact():
    assert codecs.codec_writes("wm8960", WM8960_DESC, 8000) == WM8960_EXPECTED


def test_es8311_sequence_is_exact():
    assert codecs.codec_writes("es8311", ES8311_DESC, 16000) == ES8311_EXPECTED


def test_es8311_description_covers_the_shipped_raw_init():
    # the esp32-es8311 board's hand-written init (Espressif's defaults) is what
    # the description with its gains gives, plus DAC unmute, slot routing, GP reset
    raw = [(i["reg"], i["value"]) for i in _board("esp32-es8311")["i2c"]["devices"]["codec"]["init"]]
    gen = codecs.codec_writes("es8311", {"mic_gain_db": 30, "mic_boost_db": 12}, 16000)
    assert [w for w in raw if w not in gen] == []
    assert sorted(w for w in gen if w not in raw) == [(0x31, 0x00), (0x44, 0x00), (0x45, 0x00)]


def test_wm8960_routing_and_outputs():
    w = dict(codecs.codec_writes("wm8960", {"output": "speaker", "input": "in1_in2", "mic_boost_db": 29}))
    assert w[26] == 0x198  # DACs and speakers only
    assert 2 not in w and 40 in w and w[49] == 0x0F7
    assert w[32] == 0x100 | 0x040 | 0x030 | 0x008  # LMN1, LMP2 (differential), +29 dB, LMIC2B
    assert 4 not in w  # no mclk_hz: clocking left at reset
    w = dict(codecs.codec_writes("wm8960", {"output": "headphone"}))
    assert w[26] == 0x1E0 and 49 not in w and w[2] == 0x079  # 0 dB = 0x79
    assert dict(codecs.codec_writes("wm8960", {"mclk_hz": 24576000}, 16000))[4] == 0x0DC  # /2, then /3


def test_volumes_round_and_clamp():
    assert codecs.code("wm8960", "speaker_db", 6) == 0x7F
    assert codecs.code("wm8960", "speaker_db", 40) == 0x7F  # clamped to +6 dB
    assert codecs.code("wm8960", "speaker_db", -200) == 0x30  # clamped to -73 dB, not mute
    assert codecs.code("wm8960", "mic_gain_db", 30) == 0x3F
    assert codecs.code("wm8960", "mic_gain_db", -17.25) == 0x00
    assert codecs.code("wm8960", "mic_gain_db", 0.4) == 0x18  # nearest 0.75 dB step: +0.75
    assert codecs.code("wm8960", "dac_db", 0) == 0xFF
    assert codecs.code("wm8960", "adc_db", 30) == 0xFF and codecs.code("wm8960", "adc_db", 99) == 0xFF
    assert codecs.code("es8311", "dac_db", 32) == 0xFF and codecs.code("es8311", "dac_db", -95.5) == 0x00
    assert codecs.code("es8311", "mic_gain_db", 31) == 10  # clamped to 30 dB
    assert codecs.code("es8311", "mic_boost_db", 14) == 2  # nearest 6 dB step
    assert codecs.boost_code(25) == 3 and codecs.boost_code(-5) == 0


def test_out_of_range_is_refused_at_board_load():
    for desc, key, word in (({"speaker_db": 7}, "audio.codec.speaker_db", "-73 to 6 dB"),
                            ({"mic_gain_db": -18}, "audio.codec.mic_gain_db", "-17.25 to 30 dB"),
                            ({"mic_boost_db": 10}, "audio.codec.mic_boost_db", "0, 13, 20 or 29"),
                            ({"output": "line"}, "audio.codec.output", "'speaker'"),
                            ({"mclk_hz": 12000000}, "audio.codec.mclk_hz", "PLL"),
                            ({"device": "dac"}, "audio.codec.device", "no I2C device")):
        data = _with_codec("rpi-wm8960-hat", desc)
        e = support.raises(ConfigError, boards.validate, data, "b.json")
        assert e.key == key and word in str(e), str(e)
    data = _with_codec("esp32-es8311", {"speaker_db": 0})
    e = support.raises(ConfigError, boards.validate, data, "b.json")
    assert e.key == "audio.codec.speaker_db" and "dac_db" in str(e), str(e)
    data = _with_codec("esp32-es8311", {"dac_db": 32.5})
    assert support.raises(ConfigError, boards.validate, data, "b.json").key == "audio.codec.dac_db"
    data = _with_codec("esp32-es8311", None, [{"reg": 0x14, "value": 0x100}])
    e = support.raises(ConfigError, boards.validate, data, "b.json")
    assert e.key == "i2c.devices.codec.init[0]" and "0-255" in str(e), str(e)
    b, _ = boards.validate(_with_codec("rpi-wm8960-hat", WM8960_DESC), "b.json")
    assert b["audio"]["codec"]["speaker_db"] == -11


def test_plan_is_description_then_raw_init():
    data = _with_codec("rpi-wm8960-hat", {"output": "speaker"}, [{"reg": 9, "value": 0x40, "note": "ALRCGPIO"}])
    b, _ = boards.validate(data, "b.json")
    plan = codecs.plan(b)
    assert len(plan) == 1
    name, address, kind, writes = plan[0]
    assert (name, address, kind) == ("codec", 0x1A, "wm8960")
    assert writes[0] == (15, 0) and writes[-1] == (9, 0x40)
    assert codecs.plan(_board("rpi-wm8960-hat")) == []  # the kernel driver and amixer set it up
    assert codecs.plan(_board("sim")) == []
    es = codecs.plan(_board("esp32-es8311"))
    assert es[0][3][0] == (0, 0x1F) and len(es[0][3]) == 24  # only its raw init


def test_frames_on_the_wire():
    # WM8960: B15..B9 register, B8..B0 data: R25 = 0x0FE -> 0x32 0xFE; R26 = 0x1F8 -> 0x35 0xF8
    assert codecs.frame("wm8960", 25, 0x0FE) == (0x32, 0xFE)
    assert codecs.frame("wm8960", 26, 0x1F8) == (0x35, 0xF8)
    assert codecs.frame("es8311", 0x32, 0xBF) == (0x32, 0xBF)


class SmbusRecorder:
    """Stands in for smbus2.SMBus: write_byte_data(address, command, value)."""

    def __init__(self):
        self.sent = []
        self.closed = False

    def write_byte_data(self, address, cmd, value):
        self.sent.append((address, cmd, value))

    def close(self):
        self.closed = True


class MachineI2CRecorder:
    """Stands in for machine.I2C: writeto and writeto_mem."""

    def __init__(self):
        self.sent = []

    def writeto(self, address, buf):
        self.sent.append((address, buf[0], buf[1]))
        return len(buf)

    def writeto_mem(self, address, memaddr, buf):
        self.sent.append((address, memaddr, buf[0]))


def test_esp32_backend_writes_in_order():
    import test_hal_esp32

    b, _ = boards.validate(_with_codec("esp32-es8311", ES8311_DESC, []), "b.json")
    be = test_hal_esp32.backend(b)
    bus = MachineI2CRecorder()
    assert be.setup_codecs(bus) == [("codec", len(ES8311_EXPECTED))]
    assert bus.sent == [(0x18, r, v) for r, v in ES8311_EXPECTED]
    # a WM8960 on an ESP32: two-byte words through writeto
    data = _with_codec("esp32-es8311", {"output": "speaker"}, [])
    data["i2c"]["devices"]["codec"] = {"address": 0x1A, "kind": "wm8960"}
    be = test_hal_esp32.backend(boards.validate(data, "b.json")[0])
    bus = MachineI2CRecorder()
    be.setup_codecs(bus)
    assert bus.sent[:3] == [(0x1A, 0x1E, 0x00), (0x1A, 0x32, 0xFE), (0x1A, 0x35, 0x98)]


def test_rpi_backend_writes_in_order():
    if sys.implementation.name != "cpython":
        return  # gpiozero and smbus2 are CPython
    from sipdoor.hal import rpi

    data = _with_codec("rpi-wm8960-hat", WM8960_DESC)
    data["audio"]["rate"] = 8000
    b, _ = boards.validate(data, "b.json")
    be = rpi.Backend(b, pin_factory=object())
    be.kernel_driver = lambda address: None
    bus = SmbusRecorder()
    assert be.setup_codecs(bus) == [("codec", len(WM8960_EXPECTED))]
    want = [(0x1A, (r << 1) | (v >> 8), v & 0xFF) for r, v in WM8960_EXPECTED]
    assert bus.sent == want
    assert bus.sent[0] == (0x1A, 0x1E, 0x00) and bus.sent[-1] == (0x1A, 0x62, 0xF7)
    # the stock HAT overlay binds the kernel driver: the station keeps off the chip
    be.kernel_driver = lambda address: "wm8960"
    bus = SmbusRecorder()
    assert be.setup_codecs(bus) == [("codec", "owned by the kernel driver wm8960")]
    assert bus.sent == []
    be.close()
