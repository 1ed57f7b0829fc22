"""Audio and DTMF end to end with baresip on 127.0.0.1 (issue 4 and 5 scenarios).

The station sends a 1000 Hz tone from --audio-in and records to --audio-out;
baresip plays 440 Hz and records. Each side must hear the other's tone.
"""

import os
import time

import pytest

import peers
from stationproc import Station, write_config


@pytest.fixture
def stack():
    started = []

    def add(thing):
        started.append(thing)
        return thing

    yield add
    for thing in reversed(started):
        if isinstance(thing, Station):
            thing.kill()
        else:
            thing.stop()


def config(tmp_path, targets=(), allow=(), codecs=("PCMU", "PCMA"), codes=()):
    sip = {"listen": "127.0.0.1:%d" % peers.free_udp_port(), "account": None, "allow": list(allow),
           "keepalive_s": 5}
    buttons = {"call": {"targets": list(targets), "repeat_press": "hangup"}} if targets else {}
    door = {"relay": "door", "pulse_ms": 500, "codes": list(codes)}
    return write_config(tmp_path, sip=sip, buttons=buttons, door=door, audio={"codecs": list(codecs)})


def tone_level(samples):
    return (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_two_way_tones_on_a_call_from_the_door(stack, tmp_path, codec):
    tone_in = str(tmp_path / "door-1000.wav")
    peers.write_tone_wav(tone_in, 1000, 10)
    phone_tone = str(tmp_path / "phone-440.wav")
    peers.write_tone_wav(phone_tone, 440, 30)
    heard_by_door = str(tmp_path / "door-heard.wav")
    phone = stack(peers.Baresip("flat", audio_in_wav=phone_tone, record_wav=str(tmp_path / "phone-heard.wav")))
    st = stack(Station("cpython", config(tmp_path, targets=[phone.uri], codecs=[codec]),
                       "--audio-in", tone_in, "--audio-out", heard_by_door))
    st.wait_for(lambda e: e["event"] == "ready", 20)
    st.send("tap call")
    ans = st.wait_for(lambda e: e["event"] == "call_answered", 10)
    assert ans["negotiated"]["codec"] == codec
    phone.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(3)
    st.send("tap call")
    st.wait_for(lambda e: e["event"] == "call_ended", 10)
    phone.wait_event("CALL_CLOSED", 10)
    st.send("quit")
    code, _, err = st.finish(15)
    assert code == 0, err

    samples, rate = peers.read_wav(phone.recorded_wav())
    assert rate == 8000
    voiced = samples[1600:]  # skip the first 200 ms
    assert abs(peers.dominant_frequency(voiced, rate) - 1000) <= 10
    samples, rate = peers.read_wav(heard_by_door)
    voiced = samples[1600:]
    assert len(voiced) > 8000 * 2
    assert abs(peers.dominant_frequency(voiced, rate) - 440) <= 4.4
    assert tone_level(voiced) > 1000


def test_resident_keys_the_door_code_and_the_door_opens(stack, tmp_path):
    phone = stack(peers.Baresip("flat"))
    st = stack(Station("cpython", config(tmp_path, targets=[phone.uri], allow=[], codes=["1234"])))
    st.wait_for(lambda e: e["event"] == "ready", 20)
    st.send("tap call")
    st.wait_for(lambda e: e["event"] == "call_answered", 10)
    phone.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(0.5)
    phone.send_dtmf("1234")
    on = st.wait_for(lambda e: e["event"] == "relay" and e["name"] == "door" and e["state"] == 1, 15)
    off = st.wait_for(lambda e: e["event"] == "relay" and e["name"] == "door" and e["state"] == 0, 5)
    assert abs((off["t"] - on["t"]) - 0.5) <= 0.05
    digits = [e["digit"] for e in st.events if e["event"] == "dtmf"]
    assert digits == ["1", "2", "3", "4"]
    opened = [e for e in st.events if e["event"] == "door_opened"]
    assert opened and opened[0]["by"] == phone.uri


def test_a_caller_not_allowed_cannot_open_the_door(stack, tmp_path):
    phone = stack(peers.Baresip("stranger"))
    st = stack(Station("cpython", config(tmp_path, allow=[], codes=["1234"])))
    ready = st.wait_for(lambda e: e["event"] == "ready", 20)
    phone.dial("sip:door@%s" % ready["listen"])
    st.wait_for(lambda e: e["event"] == "call_refused", 10)
    phone.wait_event("CALL_CLOSED", 10)
    assert not [e for e in st.events if e["event"] == "door_opened"]
