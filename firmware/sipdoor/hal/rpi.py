"""Raspberry Pi backend: gpiozero pins, PyAudio sound, smbus2 I2C, systemd watchdog.

Pins come from gpiozero's pin-factory interface (lgpio on current Pi OS,
MockFactory in tests), used at the pin level so polarity, pulls and
debounce are ours and the same on every platform. gpiozero calls
when_changed on its own thread: we only queue the edge and wake the loop
through a socket pair.
"""

import os
import socket
import time

from sipdoor.hal import base

_PULLS = {"up": "up", "down": "down", "none": "floating"}


class GpioInput(base.InputPin):
    def __init__(self, pin, spec, name, edges):
        self.pin = pin
        self.name = name
        self.edges = edges
        self.invert = spec["active"] == "low"
        pin.function = "input"
        pin.pull = _PULLS[spec["pull"]]
        pin.edges = "both"
        pin.bounce = None
        # gpiozero keeps only a weak reference to the callback: a bound
        # method lives as long as this object does.
        pin.when_changed = self._changed

    def _changed(self, ticks, state):
        # Called on gpiozero's thread: only queue the edge. The state may be
        # None on some pin factories; read it then.
        level = self.pin.state if state is None else state
        self.edges.put(self.name, (1 if level else 0) ^ self.invert)

    def value(self):
        return (1 if self.pin.state else 0) ^ self.invert

    def close(self):
        self.pin.when_changed = None
        self.pin.close()


class GpioOutput(base.OutputPin):
    def __init__(self, pin, spec):
        self.pin = pin
        self.invert = spec["active"] == "low"
        # Go straight to the inactive level: an active-low relay must not
        # click on while the pin becomes an output.
        pin.output_with_state(bool(self.invert))
        self.level = 0

    def set(self, level):
        self.level = 1 if level else 0
        self.pin.state = bool(self.level ^ self.invert)

    def value(self):
        return self.level

    def close(self):
        self.set(0)
        self.pin.close()


class SystemdWatchdog:
    """sd_notify over $NOTIFY_SOCKET: READY=1 once, WATCHDOG=1 on each feed."""

    def __init__(self, address):
        if address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify(b"READY=1")

    def notify(self, message):
        try:
            self.sock.sendto(message, self.address)
        except OSError:
            pass

    def feed(self):
        self.notify(b"WATCHDOG=1")


class PyAudioDevice:
    """8 kHz mono 16-bit through PortAudio, never blocking the loop.

    A frame is read only when one is waiting and written only when there is
    room; otherwise the microphone gives silence and the frame is dropped.

    spec["rate"] (the board's audio.rate) is the rate the sound device runs
    at: 8000, or 48000 for the many USB cards that run at nothing else, with
    media/resample.py between the device and the call's 8 kHz frames. When
    the device cannot open at that rate (PortAudio -9997 "Invalid sample
    rate") the other one is tried. Frames may be any size (ptime 10..40 ms): the
    resampler follows the size it is given.
    """

    def __init__(self, spec, frame_samples=160):
        import pyaudio  # only a Pi with sound needs it

        from sipdoor.media.resample import RATIO

        rate = spec["rate"]
        if rate not in (8000, 8000 * RATIO):
            raise ValueError("audio.rate %d: a PyAudio device runs at 8000 or %d Hz" % (rate, 8000 * RATIO))
        self.inp = self.out = None
        self._dec = self._itp = None
        self.pa = pyaudio.PyAudio()
        try:
            in_dev = self._device(spec["input"], "maxInputChannels")
            out_dev = self._device(spec["output"], "maxOutputChannels")
            ratios = (1, RATIO) if rate == 8000 else (RATIO, 1)
            try:
                self._open(pyaudio, ratios[0], frame_samples, in_dev, out_dev)
            except (OSError, ValueError) as first:  # -9997 "Invalid sample rate", most often
                try:
                    self._open(pyaudio, ratios[1], frame_samples, in_dev, out_dev)
                except (OSError, ValueError) as second:
                    raise OSError("%d Hz: %s; %d Hz: %s"
                                  % (8000 * ratios[0], first, 8000 * ratios[1], second))
        except BaseException:
            self.pa.terminate()
            raise

    def _open(self, pyaudio, ratio, frames, in_dev, out_dev):
        self.ratio = ratio
        self.rate = 8000 * ratio
        self.inp = self.out = None
        try:
            self.inp = self.pa.open(format=pyaudio.paInt16, channels=1, rate=self.rate, input=True,
                                    frames_per_buffer=frames * ratio, input_device_index=in_dev)
            self.out = self.pa.open(format=pyaudio.paInt16, channels=1, rate=self.rate, output=True,
                                    frames_per_buffer=frames * ratio, output_device_index=out_dev)
        except BaseException:
            if self.inp is not None:
                self.inp.close()
                self.inp = None
            raise

    def _device(self, name, channels_key):
        if not name or name == "default":
            return None
        for i in range(self.pa.get_device_count()):
            info = self.pa.get_device_info_by_index(i)
            if name in info["name"] and info[channels_key] > 0:
                return i
        raise OSError("no audio device named %r" % name)

    def read_into(self, buf):
        """A 48 kHz device is read at 48k and low-passed down to 8k."""
        n = len(buf) // 2
        if self.inp.get_read_available() >= n * self.ratio:
            data = self.inp.read(n * self.ratio, exception_on_overflow=False)
            if self.ratio == 1:
                buf[:] = data
            else:
                if self._dec is None or self._dec.frame_out != n:
                    from sipdoor.media.resample import Decimator

                    self._dec = Decimator(n)
                self._dec.process_into(data, buf)
        else:
            buf[:] = bytes(len(buf))
        return len(buf)

    def write(self, buf):
        if self.ratio != 1:
            n = len(buf) // 2
            if self._itp is None or self._itp.frame_in != n:
                from sipdoor.media.resample import Interpolator

                self._itp = Interpolator(n)
                self._buf48 = bytearray(2 * self.ratio * n)
            self._itp.process_into(buf, self._buf48)  # every frame, so the filter history stays continuous
            buf = self._buf48
        if self.out.get_write_available() >= len(buf) // 2:
            self.out.write(bytes(buf), exception_on_underflow=False)

    def close(self):
        for s in (self.inp, self.out):
            if s is not None:
                s.stop_stream()
                s.close()
        self.inp = self.out = None
        if self.pa is not None:
            self.pa.terminate()
            self.pa = None


class Backend(base.Backend):
    name = "rpi"

    def __init__(self, board, pin_factory=None):
        base.Backend.__init__(self, board)
        if pin_factory is None:
            import warnings

            from gpiozero import Device

            if Device.pin_factory is None:
                # gpiozero warns about each factory it could not load; when
                # none loads, the one error line from main.py says it all.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    Device.pin_factory = Device._default_pin_factory()
            pin_factory = Device.pin_factory
        self.factory = pin_factory
        self.pins = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.edges.wake = self._wake

    def _wake(self):
        try:
            self._wake_w.send(b"!")
        except OSError:
            pass  # the pipe is full: the loop is already awake

    def _drain_wake(self, _sock):
        try:
            while self._wake_r.recv(256):
                pass
        except OSError:
            pass

    def input_pin(self, name, spec):
        pin = GpioInput(self.factory.pin(spec["pin"]), spec, name, self.edges)
        self.pins[name] = pin
        return pin

    def output_pin(self, name, spec):
        pin = GpioOutput(self.factory.pin(spec["pin"]), spec)
        self.pins[name] = pin
        return pin

    def audio(self, audio_in=None, audio_out=None):
        spec = self.board["audio"]
        if audio_in or audio_out or spec["kind"] in ("none", "wav"):
            from sipdoor.hal.wav import WavAudio

            return WavAudio(audio_in, audio_out)
        self.setup_codecs()  # the codec's registers before its sound device opens
        dev = PyAudioDevice(spec)
        dev.echo_cancel = spec["echo_cancel"]  # CallMedia reads it: a real speaker next to a mic
        return dev

    def i2c(self):
        """An smbus2 bus for the board's I2C parts (audio codecs, expanders)."""
        from smbus2 import SMBus

        return SMBus(self.board["i2c"]["bus"])

    def kernel_driver(self, address):
        """The Linux driver bound to the I2C part at address, or None (sysfs)."""
        link = "/sys/bus/i2c/devices/%d-%04x/driver" % (self.board["i2c"]["bus"], address)
        try:
            return os.path.basename(os.readlink(link))
        except OSError:
            return None

    def setup_codecs(self, bus=None):
        """Write the board's codec set-up (hal/codecs.py) over smbus2, in order.

        A part a kernel driver owns (the wm8960-soundcard overlay binds the
        WM8960 HAT) is left to that driver and the board's audio.mixer:
        writing behind its back would fight its register cache. Returns
        [(device name, writes sent or a reason it was skipped)].
        """
        from sipdoor.hal import codecs  # start-up only: station.py unloads it after

        plan = codecs.plan(self.board)
        done = []
        if not plan:
            return done
        own = bus is None
        try:
            for name, address, kind, writes in plan:
                driver = self.kernel_driver(address)
                if driver:
                    done.append((name, "owned by the kernel driver %s" % driver))
                    continue
                if bus is None:
                    bus = self.i2c()
                for reg, value in writes:
                    cmd, data = codecs.frame(kind, reg, value)
                    try:
                        bus.write_byte_data(address, cmd, data)
                    except OSError as e:
                        raise OSError("I2C %s at 0x%02x, register %d: %s" % (name, address, reg, e))
                    if codecs.is_reset(kind, reg):
                        time.sleep(codecs.RESET_MS / 1000)
                done.append((name, len(writes)))
        finally:
            if own and bus is not None:
                bus.close()
        return done

    def watchdog(self, timeout_s):
        address = os.environ.get("NOTIFY_SOCKET")
        return SystemdWatchdog(address) if address else None

    def attach(self, loop, emit, stream=None):
        loop.poller.register(self._wake_r, self._drain_wake)

    def close(self):
        self._wake_r.close()
        self._wake_w.close()
