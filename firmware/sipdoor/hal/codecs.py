"""I2C audio codec set-up, sans-IO: a board's codec description -> register writes.

A board describes its codec in `audio.codec` (volumes and gains in dB,
input and output routing, the master clock) and names the I2C part that
is the codec (`audio.codec.device`, a key of `i2c.devices`, whose `kind` is
the chip). plan(board) turns that into the ordered list of register
writes for the chip, then appends the device's raw `init` list, so a board
can fix or extend any register by hand. A device with only an `init` list
(no `audio.codec`) gets exactly that list. The backends send the list:
hal/rpi.py through smbus2, hal/esp32.py through machine.I2C; frame() says
how one write goes on the wire.

Both chips run as I2S slaves with 16-bit samples, as the backends use them.

WM8960 (Cirrus Logic / Wolfson WM8960 datasheet, Rev 4.2; register numbers
are decimal as the datasheet writes them): 7-bit register address and
9-bit data, sent as two bytes: (reg << 1) | bit 8, then bits 7..0.
  R15 software reset (any value)
  R25 power 1: VMIDSEL 8:7 (01 = 2 x 50k, playback/record), VREF 6, AINL 5,
      AINR 4, ADCL 3, ADCR 2, MICB 1
  R26 power 2: DACL 8, DACR 7, LOUT1 6, ROUT1 5, SPKL 4, SPKR 3
  R47 power 3: LMIC 5, RMIC 4 (input PGAs), LOMIX 3, ROMIX 2 (output mixers)
  R4  clocking 1: ADCDIV 8:6, DACDIV 5:3 (000 /1, 001 /1.5, 010 /2, 011 /3,
      100 /4, 101 /5.5, 110 /6 of SYSCLK/256), SYSCLKDIV 2:1 (00 /1, 10 /2)
  R7  audio interface 1: MS 6 (0 = slave), WL 3:2 (00 = 16 bit), FORMAT 1:0
      (10 = I2S)
  R5  ADC/DAC control 1: DACMU 3 (the DAC is soft-muted after reset)
  R0/R1 input PGA: IPVU 8, LINMUTE 7, LINVOL 5:0 (-17.25 dB + 0.75 dB a step,
      0x3F = +30 dB)
  R32/R33 ADC signal path: LMN1 8 (INPUT1 to the PGA's inverting input),
      LMP3 7, LMP2 6 (INPUT3/INPUT2 to the non-inverting input, VMID when
      neither), LMICBOOST 5:4 (0, +13, +20, +29 dB), LMIC2B 3 (PGA to boost)
  R21/R22 ADC digital volume: ADCVU 8, 0x01 = -97 dB + 0.5 dB a step,
      0xC3 = 0 dB, 0xFF = +30 dB
  R10/R11 DAC digital volume: DACVU 8, 0x01 = -127 dB + 0.5 dB a step,
      0xFF = 0 dB
  R34/R37 left/right output mixer: LD2LO / RD2RO 8 (DAC to the mixer)
  R2/R3 headphone (LOUT1/ROUT1) and R40/R41 speaker (LOUT2/ROUT2) volume:
      update bit 8, 0x30 = -73 dB + 1 dB a step, 0x7F = +6 dB (below 0x30: mute)
  R49 class D control 1: SPK_OP_EN 7:6 (11 = both speakers); bits 5:0 keep
      their reset value 110111. Written last: the class D outputs need SYSCLK.

ES8311 (Everest Semiconductor ES8311 datasheet and user guide; 8-bit
register, 8-bit value; register numbers in hex):
  0x00 reset: CSM_ON 7, MSC 6 (0 = slave), RST bits 4:0 (0x1F resets all)
  0x01 clock manager: MCLK_SEL 7 (1 = MCLK from SCLK/BCLK), clock enables 5:0
  0x02 MCLK pre-divider 7:5 (n+1), pre-multiplier 4:3 (x1, x2, x4, x8)
  0x03 ADC FS mode 6, ADC OSR 5:0; 0x04 DAC OSR; 0x05 ADC/DAC clock dividers
  0x09/0x0A serial data in (DAC) / out (ADC): mute 6, WL 4:2 (011 = 16 bit),
      format 1:0 (00 = I2S)
  0x0B/0x0C system; 0x0D analog power (0x01 = on); 0x0E PGA and ADC
      modulator power (bit 6 PGA off, bit 5 ADC off: 0x02 powers both up);
      0x10/0x11 references and bias; 0x12 DAC power (0x00 = on); 0x13 output
      driver (0x10 = on)
  0x14 input: DMIC 6, LINSEL 4 (analog MIC1P/MIC1N), PGA gain 3:0 (0..10 =
      0..30 dB in 3 dB steps)
  0x16 ADC scale 2:0 (0..7 = 0..42 dB in 6 dB steps)
  0x17 ADC volume: 0x00 = -95.5 dB + 0.5 dB a step, 0xBF = 0 dB, 0xFF = +32 dB
  0x1C ADC equaliser bypass and DC offset cancel (0x6A)
  0x31 DAC mute 6:5; 0x32 DAC volume (as 0x17); 0x37 DAC equaliser bypass (0x08)
  0x44 GPIO: ADC2DAC loopback 7, ADCDAT slot routing 6:4 (000 = ADC on both)
  0x45 GP control (0x00)
"""

WM8960 = "wm8960"
ES8311 = "es8311"
CHIPS = (WM8960, ES8311)

# The dB settings a description may hold, per chip: (lowest, highest, step)
# in hundredths of a dB, and the register code of the lowest.
_SCALES = {
    WM8960: {
        "speaker_db": (-7300, 600, 100, 0x30),
        "headphone_db": (-7300, 600, 100, 0x30),
        "dac_db": (-12700, 0, 50, 0x01),
        "adc_db": (-9700, 3000, 50, 0x01),
        "mic_gain_db": (-1725, 3000, 75, 0x00),
    },
    ES8311: {
        "dac_db": (-9550, 3200, 50, 0x00),
        "adc_db": (-9550, 3200, 50, 0x00),
        "mic_gain_db": (0, 3000, 300, 0x00),
        "mic_boost_db": (0, 4200, 600, 0x00),
    },
}
# WM8960's microphone boost has four fixed gains (R32/R33 LMICBOOST).
_WM8960_BOOST = (0, 13, 20, 29)

# Defaults when the description leaves a setting out (null).
_DEFAULTS = {
    WM8960: {"speaker_db": 0, "headphone_db": 0, "dac_db": 0, "adc_db": 0, "mic_gain_db": 0,
             "mic_boost_db": 20, "input": "in1", "output": "speaker"},
    ES8311: {"dac_db": 0, "adc_db": 0, "mic_gain_db": 30, "mic_boost_db": 0, "input": "in1",
             "output": "speaker"},
}
_INPUTS = {WM8960: ("in1", "in1_in2", "in1_in3"), ES8311: ("in1", "dmic")}
_OUTPUTS = {WM8960: ("speaker", "headphone", "both"), ES8311: ("speaker",)}
SETTINGS = ("speaker_db", "headphone_db", "dac_db", "adc_db", "mic_gain_db", "mic_boost_db")

# WM8960 R4 ADCDIV/DACDIV codes by divider x2 (1.5 and 5.5 are legal).
_WM8960_DIVS = {2: 0, 3: 1, 4: 2, 6: 3, 8: 4, 11: 5, 12: 6}


class CodecError(ValueError):
    """A description the chip cannot do. key: the dotted board key."""

    def __init__(self, key, problem):
        super().__init__("%s: %s" % (key, problem))
        self.key = key
        self.problem = problem


def _centi(db):
    """dB (int or float) as an int number of hundredths, rounded half away from 0."""
    x = db * 100
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def _fmt(c):
    s = "%d" % (c // 100) if c >= 0 else "-%d" % (-c // 100)
    frac = abs(c) % 100
    return s + (".%02d" % frac).rstrip("0") if frac else s


def code(chip, name, db):
    """The register code for a dB setting: the nearest step, clamped to the range."""
    lo, hi, step, base = _SCALES[chip][name]
    c = _centi(db)
    if c < lo:
        c = lo
    elif c > hi:
        c = hi
    return base + (c - lo + step // 2) // step


def boost_code(db):
    """WM8960 LMICBOOST: the nearest of 0, 13, 20, 29 dB (clamped)."""
    best = 0
    for i, g in enumerate(_WM8960_BOOST):
        if abs(db - g) < abs(db - _WM8960_BOOST[best]):
            best = i
    return best


def check(chip, desc, rate=8000, prefix="audio.codec"):
    """Refuse what the chip cannot do (out-of-range dB, unknown routing):
    raise CodecError naming the key. Values between steps are fine (rounded)."""
    if chip not in CHIPS:
        raise CodecError(prefix + ".device", "a %r has no codec description (known: %s); use its init list"
                         % (chip, ", ".join(CHIPS)))
    scales = _SCALES[chip]
    for name in SETTINGS:
        db = desc.get(name)
        if db is None:
            continue
        key = "%s.%s" % (prefix, name)
        if chip == WM8960 and name == "mic_boost_db":
            if db not in _WM8960_BOOST:
                raise CodecError(key, "the WM8960 boost is 0, 13, 20 or 29 dB, not %s" % db)
            continue
        if name not in scales:
            raise CodecError(key, "the %s has no such setting (it has: %s)"
                             % (chip.upper(), ", ".join(sorted(scales) + (["mic_boost_db"] if chip == WM8960
                                                                            else []))))
        lo, hi, step, _ = scales[name]
        c = _centi(db)
        if c < lo or c > hi:
            raise CodecError(key, "%s dB is out of range (%s to %s dB in %s dB steps)"
                             % (db, _fmt(lo), _fmt(hi), _fmt(step)))
    for name, allowed in (("input", _INPUTS[chip]), ("output", _OUTPUTS[chip])):
        v = desc.get(name)
        if v is not None and v not in allowed:
            raise CodecError("%s.%s" % (prefix, name), "the %s takes %s, not %r"
                             % (chip.upper(), ", ".join(repr(a) for a in allowed), v))
    if desc.get("mclk_hz") is not None:
        try:
            _clock(chip, desc["mclk_hz"], rate)
        except ValueError as e:
            raise CodecError(prefix + ".mclk_hz", str(e))


def _clock(chip, mclk, rate):
    """The clock register writes for a master clock and a sample rate."""
    if chip == WM8960:
        # SYSCLK = MCLK or MCLK/2 (at most 12.288 MHz); fs = SYSCLK / 256 / div
        for sysdiv, bits in ((1, 0), (2, 0x4)):
            if mclk > 12288000 * sysdiv:
                continue
            for d2 in sorted(_WM8960_DIVS):
                if mclk * 2 == rate * 256 * sysdiv * d2:
                    c = _WM8960_DIVS[d2]
                    return [(4, (c << 6) | (c << 3) | bits)]
        raise ValueError("%d Hz cannot make %d Hz samples without the PLL: set R4 and R52-R55 in init"
                         % (mclk, rate))
    # ES8311: the internal clock must be 256 x fs; MCLK/n, n = 1..8
    n = mclk // (256 * rate)
    if n < 1 or n > 8 or n * 256 * rate != mclk:
        raise ValueError("%d Hz is not 256 x %d Hz x 1..8" % (mclk, rate))
    return [(0x01, 0x3F), (0x02, (n - 1) << 5)]


def _get(chip, desc, name):
    v = desc.get(name)
    return _DEFAULTS[chip][name] if v is None else v


def wm8960_writes(desc, rate=8000):
    g = lambda name: _get(WM8960, desc, name)  # noqa: E731
    out = g("output")
    spk = out in ("speaker", "both")
    hp = out in ("headphone", "both")
    w = [(15, 0x000)]  # R15: reset every register to its default
    # R25: VMID 2 x 50k, VREF, both input boost mixers (AINL/AINR), both ADCs, mic bias
    w.append((25, 0x080 | 0x040 | 0x020 | 0x010 | 0x008 | 0x004 | 0x002))
    # R26: both DACs, and the output stages asked for
    w.append((26, 0x100 | 0x080 | (0x040 | 0x020 if hp else 0) | (0x010 | 0x008 if spk else 0)))
    # R47: left/right input PGAs and output mixers
    w.append((47, 0x020 | 0x010 | 0x008 | 0x004))
    if desc.get("mclk_hz") is not None:
        w.extend(_clock(WM8960, desc["mclk_hz"], rate))
    w.append((7, 0x002))  # R7: slave, 16-bit words, I2S
    w.append((5, 0x000))  # R5: DAC soft mute off, ADC high-pass on
    pga = code(WM8960, "mic_gain_db", g("mic_gain_db"))
    w.append((0, pga))  # R0: left PGA gain, unmuted (held until IPVU)
    w.append((1, 0x100 | pga))  # R1: right PGA gain, IPVU updates both
    inp = g("input")
    path = 0x100 | 0x008 | (boost_code(g("mic_boost_db")) << 4)  # INPUT1 to PGA-, PGA to boost
    if inp == "in1_in2":
        path |= 0x040  # INPUT2 to PGA+ (differential mic)
    elif inp == "in1_in3":
        path |= 0x080  # INPUT3 to PGA+
    w.append((32, path))
    w.append((33, path))
    adc = code(WM8960, "adc_db", g("adc_db"))
    w.append((21, adc))
    w.append((22, 0x100 | adc))  # ADCVU
    dac = code(WM8960, "dac_db", g("dac_db"))
    w.append((10, dac))
    w.append((11, 0x100 | dac))  # DACVU
    w.append((34, 0x100))  # R34: left DAC to left output mixer (LD2LO)
    w.append((37, 0x100))  # R37: right DAC to right output mixer (RD2RO)
    if hp:
        v = code(WM8960, "headphone_db", g("headphone_db"))
        w.append((2, v))
        w.append((3, 0x100 | v))  # OUT1VU
    if spk:
        v = code(WM8960, "speaker_db", g("speaker_db"))
        w.append((40, v))
        w.append((41, 0x100 | v))  # SPKVU
        w.append((49, 0x0C0 | 0x037))  # R49: class D outputs on, both channels
    return w


def es8311_writes(desc, rate=8000):
    g = lambda name: _get(ES8311, desc, name)  # noqa: E731
    w = [(0x00, 0x1F), (0x00, 0x00), (0x45, 0x00)]  # reset pulse, GP control default
    if desc.get("mclk_hz") is None:
        # no MCLK wire: MCLK from BCLK (16-bit stereo frames: 32 x fs), x8 = 256 x fs
        w.extend([(0x01, 0xBF), (0x02, 0x18)])
    else:
        w.extend(_clock(ES8311, desc["mclk_hz"], rate))
    w.extend([(0x03, 0x10), (0x04, 0x10), (0x05, 0x00)])  # OSR 16 (single speed), dividers 1
    w.extend([(0x09, 0x0C), (0x0A, 0x0C)])  # serial data in/out: I2S, 16 bit, unmuted
    w.extend([(0x0B, 0x00), (0x0C, 0x00), (0x10, 0x1F), (0x11, 0x7F)])  # system, references, bias
    w.append((0x00, 0x80))  # chip state machine on, slave
    w.extend([(0x0D, 0x01), (0x0E, 0x02), (0x12, 0x00), (0x13, 0x10)])  # analog, PGA+ADC, DAC, output on
    pga = code(ES8311, "mic_gain_db", g("mic_gain_db"))
    w.append((0x14, (0x50 if g("input") == "dmic" else 0x10) | pga))
    w.append((0x16, code(ES8311, "mic_boost_db", g("mic_boost_db"))))
    w.append((0x17, code(ES8311, "adc_db", g("adc_db"))))
    w.append((0x1C, 0x6A))  # ADC: equaliser bypassed, DC offset cancelled
    w.append((0x44, 0x00))  # ADC data on both I2S slots, no loopback
    w.append((0x37, 0x08))  # DAC equaliser bypassed
    w.append((0x31, 0x00))  # DAC unmuted
    w.append((0x32, code(ES8311, "dac_db", g("dac_db"))))
    return w


def codec_writes(chip, desc, rate=8000):
    """The generated set-up for one chip (no raw init)."""
    check(chip, desc, rate)
    if chip == WM8960:
        return wm8960_writes(desc, rate)
    return es8311_writes(desc, rate)


def plan(board):
    """[(name, address, kind, [(reg, value), ...]), ...] for every I2C part
    with something to write, in name order; codec first."""
    i2c = board.get("i2c")
    if not i2c:
        return []
    devices = i2c["devices"]
    desc = board.get("audio", {}).get("codec")
    target = desc.get("device", "codec") if desc else None
    out = []
    names = sorted(devices)
    if target in devices:
        names.remove(target)
        names.insert(0, target)
    for name in names:
        dev = devices[name]
        writes = []
        if name == target:
            writes = codec_writes(dev["kind"], desc, board.get("audio", {}).get("rate", 8000))
        for item in dev.get("init", ()):
            writes.append((item["reg"], item["value"]))
        if writes:
            out.append((name, dev["address"], dev["kind"], writes))
    return out


def validate(board, path="board"):
    """Board-load check: audio.codec against its chip, and each codec's raw
    init against the chip's register and value widths. Returns (key, problem)
    or None."""
    i2c = board.get("i2c") or {}
    devices = i2c.get("devices", {})
    for name in sorted(devices):
        kind = devices[name]["kind"]
        if kind not in CHIPS:
            continue
        reg_limit, limit = (0x7F, 0x1FF) if kind == WM8960 else (0xFF, 0xFF)
        for i, item in enumerate(devices[name].get("init", ())):
            if item["reg"] > reg_limit or item["value"] > limit:
                return ("i2c.devices.%s.init[%d]" % (name, i),
                        "a %s register is 0-%d with a value 0-%d" % (kind.upper(), reg_limit, limit))
    desc = board.get("audio", {}).get("codec")
    if not desc:
        return None
    name = desc.get("device") or "codec"
    if name not in devices:
        return ("audio.codec.device", "no I2C device %r in i2c.devices" % name)
    try:
        check(devices[name]["kind"], desc, board.get("audio", {}).get("rate", 8000))
    except CodecError as e:
        return (e.key, e.problem)
    return None


def is_reset(kind, reg):
    """True for the write that resets the chip: give it a few ms (RESET_MS) to settle."""
    return (kind == WM8960 and reg == 15) or (kind == ES8311 and reg == 0x00)


RESET_MS = 5


def frame(kind, reg, value):
    """The two bytes of one register write after the chip address: (cmd, data).
    WM8960: 7-bit register and 9-bit value packed as (reg << 1 | bit 8, bits 7..0)."""
    if kind == WM8960:
        return ((reg << 1) | ((value >> 8) & 1), value & 0xFF)
    return (reg & 0xFF, value & 0xFF)
