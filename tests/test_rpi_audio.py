"""The rpi backend's sound (PyAudioDevice) through real PyAudio, PortAudio and alsa-lib.

No sound card is needed: ALSA's user-space plugins are real PCMs. The test's
ALSA configuration (ALSA_CONFIG_PATH: the system's alsa.conf, then a file
written here) defines one PCM per case, an `asym` of two `file` plugins over
`null`: what is played lands in a raw file, and the capture side reads its
samples from another raw file (`infile`). PortAudio's ALSA host API lists
these PCMs by name, so a copy of the rpi-usb-audio board whose audio.input
and audio.output name one selects it, exactly as "USB" selects a USB card
on a Pi. Everything between the station's 8 kHz frames and the bytes ALSA
moves is the real code: pyaudio, libportaudio, alsa-lib, hal/rpi.py and, for
a 48 kHz device, media/resample.py. The last test runs the whole station
process (main.py, mock GPIO) on such a board in a call with baresip.

The `null` slave is infinitely fast (always room to play, always a full
buffer to capture), so these tests show content, continuity and rates, not
real-time behaviour or latency. Not covered: the fallback taken when a device
refuses 8000 Hz. alsa-lib has no hardware-free PCM that refuses a rate and
still streams: `share` (slave.rate 48000) does make PortAudio refuse 8000,
but streaming through it over `null` or `file` aborts in alsa-lib
(snd_pcm_areas_copy assertion) or stalls; `dmix`/`dsnoop` need a kernel card.
"""

import json
import math
import os
import re
import struct
import time

import pyaudio  # a missing PyAudio fails this module: `make test` installs it
import pytest
from gpiozero.pins.mock import MockFactory

import audiocheck
import peers
from conftest import ROOT
from sipdoor import board as boards
from sipdoor.hal import rpi
from stationproc import Station
from test_media_interop import config, tone_call

FRAMES = 100  # 2 s of 20 ms frames
AMPLITUDE = 8000
SYSTEM_ALSA_CONF = "/usr/share/alsa/alsa.conf"
PCMS = ("sipdoor_test_8k", "sipdoor_test_48k")  # the test's ALSA PCMs, one per device rate


def tone(freq, rate, n, amplitude=AMPLITUDE):
    return [int(round(amplitude * math.sin(2 * math.pi * freq * i / rate))) for i in range(n)]


def pack(samples):
    return struct.pack("<%dh" % len(samples), *samples)


def unpack(data):
    return struct.unpack("<%dh" % (len(data) // 2), data)


def goertzel_db(samples, freq, rate, amplitude=AMPLITUDE):
    """Level of one frequency in samples, in dB relative to a sine of amplitude."""
    n = len(samples)
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    mag = 2 * math.sqrt(max(power, 0.0)) / n
    return 20 * math.log10(max(mag, 1e-9) / amplitude)


@pytest.fixture(scope="module")
def alsa(tmp_path_factory):
    """The ALSA configuration; {pcm name: (file it plays into, file its capture reads)}."""
    assert os.path.exists(SYSTEM_ALSA_CONF), "alsa-lib's configuration is missing: apt-get install libasound2"
    d = tmp_path_factory.mktemp("alsa")
    files = {}
    text = []
    for name in PCMS:
        played, captured, mic = (str(d / ("%s.%s.raw" % (name, part)))
                                 for part in ("played", "captured", "mic"))
        files[name] = (played, mic)
        text.append('pcm.%s {\n  type asym\n'
                    '  playback.pcm { type file; slave.pcm { type null }; file "%s"; format "raw" }\n'
                    '  capture.pcm { type file; slave.pcm { type null }; file "%s"; infile "%s";'
                    ' format "raw" }\n'
                    '}\n' % (name, played, captured, mic))
        open(mic, "wb").close()  # the capture side exists only when its infile does
    conf = d / "asound.conf"
    conf.write_text("".join(text))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALSA_CONFIG_PATH", SYSTEM_ALSA_CONF + ":" + str(conf))
        mp.setenv("JACK_NO_START_SERVER", "1")  # PortAudio's JACK host API: no server here, don't start one
        yield files


def pi_board(pcm, rate):
    b, warnings = boards.load("rpi-usb-audio", [os.path.join(ROOT, "boards")])
    assert warnings == []
    b["audio"].update(input=pcm, output=pcm, rate=rate)
    return b


def run_device(dev, speaker, frame_samples):
    """Real-time pacing, one frame every 20 ms as CallMedia's tick: read the
    microphone, play a frame. Returns what the microphone gave."""
    mic = bytearray(2 * frame_samples)
    heard = []
    start = time.monotonic()
    for i in range(len(speaker) // frame_samples):
        dev.read_into(mic)
        heard.append(bytes(mic))
        dev.write(pack(speaker[i * frame_samples:(i + 1) * frame_samples]))
        delay = start + (i + 1) * frame_samples / 8000.0 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return unpack(b"".join(heard))


def test_8k_device_plays_and_captures_bit_exact(alsa):
    played_file, mic_file = alsa["sipdoor_test_8k"]
    mic_tone = tone(700, 8000, 8000 * 3)
    with open(mic_file, "wb") as f:
        f.write(pack(mic_tone))
    backend = rpi.Backend(pi_board("sipdoor_test_8k", 8000), pin_factory=MockFactory())
    dev = backend.audio()
    try:
        assert isinstance(dev, rpi.PyAudioDevice)
        assert (dev.ratio, dev.rate) == (1, 8000)
        speaker = tone(1000, 8000, 160 * FRAMES)
        heard = run_device(dev, speaker, 160)
    finally:
        dev.close()
        backend.close()
    with open(played_file, "rb") as f:
        played = unpack(f.read())
    # Every frame reached ALSA, in order, untouched: 8 kHz S16 mono end to end.
    assert len(played) == len(speaker)
    assert played == tuple(speaker)
    assert abs(peers.dominant_frequency(played, 8000) - 1000) < 5
    assert abs(audiocheck.level_db(played, AMPLITUDE)) < 0.1
    assert audiocheck.longest_gap_ms(played) == 0
    # The microphone read the capture file from its start, no frame of silence.
    assert heard == tuple(mic_tone[:len(heard)]) and len(heard) == len(speaker)
    assert abs(peers.dominant_frequency(heard, 8000) - 700) < 5
    assert audiocheck.longest_gap_ms(heard) == 0


@pytest.mark.parametrize("frame_samples", [160, 240])  # ptime 20 ms and 30 ms
def test_48k_device_resamples_both_ways(alsa, frame_samples):
    """audio.rate 48000 (as in rpi-usb-audio.json): the device runs at 48 kHz
    and media/resample.py converts, whatever the frame size."""
    played_file, mic_file = alsa["sipdoor_test_48k"]
    with open(mic_file, "wb") as f:
        f.write(pack(tone(700, 48000, 48000 * 3)))
    backend = rpi.Backend(pi_board("sipdoor_test_48k", 48000), pin_factory=MockFactory())
    dev = backend.audio()
    try:
        assert (dev.ratio, dev.rate) == (6, 48000)
        frames = FRAMES * 160 // frame_samples
        speaker = tone(1000, 8000, frame_samples * frames)
        heard = run_device(dev, speaker, frame_samples)
    finally:
        dev.close()
        backend.close()
    with open(played_file, "rb") as f:
        played = unpack(f.read())
    assert len(played) == 6 * len(speaker)  # every frame, six times the samples
    body = played[480:]  # past the filter's start (72 samples of delay)
    assert abs(peers.dominant_frequency(body, 48000) - 1000) < 5
    assert abs(audiocheck.level_db(body, AMPLITUDE)) < 0.3
    assert audiocheck.longest_gap_ms(played, rate=48000) == 0
    assert goertzel_db(body, 7000, 48000) < -50  # the image at 8k - 1k was filtered out
    assert len(heard) == len(speaker)
    mic = heard[80:]
    assert abs(peers.dominant_frequency(mic, 8000) - 700) < 5
    assert abs(audiocheck.level_db(mic, AMPLITUDE)) < 0.3
    assert audiocheck.longest_gap_ms(heard) == 0
    assert max(abs(s) for s in heard[:12]) < 1200  # the decimator's delay: 12 samples at 8k


def test_unsupported_rate_is_refused_at_start(alsa):
    """44100 passes the board schema but nothing here converts it: a clear
    error at start, not 44.1 kHz samples sent as 8 kHz ones."""
    b = pi_board("sipdoor_test_8k", 44100)
    with pytest.raises(ValueError, match="44100"):
        rpi.Backend(b, pin_factory=MockFactory()).audio()


def test_unknown_device_name_is_an_error(alsa):
    with pytest.raises(OSError, match="no audio device named 'no-such-card'"):
        rpi.PyAudioDevice({"input": "no-such-card", "output": "no-such-card", "rate": 8000})


# -- the whole station on the test's sound device ------------------------------------

# The rpi backend reads no commands from stdin (only the sim board does), so
# the station's process gets this hook: sitecustomize.py, first on its
# PYTHONPATH, runs before main.py and turns `tap NAME` on stdin into a press
# of that button's pin on gpiozero's MockFactory (the factory the backend
# uses under GPIOZERO_PIN_FACTORY=mock), and `quit` into SIGTERM (how
# systemd stops the station on a Pi). main.py and the firmware are unchanged.
BUTTON_HOOK = """\
import os
if os.environ.get("SIPDOOR_TEST_BUTTONS"):
    import json, signal, sys, threading, time
    _PINS = json.loads(os.environ["SIPDOOR_TEST_BUTTONS"])

    def _commands():
        for line in sys.stdin:
            words = line.split()
            if len(words) == 2 and words[0] == "tap":
                from gpiozero import Device
                pin = Device.pin_factory.pin(_PINS[words[1]])
                pin.drive_low()  # active-low button to GND
                time.sleep(0.1)
                pin.drive_high()
            elif words == ["quit"]:
                os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=_commands, daemon=True).start()
"""


def pi_board_file(tmp_path, pcm, rate):
    """A copy of boards/rpi-usb-audio.json whose sound device is the test's PCM."""
    with open(os.path.join(ROOT, "boards", "rpi-usb-audio.json")) as f:
        data = json.load(f)
    data["audio"].update(input=pcm, output=pcm, rate=rate)
    path = str(tmp_path / "board.json")
    with open(path, "w") as f:
        json.dump(data, f)
    return path, data


@pytest.mark.parametrize("pcm,rate", [("sipdoor_test_8k", 8000), ("sipdoor_test_48k", 48000)])
def test_station_call_through_the_alsa_device(alsa, stack, tmp_path, pcm, rate):
    """The station process on a Pi board (mock GPIO) whose sound card is the
    test's ALSA PCM calls baresip on 127.0.0.1 for 3 s: baresip hears the
    door's microphone (1000 Hz, the infile) and the door's speaker (the
    ALSA output file) plays baresip's 440 Hz; at 48 kHz through
    media/resample.py both ways."""
    played_file, mic_file = alsa[pcm]
    with open(mic_file, "wb") as f:  # longer than the call: the loop reads a frame every 20 ms
        f.write(pack(tone(1000, rate, rate * 30)))
    phone_tone = str(tmp_path / "phone-440.wav")
    peers.write_tone_wav(phone_tone, 440, 30)
    phone = stack(peers.Baresip("flat", audio_in_wav=phone_tone, record_wav=str(tmp_path / "phone-heard.wav")))
    board_path, board = pi_board_file(tmp_path, pcm, rate)
    path = config(tmp_path, targets=[phone.uri], codecs=["PCMU"])
    data = json.load(open(path))
    data["board"] = board_path
    json.dump(data, open(path, "w"))
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(BUTTON_HOOK)
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock", PYTHONPATH=str(hook),
               SIPDOOR_TEST_BUTTONS=json.dumps({"call": board["buttons"]["call"]["pin"]}),
               ALSA_CONFIG_PATH=os.environ["ALSA_CONFIG_PATH"], JACK_NO_START_SERVER="1")
    st = stack(Station("cpython", path, env=env))
    ans, err, _ = tone_call(st, phone, 3)
    assert ans["negotiated"]["codec"] == "PCMU"
    assert "echo cancelling on" in err, err  # the board's echo_cancel "auto": speexdsp in the path
    media = re.search(r"media ended: (\d+) packets in, (\d+) out, (\d+) lost", err)
    assert media, err

    sent = audiocheck.check_tone_samples(peers.read_wav(phone.recorded_wav())[0], 8000, 1000,
                                         "what the phone heard (the door's ALSA microphone)")
    with open(played_file, "rb") as f:
        played = unpack(f.read())
    heard = audiocheck.check_tone_samples(played, rate, 440, "what the door's ALSA speaker played")
    assert sent["seconds"] > 2 and heard["seconds"] > 2
    # One frame to the speaker and one from the microphone per tick of the
    # call, as many as RTP packets sent: the `null` slave always has a frame
    # and room, so a short capture file would mean ticks that sent silence.
    frame = 160 * rate // 8000
    captured = os.path.getsize(played_file.replace(".played.", ".captured.")) // 2
    assert len(played) % frame == 0 and captured == len(played), (len(played), captured)
    assert abs(len(played) // frame - int(media.group(2))) <= 2, (len(played) // frame, media.group(0))
    print("%s: phone heard %r; door played %r; %s" % (pcm, sent, heard, media.group(0)))
