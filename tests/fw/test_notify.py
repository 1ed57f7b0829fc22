"""Events to the home (notify.py): which events go to which sink, what a
record holds, and the MQTT bridge's topics and commands. The real Notifier
and MqttBridge with fake sinks, a fake UA and a fake clock; no network."""

import json

import support
from sipdoor import notify
from sipdoor.app import (Alarm, AlarmCleared, BellInCall, CallEndingSoon, CallRefused, DoorChanged, DoorLocked,
                         DoorOpened, NobodyAnswered)
from sipdoor.clock import TICKS_MAX
from sipdoor.config import validate
from sipdoor.doorcode import CodeAccepted, CodeLockout, CodeRejected, LockoutEnded
from sipdoor.hal.base import ButtonLongPressed, ButtonPressed, ButtonReleased, InputChanged, LedChanged, RelayChanged
from sipdoor.notify import MESSAGE_KINDS, MqttBridge, Notifier, message_text
from sipdoor.sip.events import (CallAnswered, CallEnded, CallRinging, DtmfReceived, IncomingCall, MessageReceived,
                                MessageSent, Registered, RegistrationFailed, Unregistered)

T1 = "sip:101@pbx.example"
PHONE = "sip:alice@pbx.example"
NOWHERE = "sip:nobody@unreachable.example"
MALLORY = "sip:mallory@evil.example"
EVE = "sip:eve@evil.example"


class FakeUA:
    def __init__(self):
        self.sent = []

    def send_message(self, uri, text, now):
        if uri == NOWHERE:
            raise ValueError("cannot resolve")
        self.sent.append((uri, text))


class Sink:
    """Stands in for the event log (add), a webhook (post) and the MQTT
    bridge (event): keeps what it got."""

    def __init__(self):
        self.got = []

    def add(self, rec):
        self.got.append(rec)

    def post(self, body):
        self.got.append(json.loads(body))

    def event(self, rec):
        self.got.append(rec)

    def close(self):
        pass

    def kinds(self):
        return [r["event"] for r in self.got]


class FakeApp:
    def __init__(self):
        self.config = {"door": {"relay": "gate"}}
        self.did = []

    def open_door(self, relay, by):
        self.did.append(("open", relay, by))

    def hang_up(self, why):
        self.did.append(("hangup", why))


class FakeClient:
    """The MqttClient part MqttBridge uses."""

    def __init__(self):
        self.published = []
        self.connected = True

    def publish(self, topic, payload, qos=0, retain=False):
        self.published.append((topic, payload, qos, retain))

    def close(self):
        self.connected = False

    def topics(self):
        return [p[0] for p in self.published]


def make(events=None, account=None, start=0):
    """A Notifier whose sinks are all Sinks; returns (notifier, ua, loop, clock, sinks)."""
    data = {"board": "sim", "buttons": {"call": {"targets": [T1]}}, "events": events or {}}
    if account is not None:
        data["sip"] = {"account": account}
    config = validate(data)
    loop, clock = support.make_loop(start)
    ua = FakeUA()
    n = Notifier(config, loop, ua, FakeApp(), support.FakeLog())
    log, hook1, hook2, mqtt = Sink(), Sink(), Sink(), Sink()
    n.eventlog = log
    n.webhooks = [hook1, hook2]
    n.mqtt = mqtt
    return n, ua, loop, clock, (log, hook1, hook2, mqtt)


# One event of every kind the home should hear of, and of every kind it must not.
FORWARDED = [
    ButtonPressed("call"),
    IncomingCall("i1", PHONE, None, ("192.0.2.1", 5060), True),
    CallRinging("c1", T1, 180),
    CallAnswered("c1", T1, {"codec": "PCMU", "remote": "192.0.2.1:40000"}, True),
    CallEnded("c1", T1, "hangup_remote"),
    NobodyAnswered("call", "no_answer"),
    CallRefused(PHONE, 403, "not in sip.allow"),
    DoorOpened("door", T1),
    DoorLocked("gate", T1),
    DoorChanged("opened"),
    Alarm("forced_open", "door_sensor"),
    AlarmCleared("tamper", "tamper"),
    CodeRejected(1, 4),
    CodeAccepted("door", 0),
    CodeLockout(60, 5),
    LockoutEnded(),
    Registered("sip:door@pbx.example", 600, "<sip:door@192.0.2.9>"),
    RegistrationFailed("sip:door@pbx.example", "timeout", 0, 30),
    Unregistered("sip:door@pbx.example"),
    MessageReceived(PHONE, "secret text", "text/plain", True),
]
DROPPED = [
    DtmfReceived("c1", "1", "rfc4733"),  # digits would leak door codes
    ButtonReleased("call", 120),
    ButtonLongPressed("call", 2000),
    ButtonPressed("exit"),  # not a call button: shows as door_opened
    ButtonPressed("call2"),  # not in the config
    InputChanged("door_sensor", 1),  # the raw input: "door" is the fact
    RelayChanged("door", 1),
    LedChanged("status", "on"),
    MessageSent(PHONE, 200, "OK"),
    CallEndingSoon("c1", 10),
    BellInCall("call", "i1"),  # the button event already tells of the ring
]


def test_record_keeps_what_a_resident_cares_about():
    n, _, _, _, _ = make()
    for ev in FORWARDED:
        rec = n.record(ev)
        assert rec is not None, ev
        assert rec["event"] == ev.kind
    for ev in DROPPED:
        assert n.record(ev) is None, ev
    assert n.seq == len(FORWARDED)  # dropped events use no sequence number


def test_record_fields_strip_media_and_message_text():
    n, _, _, clock, _ = make()
    rec = n.record(CallAnswered("c1", T1, {"codec": "PCMU"}, True))
    assert "negotiated" not in rec and rec["target"] == T1 and rec["outgoing"] is True
    rec = n.record(MessageReceived(PHONE, "1234 is my code", "text/plain", True))
    assert "text" not in rec and rec["sender"] == PHONE
    assert "1234" not in json.dumps(rec)
    clock.advance(61500)
    rec = n.record(DoorOpened("door", "exit_button"))
    assert rec["seq"] == 3 and rec["uptime_s"] == 61
    assert rec["station"] == "door"  # no account, no MQTT station_id
    assert rec["relay"] == "door" and rec["by"] == "exit_button"
    if "time" in rec:
        assert rec["time"] > 1577836800


def test_station_id_comes_from_mqtt_then_the_account():
    account = {"user": "frontdoor", "password": "pw9!x", "domain": "pbx.example"}
    n, _, _, _, _ = make(account=account)
    assert n.record(ButtonPressed("call"))["station"] == "frontdoor"


def test_uptime_survives_the_tick_wrap():
    n, _, loop, clock, _ = make(start=TICKS_MAX - 1000)
    def quiet_days(days):  # the loop runs its timers, no event comes
        for _ in range(days * 24 * 4):
            clock.advance(15 * 60 * 1000)
            loop.run_timers(clock.now())

    quiet_days(7)  # more than half a tick period (6.2 days)
    assert n.record(ButtonPressed("call"))["uptime_s"] == 7 * 86400
    quiet_days(7)
    assert n.record(ButtonPressed("call"))["uptime_s"] == 14 * 86400
    n.close()


def test_every_sink_gets_every_forwarded_event_in_order():
    n, ua, _, _, sinks = make()
    for ev in DROPPED + FORWARDED + DROPPED:
        n(ev)
    want = [ev.kind for ev in FORWARDED]
    for sink in sinks:
        assert sink.kinds() == want, sink.kinds()
        assert [r["seq"] for r in sink.got] == list(range(1, len(want) + 1))
    assert ua.sent == []  # no events.message_uris


def test_no_sink_ever_sees_a_dtmf_digit():
    n, ua, _, _, sinks = make({"message_uris": [PHONE]})
    for d in "1234#":
        n(DtmfReceived("c1", d, "rfc4733"))
    n(CodeAccepted("door", 0))
    for sink in sinks:
        assert sink.kinds() == ["door_code"]
        assert "digit" not in sink.got[0]
    assert ua.sent == []  # an accepted code is no text; door_opened is


def test_sip_message_only_for_the_kinds_worth_a_text():
    n, ua, _, _, _ = make({"message_uris": [PHONE, T1]})
    for ev in FORWARDED + DROPPED:
        n(ev)
    texts = [t for uri, t in ua.sent if uri == PHONE]
    assert [t for uri, t in ua.sent if uri == T1] == texts  # every URI gets every text
    assert texts == [
        "Someone rang at the door (button call)",
        "Nobody answered the door (button call)",
        "Call from sip:alice@pbx.example refused (not in sip.allow)",
        "Door opened by sip:101@pbx.example (relay door)",
        "Door locked by sip:101@pbx.example (relay gate)",
        "Door alarm: forced_open door_sensor",
        "Door alarm over: tamper",
        "Wrong door code (attempt 1, 4 left)",
        "Door codes locked for 60 s after 5 wrong attempts",
    ], texts
    for ev in FORWARDED:
        if ev.kind not in MESSAGE_KINDS:
            assert message_text(n.record(ev)) is None, ev


def test_an_unreachable_message_uri_does_not_stop_the_others():
    n, ua, _, _, sinks = make({"message_uris": [NOWHERE, PHONE]})
    n(DoorOpened("door", "exit_button"))
    assert ua.sent == [(PHONE, "Door opened by exit_button (relay door)")]
    assert n.log.lines[-1][0] == "warning" and NOWHERE in n.log.lines[-1][1]
    assert sinks[0].kinds() == ["door_opened"]


def test_without_any_sink_configured_nothing_breaks():
    config = validate({"board": "sim", "buttons": {"call": {"targets": [T1]}}})
    loop, _ = support.make_loop()
    n = Notifier(config, loop, None, FakeApp(), support.FakeLog())
    assert n.eventlog is None and n.webhooks == [] and n.mqtt is None
    n(ButtonPressed("call"))
    n(DoorOpened("door", "exit_button"))
    assert n.seq == 2
    n.close()


# -- the MQTT bridge ---------------------------------------------------------


def make_bridge(commands=False, user="door"):
    mqtt = validate({"board": "sim", "events": {"mqtt": {"host": "127.0.0.1", "user": user,
                                                         "commands": commands}}})["events"]["mqtt"]
    loop, _ = support.make_loop()
    app = FakeApp()
    log = support.FakeLog()
    bridge = MqttBridge(mqtt, loop, app, log, "front", "1.0", "unregistered")
    bridge.client = FakeClient()
    return bridge, app, log


def test_a_ring_during_an_mqtt_outage_is_not_replayed_later():
    b, _, _ = make_bridge()
    n, _, _, _, _ = make()
    b.client.connected = False
    b.event(n.record(ButtonPressed("call")))
    assert b.client.topics() == ["sipdoor/front/event"]  # the record queues, the doorbell does not


def test_mqtt_topics_per_event_kind():
    b, _, _ = make_bridge()
    n, _, _, _, _ = make()
    recs = [n.record(ev) for ev in (ButtonPressed("call"), DoorChanged("opened"), DoorChanged("closed"),
                                    Registered("sip:door@pbx.example", 600, "<sip:door@h>"),
                                    RegistrationFailed("sip:door@pbx.example", "timeout", 0, 30),
                                    Unregistered("sip:door@pbx.example"), DoorOpened("door", T1))]
    for rec in recs:
        b.event(rec)
    p = b.client.published
    events = [x for x in p if x[0] == "sipdoor/front/event"]
    assert len(events) == len(recs) and all(x[2] == 1 and not x[3] for x in events)
    assert [json.loads(x[1])["event"] for x in events] == [r["event"] for r in recs]
    others = [x for x in p if x[0] != "sipdoor/front/event"]
    assert others[0][0] == "sipdoor/front/ring" and others[0][2:] == (0, False)
    assert json.loads(others[0][1]) == {"event_type": "ring", "button": "call"}
    assert others[1:] == [
        ("sipdoor/front/door/state", "open", 1, True),
        ("sipdoor/front/door/state", "closed", 1, True),
        ("sipdoor/front/registration", "registered", 1, True),
        ("sipdoor/front/registration", "failed", 1, True),
        ("sipdoor/front/registration", "unregistered", 1, True),
    ], others
    assert b.registration == "unregistered"


def test_mqtt_commands_only_when_enabled_and_never_retained():
    b, app, log = make_bridge(commands=False)
    b._message("sipdoor/front/command/open", b"open", False)
    assert app.did == [] and log.lines[-1][0] == "warning"

    b, app, log = make_bridge(commands=True)
    b._message("sipdoor/front/command/open", b"open", True)  # retained: replayed at every connect
    assert app.did == []
    b._message("sipdoor/other/command/open", b"open", False)  # another station's topic
    b._message("sipdoor/front/event", b"{}", False)
    assert app.did == []
    b._message("sipdoor/front/command/open", b"", False)
    b._message("sipdoor/front/command/hangup", b"", False)
    assert app.did == [("open", "gate", "mqtt"), ("hangup", "mqtt")]
    b._message("sipdoor/front/command/reboot", b"", False)
    assert len(app.did) == 2 and "reboot" in log.lines[-1][1]


def test_mqtt_discovery_offers_buttons_only_with_commands():
    b, _, _ = make_bridge(commands=False)
    names = sorted(t.split("/")[-2] for t, _ in b.discovery())
    assert names == ["door", "held_open", "registration", "ring", "tamper"]
    b, _, _ = make_bridge(commands=True)
    found = dict((t.split("/")[-2], json.loads(c)) for t, c in b.discovery())
    assert sorted(found) == ["door", "hangup", "held_open", "open", "registration", "ring", "tamper"]
    assert found["tamper"]["state_topic"] == "sipdoor/front/alarm/tamper"
    assert found["tamper"]["device_class"] == "tamper"
    assert found["open"]["command_topic"] == "sipdoor/front/command/open"
    assert found["ring"]["availability_topic"] == "sipdoor/front/availability"
    assert found["door"]["unique_id"] == "sipdoor_front_door"


def test_mqtt_connect_announces_online_and_registration():
    b, _, _ = make_bridge()
    b._connected()
    p = b.client.published
    assert p[0] == ("sipdoor/front/availability", "online", 1, True)
    assert p[1] == ("sipdoor/front/registration", "unregistered", 1, True)
    assert p[2:4] == [("sipdoor/front/alarm/tamper", "off", 1, True), ("sipdoor/front/alarm/held_open", "off", 1, True)]
    assert len(p) == 4 + 5  # the discovery configs, retained
    assert all(x[3] for x in p)
    # An alarm's state is what the next connect announces (a reboot or an outage
    # must not leave a stale retained "on", nor miss one).
    n, _, _, _, _ = make()
    b.event(n.record(Alarm("tamper", "tamper")))
    b.client.published = []
    b._connected()
    assert ("sipdoor/front/alarm/tamper", "on", 1, True) in b.client.published
    b.close()
    assert b.client.published[-1] == ("sipdoor/front/availability", "offline", 1, True)


def test_notify_module_names_its_kinds():
    assert "dtmf" not in notify.FORWARD
    for kind in MESSAGE_KINDS:
        assert kind in notify.FORWARD


def test_mqtt_lasting_alarms_are_retained_on_off_topics():
    b, _, _ = make_bridge()
    n, _, _, _, _ = make()
    for ev in (Alarm("tamper", "tamper"), Alarm("forced_open", "door_sensor"), Alarm("held_open", "60 s"),
               AlarmCleared("held_open", "door_sensor"), AlarmCleared("tamper", "tamper")):
        b.event(n.record(ev))
    others = [x for x in b.client.published if x[0] != "sipdoor/front/event"]
    assert others == [
        ("sipdoor/front/alarm/tamper", "on", 1, True),
        ("sipdoor/front/alarm/held_open", "on", 1, True),
        ("sipdoor/front/alarm/held_open", "off", 1, True),
        ("sipdoor/front/alarm/tamper", "off", 1, True),
    ], others


def test_texts_for_latch_relays_and_cleared_alarms():
    n, ua, _, _, _ = make({"message_uris": [PHONE]})
    n(DoorOpened("gate", T1, "latch"))
    n(DoorLocked("gate", "exit_button"))
    n(AlarmCleared("tamper", "tamper"))
    assert [t for _, t in ua.sent] == [
        "Door unlocked by sip:101@pbx.example (relay gate, until locked again)",
        "Door locked by exit_button (relay gate)",
        "Door alarm over: tamper",
    ]


def test_call_refused_texts_at_most_once_per_caller_per_minute():
    n, ua, _, clock, sinks = make({"message_uris": [PHONE]})
    for _ in range(5):
        n(CallRefused(MALLORY, 403, "not in sip.allow"))
        clock.advance(1000)
    n(CallRefused(EVE, 403, "not in sip.allow"))  # another caller: its own minute
    assert [t for _, t in ua.sent] == [
        "Call from %s refused (not in sip.allow)" % MALLORY,
        "Call from %s refused (not in sip.allow)" % EVE,
    ]
    assert len(sinks[0].got) == 6  # the log, webhooks and MQTT still get every refusal
    clock.advance(55000)  # 60 s after the first text
    n(CallRefused(MALLORY, 403, "not in sip.allow"))
    assert ua.sent[-1][1] == "Call from %s refused (not in sip.allow); 4 more from this caller not texted" % MALLORY
    n(CallRefused(MALLORY, 403, "not in sip.allow"))
    assert len(ua.sent) == 3
    assert "unreported" not in sinks[0].got[-1]


def test_a_flapping_alarm_is_texted_once_a_minute_and_its_last_state_follows():
    n, ua, loop, clock, sinks = make({"message_uris": [PHONE]})
    for _ in range(4):  # a loose tamper contact: open, shut, open, shut...
        n(Alarm("tamper", "tamper"))
        support.run_for(loop, clock, 1000)
        n(AlarmCleared("tamper", "tamper"))
        support.run_for(loop, clock, 1000)
    assert len(ua.sent) == 1 and "tamper" in ua.sent[0][1].lower()
    assert len(sinks[0].got) == 8  # the log, webhooks and MQTT still get every change
    support.run_for(loop, clock, notify.ALARM_TEXT_EVERY_MS)
    assert len(ua.sent) == 2  # a minute after the first: the state as it now stands
    assert ua.sent[1][1] == notify.message_text(n.record(AlarmCleared("tamper", "tamper")))
    support.run_for(loop, clock, notify.ALARM_TEXT_EVERY_MS)
    assert len(ua.sent) == 2  # nothing new, nothing more


def test_call_refused_from_many_callers_at_once_is_bounded():
    n, ua, _, clock, _ = make({"message_uris": [PHONE]})
    for i in range(50):
        n(CallRefused("sip:bot%d@evil.example" % i, 403, "not in sip.allow"))
    assert len(ua.sent) == notify.REFUSED_CALLERS
    assert len(n._refused) == notify.REFUSED_CALLERS  # the table never grows past its bound
    clock.advance(notify.REFUSED_EVERY_MS)
    n(CallRefused("sip:bot49@evil.example", 403, "not in sip.allow"))
    assert len(ua.sent) == notify.REFUSED_CALLERS + 1
    assert len(n._refused) == 1  # expired callers were let go
