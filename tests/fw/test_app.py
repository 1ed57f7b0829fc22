"""The station's behaviour (app.py) on the mock board, a fake clock and a
fake user agent: events in, calls on the UA and device outputs out.

FakeUA only records what the app asks of it; the tests feed back the events
the real UA would report (CallAnswered, CallEnded...), when they want them.
"""

import support
from sipdoor.app import (NO_ANSWER_LED_MS, Alarm, AlarmCleared, App, BellInCall, CallEndingSoon, CallRefused,
                         DoorChanged, DoorLocked, DoorOpened, NobodyAnswered, caller_allowed, code_pairs)
from sipdoor.config import validate
from sipdoor.doorcode import CodeAccepted, CodeLockout, CodeRejected, LockoutEnded
from sipdoor.hal.base import ButtonPressed, InputChanged, LedChanged, RelayChanged, load_backend
from sipdoor.hal.devices import Devices
from sipdoor.sip.events import (CallAnswered, CallEnded, CallRinging, DtmfReceived, IncomingCall, Registered,
                                RegistrationFailed)

BOARD = {
    "name": "t", "platform": "rpi",
    "buttons": {"call": {"pin": 17, "active": "low", "pull": "up", "debounce_ms": 30, "long_press_ms": 2000,
                         "role": "call"},
                "call2": {"pin": 18, "active": "low", "pull": "up", "debounce_ms": 30, "long_press_ms": 0,
                          "role": "call"},
                "exit": {"pin": 27, "active": "low", "pull": "up", "debounce_ms": 30, "long_press_ms": 0,
                         "role": "exit"}},
    "inputs": {"door_sensor": {"pin": 22, "active": "high", "pull": "down", "debounce_ms": 30,
                               "role": "door_sensor"},
               "tamper": {"pin": 6, "active": "high", "pull": "down", "debounce_ms": 30, "role": "tamper"}},
    "relays": {"door": {"pin": 23, "active": "high"}, "gate": {"pin": 5, "active": "low"}},
    "leds": {"status": {"pin": 24, "active": "high"}},
    "led_patterns": {},
}

T1 = "sip:101@pbx.example"
T2 = "sip:102@pbx.example"
T3 = "sip:103@pbx.example"
FB = "sip:200@pbx.example"
ALICE = "sip:alice@pbx.example"
MALLORY = "sip:mallory@evil.example"
SRC = ("192.0.2.1", 5060)


class FakeUA:
    """Records (method, handle, args) for every request of the app; `now`
    is kept apart in self.times. call() hands out c1, c2, ..."""

    def __init__(self, unreachable=()):
        self.log = []
        self.times = []
        self.n = 0
        self.unreachable = unreachable

    def _rec(self, method, handle, args, now):
        self.log.append((method, handle, args))
        self.times.append(now)

    def call(self, uri, now):
        if uri in self.unreachable:
            raise ValueError("cannot resolve")
        self.n += 1
        handle = "c%d" % self.n
        self._rec("call", handle, (uri,), now)
        return handle

    def answer(self, handle, now):
        self._rec("answer", handle, (), now)
        return True

    def ringing(self, handle, now):
        self._rec("ringing", handle, (), now)
        return True

    def reject(self, handle, status, now, reason=None):
        self._rec("reject", handle, (status,), now)
        return True

    def hangup(self, handle, now, reason="hangup_local"):
        self._rec("hangup", handle, (reason,), now)
        return True

    def of(self, method):
        return [(h, a) for m, h, a in self.log if m == method]

    def called(self):
        """[(handle, uri)] of every outgoing call."""
        return [(h, a[0]) for h, a in self.of("call")]

    def hung_up(self):
        return [h for h, _ in self.of("hangup")]


def make_config(**over):
    data = {
        "board": "sim",
        "sip": {"allow": [ALICE]},
        "buttons": {"call": {"targets": [T1, T2]}},
        "door": {"codes": ["1234"]},
    }
    for key in over:
        if key in data and key != "buttons":
            data[key].update(over[key])
        else:
            data[key] = over[key]
    return validate(data)


class Station:
    """The app on the mock board: devices report to rec and to the app; the
    app reports to rec."""

    def __init__(self, config=None, unreachable=(), start=0, ua=True):
        self.loop, self.clock = support.make_loop(start)
        self.backend = load_backend("mock")(BOARD)
        self.rec = support.Recorder()
        self.app = None
        self.devices = Devices(self.loop, self.backend, BOARD, self.emit)
        self.ua = FakeUA(unreachable) if ua else None
        self.log = support.FakeLog()
        self.config = config or make_config()
        self.app = App(self.config, self.devices, self.rec, self.log, self.ua)
        self.app.start()

    def emit(self, ev):
        self.rec(ev)
        if self.app is not None:
            self.app.handle(ev)

    def run(self, ms):
        support.run_for(self.loop, self.clock, ms)

    def press(self, name="call"):
        self.app.handle(ButtonPressed(name))

    def led(self):
        return self.devices.leds["status"].pattern

    def relay(self, name="door"):
        return self.devices.relays[name].state

    def answered(self, handle, target, outgoing=True):
        self.app.handle(CallAnswered(handle, target, {"codec": "PCMU"}, outgoing))

    def ended(self, handle, target, reason, status=0):
        self.app.handle(CallEnded(handle, target, reason, status))

    def incoming(self, handle, caller=ALICE, trusted=True):
        self.app.handle(IncomingCall(handle, caller, None, SRC, trusted))

    def dial(self, handle, digits):
        for d in digits:
            self.app.handle(DtmfReceived(handle, d, "rfc4733"))

    def in_call_with_t2(self):
        """Press, T2 answers: the active call is c2 (T1's c1 is cancelled)."""
        self.press()
        self.answered("c2", T2)
        self.ended("c1", T1, "answered_elsewhere")
        assert self.app.active == "c2"


def buttons(**spec):
    d = {"targets": [T1, T2]}
    d.update(spec)
    return {"call": d}


# -- start, LED ------------------------------------------------------------------


def test_start_shows_idle_and_registration_state():
    st = Station()
    assert st.led() == "on"
    st.app.handle(RegistrationFailed("sip:door@pbx.example", "timeout", 0, 30))
    assert st.led() == "heartbeat"
    st.app.handle(Registered("sip:door@pbx.example", 600, "<sip:door@192.0.2.9>"))
    assert st.led() == "on"
    st.in_call_with_t2()
    st.app.handle(RegistrationFailed("sip:door@pbx.example", "timeout", 0, 30))
    assert st.led() == "slow_blink"  # a call in progress keeps its pattern


def test_nobody_answered_led_shows_for_a_while_then_idle():
    st = Station(make_config(buttons=buttons(ring_timeout_s=20)))
    st.press()
    st.run(20000)
    assert st.led() == "double_flash"
    st.ended("c1", T1, "cancelled")  # the cancelled legs end: the pattern stays
    st.ended("c2", T2, "cancelled")
    assert st.led() == "double_flash"
    st.run(NO_ANSWER_LED_MS - 1)
    assert st.led() == "double_flash"
    st.run(1)
    assert st.led() == "on"
    st.run(60000)
    pats = [e.pattern for e in st.rec.of(LedChanged)]
    assert pats == ["on", "fast_blink", "double_flash", "on"]


def test_nobody_answered_led_returns_to_the_registration_failed_pattern():
    st = Station(make_config(buttons=buttons(ring_timeout_s=20)))
    st.app.handle(RegistrationFailed("sip:door@pbx.example", "timeout", 0, 30))
    st.press()
    st.run(20000)
    assert st.led() == "double_flash"
    st.run(NO_ANSWER_LED_MS)
    assert st.led() == "heartbeat"

    # A registration change while "nobody answered" shows waits for its end.
    st = Station(make_config(buttons=buttons(ring_timeout_s=20)))
    st.press()
    st.run(20000)
    st.app.handle(RegistrationFailed("sip:door@pbx.example", "timeout", 0, 30))
    assert st.led() == "double_flash"
    st.run(NO_ANSWER_LED_MS)
    assert st.led() == "heartbeat"
    st.app.handle(Registered("sip:door@pbx.example", 600, "<sip:door@192.0.2.9>"))
    assert st.led() == "on"


def test_press_during_nobody_answered_rings_again_and_keeps_the_ringing_led():
    st = Station(make_config(buttons=buttons(ring_timeout_s=20, cooldown_s=0)))
    st.press()
    st.run(20000)
    st.run(1000)
    st.press()
    assert st.led() == "fast_blink" and st.app.plan is not None
    st.run(NO_ANSWER_LED_MS)  # the old display's end does not touch the new ring
    assert st.led() == "fast_blink"
    st.answered("c3", T1)
    assert st.led() == "slow_blink"


def test_call_ended_while_registration_fails_shows_the_error_pattern():
    st = Station()
    st.app.handle(RegistrationFailed("sip:door@pbx.example", "timeout", 0, 30))
    st.in_call_with_t2()
    assert st.led() == "slow_blink"
    st.ended("c2", T2, "hangup_remote")
    assert st.led() == "heartbeat"


def test_board_pattern_named_after_a_state_wins():
    board = dict(BOARD)
    board["led_patterns"] = {"ringing": [50, 50]}
    loop, clock = support.make_loop()
    rec = support.Recorder()
    devices = Devices(loop, load_backend("mock")(board), board, rec)
    app = App(make_config(), devices, rec, support.FakeLog(), FakeUA())
    app.start()
    app.handle(ButtonPressed("call"))
    assert devices.leds["status"].pattern == "ringing"


# -- ringing out -------------------------------------------------------------------


def test_parallel_rings_every_target_and_the_first_answer_wins():
    st = Station()
    st.press()
    assert st.ua.called() == [("c1", T1), ("c2", T2)]
    assert st.led() == "fast_blink"
    st.app.handle(CallRinging("c1", T1, 180))
    st.run(1000)
    st.answered("c2", T2)
    assert st.ua.of("hangup") == [("c1", ("answered_elsewhere",))]
    assert st.app.active == "c2" and st.app.active_party == T2
    assert st.led() == "slow_blink"
    st.ended("c1", T1, "answered_elsewhere")
    st.run(60000)  # long past the ring timeout: nothing more happens
    assert len(st.ua.log) == 3
    assert st.rec.of(NobodyAnswered) == []
    st.ended("c2", T2, "hangup_remote")
    assert st.app.active is None and st.led() == "on"


def test_late_answer_of_a_cancelled_leg_after_the_plan_is_hung_up():
    st = Station()
    st.press()
    st.answered("c1", T1)
    st.answered("c2", T2)  # its 200 OK crossed our CANCEL
    assert st.app.active == "c1"
    assert st.ua.hung_up() == ["c2", "c2"]


def test_call_button_through_the_hardware_rings_once():
    st = Station()
    st.backend.press("call")
    st.run(10 * 60 * 1000)  # held for ten minutes
    assert st.ua.called() == [("c1", T1), ("c2", T2)]


def test_parallel_nobody_answers_in_ring_timeout():
    st = Station(make_config(buttons=buttons(ring_timeout_s=20)))
    st.press()
    st.run(19999)
    assert st.ua.hung_up() == []
    st.run(1)
    assert st.ua.of("hangup") == [("c1", ("no_answer",)), ("c2", ("no_answer",))]
    assert st.rec.of(NobodyAnswered) == [NobodyAnswered("call", "no_answer")]
    assert st.led() == "double_flash"
    st.ended("c1", T1, "cancelled")
    st.ended("c2", T2, "cancelled")
    assert len(st.rec.of(NobodyAnswered)) == 1
    assert st.ua.called() == [("c1", T1), ("c2", T2)]


def test_sequential_rings_the_next_target_after_the_timeout():
    st = Station(make_config(buttons=buttons(targets=[T1, T2, T3], mode="sequential", ring_timeout_s=10)))
    st.press()
    assert st.ua.called() == [("c1", T1)]
    st.run(9999)
    assert st.ua.called() == [("c1", T1)]
    st.run(1)
    assert st.ua.of("hangup") == [("c1", ("no_answer",))]
    assert st.ua.called() == [("c1", T1), ("c2", T2)]
    assert st.ua.times[-1] == 10000
    st.ended("c1", T1, "cancelled")  # the end of the cancelled leg changes nothing
    assert st.ua.called() == [("c1", T1), ("c2", T2)]
    st.run(5000)
    st.answered("c2", T2)
    assert st.app.active == "c2"
    st.run(60000)
    assert st.ua.called() == [("c1", T1), ("c2", T2)]  # T3 is never rung
    assert st.rec.of(NobodyAnswered) == []


def test_sequential_busy_moves_on_at_once():
    st = Station(make_config(buttons=buttons(mode="sequential")))
    st.press()
    st.run(2000)
    st.ended("c1", T1, "busy", 486)
    assert st.ua.called() == [("c1", T1), ("c2", T2)]
    assert st.ua.times[-1] == 2000
    st.ended("c2", T2, "busy", 486)
    assert st.rec.of(NobodyAnswered) == [NobodyAnswered("call", "busy")]
    assert st.led() == "double_flash"


def test_fallback_after_every_target_timed_out():
    st = Station(make_config(buttons=buttons(ring_timeout_s=15, fallback=FB)))
    st.press()
    st.run(15000)
    assert st.ua.called() == [("c1", T1), ("c2", T2), ("c3", FB)]
    assert sorted(st.ua.hung_up()) == ["c1", "c2"]
    st.answered("c3", FB)
    assert st.app.active == "c3" and st.app.active_party == FB
    assert st.rec.of(NobodyAnswered) == []


def test_fallback_that_also_times_out_gives_up():
    st = Station(make_config(buttons=buttons(mode="sequential", ring_timeout_s=15, fallback=FB)))
    st.press()
    st.ended("c1", T1, "declined", 603)
    st.ended("c2", T2, "busy", 486)
    assert st.ua.called() == [("c1", T1), ("c2", T2), ("c3", FB)]
    st.run(15000)
    assert st.ua.hung_up() == ["c3"]
    # declined sums up best what happened (a person said no)
    assert st.rec.of(NobodyAnswered) == [NobodyAnswered("call", "declined")]


def test_nobody_answered_failed_and_unreachable_targets():
    st = Station(unreachable=(T1,))
    st.press()
    assert st.ua.called() == [("c1", T2)]
    assert st.log.lines[0][0] == "error"
    st.ended("c1", T2, "error", 500)
    assert st.rec.of(NobodyAnswered) == [NobodyAnswered("call", "failed")]

    st = Station(unreachable=(T1, T2))
    st.press()
    assert st.ua.called() == []
    assert st.rec.of(NobodyAnswered) == [NobodyAnswered("call", "failed")]
    assert st.app.plan is None
    st.run(60000)
    assert st.ua.log == []


def test_nobody_answered_no_answer_from_the_callees_proxy():
    st = Station(make_config(buttons=buttons(mode="sequential")))
    st.press()
    st.ended("c1", T1, "no_answer", 480)
    st.ended("c2", T2, "timeout", 408)
    assert st.rec.of(NobodyAnswered) == [NobodyAnswered("call", "no_answer")]


# -- pressing again ------------------------------------------------------------------


def test_repeat_press_ignore_is_the_default():
    st = Station()
    st.press()
    st.press()
    assert st.ua.log == [("call", "c1", (T1,)), ("call", "c2", (T2,))]
    st.answered("c1", T1)
    n = len(st.ua.log)
    st.press()
    assert len(st.ua.log) == n and st.app.active == "c1"


def test_repeat_press_hangup_while_ringing():
    st = Station(make_config(buttons=buttons(repeat_press="hangup")))
    st.press()
    st.press()
    assert sorted(st.ua.hung_up()) == ["c1", "c2"]
    assert len(st.ua.called()) == 2
    assert st.app.plan is None
    assert st.led() == "on"  # no longer ringing
    st.ended("c1", T1, "cancelled")
    st.ended("c2", T2, "cancelled")
    assert st.rec.of(NobodyAnswered) == []
    st.run(60000)
    assert len(st.ua.log) == 4
    st.press()  # the next press rings again
    assert st.ua.called()[2:] == [("c3", T1), ("c4", T2)]


def test_repeat_press_hangup_during_a_call():
    st = Station(make_config(buttons=buttons(repeat_press="hangup")))
    st.in_call_with_t2()
    st.press()
    assert st.ua.hung_up() == ["c1", "c2"]
    assert len(st.ua.called()) == 2
    st.ended("c2", T2, "hangup_local")
    assert st.app.active is None and st.led() == "on"


def test_repeat_press_restart_while_ringing():
    st = Station(make_config(buttons=buttons(repeat_press="restart", ring_timeout_s=20)))
    st.press()
    st.run(10000)
    st.press()
    assert sorted(st.ua.hung_up()) == ["c1", "c2"]
    assert st.ua.called() == [("c1", T1), ("c2", T2), ("c3", T1), ("c4", T2)]
    # The old legs report their end: the new plan rings on.
    st.ended("c1", T1, "cancelled")
    st.ended("c2", T2, "cancelled")
    assert st.rec.of(NobodyAnswered) == []
    assert st.app.plan is not None and st.led() == "fast_blink"
    st.run(19999)  # the new plan has its own, full ring timeout
    assert sorted(st.ua.hung_up()) == ["c1", "c2"]
    st.answered("c4", T2)
    assert st.app.active == "c4"
    assert st.ua.hung_up()[2:] == ["c3"]


def test_repeat_press_restart_during_a_call():
    st = Station(make_config(buttons=buttons(repeat_press="restart")))
    st.in_call_with_t2()
    st.press()
    assert st.ua.hung_up() == ["c1", "c2"]
    assert st.ua.called()[2:] == [("c3", T1), ("c4", T2)]
    st.ended("c2", T2, "hangup_local")
    assert st.led() == "fast_blink"
    assert st.app.plan is not None
    st.answered("c3", T1)
    assert st.app.active == "c3" and st.led() == "slow_blink"


def test_other_button_and_unknown_buttons():
    st = Station()
    st.press("call2")  # on the board, but not in the config
    assert st.ua.log == []
    assert st.log.lines[-1][0] == "warning"
    st.press("nosuch")
    assert st.ua.log == []
    st = Station(ua=False)
    st.press()  # no UA (yet): nothing to do, no crash
    assert st.led() == "on"


# -- calls in ------------------------------------------------------------------------


def test_incoming_from_allowed_trusted_caller_is_answered():
    st = Station()
    st.incoming("i1")
    assert st.ua.log == [("answer", "i1", ())]
    st.answered("i1", ALICE, outgoing=False)
    assert st.app.active == "i1" and st.app.active_party == ALICE
    assert st.led() == "slow_blink"
    assert st.rec.of(CallRefused) == []


def test_incoming_rings_without_auto_answer():
    st = Station(make_config(sip={"auto_answer": False}))
    st.incoming("i1")
    assert st.ua.log == [("ringing", "i1", ())]


def test_caller_not_in_allow_is_refused():
    st = Station()
    st.incoming("i1", MALLORY)
    assert st.ua.log == [("reject", "i1", (403,))]
    assert st.rec.of(CallRefused) == [CallRefused(MALLORY, 403, "not in sip.allow")]
    st.answered("i1", MALLORY, outgoing=False)  # cannot happen; if it did, no call starts
    assert st.app.active is None and st.ua.log[-1] == ("hangup", "i1", ("hangup_local",))
    st = Station(make_config(sip={"reject_status": 486}))
    st.incoming("i1", MALLORY)
    assert st.ua.log == [("reject", "i1", (486,))]
    assert st.rec.of(CallRefused)[0].status == 486


def test_allowed_caller_that_did_not_come_the_trusted_way_is_refused():
    st = Station()
    st.incoming("i1", ALICE, trusted=False)
    assert st.ua.log == [("reject", "i1", (403,))]
    assert st.rec.of(CallRefused) == [CallRefused(ALICE, 403, "did not come through the registrar")]


def test_caller_matching():
    assert caller_allowed("sip:alice@PBX.example", [ALICE])
    assert caller_allowed("sip:alice@pbx.example:5060", [ALICE])
    assert caller_allowed("sip:alice@pbx.example:5070", [ALICE])  # no port in the entry
    assert not caller_allowed("sip:alice@pbx.example:5070", ["sip:alice@pbx.example:5060"])
    assert caller_allowed("sip:alice@pbx.example", ["sip:alice@pbx.example:5060"])
    assert not caller_allowed("sip:Alice@pbx.example", [ALICE])  # the user part is case-sensitive
    assert not caller_allowed("sip:bob@pbx.example", [ALICE])
    assert not caller_allowed("not a uri", [ALICE])
    assert not caller_allowed(ALICE, [])


def test_second_caller_gets_busy():
    st = Station(make_config(sip={"allow": [ALICE, "sip:bob@pbx.example"]}))
    st.incoming("i1")
    st.answered("i1", ALICE, outgoing=False)
    st.incoming("i2", "sip:bob@pbx.example")
    assert st.ua.log[-1] == ("reject", "i2", (486,))
    assert st.rec.of(CallRefused) == [CallRefused("sip:bob@pbx.example", 486, "busy")]
    assert st.app.active == "i1"


def test_second_caller_before_the_first_is_confirmed_gets_busy():
    # Two INVITEs in one batch: the first is answered, its CallAnswered
    # comes later. Still one call at a time.
    st = Station()
    st.incoming("i1")
    st.incoming("i2")
    assert st.ua.log == [("answer", "i1", ()), ("reject", "i2", (486,))]
    st.answered("i1", ALICE, outgoing=False)
    assert st.app.active == "i1"


def test_second_caller_while_the_first_is_left_ringing_gets_busy():
    st = Station(make_config(sip={"auto_answer": False}))
    st.incoming("i1")
    st.incoming("i2")
    assert st.ua.log == [("ringing", "i1", ()), ("reject", "i2", (486,))]
    st.ended("i1", ALICE, "cancelled")  # the caller gave up
    st.incoming("i3")
    assert st.ua.log[-1] == ("ringing", "i3", ())


def test_caller_while_ringing_out_gets_busy():
    st = Station()
    st.press()
    st.incoming("i1")
    assert st.ua.log[-1] == ("reject", "i1", (486,))
    assert st.app.plan is not None


def test_ringing_from_a_cancelled_leg_during_the_call_keeps_the_call_led():
    st = Station()
    st.press()
    st.answered("c1", T1)
    st.app.handle(CallRinging("c2", T2, 180))  # was on its way before our CANCEL
    assert st.led() == "slow_blink"


# -- the call button during a resident's call to the door ----------------------------


def test_press_while_a_resident_call_rings_at_the_door_answers_it():
    # sip.auto_answer false: the resident's call rings at the door; the
    # visitor pressing the button picks it up (manual answering).
    st = Station(make_config(sip={"auto_answer": False}))
    st.incoming("i1")
    assert st.ua.log == [("ringing", "i1", ())]
    st.press()
    assert st.ua.log == [("ringing", "i1", ()), ("answer", "i1", ())]
    assert st.app.plan is None and st.ua.called() == []
    st.press()  # a second press before the call is confirmed: nothing more
    assert len(st.ua.log) == 2
    st.answered("i1", ALICE, outgoing=False)
    assert st.app.active == "i1" and st.led() == "slow_blink"


def test_press_while_an_auto_answered_call_is_confirmed_is_ignored():
    st = Station()
    st.incoming("i1")
    st.press()
    assert st.ua.log == [("answer", "i1", ())]
    assert st.app.plan is None
    st.answered("i1", ALICE, outgoing=False)
    assert st.app.active == "i1"


def test_press_after_a_ringing_resident_call_gave_up_rings_the_targets():
    st = Station(make_config(sip={"auto_answer": False}))
    st.incoming("i1")
    st.ended("i1", ALICE, "cancelled")  # the resident hung up first
    st.press()
    assert st.ua.called() == [("c1", T1), ("c2", T2)]


def test_press_during_a_resident_call_chimes_and_keeps_the_call():
    # A resident watching through the door (door monitor): whatever
    # repeat_press says, the visitor's press neither rings anyone nor ends
    # the resident's call; it is reported and the speaker chimes.
    for what in ("ignore", "hangup", "restart"):
        st = Station(make_config(buttons=buttons(repeat_press=what)))
        st.incoming("i1")
        st.answered("i1", ALICE, outgoing=False)
        st.backend.press("call")
        st.run(100)
        assert st.ua.log == [("answer", "i1", ())], what
        assert st.app.active == "i1" and st.app.plan is None
        assert st.rec.of(BellInCall) == [BellInCall("call", "i1")]
        assert "button" in st.rec.kinds()  # the press itself is reported
        assert st.led() == "slow_blink"
        st.dial("i1", "1234")  # the resident may still open the door
        assert st.relay() == 1
        st.ended("i1", ALICE, "hangup_remote")
        st.press()  # the call is over: the button rings the targets again
        assert st.ua.called() == [("c1", T1), ("c2", T2)], what


def test_repeat_press_still_applies_to_the_visitors_own_call():
    st = Station(make_config(buttons=buttons(repeat_press="hangup")))
    st.in_call_with_t2()
    st.press()
    assert st.ua.hung_up() == ["c1", "c2"]
    assert st.rec.of(BellInCall) == []


# -- door codes ----------------------------------------------------------------------


def test_code_in_a_call_with_a_called_resident_opens_the_door():
    st = Station(make_config(door={"codes": ["1234"], "pulse_ms": 1500}))
    st.in_call_with_t2()
    st.run(1000)
    st.dial("c2", "123")
    assert st.relay() == 0
    st.dial("c2", "4")
    assert st.relay() == 1
    assert st.rec.of(DoorOpened) == [DoorOpened("door", T2)]
    assert st.rec.of(CodeAccepted) == [CodeAccepted("door", 0)]
    st.run(1499)
    assert st.relay() == 1
    st.run(1)
    assert st.relay() == 0
    assert [e.state for e in st.rec.of(RelayChanged)] == [1, 0]


def test_code_in_a_call_from_an_allowed_caller_opens_the_door():
    st = Station(make_config(door={"codes": ["1234"], "relay": "gate"}))
    st.incoming("i1")
    st.answered("i1", ALICE, outgoing=False)
    st.dial("i1", "1234")
    assert st.relay("gate") == 1 and st.relay("door") == 0
    assert st.backend.physical("gate") == 0  # active-low
    assert st.rec.of(DoorOpened) == [DoorOpened("gate", ALICE)]
    st.run(3000)  # door.pulse_ms defaults to 3 s
    assert st.relay("gate") == 0


def test_code_from_a_call_that_is_not_the_active_one_is_ignored():
    st = Station()
    st.in_call_with_t2()
    st.dial("c1", "1234")  # the cancelled leg
    st.dial("i9", "1234")  # no such call
    assert st.relay() == 0
    assert st.rec.of(DoorOpened) == [] and st.rec.of(CodeRejected) == []
    st.dial("c2", "1234")
    assert st.relay() == 1


def test_code_without_any_call_is_ignored():
    st = Station()
    st.dial("c1", "1234")
    st.press()
    st.dial("c1", "1234")  # ringing, not answered yet
    st.incoming("i1", MALLORY)
    st.dial("i1", "1234")  # refused caller
    assert st.relay() == 0 and st.rec.of(DoorOpened) == []


def test_code_after_the_call_ended_is_ignored():
    st = Station()
    st.in_call_with_t2()
    st.ended("c2", T2, "hangup_remote")
    st.dial("c2", "1234")
    assert st.relay() == 0


def test_five_wrong_codes_lock_out_then_the_code_works_again():
    st = Station(make_config(door={"codes": ["1234"], "lockout": {"attempts": 5, "seconds": 30}}))
    st.in_call_with_t2()
    for _ in range(4):
        st.dial("c2", "0000")
    assert [e.attempts_left for e in st.rec.of(CodeRejected)] == [4, 3, 2, 1]
    assert st.rec.of(CodeLockout) == []
    st.dial("c2", "9999")
    assert st.rec.of(CodeLockout) == [CodeLockout(30, 5)]
    st.dial("c2", "1234")
    assert st.relay() == 0 and st.rec.of(DoorOpened) == []
    st.run(29999)
    st.dial("c2", "1234")
    assert st.relay() == 0
    assert st.rec.of(LockoutEnded) == []
    st.run(1)
    assert st.rec.of(LockoutEnded) == [LockoutEnded()]  # the app's timer fired it
    st.dial("c2", "1234")
    assert st.relay() == 1
    assert st.rec.of(DoorOpened) == [DoorOpened("door", T2)]


def test_lockout_survives_the_end_of_the_call():
    st = Station(make_config(door={"codes": ["1234"], "lockout": {"attempts": 2, "seconds": 60}}))
    st.in_call_with_t2()
    st.dial("c2", "00000000")
    assert len(st.rec.of(CodeLockout)) == 1
    st.ended("c2", T2, "hangup_remote")
    st.incoming("i1")
    st.answered("i1", ALICE, outgoing=False)
    st.dial("i1", "1234")
    assert st.relay() == 0


def test_half_a_code_times_out_as_a_wrong_attempt():
    st = Station(make_config(door={"codes": ["1234"], "code_gap_ms": 2000}))
    st.in_call_with_t2()
    st.dial("c2", "12")
    st.run(1999)
    assert st.rec.of(CodeRejected) == []
    st.run(1)
    assert st.rec.of(CodeRejected) == [CodeRejected(1, 4)]
    st.dial("c2", "34")
    assert st.relay() == 0


def test_no_codes_configured_never_opens():
    st = Station(make_config(door={"codes": []}))
    st.in_call_with_t2()
    st.dial("c2", "1234#0000#")
    assert st.relay() == 0 and st.rec.of(DoorOpened) == []


# -- call length -----------------------------------------------------------------------


def test_call_ends_after_max_duration():
    st = Station(make_config(call={"max_duration_s": 60}))
    st.in_call_with_t2()
    st.run(59999)
    assert st.ua.hung_up() == ["c1"]
    st.run(1)
    assert st.ua.of("hangup")[-1] == ("c2", ("max_duration",))
    st.ended("c2", T2, "max_duration")
    assert st.app.active is None and st.led() == "on"
    st.run(120000)
    assert len(st.ua.hung_up()) == 2


def test_max_duration_default_and_a_call_that_ended_first():
    st = Station()
    st.incoming("i1")
    st.answered("i1", ALICE, outgoing=False)
    st.run(179999)
    assert st.ua.hung_up() == []
    st.run(1)
    assert st.ua.of("hangup") == [("i1", ("max_duration",))]

    st = Station()
    st.incoming("i1")
    st.answered("i1", ALICE, outgoing=False)
    st.run(100000)
    st.ended("i1", ALICE, "hangup_remote")
    st.incoming("i2")
    st.answered("i2", ALICE, outgoing=False)
    st.run(100000)  # i1's limit would be due now: i2 has its own
    assert st.ua.hung_up() == []
    st.run(80000)
    assert st.ua.of("hangup") == [("i2", ("max_duration",))]


def test_max_duration_across_tick_wrap():
    from sipdoor.clock import TICKS_MAX

    st = Station(make_config(call={"max_duration_s": 10, "warning_s": 0}), start=TICKS_MAX - 4000)
    st.in_call_with_t2()
    st.run(9999)
    assert st.ua.hung_up() == ["c1"]
    st.run(1)
    assert st.ua.hung_up() == ["c1", "c2"]


# -- exit button, stop -----------------------------------------------------------------


def test_exit_button_opens_the_door():
    st = Station(make_config(door={"codes": [], "pulse_ms": 2000}))
    st.backend.press("exit")
    st.run(30)
    assert st.relay() == 1
    assert st.rec.of(DoorOpened) == [DoorOpened("door", "exit_button")]
    assert st.ua.log == []
    st.backend.release("exit")
    st.run(1999)
    assert st.relay() == 1
    st.run(1)
    assert st.relay() == 0
    st = Station(ua=False)  # works without SIP too
    st.press("exit")
    assert st.relay() == 1


def test_exit_button_during_a_call_leaves_the_call_alone():
    st = Station()
    st.in_call_with_t2()
    st.press("exit")
    assert st.relay() == 1 and st.app.active == "c2"
    assert st.ua.hung_up() == ["c1"]


def test_stop_hangs_up_and_switches_everything_off():
    st = Station()
    st.in_call_with_t2()
    st.dial("c2", "1234")
    assert st.relay() == 1
    st.devices.relays["gate"].on()
    st.app.stop("quit")
    assert st.ua.hung_up() == ["c1", "c2"]
    assert st.relay() == 0 and st.relay("gate") == 0
    assert st.backend.physical("door") == 0 and st.backend.physical("gate") == 1
    assert st.led() == "off" and st.backend.physical("status") == 0


def test_stop_while_ringing_cancels_every_leg():
    st = Station()
    st.press()
    st.app.stop("interrupted")
    assert sorted(st.ua.hung_up()) == ["c1", "c2"]
    assert st.app.plan is None and st.led() == "off"
    st.run(60000)
    assert st.rec.of(NobodyAnswered) == []
    assert len(st.ua.log) == 4


def test_led_sequence_of_a_whole_visit():
    st = Station()
    st.press()
    st.answered("c1", T1)
    st.ended("c2", T2, "answered_elsewhere")
    st.ended("c1", T1, "hangup_remote")
    st.press()
    st.run(30000)
    pats = [e.pattern for e in st.rec.of(LedChanged)]
    assert pats == ["on", "fast_blink", "slow_blink", "on", "fast_blink", "double_flash"]


# -- call time limit: warning and extension ---------------------------------------


def test_warning_before_the_limit_and_the_extend_key():
    st = Station(make_config(call={"max_duration_s": 60, "warning_s": 10, "extend_key": "0", "extend_s": 30}))
    st.in_call_with_t2()
    st.run(49999)
    assert st.rec.of(CallEndingSoon) == []
    st.run(1)
    assert st.rec.of(CallEndingSoon) == [CallEndingSoon("c2", 10)]
    st.dial("c2", "0")  # the resident wants more time: 30 s from now
    st.run(19999)
    assert len(st.rec.of(CallEndingSoon)) == 1
    st.run(1)
    assert len(st.rec.of(CallEndingSoon)) == 2
    st.run(9999)
    assert ("c2", ("max_duration",)) not in st.ua.of("hangup")
    st.run(1)
    assert st.ua.of("hangup")[-1] == ("c2", ("max_duration",))
    assert st.rec.of(CodeRejected) == []  # the extend key is not a code digit


def test_hang_up_after_the_door_opened():
    st = Station(make_config(door={"codes": ["1234"], "hangup_after_open_s": 5}))
    st.in_call_with_t2()
    st.dial("c2", "1234")
    st.run(4999)
    assert st.ua.hung_up() == ["c1"]
    st.run(1)
    assert st.ua.of("hangup")[-1] == ("c2", ("door_opened",))


# -- door sensor and tamper ----------------------------------------------------------


def test_door_opened_by_the_relay_is_no_alarm_but_held_open_is():
    st = Station(make_config(door={"held_open_alarm_s": 30}))
    st.press("exit")
    st.run(500)
    st.app.handle(InputChanged("door_sensor", 1))
    assert st.rec.of(DoorChanged) == [DoorChanged("opened")]
    assert st.rec.of(Alarm) == []
    st.run(30000)
    assert st.rec.of(Alarm) == [Alarm("held_open", "30 s")]
    st.app.handle(InputChanged("door_sensor", 0))
    assert st.rec.of(DoorChanged)[-1] == DoorChanged("closed")


def test_door_closed_in_time_raises_nothing():
    st = Station(make_config(door={"held_open_alarm_s": 30}))
    st.press("exit")
    st.app.handle(InputChanged("door_sensor", 1))
    st.run(10000)
    st.app.handle(InputChanged("door_sensor", 0))
    st.run(60000)
    assert st.rec.of(Alarm) == []


def test_door_opened_without_a_command_is_forced_open():
    st = Station()
    st.run(1000)
    st.app.handle(InputChanged("door_sensor", 1))
    assert st.rec.of(Alarm)[0] == Alarm("forced_open", "door_sensor")
    st2 = Station()
    st2.press("exit")  # relay pulse 3 s, then 5 s of grace
    st2.run(9000)
    st2.app.handle(InputChanged("door_sensor", 1))
    assert st2.rec.of(Alarm)[0].alarm == "forced_open"


def test_tamper_alarm_blocks_the_relays_for_a_while():
    st = Station(make_config(door={"codes": ["1234"], "tamper_block_s": 60}))
    st.app.handle(InputChanged("tamper", 1))
    assert st.rec.of(Alarm) == [Alarm("tamper", "tamper")]
    st.press("exit")
    assert st.relay() == 0 and st.rec.of(DoorOpened) == []
    assert st.rec.of(Alarm)[-1].alarm == "blocked"
    st.run(60000)
    st.press("exit")
    assert st.relay() == 1


def test_tamper_without_block_only_alarms():
    st = Station()
    st.app.handle(InputChanged("tamper", 1))
    st.press("exit")
    assert st.relay() == 1


def test_tamper_cleared_when_the_input_goes_back_but_the_block_runs_its_time():
    st = Station(make_config(door={"tamper_block_s": 60}))
    st.app.handle(InputChanged("tamper", 0))  # never raised: nothing to clear
    assert st.rec.of(AlarmCleared) == []
    st.app.handle(InputChanged("tamper", 1))
    st.run(1000)
    st.app.handle(InputChanged("tamper", 0))
    assert st.rec.of(AlarmCleared) == [AlarmCleared("tamper", "tamper")]
    st.press("exit")
    assert st.relay() == 0  # shutting the case again does not unblock the relays
    st.run(59000)
    st.press("exit")
    assert st.relay() == 1
    assert [e.to_dict()["event"] for e in st.rec.events if isinstance(e, (Alarm, AlarmCleared))] == [
        "alarm", "alarm_cleared", "alarm"]  # tamper, cleared, blocked


def test_booting_with_the_case_open_raises_the_alarm_and_blocks_again():
    # A tamper alarm, then the power cut and back: the case is still open at
    # start, so the alarm and the block come back (a reboot clears nothing).
    st = Station(make_config(door={"codes": ["1234"], "tamper_block_s": 60}))
    st.devices.inputs["tamper"].baseline(1)
    st.app = App(st.config, st.devices, st.rec, st.log, st.ua)
    st.app.start()
    assert st.rec.of(Alarm) == [Alarm("tamper", "tamper")]
    st.press("exit")
    assert st.relay() == 0


def test_a_chattering_tamper_contact_is_one_alarm():
    st = Station(make_config(door={"tamper_block_s": 60}))
    for _ in range(3):
        st.app.handle(InputChanged("tamper", 1))
    assert st.rec.of(Alarm) == [Alarm("tamper", "tamper")]


def test_hang_up_refuses_a_residents_call_still_ringing_at_the_door():
    st = Station(make_config(sip={"auto_answer": False, "allow": [ALICE]}))
    st.incoming("i1")
    assert st.led() == "fast_blink"  # the "incoming" state's pattern
    st.app.hang_up("mqtt")
    assert st.ua.of("reject") == [("i1", (486,))]


def test_held_open_cleared_when_the_door_closes_after_the_alarm():
    st = Station(make_config(door={"held_open_alarm_s": 30}))
    st.press("exit")
    st.app.handle(InputChanged("door_sensor", 1))
    st.run(30000)
    assert st.rec.of(Alarm) == [Alarm("held_open", "30 s")]
    assert st.rec.of(AlarmCleared) == []
    st.app.handle(InputChanged("door_sensor", 0))
    assert st.rec.of(AlarmCleared) == [AlarmCleared("held_open", "door_sensor")]
    assert AlarmCleared("x").to_dict()["event"] == "alarm_cleared"
    st.press("exit")  # a second visit that closes in time clears nothing
    st.app.handle(InputChanged("door_sensor", 1))
    st.run(10000)
    st.app.handle(InputChanged("door_sensor", 0))
    assert len(st.rec.of(AlarmCleared)) == 1 and len(st.rec.of(Alarm)) == 1


# -- per-relay codes and latch relays -------------------------------------------------


GATE_CODE = {"code": "5678", "relay": "gate"}


def test_code_pairs_plain_codes_use_door_relay():
    door = make_config(door={"codes": ["1234", GATE_CODE, {"code": "4321", "relay": None}],
                             "relay": "door"})["door"]
    assert code_pairs(door) == [("1234", "door"), ("5678", "gate"), ("4321", "door")]


def test_each_code_opens_its_own_relay():
    st = Station(make_config(door={"codes": ["1234", GATE_CODE], "relays": {"gate": {"pulse_ms": 1000}}}))
    st.in_call_with_t2()
    st.dial("c2", "5678")
    assert st.relay("gate") == 1 and st.relay("door") == 0
    assert st.rec.of(DoorOpened) == [DoorOpened("gate", T2, "pulse")]
    assert st.rec.of(CodeAccepted) == [CodeAccepted("gate", 1)]
    assert st.rec.of(DoorOpened)[0].to_dict() == {"event": "door_opened", "relay": "gate", "by": T2,
                                                 "mode": "pulse"}
    st.dial("c2", "1234")
    assert st.relay("door") == 1
    assert st.rec.of(DoorOpened)[-1] == DoorOpened("door", T2)
    st.run(1000)  # the gate's own pulse_ms; the door keeps door.pulse_ms
    assert st.relay("gate") == 0 and st.relay("door") == 1
    st.run(2000)
    assert st.relay("door") == 0


def test_wrong_codes_for_any_relay_share_one_lockout():
    st = Station(make_config(door={"codes": ["1234", GATE_CODE], "lockout": {"attempts": 3, "seconds": 30}}))
    st.in_call_with_t2()
    st.dial("c2", "5679")  # near the gate's code
    st.dial("c2", "1235")  # near the door's code
    st.dial("c2", "0000")
    assert st.rec.of(CodeLockout) == [CodeLockout(30, 3)]
    st.dial("c2", "5678")
    assert st.relay("gate") == 0 and st.rec.of(DoorOpened) == []
    st.run(30000)
    st.dial("c2", "5678")
    assert st.relay("gate") == 1


def test_latch_relay_toggles_on_each_valid_code():
    st = Station(make_config(door={"codes": ["1234", GATE_CODE], "relays": {"gate": {"mode": "latch"}}}))
    st.in_call_with_t2()
    st.dial("c2", "5678")
    assert st.relay("gate") == 1
    assert st.rec.of(DoorOpened) == [DoorOpened("gate", T2, "latch")]
    st.run(600000)
    assert st.relay("gate") == 1  # no pulse: it stays until the next toggle
    st.dial("c2", "5678")
    assert st.relay("gate") == 0
    assert st.rec.of(DoorLocked) == [DoorLocked("gate", T2)]
    assert DoorLocked("gate", T2).to_dict() == {"event": "door_locked", "relay": "gate", "by": T2}
    assert [e.state for e in st.rec.of(RelayChanged) if e.name == "gate"] == [1, 0]
    st.dial("c2", "1234")  # the door relay is still a pulse relay
    st.run(3000)
    assert st.relay("door") == 0


def test_latch_door_relay_toggles_from_the_exit_button_and_mqtt_open():
    st = Station(make_config(door={"relays": {"door": {"mode": "latch"}}}))
    assert st.relay() == 0  # off at start
    st.press("exit")
    assert st.relay() == 1
    assert st.app.open_door("door", "mqtt") is True
    assert st.relay() == 0
    assert st.rec.of(DoorLocked) == [DoorLocked("door", "mqtt")]
    st.press("exit")
    st.app.stop("quit")
    assert st.relay() == 0  # and off at stop


def test_latch_held_on_is_no_forced_open_and_locking_works_while_blocked():
    st = Station(make_config(door={"relays": {"door": {"mode": "latch"}}, "tamper_block_s": 60,
                                   "held_open_alarm_s": 0}))
    st.press("exit")
    st.run(60000)
    st.app.handle(InputChanged("door_sensor", 1))  # a minute later, the latch still holds it open
    assert st.rec.of(Alarm) == []
    st.app.handle(InputChanged("door_sensor", 0))
    st.app.handle(InputChanged("tamper", 1))
    st.press("exit")  # locking again is allowed while blocked
    assert st.relay() == 0 and len(st.rec.of(DoorLocked)) == 1
    st.press("exit")  # unlocking is not
    assert st.relay() == 0 and st.rec.of(Alarm)[-1].alarm == "blocked"
    st.run(20000)
    st.app.handle(InputChanged("door_sensor", 1))  # locked for 20 s: forced
    assert st.rec.of(Alarm)[-1].alarm == "forced_open"


# -- LED for an incoming call, chattering buttons --------------------------------------


def test_led_rings_while_an_incoming_call_rings_at_the_door():
    st = Station(make_config(sip={"auto_answer": False}))
    st.incoming("i1")
    assert st.led() == "fast_blink"
    st.app.handle(RegistrationFailed("sip:door@pbx.example", "timeout", 0, 30))
    assert st.led() == "fast_blink"  # the ringing call owns the LED
    st.ended("i1", ALICE, "cancelled")
    assert st.led() == "heartbeat"  # gone unanswered: back to idle (registration failing)
    st.app.handle(Registered("sip:door@pbx.example", 600, "<sip:door@192.0.2.9>"))
    st.incoming("i2")
    st.press()  # the visitor answers
    assert st.led() == "fast_blink"
    st.answered("i2", ALICE, outgoing=False)
    assert st.led() == "slow_blink"
    st.ended("i2", ALICE, "hangup_remote")
    assert st.led() == "on"


def test_led_incoming_pattern_from_the_board():
    st = Station(make_config(sip={"auto_answer": False}))
    st.devices.leds["status"].patterns["incoming"] = [300, 300]
    st.incoming("i1")
    assert st.led() == "incoming"
    st2 = Station()  # auto-answer: straight to the call
    st2.incoming("i1")
    assert st2.led() == "on"


def test_chattering_button_does_not_ring_again_right_after_nobody_answered():
    st = Station(make_config(buttons=buttons(ring_timeout_s=10)))
    st.press()
    st.run(10000)
    assert len(st.rec.of(NobodyAnswered)) == 1 and st.app.plan is None
    calls = len(st.ua.called())
    st.backend.press("call")  # the contact chatters: the debouncer reports presses
    st.run(100)
    st.backend.release("call")
    st.run(100)
    st.press()
    st.run(4700)
    st.press()
    assert len(st.ua.called()) == calls and st.app.plan is None
    assert len([e for e in st.rec.of(ButtonPressed) if e.name == "call"]) >= 1  # still reported
    assert st.led() == "double_flash"
    st.run(100)  # 5 s after giving up
    st.press()
    assert len(st.ua.called()) == calls + 2 and st.app.plan is not None
    assert st.led() == "fast_blink"


def test_cooldown_is_per_button_and_configurable():
    st = Station(make_config(buttons={"call": {"targets": [T1], "ring_timeout_s": 10, "cooldown_s": 20},
                                      "call2": {"targets": [T2]}}))
    st.press()
    st.run(10000)
    st.press("call2")  # another button is not cooling down
    assert st.ua.called()[-1][1] == T2
    st.app.hang_up("test")
    st.ended("c2", T2, "cancelled")
    st.run(19000)
    st.press()
    assert st.ua.called()[-1][1] == T2
    st.run(1000)
    st.press()
    assert st.ua.called()[-1][1] == T1


def test_locking_a_latch_does_not_cut_another_relays_grace():
    st = Station(make_config(door={"pulse_ms": 20000, "relays": {"gate": {"mode": "latch"}}}))
    st.app.open_door("gate", "mqtt")
    st.press("exit")  # the door strike: 20 s + 5 s of grace
    st.app.open_door("gate", "mqtt")  # the gate locks: 5 s of grace only for it
    st.run(15000)
    st.app.handle(InputChanged("door_sensor", 1))
    assert st.rec.of(Alarm) == []
