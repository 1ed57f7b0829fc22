"""ESP32 backend: machine.Pin with IRQs, machine.I2S audio, machine.I2C, machine.WDT.

Pin IRQs only queue the edge (soft IRQs, the default on the ESP32, may
allocate); the loop wakes at least every POLL_MS to drain them, which keeps
button latency far below any debounce time.
"""

import machine

from sipdoor.hal import base

try:
    from time import sleep_ms
except ImportError:  # CPython, in tests
    from time import sleep

    def sleep_ms(ms):
        sleep(ms / 1000)

POLL_MS = 20
_DMA_BYTES = 4096


class PinInput(base.InputPin):
    def __init__(self, spec, name, edges):
        pull = {"up": machine.Pin.PULL_UP, "down": machine.Pin.PULL_DOWN, "none": None}[spec["pull"]]
        self.pin = machine.Pin(spec["pin"], machine.Pin.IN, pull)
        self.invert = 1 if spec["active"] == "low" else 0
        invert = self.invert

        def changed(pin):
            edges.put(name, pin.value() ^ invert)

        self.pin.irq(handler=changed, trigger=machine.Pin.IRQ_RISING | machine.Pin.IRQ_FALLING)

    def value(self):
        return self.pin.value() ^ self.invert

    def close(self):
        self.pin.irq(handler=None)


class PinOutput(base.OutputPin):
    def __init__(self, spec):
        self.invert = 1 if spec["active"] == "low" else 0
        # value= sets the level before the pin turns into an output.
        self.pin = machine.Pin(spec["pin"], machine.Pin.OUT, value=self.invert)
        self.level = 0

    def set(self, level):
        self.level = 1 if level else 0
        self.pin.value(self.level ^ self.invert)

    def value(self):
        return self.level


class I2SAudio:
    """Microphone and speaker on I2S, 16-bit mono at the board's rate.

    readinto/write on machine.I2S are non-blocking once an IRQ handler is
    set; here the loop simply reads what the DMA buffer holds each tick.
    """

    def __init__(self, spec):
        I2S = machine.I2S
        self.mic = self.speaker = None
        rate = spec["rate"]
        if spec["mic"]:
            m = spec["mic"]
            self.mic = I2S(m["id"], sck=machine.Pin(m["sck"]), ws=machine.Pin(m["ws"]), sd=machine.Pin(m["sd"]),
                           mode=I2S.RX, bits=16, format=I2S.MONO, rate=rate, ibuf=_DMA_BYTES)
        if spec["speaker"]:
            s = spec["speaker"]
            self.speaker = I2S(s["id"], sck=machine.Pin(s["sck"]), ws=machine.Pin(s["ws"]),
                               sd=machine.Pin(s["sd"]), mode=I2S.TX, bits=16, format=I2S.MONO, rate=rate,
                               ibuf=_DMA_BYTES)

    def read_into(self, buf):
        if self.mic is None:
            for i in range(len(buf)):
                buf[i] = 0
            return len(buf)
        return self.mic.readinto(buf)

    def write(self, buf):
        if self.speaker is not None:
            self.speaker.write(buf)

    def close(self):
        for dev in (self.mic, self.speaker):
            if dev is not None:
                dev.deinit()


class Watchdog:
    def __init__(self, timeout_s):
        self.wdt = machine.WDT(timeout=timeout_s * 1000)

    def feed(self):
        self.wdt.feed()


class Backend(base.Backend):
    name = "esp32"

    def __init__(self, board):
        if not hasattr(machine, "Pin"):
            raise OSError("this MicroPython has no machine.Pin (is it an ESP32?)")
        base.Backend.__init__(self, board)

    def input_pin(self, name, spec):
        return PinInput(spec, name, self.edges)

    def output_pin(self, name, spec):
        return PinOutput(spec)

    def audio(self, audio_in=None, audio_out=None):
        if audio_in or audio_out or self.board["audio"]["kind"] != "i2s":
            from sipdoor.hal.wav import WavAudio

            return WavAudio(audio_in, audio_out)
        self.setup_codecs()  # the codec's registers before I2S starts
        dev = I2SAudio(self.board["audio"])
        dev.echo_cancel = self.board["audio"]["echo_cancel"]
        return dev

    def setup_codecs(self, bus=None):
        """Write the board's codec set-up (hal/codecs.py) in order: 8-bit
        registers with writeto_mem, the WM8960's 7+9-bit words with writeto.
        Returns [(device name, writes sent)]."""
        from sipdoor.hal import codecs  # start-up only: station.py unloads it after

        plan = codecs.plan(self.board)
        done = []
        if not plan:
            return done
        if bus is None:
            bus = self.i2c()
        buf = bytearray(2)
        one = memoryview(buf)[1:]
        for name, address, kind, writes in plan:
            for reg, value in writes:
                cmd, data = codecs.frame(kind, reg, value)
                buf[0] = cmd
                buf[1] = data
                try:
                    if kind == codecs.WM8960:
                        acks = bus.writeto(address, buf)
                        if acks is not None and acks != 2:
                            raise OSError("no acknowledge")
                    else:
                        bus.writeto_mem(address, cmd, one)
                except OSError as e:
                    raise OSError("I2C %s at 0x%02x, register %d: %s" % (name, address, reg, e))
                if codecs.is_reset(kind, reg):
                    sleep_ms(codecs.RESET_MS)
            done.append((name, len(writes)))
        return done

    def i2c(self):
        spec = self.board["i2c"]
        return machine.I2C(spec["bus"], scl=machine.Pin(spec["scl"]), sda=machine.Pin(spec["sda"]),
                           freq=spec["freq"])

    def watchdog(self, timeout_s):
        return Watchdog(timeout_s) if timeout_s else None

    def attach(self, loop, emit, stream=None):
        if loop.max_wait_ms > POLL_MS:
            loop.max_wait_ms = POLL_MS
