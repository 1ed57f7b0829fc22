"""RingPlan: parallel, sequential, fallback, busy / decline / failure, timeouts."""

import support
from sipdoor.clock import TICKS_PERIOD, ticks_add, ticks_diff
from sipdoor.ringing import RingPlan, classify

A = "sip:101@pbx.example"
B = "sip:102@pbx.example"
C = "sip:103@pbx.example"
F = "sip:reception@pbx.example"
T0 = 5000


def fire(plan, now):
    """Jump to the plan's deadline and fire it."""
    when = plan.get_timer()
    assert when is not None
    assert ticks_diff(when, now) >= 0
    return plan.handle_timer(when), when


# -- parallel ----------------------------------------------------------------


def test_parallel_rings_all_and_first_answer_cancels_the_rest():
    plan = RingPlan([A, B, C], "parallel", 30)
    assert plan.start(T0) == [("ring", A), ("ring", B), ("ring", C)]
    assert plan.get_timer() == T0 + 30000
    assert plan.on_answered(B, T0 + 4000) == [("cancel", A), ("cancel", C)]
    assert plan.state == "answered" and plan.winner == B and plan.done
    assert plan.get_timer() is None
    assert plan.handle_timer(T0 + 60000) == []
    # The 487s answering our CANCELs change nothing.
    assert plan.on_failed(A, 487, T0 + 4100) == []
    assert plan.on_failed(C, 487, T0 + 4100) == []
    assert plan.state == "answered"


def test_parallel_second_answer_is_hung_up():
    plan = RingPlan([A, B], "parallel", 30)
    plan.start(T0)
    assert plan.on_answered(A, T0 + 1000) == [("cancel", B)]
    assert plan.on_answered(B, T0 + 1010) == [("hangup", B)]  # its 200 crossed the CANCEL
    assert plan.winner == A


def test_parallel_timeout_cancels_all_and_gives_up():
    plan = RingPlan([A, B], "parallel", 20)
    plan.start(T0)
    assert plan.handle_timer(T0 + 19999) == []
    actions, now = fire(plan, T0)
    assert now == T0 + 20000
    assert actions == [("cancel", A), ("cancel", B), ("give_up", "no_answer")]
    assert plan.state == "gave_up" and plan.reason == "no_answer"
    assert plan.get_timer() is None
    assert plan.on_answered(A, now + 5) == [("hangup", A)]


def test_parallel_one_busy_others_keep_ringing():
    plan = RingPlan([A, B], "parallel", 30)
    plan.start(T0)
    assert plan.on_failed(A, 486, T0 + 500) == []
    assert plan.ringing == [B]
    assert plan.get_timer() == T0 + 30000  # the overall timeout is unchanged
    assert plan.on_answered(B, T0 + 3000) == []
    assert plan.winner == B


def test_parallel_all_fail_gives_up_at_once():
    plan = RingPlan([A, B], "parallel", 30)
    plan.start(T0)
    assert plan.on_failed(A, 486, T0 + 100) == []
    assert plan.on_failed(B, 486, T0 + 200) == [("give_up", "busy")]
    assert plan.get_timer() is None


def test_parallel_then_fallback():
    plan = RingPlan([A, B], "parallel", 30, fallback=F, fallback_timeout_s=15)
    plan.start(T0)
    actions, now = fire(plan, T0)
    assert actions == [("cancel", A), ("cancel", B), ("ring", F)]
    assert plan.get_timer() == ticks_add(now, 15000)
    assert plan.on_answered(F, now + 2000) == []
    assert plan.winner == F


def test_fallback_after_everyone_failed():
    plan = RingPlan([A, B], "parallel", 30, fallback=F)
    plan.start(T0)
    plan.on_failed(A, 603, T0 + 100)
    assert plan.on_failed(B, 500, T0 + 200) == [("ring", F)]
    assert plan.get_timer() == T0 + 200 + 30000
    actions, now = fire(plan, T0 + 200)
    assert actions == [("cancel", F), ("give_up", "declined")]


def test_fallback_that_is_a_target_is_dropped():
    plan = RingPlan([A, B], "sequential", 30, fallback=B)
    assert plan.fallback is None
    plan.start(T0)
    plan.on_failed(A, 486, T0)
    assert plan.on_failed(B, 486, T0) == [("give_up", "busy")]


# -- sequential --------------------------------------------------------------


def test_sequential_rings_one_after_another_on_timeout():
    plan = RingPlan([A, B, C], "sequential", 10)
    assert plan.start(T0) == [("ring", A)]
    actions, now = fire(plan, T0)
    assert actions == [("cancel", A), ("ring", B)]
    assert now == T0 + 10000
    actions, now = fire(plan, now)
    assert actions == [("cancel", B), ("ring", C)]
    actions, now = fire(plan, now)
    assert actions == [("cancel", C), ("give_up", "no_answer")]
    assert now == T0 + 30000
    assert plan.outcomes == [(A, "no_answer"), (B, "no_answer"), (C, "no_answer")]


def test_sequential_busy_and_decline_move_on_at_once():
    plan = RingPlan([A, B, C], "sequential", 10)
    plan.start(T0)
    assert plan.on_failed(A, 486, T0 + 300) == [("ring", B)]
    assert plan.get_timer() == T0 + 300 + 10000  # B gets a full ring time
    assert plan.on_failed(B, 603, T0 + 900) == [("ring", C)]
    assert plan.on_answered(C, T0 + 2000) == []
    assert plan.winner == C


def test_sequential_failure_moves_on_at_once():
    plan = RingPlan([A, B], "sequential", 10)
    plan.start(T0)
    assert plan.on_failed(A, None, T0 + 2000) == [("ring", B)]  # no response at all
    assert plan.on_failed(B, 404, T0 + 3000) == [("give_up", "failed")]
    assert plan.reason == "failed"


def test_sequential_answer_ends_it():
    plan = RingPlan([A, B], "sequential", 10)
    plan.start(T0)
    assert plan.on_answered(A, T0 + 500) == []
    assert plan.state == "answered"
    assert plan.get_timer() is None
    assert plan.handle_timer(T0 + 20000) == []


def test_sequential_late_answer_of_a_cancelled_target_wins():
    # A's 200 OK crossed our CANCEL: a person picked up, so connect them.
    plan = RingPlan([A, B], "sequential", 10)
    plan.start(T0)
    actions, now = fire(plan, T0)
    assert actions == [("cancel", A), ("ring", B)]
    assert plan.on_answered(A, now + 20) == [("cancel", B)]
    assert plan.winner == A


def test_sequential_then_fallback():
    plan = RingPlan([A, B], "sequential", 10, fallback=F)
    plan.start(T0)
    plan.on_failed(A, 486, T0)
    actions, now = fire(plan, T0)
    assert actions == [("cancel", B), ("ring", F)]
    assert plan.on_failed(F, 480, now + 100) == [("give_up", "no_answer")]


def test_only_a_fallback():
    plan = RingPlan([], "parallel", 10, fallback=F)
    assert plan.start(T0) == [("ring", F)]


# -- give-up reasons ---------------------------------------------------------


def test_give_up_reason_summarises_every_target():
    def run(statuses):
        plan = RingPlan([A, B, C], "parallel", 30)
        plan.start(T0)
        actions = []
        for uri, st in zip([A, B, C], statuses):
            actions = plan.on_failed(uri, st, T0)
        return actions[-1]

    assert run([486, 600, 486]) == ("give_up", "busy")
    assert run([486, 603, 500]) == ("give_up", "declined")
    assert run([486, 480, 500]) == ("give_up", "no_answer")
    assert run([500, None, 404]) == ("give_up", "failed")
    assert run(["busy", "busy", "bogus"]) == ("give_up", "busy")


def test_classify():
    assert classify(486) == "busy" and classify(600) == "busy"
    assert classify(603) == "declined" and classify(607) == "declined"
    assert classify(408) == "no_answer" and classify(480) == "no_answer"
    assert classify(404) == "failed" and classify(503) == "failed" and classify(None) == "failed"
    assert classify("declined") == "declined" and classify("weird") == "failed"


# -- cancel, misuse, ticks -----------------------------------------------------


def test_cancel_all():
    plan = RingPlan([A, B], "parallel", 30)
    plan.start(T0)
    assert plan.cancel_all() == [("cancel", A), ("cancel", B)]
    assert plan.state == "cancelled" and plan.done
    assert plan.get_timer() is None
    assert plan.cancel_all() == []
    assert plan.handle_timer(T0 + 60000) == []
    assert plan.on_failed(A, 487, T0 + 100) == []
    assert plan.on_answered(B, T0 + 100) == [("hangup", B)]


def test_cancel_all_sequential_rings_nobody_else():
    plan = RingPlan([A, B, C], "sequential", 10, fallback=F)
    plan.start(T0)
    assert plan.cancel_all() == [("cancel", A)]
    assert plan.on_failed(A, 487, T0 + 100) == []
    assert plan.handle_timer(T0 + 10000) == []


def test_events_before_start_and_strangers_are_ignored():
    plan = RingPlan([A], "parallel", 30)
    assert plan.on_answered(A, T0) == []
    assert plan.on_failed(A, 486, T0) == []
    assert plan.cancel_all() == []
    assert plan.handle_timer(T0) == []
    assert plan.get_timer() is None
    plan.start(T0)
    assert plan.start(T0) == []  # only once
    assert plan.on_answered(C, T0) == []  # never rung by this plan
    assert plan.on_failed(C, 486, T0) == []
    assert plan.state == "ringing"


def test_bad_arguments():
    support.raises(ValueError, RingPlan, [A], "broadcast", 30)
    support.raises(ValueError, RingPlan, [], "parallel", 30)


def test_wrapping_ticks():
    start = TICKS_PERIOD - 4000
    plan = RingPlan([A, B], "sequential", 10, fallback=F)
    plan.start(start)
    assert plan.get_timer() == 6000  # past the wrap, numerically below start
    assert plan.handle_timer(ticks_add(start, 9999)) == []
    actions, now = fire(plan, start)
    assert actions == [("cancel", A), ("ring", B)]
    assert plan.on_failed(B, 486, ticks_add(now, 100)) == [("ring", F)]
    actions, now = fire(plan, now)
    assert actions == [("cancel", F), ("give_up", "no_answer")]


def test_parallel_timeout_across_the_wrap():
    start = TICKS_PERIOD - 1
    plan = RingPlan([A, B], "parallel", 5)
    plan.start(start)
    assert plan.handle_timer(ticks_add(start, 4999)) == []
    assert plan.handle_timer(ticks_add(start, 5000))[-1] == ("give_up", "no_answer")
