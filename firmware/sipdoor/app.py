"""The door station's behaviour: events in, actions on devices and the SIP UA out.

Driven only by events (hardware, SIP) and the loop's timers, so it runs under
test with the mock board, a fake clock and a fake wire. The rules:
- A call button rings its targets by its ring plan (parallel, sequential,
  fallback). Pressing it again while ringing or in a call does what
  buttons.<name>.repeat_press says: ignore (default), hangup or restart.
  A held or stuck button is one press (the debouncer reports it once).
- A call button pressed while a resident's call to the door is in progress
  (answered, or waiting for the ACK) never rings anyone and never ends that
  call, whatever repeat_press says: the press is reported (the button event)
  and BellInCall follows, for the speaker to chime into the call (so the
  resident hears the bell).
  An incoming call left ringing (sip.auto_answer false) is answered by the
  press: the visitor picks up, as on intercoms with manual answering.
- When nobody answered, the status LED shows "no_answer" for
  NO_ANSWER_LED_MS, then idle (or "error" while registration is failing).
- An incoming call is answered only from a caller in sip.allow that came
  the trusted way (through our registrar, or anyone in peer-to-peer mode);
  others get sip.reject_status (403 by default). One call at a time: a
  second caller gets 486.
- After a ring plan gave up, the button's presses ring nobody for
  buttons.<name>.cooldown_s (a chattering or stuck-and-bouncing contact
  must not ring the flat again and again); they are still reported.
- An incoming call left ringing (sip.auto_answer false) shows "incoming" on
  the status LED (a ringing pattern) until it is answered or gone.
- Door codes (DTMF) count only in a call with a resident: one of our
  button's targets we called, or an allowed caller. A code opens its relay
  (door.codes entries may name one; a plain code opens door.relay); wrong
  codes, for whichever relay, lead to one lockout (doorcode.py). Nothing
  opens the door without an allowed party and a code, except the exit button.
- A relay is a "pulse" relay (door strike: on for pulse_ms) or, with
  door.relays.<name>.mode "latch", a bistable one: each valid code, exit
  button press or MQTT open toggles it (DoorOpened when it switches on,
  DoorLocked when it switches off).
- Every answered call ends after call.max_duration_s, with CallEndingSoon
  call.warning_s before (the door speaker beeps); the resident's
  call.extend_key starts the limit again at call.extend_s.
- The door sensor (1 = open) reports door opened/closed; it raises
  "forced_open" when the door opens with no relay command in the last
  pulse + 5 s, and "held_open" after door.held_open_alarm_s. A tamper
  switch raises "tamper" and, with door.tamper_block_s, blocks every relay
  from switching on for that long (a latch may still lock).
  door.hangup_after_open_s ends the call after the door opened.
- Alarms that last clear: AlarmCleared("tamper") when the tamper input
  goes back to 0, AlarmCleared("held_open") when the door closes after a
  held_open alarm, so a Home Assistant sensor resets.
"""

from sipdoor.doorcode import CodeAccepted, DoorCodes
from sipdoor.clock import ticks_add, ticks_diff
from sipdoor.hal.base import ButtonPressed, Event, InputChanged
from sipdoor.ringing import RingPlan
from sipdoor.sip import events as sip
from sipdoor.sip.uri import parse_uri


# Status LED: station state -> default pattern (hal/devices.py PATTERNS).
LED_STATES = {
    "idle": "on",
    "ringing": "fast_blink",
    "in_call": "slow_blink",
    "no_answer": "double_flash",
    "error": "heartbeat",
    "incoming": "fast_blink",  # a resident's call rings at the door (no auto-answer)
}


FORCED_GRACE_MS = 5000  # a door may open this long after its relay pulse ended
NO_ANSWER_LED_MS = 5000  # the "nobody answered" pattern, then idle (the busy tone lasts 3 s)


class StationStarted(Event):
    kind = "ready"

    def __init__(self, board, platform, listen, registration):
        self.board = board
        self.platform = platform
        self.listen = listen
        self.registration = registration


class StationStopped(Event):
    kind = "stopped"

    def __init__(self, reason):
        self.reason = reason


class DoorOpened(Event):
    """A relay opened the door: mode "pulse" (on for its pulse_ms) or
    "latch" (on until the next toggle, see DoorLocked)."""

    kind = "door_opened"

    def __init__(self, relay, by, mode="pulse"):
        self.relay = relay
        self.by = by
        self.mode = mode


class DoorLocked(Event):
    """A latch relay toggled back off (the bistable lock is locked again)."""

    kind = "door_locked"

    def __init__(self, relay, by):
        self.relay = relay
        self.by = by


class NobodyAnswered(Event):
    kind = "nobody_answered"

    def __init__(self, button, reason):
        self.button = button
        self.reason = reason


class BellInCall(Event):
    """A call button pressed while a resident is already in a call with the
    door (e.g. watching through it): nobody is rung and the call goes on;
    meant for the speaker to chime into the call."""

    kind = "bell_in_call"

    def __init__(self, button, call):
        self.button = button
        self.call = call


class CallRefused(Event):
    kind = "call_refused"

    def __init__(self, caller, status, why):
        self.caller = caller
        self.status = status
        self.why = why


class CallEndingSoon(Event):
    """call.warning_s before call.max_duration_s: the door speaker beeps."""

    kind = "call_ending_soon"

    def __init__(self, call, seconds):
        self.call = call
        self.seconds = seconds


class DoorChanged(Event):
    """The door sensor: state is "opened" or "closed"."""

    kind = "door"

    def __init__(self, state):
        self.state = state


class Alarm(Event):
    """alarm: "held_open", "forced_open", "tamper" or "blocked"."""

    kind = "alarm"

    def __init__(self, alarm, detail=""):
        self.alarm = alarm
        self.detail = detail


class AlarmCleared(Event):
    """A lasting alarm is over: "tamper" (the input went back to 0) or
    "held_open" (the door closed after the alarm)."""

    kind = "alarm_cleared"

    def __init__(self, alarm, detail=""):
        self.alarm = alarm
        self.detail = detail


def code_pairs(door):
    """[(code, relay)] of door.codes: a plain string opens door.relay, an
    object {"code", "relay"} its relay (null or absent: door.relay)."""
    out = []
    for entry in door["codes"]:
        if isinstance(entry, str):
            out.append((entry, door["relay"]))
        else:
            out.append((entry["code"], entry.get("relay") or door["relay"]))
    return out


def relay_mode(door, name):
    """(mode, pulse_ms) of a relay: door.relays.<name>, else a door.pulse_ms pulse."""
    spec = door.get("relays", {}).get(name)
    if spec is None:
        return "pulse", door["pulse_ms"]
    return spec["mode"], spec.get("pulse_ms") or door["pulse_ms"]


def caller_allowed(caller, allow):
    """caller (a From URI) matches an allow entry on user and host (case-
    insensitive host); the port counts only when the entry names one."""
    try:
        c = parse_uri(caller)
    except Exception:
        return False
    for entry in allow:
        a = parse_uri(entry)
        if (a.user or "") != (c.user or "") or a.host.lower() != c.host.lower():
            continue
        if a.port is not None and a.port != (c.port or 5060):
            continue
        return True
    return False


class App:
    def __init__(self, config, devices, emit, log, ua=None, clock=None):
        self.config = config
        self.devices = devices
        self.loop = devices.loop
        self.clock = clock or self.loop.clock
        self.emit = emit
        self.log = log
        self.ua = ua
        self.status_led = devices.leds.get("status")
        door = config["door"]
        lockout = door["lockout"]
        self.codes = DoorCodes(code_pairs(door), door["relay"],
                               lockout["attempts"], lockout["seconds"], door["code_gap_ms"])
        self.plan = None
        self.plan_button = None
        self.legs = {}  # call handle -> target uri, for the plan's calls
        self.active = None  # the answered call's handle
        self.active_party = None  # who we talk to (for "opened by")
        self.resident = False  # the active call may send door codes
        self.active_incoming = False  # the active call came in (a resident called the door)
        self.incoming = None  # an incoming call answered or left ringing, not yet confirmed
        self.incoming_ringing = False  # ... left ringing (no auto-answer): a press answers it
        self.registration_failed = False  # the last registration attempt failed
        self._no_answer_timer = None
        self._plan_timer = None
        self._code_timer = None
        self._max_timer = None
        self._warn_timer = None
        self._hangup_timer = None
        self._held_timer = None
        self._blocked_until = None  # tick: relays refuse until then (tamper)
        self._commanded = None  # tick: the door may open without alarm until then
        self._held_alarm = False  # a held_open alarm is raised and not cleared
        self._tampered = False  # a tamper alarm is raised and not cleared
        self._cooldown = {}  # call button -> tick: its presses ring nobody until then

    def now(self):
        return self.clock.now()

    def start(self):
        self._led_idle()
        for name, dev in self.devices.inputs.items():
            if dev.role == "tamper" and dev.state:
                # Booted with the case open (e.g. power cut after a tamper
                # alarm): alarm and block again, or a restart would clear them.
                self._input(InputChanged(name, 1))

    # -- events in ---------------------------------------------------------------

    def handle(self, ev):
        if isinstance(ev, ButtonPressed):
            self._button(ev.name)
        elif isinstance(ev, InputChanged):
            self._input(ev)
        elif isinstance(ev, sip.IncomingCall):
            self._incoming(ev)
        elif isinstance(ev, sip.CallRinging):
            if ev.call in self.legs and self.plan is not None:
                self._led("ringing")
        elif isinstance(ev, sip.CallAnswered):
            self._answered(ev)
        elif isinstance(ev, sip.CallEnded):
            self._ended(ev)
        elif isinstance(ev, sip.DtmfReceived):
            self._digit(ev)
        elif isinstance(ev, sip.Registered):
            self.registration_failed = False
            self._idle_led_if_idle()
        elif isinstance(ev, sip.RegistrationFailed):
            self.registration_failed = True
            self._idle_led_if_idle()

    def _button(self, name):
        button = self.devices.buttons.get(name)
        if button is None:
            return
        if button.role == "exit":
            self.open_door(self.config["door"]["relay"], "exit_button")
            return
        spec = self.config["buttons"].get(name)
        if spec is None:
            self.log.warning("button %r has no targets in the config; nobody is called", name)
            return
        if self.ua is None:
            return
        if self.incoming is not None and self.active is None:
            self._press_while_called(name)
            return
        if self.active is not None and self.active_incoming:
            # A resident called the door (e.g. to watch): the visitor's ring
            # goes to them as a chime, and their call goes on.
            self.log.info("button %s pressed during a resident's call: chime only", name)
            self.emit(BellInCall(name, self.active))
            return
        if self.plan is None and self.active is None and self._cooling(name):
            self.log.info("button %s pressed right after nobody answered: cooling down, nobody rung", name)
            return
        if self.plan is not None or self.active is not None:
            what = spec["repeat_press"]
            if what == "ignore":
                self.log.info("button %s pressed during a call: ignored", name)
                return
            self._hang_up_all("button")
            if what == "hangup":
                if self.active is None:
                    self._led_idle()
                return
        self._ring(name, spec)

    def _cooling(self, name):
        until = self._cooldown.get(name)
        if until is None:
            return False
        if ticks_diff(until, self.now()) > 0:
            return True
        del self._cooldown[name]
        return False

    def _press_while_called(self, name):
        """A call button pressed while a resident's call to the door is not
        yet confirmed: pick it up if it is left ringing, else wait for it."""
        handle = self.incoming
        if self.incoming_ringing:
            self.incoming_ringing = False
            self.log.info("button %s pressed: answering the call %s", name, handle)
            if not self.ua.answer(handle, self.now()):
                self.log.warning("call %s could not be answered (it ended?)", handle)
            return
        self.log.info("button %s pressed while the call %s is being answered: ignored", name, handle)

    # -- ringing out ----------------------------------------------------------------

    def _ring(self, name, spec):
        # Legs of an earlier plan (cancelled, their end not yet reported) must
        # not count against this one, which may ring the same URIs.
        self.legs = {}
        self.plan = RingPlan(spec["targets"], spec["mode"], spec["ring_timeout_s"], spec["fallback"])
        self.plan_button = name
        self._led("ringing")
        self._run(self.plan.start(self.now()))

    def _run(self, actions, cancel_reason="no_answer"):
        now = self.now()
        for action in actions:
            verb, arg = action
            if verb == "ring":
                try:
                    handle = self.ua.call(arg, now)
                except Exception as e:  # a target we cannot reach at all
                    self.log.error("cannot call %s: %s", arg, e)
                    self._run(self.plan.on_failed(arg, "failed", now) if self.plan else [], cancel_reason)
                    continue
                self.legs[handle] = arg
            elif verb in ("cancel", "hangup"):
                for handle, uri in list(self.legs.items()):
                    if uri == arg:
                        self.ua.hangup(handle, now, cancel_reason if verb == "cancel" else "hangup_local")
            elif verb == "give_up":
                self.emit(NobodyAnswered(self.plan_button, arg))
                spec = self.config["buttons"].get(self.plan_button)
                if spec is not None and spec.get("cooldown_s"):
                    self._cooldown[self.plan_button] = ticks_add(now, spec["cooldown_s"] * 1000)
                self._plan_done()
                self._show_no_answer()
        self._schedule_plan()

    def _schedule_plan(self):
        if self._plan_timer is not None:
            self._plan_timer.cancel()
            self._plan_timer = None
        if self.plan is not None:
            when = self.plan.get_timer()
            if when is not None:
                self._plan_timer = self.loop.call_at(when, self._plan_due)

    def _plan_due(self):
        self._plan_timer = None
        if self.plan is not None:
            self._run(self.plan.handle_timer(self.now()))

    def _plan_done(self):
        self.plan = None
        if self._plan_timer is not None:
            self._plan_timer.cancel()
            self._plan_timer = None

    # -- calls ------------------------------------------------------------------------

    def _incoming(self, ev):
        sip_cfg = self.config["sip"]
        now = self.now()
        if not ev.trusted or not caller_allowed(ev.caller, sip_cfg["allow"]):
            status = sip_cfg["reject_status"]
            why = "not in sip.allow" if ev.trusted else "did not come through the registrar"
            self.ua.reject(ev.call, status, now)
            self.emit(CallRefused(ev.caller, status, why))
            return
        if self.active is not None or self.plan is not None or self.incoming is not None:
            self.ua.reject(ev.call, 486, now)
            self.emit(CallRefused(ev.caller, 486, "busy"))
            return
        self.incoming = ev.call
        if sip_cfg["auto_answer"]:
            self.incoming_ringing = False
            self.ua.answer(ev.call, now)
        else:
            self.incoming_ringing = True
            self.ua.ringing(ev.call, now)
            self._led("incoming")

    def _answered(self, ev):
        if ev.call in self.legs:
            target = self.legs[ev.call]
            if self.plan is not None:
                actions = self.plan.on_answered(target, self.now())
                if self.plan.winner == target:
                    self._plan_done()
                    self._start_call(ev.call, target, True)
                self._run(actions, "answered_elsewhere")
            else:
                self.ua.hangup(ev.call, self.now())
            return
        if not ev.outgoing:
            if ev.call == self.incoming and self.active is None:
                self.incoming = None
                self.incoming_ringing = False
                self._start_call(ev.call, ev.target, True, True)
            else:  # not a call we accepted, or one call at a time
                self.ua.hangup(ev.call, self.now())

    def _start_call(self, handle, party, resident, came_in=False):
        self.active = handle
        self.active_party = party
        self.resident = resident
        self.active_incoming = came_in
        self._led("in_call")
        self._limit_call(handle, self.config["call"]["max_duration_s"])

    def _limit_call(self, handle, seconds):
        """End the call in seconds, with CallEndingSoon call.warning_s before."""
        for t in (self._max_timer, self._warn_timer):
            if t is not None:
                t.cancel()
        self._max_timer = self.loop.call_later(seconds * 1000, lambda: self._max_duration(handle))
        self._warn_timer = None
        warn = self.config["call"]["warning_s"]
        if 0 < warn < seconds:
            self._warn_timer = self.loop.call_later((seconds - warn) * 1000,
                                                    lambda: self._warn(handle, warn))

    def _warn(self, handle, seconds):
        self._warn_timer = None
        if self.active == handle:
            self.emit(CallEndingSoon(handle, seconds))

    def _max_duration(self, handle):
        self._max_timer = None
        if self.active == handle:
            self.log.info("call %s reached its time limit: hanging up", handle)
            self.ua.hangup(handle, self.now(), "max_duration")

    def _ended(self, ev):
        target = self.legs.pop(ev.call, None)
        if ev.call == self.incoming:
            self.incoming = None
            self.incoming_ringing = False
            if self.active is None and self.plan is None:
                self._led_idle()  # it rang at the door (or was being answered) and is gone
        if target is not None and self.plan is not None and ev.call != self.active:
            self._run(self.plan.on_failed(target, ev.status or ev.reason, self.now()))
        if ev.call == self.active:
            self.active = None
            self.active_party = None
            self.resident = False
            self.active_incoming = False
            self._emit_code(self.codes.reset(self.now()))
            for t in (self._max_timer, self._warn_timer, self._hangup_timer):
                if t is not None:
                    t.cancel()
            self._max_timer = self._warn_timer = self._hangup_timer = None
            if self.plan is None:
                self._led_idle()

    def hang_up(self, why):
        """Stop ringing and end the call (MQTT command, shutdown)."""
        self._hang_up_all(why)

    def _hang_up_all(self, why):
        now = self.now()
        if self.plan is not None:
            plan = self.plan
            self._plan_done()
            for verb, uri in plan.cancel_all():
                for handle, u in list(self.legs.items()):
                    if u == uri:
                        self.ua.hangup(handle, now)
        if self.active is not None:
            self.ua.hangup(self.active, now)
        elif self.incoming is not None:
            self.ua.reject(self.incoming, 486, now)  # a resident's call still ringing at the door

    # -- door codes -----------------------------------------------------------------

    def _digit(self, ev):
        if ev.call != self.active or not self.resident:
            self.log.info("DTMF %s ignored: not in a call with a resident", ev.digit)
            return
        call = self.config["call"]
        if call["extend_key"] is not None and ev.digit == call["extend_key"] and not self.codes.collecting:
            # The resident wants more time: the limit starts again from now.
            self.log.info("call %s extended by %d s", ev.call, call["extend_s"])
            self._limit_call(ev.call, call["extend_s"])
            return
        self._emit_code(self.codes.feed(ev.digit, self.now()))

    def _emit_code(self, result):
        if result is not None:
            self.emit(result)
            if isinstance(result, CodeAccepted):
                self.open_door(result.relay, self.active_party or "code")
        self._schedule_codes()

    def _schedule_codes(self):
        if self._code_timer is not None:
            self._code_timer.cancel()
            self._code_timer = None
        when = self.codes.get_timer()
        if when is not None:
            self._code_timer = self.loop.call_at(when, self._codes_due)

    def _codes_due(self):
        self._code_timer = None
        self._emit_code(self.codes.handle_timer(self.now()))

    # -- outputs ----------------------------------------------------------------------

    def open_door(self, relay_name, by):
        """Pulse the relay (or toggle a latch relay) unless a tamper alarm
        blocks it; a door opened during a call may end the call after
        door.hangup_after_open_s. True when the door opened (or locked)."""
        relay = self.devices.relays.get(relay_name)
        if relay is None:
            self.log.error("no relay %r on this board", relay_name)
            return False
        now = self.now()
        door = self.config["door"]
        mode, pulse_ms = relay_mode(door, relay_name)
        if mode == "latch" and relay.state:
            # Locking again is always allowed, even while blocked.
            relay.off()
            self._expect_until(ticks_add(now, FORCED_GRACE_MS))
            self.emit(DoorLocked(relay_name, by))
            return True
        if self._blocked_until is not None:
            if ticks_diff(self._blocked_until, now) > 0:
                self.log.warning("door not opened for %s: relays blocked after a tamper alarm", by)
                self.emit(Alarm("blocked", "open refused for %s" % by))
                return False
            self._blocked_until = None
        if mode == "latch":
            relay.on()  # the door may open while it is on: _door_expected
        else:
            relay.pulse(pulse_ms)
            self._expect_until(ticks_add(now, pulse_ms + FORCED_GRACE_MS))
        self.emit(DoorOpened(relay_name, by, mode))
        after = door["hangup_after_open_s"]
        if after and self.active is not None and self._hangup_timer is None:
            handle = self.active
            self._hangup_timer = self.loop.call_later(after * 1000, lambda: self._hangup_after_open(handle))
        return True

    def _hangup_after_open(self, handle):
        self._hangup_timer = None
        if self.active == handle:
            self.ua.hangup(handle, self.now(), "door_opened")

    # -- door sensor and tamper -------------------------------------------------------

    def _input(self, ev):
        dev = self.devices.inputs.get(ev.name)
        if dev is None:
            return
        now = self.now()
        door = self.config["door"]
        if dev.role == "door_sensor":
            if ev.state:  # 1: the contact reports the door open
                self.emit(DoorChanged("opened"))
                if not self._door_expected(now):
                    self.emit(Alarm("forced_open", ev.name))
                if door["held_open_alarm_s"] and self._held_timer is None:
                    self._held_timer = self.loop.call_later(door["held_open_alarm_s"] * 1000, self._held_open)
            else:
                self.emit(DoorChanged("closed"))
                if self._held_timer is not None:
                    self._held_timer.cancel()
                    self._held_timer = None
                if self._held_alarm:
                    self._held_alarm = False
                    self.emit(AlarmCleared("held_open", ev.name))
        elif dev.role == "tamper":
            if ev.state:
                if not self._tampered:  # a chattering contact is one alarm
                    self._tampered = True
                    self.emit(Alarm("tamper", ev.name))
                if door["tamper_block_s"]:
                    self._blocked_until = ticks_add(now, door["tamper_block_s"] * 1000)
            elif self._tampered:
                # The block (door.tamper_block_s) runs its time: a case shut
                # again by the intruder must not unblock the relays.
                self._tampered = False
                self.emit(AlarmCleared("tamper", ev.name))

    def _expect_until(self, when):
        """The door may open without alarm until when (never shortened: one
        relay's short pulse must not cut another's longer grace)."""
        now = self.now()
        if self._commanded is None or ticks_diff(self._commanded, now) < 0 or ticks_diff(when, self._commanded) > 0:
            self._commanded = when

    def _door_expected(self, now):
        """The door may open now without a forced_open alarm: a relay pulse
        in the last pulse_ms + FORCED_GRACE_MS, or a latch relay held on."""
        if self._commanded is not None and ticks_diff(self._commanded, now) >= 0:
            return True
        door = self.config["door"]
        for name in door.get("relays", {}):
            relay = self.devices.relays.get(name)
            if relay is not None and relay.state and relay_mode(door, name)[0] == "latch":
                return True
        return False

    def _held_open(self):
        self._held_timer = None
        self._held_alarm = True
        self.emit(Alarm("held_open", "%d s" % self.config["door"]["held_open_alarm_s"]))

    def _led_idle(self):
        """Nothing going on: idle, or "error" while registration fails."""
        self._led("error" if self.registration_failed else "idle")

    def _idle_led_if_idle(self):
        """A registration change shows only when no call, ringing or
        "nobody answered" owns the LED (that one returns to it later)."""
        if (self.active is None and self.plan is None and self._no_answer_timer is None
                and self.incoming is None):
            self._led_idle()

    def _show_no_answer(self):
        self._led("no_answer")
        if self._no_answer_timer is not None:
            self._no_answer_timer.cancel()
        self._no_answer_timer = self.loop.call_later(NO_ANSWER_LED_MS, self._no_answer_shown)

    def _no_answer_shown(self):
        self._no_answer_timer = None
        if self.active is None and self.plan is None:
            self._led_idle()

    def _led(self, state):
        """The status LED shows the station's state: a board may define a
        pattern named after the state (led_patterns), else the default."""
        if state != "no_answer" and self._no_answer_timer is not None:
            self._no_answer_timer.cancel()
            self._no_answer_timer = None
        if self.status_led is None:
            return
        patterns = self.status_led.patterns
        self.status_led.set_pattern(state if state in patterns else LED_STATES[state])

    def stop(self, reason):
        """Hang up and switch every output off; the caller reports
        StationStopped once the goodbyes (BYE, unregister) are out."""
        if self.ua is not None:
            self._hang_up_all(reason)
        if self._no_answer_timer is not None:
            self._no_answer_timer.cancel()
            self._no_answer_timer = None
        self.devices.all_off()
