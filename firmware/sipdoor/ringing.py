"""Which targets to ring for one button press, sans-IO.

A RingPlan sends no SIP. It hands the app actions to carry out, as tuples:
  ("ring", uri)      start an INVITE to uri
  ("cancel", uri)    CANCEL the INVITE to uri (it is no longer wanted)
  ("hangup", uri)    uri answered when nobody was wanted any more (the 200 OK
                     crossed our CANCEL, or a second phone answered after the
                     first): ACK and BYE it
  ("give_up", reason) nobody answered; reason is "declined", "no_answer",
                     "busy" or "failed"

The plan is a list of stages, each rung all at once for ring_timeout_s:
- "parallel": one stage with every target. The first answer wins and the
  others are cancelled; at the timeout all are cancelled.
- "sequential": one stage per target, in order. The next starts when the
  current one times out (cancelled first) or at once when it is busy,
  declines or fails.
- fallback (optional): a last stage rung alone after everything else failed
  or timed out, for fallback_timeout_s (default ring_timeout_s). A fallback
  that is also a target is dropped: it has been rung already, and two legs
  to one URI could not be told apart.
When the last stage ends without an answer the plan gives up. The reason
sums up what every target did, the first that applies of: someone declined
(a person said no), someone rang out (no_answer), someone was busy, else
every target failed (unreachable, error: look at the logs).

An answer from a target this plan rang, while the plan is still ringing,
wins even if that target was already cancelled (its 200 OK crossed the
CANCEL): a person picked up, so connect them. After the plan is over, any
answer gets ("hangup", uri).

URIs are compared as the exact strings the plan handed out in "ring".
Times are wrapping ticks in ms, compared only with ticks_diff (clock.py).
"""

from sipdoor.clock import ticks_add, ticks_diff

PARALLEL = "parallel"
SEQUENTIAL = "sequential"

# Plan states.
IDLE = "idle"
RINGING = "ringing"
ANSWERED = "answered"
GAVE_UP = "gave_up"
CANCELLED = "cancelled"

# give_up reasons, most telling first.
REASONS = ("declined", "no_answer", "busy", "failed")


def classify(status):
    """A final failure status (int SIP code, reason string or None) -> reason."""
    if isinstance(status, str):
        return status if status in REASONS else "failed"
    if status in (486, 600):
        return "busy"
    if status in (603, 607):
        return "declined"
    if status in (408, 480):
        # The callee's proxy gave up ringing, or the phone is away / DND.
        return "no_answer"
    return "failed"


class RingPlan:
    """Rings targets for one press; see the module docstring for the rules."""

    def __init__(self, targets, mode=PARALLEL, ring_timeout_s=30, fallback=None, fallback_timeout_s=None):
        if mode not in (PARALLEL, SEQUENTIAL):
            raise ValueError("mode must be parallel or sequential, not %r" % (mode,))
        targets = list(targets)
        if not targets and not fallback:
            raise ValueError("nothing to ring")
        self.mode = mode
        self.targets = targets
        self.ring_timeout_ms = ring_timeout_s * 1000
        if fallback in targets:
            fallback = None
        self.fallback = fallback
        if fallback_timeout_s is None:
            fallback_timeout_s = ring_timeout_s
        self.fallback_timeout_ms = fallback_timeout_s * 1000
        # stages: list of (uris, timeout_ms), rung in order.
        if mode == PARALLEL:
            stages = [(list(targets), self.ring_timeout_ms)] if targets else []
        else:
            stages = [([t], self.ring_timeout_ms) for t in targets]
        if fallback:
            stages.append(([fallback], self.fallback_timeout_ms))
        self._stages = stages
        self.state = IDLE
        self.winner = None
        self.reason = None  # the give_up reason, once given up
        self.ringing = []  # uris rung in the current stage, not yet ended
        self.rung = []  # every uri this plan rang
        self.outcomes = []  # (uri, reason) for each target that ended unanswered
        self._deadline = None

    def __repr__(self):
        return "RingPlan(%s, %s, ringing=%r)" % (self.mode, self.state, self.ringing)

    @property
    def done(self):
        return self.state in (ANSWERED, GAVE_UP, CANCELLED)

    def start(self, now):
        """Ring the first stage. Only from the idle state; else no actions."""
        if self.state != IDLE:
            return []
        self.state = RINGING
        actions = []
        self._next_stage(now, actions)
        return actions

    def on_answered(self, uri, now):
        """uri answered (200 OK): it wins, the rest are cancelled."""
        if self.state != RINGING:
            if uri in self.rung:
                return [("hangup", uri)]
            return []
        if uri not in self.rung:
            return []
        actions = [("cancel", u) for u in self.ringing if u != uri]
        self.ringing = []
        self._deadline = None
        self.state = ANSWERED
        self.winner = uri
        return actions

    def on_failed(self, uri, status, now):
        """uri ended with a final failure (status: SIP code, reason or None).

        Ignored for a uri not ringing now, such as the 487 answering our own
        CANCEL.
        """
        if self.state != RINGING or uri not in self.ringing:
            return []
        self.ringing.remove(uri)
        self.outcomes.append((uri, classify(status)))
        actions = []
        if not self.ringing:
            self._next_stage(now, actions)
        return actions

    def get_timer(self):
        """The current stage's ring deadline (a tick), or None."""
        return self._deadline

    def handle_timer(self, now):
        """At the ring deadline: cancel who is still ringing, move on."""
        if self.state != RINGING or self._deadline is None or ticks_diff(now, self._deadline) < 0:
            return []
        actions = []
        for uri in self.ringing:
            actions.append(("cancel", uri))
            self.outcomes.append((uri, "no_answer"))
        self.ringing = []
        self._next_stage(now, actions)
        return actions

    def cancel_all(self):
        """Stop ringing (the visitor pressed again, the station stops)."""
        if self.state != RINGING:
            return []
        actions = [("cancel", u) for u in self.ringing]
        self.ringing = []
        self._deadline = None
        self._stages = []
        self.state = CANCELLED
        return actions

    # -- internals -----------------------------------------------------------

    def _next_stage(self, now, actions):
        if not self._stages:
            self._deadline = None
            self.state = GAVE_UP
            self.reason = self._summary()
            actions.append(("give_up", self.reason))
            return
        uris, timeout_ms = self._stages.pop(0)
        self.ringing = list(uris)
        for uri in uris:
            actions.append(("ring", uri))
            if uri not in self.rung:
                self.rung.append(uri)
        self._deadline = ticks_add(now, timeout_ms)

    def _summary(self):
        seen = [r for _, r in self.outcomes]
        for reason in REASONS:
            if reason in seen:
                return reason
        return "failed"
