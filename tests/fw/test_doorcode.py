"""Door-code entry: every rule of DESIGN.md section 5, lockout, wrapping ticks."""

import support
from sipdoor.clock import TICKS_PERIOD, ticks_add, ticks_diff
from sipdoor.doorcode import CodeAccepted, CodeLockout, CodeRejected, DoorCodes, LockoutEnded, match_index

T0 = 1000


def keys(dc, text, now, step=100):
    """Feed each key step ms apart; return (events, time after the last key)."""
    events = []
    for ch in text:
        ev = dc.feed(ch, now)
        if ev is not None:
            events.append(ev)
        now = ticks_add(now, step)
    return events, now


def fire(dc, now):
    """Jump to the next timer and fire it, as the loop does."""
    when = dc.get_timer()
    assert when is not None
    assert ticks_diff(when, now) >= 0
    return dc.handle_timer(when), when


def test_code_opens_the_moment_it_matches():
    dc = DoorCodes(["1234"])
    assert dc.feed("1", T0) is None
    assert dc.feed("2", T0) is None
    assert dc.feed("3", T0) is None
    assert dc.feed("4", T0) == CodeAccepted("door", 0)
    assert not dc.collecting
    assert dc.get_timer() is None


def test_code_then_hash_opens_once():
    dc = DoorCodes(["1234"])
    events, now = keys(dc, "1234#", T0)
    assert events == [CodeAccepted("door", 0)]
    assert dc.wrong_attempts == 0
    assert dc.get_timer() is None


def test_wrong_code_of_full_length_is_one_wrong_attempt():
    dc = DoorCodes(["1234"])
    events, now = keys(dc, "0000", T0)
    assert events == [CodeRejected(1, 4)]
    assert dc.wrong_attempts == 1
    assert dc.get_timer() is None  # nothing pending: the attempt is over


def test_wrong_code_then_hash_counts_once():
    dc = DoorCodes(["1234"])
    events, now = keys(dc, "0000#", T0)
    assert events == [CodeRejected(1, 4)]


def test_hash_ends_a_short_attempt_as_wrong():
    dc = DoorCodes(["1234"])
    events, now = keys(dc, "12#", T0)
    assert events == [CodeRejected(1, 4)]
    events, now = keys(dc, "#", now)  # an empty attempt is nothing
    assert events == []
    events, now = keys(dc, "1234", now)
    assert events == [CodeAccepted("door", 0)]


def test_star_clears_a_typo_without_counting():
    dc = DoorCodes(["1234"])
    events, now = keys(dc, "19*1234", T0)
    assert events == [CodeAccepted("door", 0)]
    assert dc.wrong_attempts == 0
    events, now = keys(dc, "*", now)  # clearing nothing is nothing
    assert events == []


def test_star_after_a_full_candidate_counts_wrong():
    # With codes of two lengths, 5678 was already tried as a 4-digit code:
    # a free clear would be a free guess.
    dc = DoorCodes(["1234", "987654"])
    events, now = keys(dc, "5678*", T0)
    assert events == [CodeRejected(1, 4)]
    events, now = keys(dc, "567*", now)
    assert events == []
    events, now = keys(dc, "987654", now)
    assert events == [CodeAccepted("door", 1)]


def test_attempt_reaches_longest_length():
    dc = DoorCodes(["1234", "987654"])
    events, now = keys(dc, "555555", T0)
    assert events == [CodeRejected(1, 4)]
    events, now = keys(dc, "1234", now)  # shorter code still opens at once
    assert events == [CodeAccepted("door", 0)]


def test_gap_timeout_counts_wrong():
    dc = DoorCodes(["1234"], gap_ms=3000)
    events, now = keys(dc, "12", T0)
    last = ticks_add(now, -100)
    assert dc.get_timer() == ticks_add(last, 3000)
    assert dc.handle_timer(ticks_add(last, 2999)) is None
    ev, when = fire(dc, now)
    assert ev == CodeRejected(1, 4)
    assert not dc.collecting
    assert dc.get_timer() is None


def test_each_digit_restarts_the_gap():
    dc = DoorCodes(["1234"], gap_ms=3000)
    events, now = keys(dc, "123", T0, step=2900)
    ev = dc.feed("4", ticks_add(T0, 3 * 2900))
    assert ev == CodeAccepted("door", 0)


def test_late_timer_is_caught_up_on_the_next_key():
    # The loop has not fired the gap timer yet when the next key arrives.
    dc = DoorCodes(["1234"], gap_ms=3000)
    keys(dc, "12", T0)
    now = ticks_add(T0, 10000)
    assert dc.feed("1", now) == CodeRejected(1, 4)
    events, now = keys(dc, "234", ticks_add(now, 100))
    assert events == [CodeAccepted("door", 0)]


def test_custom_gap():
    dc = DoorCodes(["1234"], gap_ms=500)
    dc.feed("1", T0)
    assert dc.get_timer() == T0 + 500


def test_lockout_after_five_wrong_attempts():
    dc = DoorCodes(["1234"])
    now = T0
    for i in range(1, 5):
        events, now = keys(dc, "0000", now)
        assert events == [CodeRejected(i, 5 - i)]
    events, now = keys(dc, "0000", now)
    assert events == [CodeLockout(60, 5)]
    assert dc.locked_out(now)
    assert dc.lockout_left_ms(now) > 59000


def test_right_code_during_lockout_is_refused_and_then_works():
    dc = DoorCodes(["1234"], attempts=3, lockout_s=30)
    now = T0
    for i in range(3):
        events, now = keys(dc, "9999", now)
    assert events == [CodeLockout(30, 3)]
    locked_at = ticks_add(now, -100)
    assert dc.get_timer() == ticks_add(locked_at, 30000)
    events, now = keys(dc, "1234#", now)
    assert events == []  # ignored, not even counted
    assert not dc.collecting
    events, now = keys(dc, "1234", ticks_add(locked_at, 29999 - 400), step=100)
    assert events == []
    ev, when = fire(dc, now)
    assert ev == LockoutEnded()
    assert not dc.locked_out(when)
    assert dc.get_timer() is None
    events, now = keys(dc, "1234", when)
    assert events == [CodeAccepted("door", 0)]


def test_lockout_end_is_caught_up_on_the_next_key():
    dc = DoorCodes(["1234"], attempts=1, lockout_s=10)
    events, now = keys(dc, "0000", T0)
    assert events == [CodeLockout(10, 1)]
    later = ticks_add(now, 20000)
    assert not dc.locked_out(later)
    assert dc.feed("1", later) == LockoutEnded()  # and the 1 is kept
    events, now = keys(dc, "234", ticks_add(later, 100))
    assert events == [CodeAccepted("door", 0)]


def test_fresh_attempts_after_lockout():
    dc = DoorCodes(["1234"], attempts=2, lockout_s=5)
    events, now = keys(dc, "00000000", T0)
    assert events == [CodeRejected(1, 1), CodeLockout(5, 2)]
    ev, now = fire(dc, now)
    assert ev == LockoutEnded()
    events, now = keys(dc, "0000", now)
    assert events == [CodeRejected(1, 1)]


def test_success_resets_the_counter():
    dc = DoorCodes(["1234"])
    now = T0
    for i in range(4):
        events, now = keys(dc, "0000", now)
    assert dc.wrong_attempts == 4
    events, now = keys(dc, "1234", now)
    assert events == [CodeAccepted("door", 0)]
    assert dc.wrong_attempts == 0
    for i in range(1, 5):
        events, now = keys(dc, "0000", now)
        assert events == [CodeRejected(i, 5 - i)]


def test_two_codes_for_two_relays():
    dc = DoorCodes([("1234", "door"), ("5678", "gate")])
    events, now = keys(dc, "5678", T0)
    assert events == [CodeAccepted("gate", 1)]
    events, now = keys(dc, "1234", now)
    assert events == [CodeAccepted("door", 0)]


def test_wrong_codes_for_any_relay_count_towards_one_lockout():
    dc = DoorCodes([("1234", "door"), ("567890", "gate")], attempts=3, lockout_s=10)
    events, now = keys(dc, "567891", T0)  # near the gate's code
    assert events == [CodeRejected(1, 2)]
    events, now = keys(dc, "1235#", now)  # near the door's code
    assert events == [CodeRejected(2, 1)]
    events, now = keys(dc, "000000", now)
    assert events == [CodeLockout(10, 3)]
    events, now = keys(dc, "567890", now)
    assert events == []  # the gate's right code is refused too
    assert dc.handle_timer(ticks_add(now, 10000)) == LockoutEnded()
    events, now = keys(dc, "567890", ticks_add(now, 10000))
    assert events == [CodeAccepted("gate", 1)]


def test_codes_from_a_dict_have_a_stable_index():
    dc = DoorCodes({"9999": "gate", "1111": "door", "5555": "garage"})
    events, now = keys(dc, "9999", T0)
    assert events == [CodeAccepted("gate", 2)]  # sorted by code: 1111, 5555, 9999
    events, now = keys(dc, "1111", now)
    assert events == [CodeAccepted("door", 0)]


def test_plain_codes_use_the_default_relay():
    dc = DoorCodes(["1234", "4321"], relay="front")
    events, now = keys(dc, "4321", T0)
    assert events == [CodeAccepted("front", 1)]


def test_letters_and_lowercase():
    dc = DoorCodes(["12AB"])
    events, now = keys(dc, "12ab", T0)
    assert events == [CodeAccepted("door", 0)]


def test_unknown_keys_are_ignored():
    dc = DoorCodes(["1234"])
    events, now = keys(dc, "1x2E3 4", T0)
    assert events == [CodeAccepted("door", 0)]
    assert dc.feed("", now) is None
    assert dc.feed(None, now) is None
    assert dc.feed("12", now) is None


def test_no_codes_means_nothing_opens():
    dc = DoorCodes([])
    assert not dc.enabled
    events, now = keys(dc, "1234#0000#", T0)
    assert events == []
    assert dc.get_timer() is None
    assert dc.reset(now) is None


def test_bad_codes_are_refused_without_showing_them():
    e = support.raises(ValueError, DoorCodes, ["1"])
    e = support.raises(ValueError, DoorCodes, ["12#4"])
    e = support.raises(ValueError, DoorCodes, ["1234", "1234"])
    assert "1234" not in str(e)


def test_hangup_mid_entry_counts_nothing():
    dc = DoorCodes(["1234"])
    events, now = keys(dc, "12", T0)
    assert dc.reset(now) is None
    assert not dc.collecting
    assert dc.wrong_attempts == 0
    assert dc.get_timer() is None


def test_hangup_after_a_full_candidate_counts_wrong():
    dc = DoorCodes(["1234", "123456"])
    events, now = keys(dc, "0000", T0)
    assert events == []
    assert dc.reset(now) == CodeRejected(1, 4)


def test_lockout_survives_the_end_of_a_call():
    dc = DoorCodes(["1234"], attempts=2, lockout_s=60)
    events, now = keys(dc, "00000000", T0)
    assert events[-1] == CodeLockout(60, 2)
    assert dc.reset(now) is None  # the call ends
    now = ticks_add(now, 5000)  # the next call
    events, now = keys(dc, "1234", now)
    assert events == []
    assert dc.locked_out(now)


def test_wrong_count_survives_the_end_of_a_call():
    dc = DoorCodes(["1234"], attempts=2)
    events, now = keys(dc, "0000", T0)
    dc.reset(now)
    events, now = keys(dc, "0000", ticks_add(now, 1000))
    assert events == [CodeLockout(60, 2)]


def test_wrapping_ticks_gap():
    start = TICKS_PERIOD - 1500  # the gap deadline lies past the wrap
    dc = DoorCodes(["1234"], gap_ms=3000)
    events, now = keys(dc, "12", start)
    assert dc.get_timer() == 1600
    assert dc.handle_timer(ticks_add(now, 2000)) is None  # numerically far below the start
    ev, now = fire(dc, now)
    assert ev == CodeRejected(1, 4)
    events, now = keys(dc, "1234", now)
    assert events == [CodeAccepted("door", 0)]


def test_wrapping_ticks_lockout():
    start = TICKS_PERIOD - 30000  # the lockout ends past the wrap
    dc = DoorCodes(["1234"], attempts=1, lockout_s=60)
    events, now = keys(dc, "0000", start)
    assert events == [CodeLockout(60, 1)]
    t = ticks_add(start, 300)
    assert dc.get_timer() == ticks_add(t, 60000)
    assert dc.get_timer() < start
    assert dc.locked_out(ticks_add(t, 59999))
    assert dc.handle_timer(ticks_add(t, 59999)) is None
    events, now = keys(dc, "1234", ticks_add(t, 40000))
    assert events == []
    ev, t = fire(dc, now)
    assert ev == LockoutEnded()
    events, now = keys(dc, "1234", t)
    assert events == [CodeAccepted("door", 0)]


def test_events_never_carry_the_code():
    dc = DoorCodes([("8642", "door")], attempts=2)
    seen = []
    events, now = keys(dc, "8642", T0)
    seen += events
    events, now = keys(dc, "86420000", now)  # match, then a wrong attempt
    seen += events
    events, now = keys(dc, "8642", now)
    seen += events
    events, now = keys(dc, "9999", now)
    seen += events
    events, now = keys(dc, "8641", now)
    seen += events
    kinds = []
    for ev in seen:
        d = ev.to_dict()
        kinds.append(d["state"])
        for v in d.values():
            assert "8642" not in str(v) and "864" not in str(v)
        assert "8642" not in repr(ev)
    assert kinds == ["accepted", "accepted", "rejected", "accepted", "rejected", "locked_out"]
    assert "8642" not in repr(dc)


def test_event_dicts():
    assert CodeAccepted("gate", 1).to_dict() == {"event": "door_code", "state": "accepted", "relay": "gate",
                                                 "code_index": 1}
    assert CodeRejected(2, 3).to_dict() == {"event": "door_code", "state": "rejected", "attempt": 2,
                                            "attempts_left": 3}
    assert CodeLockout(60, 5).to_dict() == {"event": "door_code", "state": "locked_out", "seconds": 60,
                                            "attempts": 5}
    assert LockoutEnded().to_dict() == {"event": "door_code", "state": "lockout_ended"}


# -- the constant-time comparison ----------------------------------------


class Counting:
    """A byte sequence that counts every item read from it."""

    def __init__(self, data, reads):
        self.data = data
        self.reads = reads

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        self.reads[0] += 1
        return self.data[i]


def _pad(s, width):
    return s.encode() + bytes(width - len(s))


def _reads(entered, codes):
    width = 6
    reads = [0]
    buf = Counting(bytearray(_pad(entered, width)), reads)
    padded = [Counting(_pad(c, width), reads) for c in codes]
    i = match_index(buf, len(entered), padded, [len(c) for c in codes])
    return i, reads[0]


def test_compare_reads_every_byte_of_every_code():
    codes = ["1234", "567890", "4321"]
    # A code's bytes and the entry's bytes: 2 reads per position, 6 positions, 3 codes.
    full = 2 * 6 * 3
    cases = [
        ("1234", 0),  # match at the first code: no early return
        ("4321", 2),  # match at the last code
        ("567890", 1),
        ("9234", -1),  # wrong first digit
        ("1239", -1),  # wrong last digit
        ("123", -1),  # a prefix, shorter
        ("12345", -1),  # longer than a code, shorter than another
        ("", -1),
    ]
    for entered, want in cases:
        i, reads = _reads(entered, codes)
        assert i == want, (entered, i)
        assert reads == full, (entered, reads)


def test_compare_equal_and_different_lengths():
    width = 4
    codes = [_pad("12", width), _pad("1200", width)]
    lengths = [2, 4]
    # "12" padded with zero bytes equals "12" only at length 2: lengths are compared too.
    assert match_index(bytearray(_pad("12", width)), 2, codes, lengths) == 0
    assert match_index(bytearray(_pad("1200", width)), 4, codes, lengths) == 1
    assert match_index(bytearray(_pad("120", width)), 3, codes, lengths) == -1
    assert match_index(bytearray(_pad("1", width)), 1, codes, lengths) == -1
    assert match_index(bytearray(width), 0, codes, lengths) == -1
    assert match_index(bytearray(width), 0, [], []) == -1
