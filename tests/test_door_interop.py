"""The door itself end to end with real peers (issue 5): a resident's code
over RFC 4733 opens the relay for pulse_ms and reaches MQTT and a webhook;
wrong codes lock the codes out for door.lockout.seconds; sequential ringing
moves on from a phone that does not answer; call.max_duration_s ends a call
after the warning beep, which the phone hears.

Every peer runs on 127.0.0.1 in a network namespace of this test's own
(the autouse netns fixture of test_media_interop, imported), so the
station's RTP ports cannot clash with another run's.
"""

import json
import time


import audiocheck
import peers
from stationproc import Station, write_config
from test_events_interop import Broker, Receiver, Sub, _is_event, _mqtt
from test_media_interop import netns  # noqa: F401  (autouse: every test here in its own netns)

PULSE_MS = 500
WARNING_HZ = 1400  # tones.PRESETS["warning"]: 3 x 200 ms of 1400 Hz, 200 ms apart


def config(tmp_path, targets, codes=(), mode="parallel", ring_timeout_s=30, lockout_s=60,
           call=None, events=None):
    sip = {"listen": "127.0.0.1:%d" % peers.free_udp_port(), "account": None, "allow": [],
           "keepalive_s": 5}
    buttons = {"call": {"targets": list(targets), "mode": mode, "ring_timeout_s": ring_timeout_s,
                        "repeat_press": "hangup"}}
    door = {"relay": "door", "pulse_ms": PULSE_MS, "codes": list(codes),
            "lockout": {"attempts": 5, "seconds": lockout_s}}
    extra = {}
    if call:
        extra["call"] = call
    if events:
        extra["events"] = events
    return write_config(tmp_path, sip=sip, buttons=buttons, door=door, **extra)


def door_code(state):
    return lambda e: e["event"] == "door_code" and e["state"] == state


def relay(state):
    return lambda e: e["event"] == "relay" and e["name"] == "door" and e["state"] == state


def call_the_phone(st, phone):
    st.wait_for(lambda e: e["event"] == "ready", 20)
    st.send("tap call")
    st.wait_for(lambda e: e["event"] == "call_answered", 10)
    phone.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(0.5)  # RTP flowing both ways before the first telephone-event


def test_the_resident_code_opens_the_door_and_mqtt_and_the_webhook_hear_of_it(stack, tmp_path):
    broker = stack(Broker(tmp_path))
    hook = stack(Receiver())
    sub = stack(Sub(broker.port, ["sipdoor/front/#"]))
    phone = stack(peers.Baresip("flat"))
    events = {"webhooks": [hook.url], "mqtt": _mqtt(broker)}
    st = stack(Station("cpython", config(tmp_path, [phone.uri], codes=["1234"], events=events)))
    sub.wait_for(lambda t, p: t == "sipdoor/front/availability" and p == "online", timeout=20)
    call_the_phone(st, phone)
    phone.send_dtmf("1234")
    on = st.wait_for(relay(1), 15)
    off = st.wait_for(relay(0), 5)
    assert abs((off["t"] - on["t"]) - PULSE_MS / 1000.0) <= 0.05, (on, off)
    digits = [(e["digit"], e["source"]) for e in st.events if e["event"] == "dtmf"]
    assert digits == [(d, "rfc4733") for d in "1234"], digits
    opened = [e for e in st.events if e["event"] == "door_opened"]
    assert len(opened) == 1 and opened[0]["by"] == phone.uri and opened[0]["relay"] == "door", opened
    topic, payload = sub.wait_for(_is_event("door_opened", by=phone.uri, relay="door"), timeout=15)
    assert json.loads(payload)["station"] == "front"
    _, ctype, body = hook.wait_for(lambda d: d["event"] == "door_opened", timeout=15)
    assert ctype == "application/json" and body["by"] == phone.uri and body["relay"] == "door", body
    st.send("tap call")
    st.wait_for(lambda e: e["event"] == "call_ended", 10)
    phone.wait_event("CALL_CLOSED", 10)
    st.send("quit")
    code, _, err = st.finish(15)
    assert code == 0, err


def test_five_wrong_codes_lock_out_then_the_right_code_opens_after_the_lockout(stack, tmp_path):
    lockout_s = 3
    phone = stack(peers.Baresip("flat"))
    st = stack(Station("cpython", config(tmp_path, [phone.uri], codes=["1234"], lockout_s=lockout_s)))
    call_the_phone(st, phone)
    for attempt in range(1, 5):
        phone.send_dtmf("%d%d%d#" % ((attempt,) * 3))  # shorter than the code: '#' ends the attempt
        ev = st.wait_for(door_code("rejected"), 10)
        assert ev["attempt"] == attempt and ev["attempts_left"] == 5 - attempt, ev
    phone.send_dtmf("555#")
    locked = st.wait_for(door_code("locked_out"), 10)
    assert locked["seconds"] == lockout_s and locked["attempts"] == 5, locked

    # The right code during the lockout: digits arrive, nothing opens.
    n = len(st.events)
    phone.send_dtmf("1234")
    st.wait_for(lambda e: e["event"] == "dtmf" and e["digit"] == "4", 10)
    during = st.events[n:]
    assert not [e for e in during if e["event"] == "door_code" and e["state"] == "lockout_ended"], \
        "the lockout ended before the code was keyed: %r" % during
    assert not [e for e in st.events if e["event"] in ("door_opened", "relay")], st.events

    ended = st.wait_for(door_code("lockout_ended"), lockout_s + 2)
    assert lockout_s - 0.2 <= ended["t"] - locked["t"] <= lockout_s + 0.5, (locked, ended)
    assert not [e for e in st.events if e["event"] in ("door_opened", "relay")], st.events
    phone.send_dtmf("1234")
    on = st.wait_for(relay(1), 10)
    off = st.wait_for(relay(0), 5)
    assert abs((off["t"] - on["t"]) - PULSE_MS / 1000.0) <= 0.05, (on, off)
    opened = [e for e in st.events if e["event"] == "door_opened"]
    assert len(opened) == 1 and opened[0]["by"] == phone.uri, opened
    st.send("quit")
    code, _, err = st.finish(15)
    assert code == 0, err


def test_sequential_ringing_moves_on_from_a_phone_that_does_not_answer(stack, tmp_path):
    first = stack(peers.Baresip("first", auto_answer=False))   # rings, never answers
    second = stack(peers.Baresip("second"))
    st = stack(Station("cpython", config(tmp_path, [first.uri, second.uri], mode="sequential",
                                         ring_timeout_s=5)))
    st.wait_for(lambda e: e["event"] == "ready", 20)
    st.send("tap call")
    t0 = time.time()
    first.wait_event("CALL_INCOMING", 10)
    st.wait_for(lambda e: e["event"] == "call_ringing" and e["target"] == first.uri, 10)
    answered = st.wait_for(lambda e: e["event"] == "call_answered", 15)
    assert answered["target"] == second.uri, answered
    inc2 = second.wait_event("CALL_REMOTE_SDP", 5)  # the INVITE (auto-answer: no CALL_INCOMING)
    closed1 = first.wait_event("CALL_CLOSED", 5)
    second.wait_event("CALL_ESTABLISHED", 5)
    # the second phone rang only once the first had rung for ring_timeout_s
    assert 4.5 <= inc2["t"] - t0 <= 7, inc2["t"] - t0
    assert closed1["t"] <= inc2["t"] + 0.5, (closed1, inc2)
    assert not first.find_events("CALL_ESTABLISHED")
    assert not [e for e in st.events if e["event"] == "nobody_answered"]
    st.send("tap call")
    st.wait_for(lambda e: e["event"] == "call_ended", 10)
    second.wait_event("CALL_CLOSED", 10)
    st.send("quit")
    code, _, err = st.finish(15)
    assert code == 0, err


def test_max_call_duration_ends_the_call_after_a_warning_beep_the_phone_hears(stack, tmp_path):
    max_s, warn_s = 10, 3
    phone = stack(peers.Baresip("flat", record_wav=str(tmp_path / "phone-heard.wav")))
    st = stack(Station("cpython", config(tmp_path, [phone.uri],
                                         call={"max_duration_s": max_s, "warning_s": warn_s})))
    st.wait_for(lambda e: e["event"] == "ready", 20)
    st.send("tap call")
    answered = st.wait_for(lambda e: e["event"] == "call_answered", 10)
    phone.wait_event("CALL_ESTABLISHED", 10)
    soon = st.wait_for(lambda e: e["event"] == "call_ending_soon", max_s + 2)
    assert soon["seconds"] == warn_s, soon
    ended = st.wait_for(lambda e: e["event"] == "call_ended", warn_s + 3)
    assert ended["reason"] == "max_duration", ended
    assert abs((ended["t"] - answered["t"]) - max_s) <= 0.5, (answered, ended)
    assert abs((ended["t"] - soon["t"]) - warn_s) <= 0.3, (soon, ended)
    phone.wait_event("CALL_CLOSED", 10)
    st.send("quit")
    code, _, err = st.finish(15)
    assert code == 0, err

    samples, rate = peers.read_wav(phone.recorded_wav())
    a, b = audiocheck.voiced_span(samples)
    assert b > a, "the phone heard nothing"
    # the only sound of the call (the station sends silence) is the warning:
    # three beeps over 1 s, starting warn_s before the end of the recording
    # (the hang-up)
    assert 900 <= (b - a) * 1000 // rate <= 1100, (a, b, len(samples))
    before_end = (len(samples) - a) / float(rate)
    assert warn_s - 0.6 <= before_end <= warn_s + 0.6, before_end
    for k in range(3):
        start = a + k * rate * 400 // 1000
        beep = samples[start + 80:start + rate * 200 // 1000 - 80]
        freq = audiocheck.zero_cross_frequency(beep, rate)
        assert abs(freq - WARNING_HZ) <= WARNING_HZ * 0.02, (k, freq)
