"""Door-code entry during a call (DESIGN.md section 5), sans-IO.

Rules:
- Digits (0-9, A-D) are collected. The moment the collected digits equal a
  configured code, that code's relay opens (CodeAccepted) and the wrong-attempt
  counter resets.
- `#` ends an attempt: a non-empty attempt without a match is one wrong
  attempt; `#` after an accepted code (`1234#`) is an empty attempt and counts
  nothing.
- `*` clears. A cleared attempt with fewer digits than the shortest code
  counts nothing (a typo). One with at least that many counts as wrong: the
  door opens the moment digits match, so with codes of different lengths
  `5678*` has already tried 5678 as a 4-digit code, and a free clear would
  be a free guess.
- An attempt that reaches the longest code's length without a match, or
  stops for `gap_ms`, is one wrong attempt. An attempt never ends early on a
  wrong digit: that would tell a caller which prefix is right.
- After `attempts` wrong attempts in a row, codes are refused for
  `lockout_s` seconds: digits are ignored and even the right code does not
  open. Then LockoutEnded, and a fresh set of attempts.
- reset() at the end of a call drops a partial attempt. Like `*`, it counts
  nothing when shorter than the shortest code (hanging up mid-entry is not
  punished) and counts wrong otherwise (hanging up after a full candidate is
  a guess). The object lives for the station's lifetime, so a lockout and the
  wrong-attempt count survive across calls: hanging up and calling again
  does not reset them.

Times are wrapping ticks in ms, compared only with ticks_diff (clock.py).
The code itself never appears in an event, a log line or repr(): events carry
the code's index in the configuration and its relay.

Every call returns None or exactly one event. Codes must have at least two
digits so that one key press never has two facts to report (a stale attempt
expiring and a new one matching); config.py asks for four or more anyway.
"""

from sipdoor.clock import ticks_add, ticks_diff
from sipdoor.hal.base import Event

DIGITS = "0123456789ABCD"


# -- events (facts, in the past tense) -----------------------------------


class CodeAccepted(Event):
    kind = "door_code"

    def __init__(self, relay, code_index):
        self.state = "accepted"
        self.relay = relay
        self.code_index = code_index


class CodeRejected(Event):
    kind = "door_code"

    def __init__(self, attempt, attempts_left):
        self.state = "rejected"
        self.attempt = attempt
        self.attempts_left = attempts_left


class CodeLockout(Event):
    kind = "door_code"

    def __init__(self, seconds, attempts):
        self.state = "locked_out"
        self.seconds = seconds
        self.attempts = attempts


class LockoutEnded(Event):
    kind = "door_code"

    def __init__(self):
        self.state = "lockout_ended"


# -- comparison --------------------------------------------------------------


def match_index(entered, length, codes, lengths):
    """Index of the code equal to the first `length` items of entered, or -1.

    Constant time in the digits: every byte of every code (all padded to one
    width, as is entered) is compared, differences are OR-ed together and the
    index is picked arithmetically, with no early exit and no branch on the
    data. A comparison that stopped at the first wrong digit would answer
    faster the fewer digits are right, and digits arrive from the network,
    so a caller timing the station could learn a code digit by digit (10 * n
    tries instead of 10 ** n). Python gives no hard guarantee, but this
    removes the data-dependent work. Codes are unique, so at most one matches.
    """
    found = 0
    for i in range(len(codes)):
        code = codes[i]
        diff = lengths[i] ^ length
        for j in range(len(code)):
            diff |= code[j] ^ entered[j]
        # diff is 0..255: (diff - 1) >> 8 is -1 only when diff == 0.
        found += (((diff - 1) >> 8) & 1) * (i + 1)
    return found - 1


def _normalise(codes, relay):
    """(code, relay) pairs in a stable order from a list or a dict.

    Plain strings use the default relay. A dict is sorted by code because
    dict order differs on MicroPython and code_index must not.
    """
    if isinstance(codes, dict):
        items = [(c, codes[c]) for c in codes]
        items.sort()
    else:
        items = []
        for item in codes:
            if isinstance(item, str):
                items.append((item, relay))
            else:
                items.append((item[0], item[1]))
    seen = []
    for code, _ in items:
        code = code.upper()
        if len(code) < 2:
            raise ValueError("door codes need at least 2 digits")
        for ch in code:
            if ch not in DIGITS:
                raise ValueError("door codes use the digits 0-9 and A-D only")
        if code in seen:
            # Not shown: the message could reach a log.
            raise ValueError("a door code appears twice")
        seen.append(code)
    return [(c.upper(), r) for c, r in items]


class DoorCodes:
    """Collects DTMF digits and decides when a door opens.

    codes: list of codes (for `relay`), list of (code, relay) pairs, or a
    dict code -> relay. No codes: every digit is ignored (the safe default).
    """

    def __init__(self, codes=(), relay="door", attempts=5, lockout_s=60, gap_ms=3000):
        pairs = _normalise(codes, relay)
        self.attempts = attempts
        self.lockout_s = lockout_s
        self.gap_ms = gap_ms
        width = 0
        shortest = 0
        for code, _ in pairs:
            if len(code) > width:
                width = len(code)
            if not shortest or len(code) < shortest:
                shortest = len(code)
        self._width = width
        self._shortest = shortest
        # Codes padded to one width with zero bytes; lengths kept apart.
        self._codes = [code.encode() + bytes(width - len(code)) for code, _ in pairs]
        self._lengths = [len(code) for code, _ in pairs]
        self._relays = [r for _, r in pairs]
        self._buf = bytearray(width)
        self._n = 0
        self._last = 0  # tick of the last digit of the current attempt
        self._fails = 0
        self._locked = False
        self._until = 0

    def __repr__(self):
        return "DoorCodes(%d codes, %d wrong, locked=%s)" % (len(self._codes), self._fails, self._locked)

    @property
    def enabled(self):
        return bool(self._codes)

    @property
    def wrong_attempts(self):
        """Wrong attempts since the last success or lockout."""
        return self._fails

    @property
    def collecting(self):
        """True while a partial attempt is held."""
        return self._n > 0

    def locked_out(self, now):
        """True while codes are refused (also if handle_timer is late)."""
        return self._locked and ticks_diff(self._until, now) > 0

    def lockout_left_ms(self, now):
        if not self.locked_out(now):
            return 0
        return ticks_diff(self._until, now)

    def feed(self, digit, now):
        """One key from the caller: None while collecting, else one event."""
        if not self._codes or not isinstance(digit, str) or len(digit) != 1:
            return None
        # Catch up on a timer the loop has not fired yet.
        ev = self.handle_timer(now)
        if self._locked:
            return ev
        if digit == "*":
            return ev or self._abandon(now)
        if digit == "#":
            if ev is not None or not self._n:
                return ev
            return self._wrong(now)
        digit = digit.upper()
        if digit not in DIGITS:
            return ev
        self._buf[self._n] = ord(digit)
        self._n += 1
        self._last = now
        i = match_index(self._buf, self._n, self._codes, self._lengths)
        if i >= 0:
            self._clear()
            self._fails = 0
            return CodeAccepted(self._relays[i], i)
        if self._n >= self._width:
            return self._wrong(now)
        return ev

    def reset(self, now):
        """The call ended: drop a partial attempt (see the rules above)."""
        ev = self.handle_timer(now)
        if ev is not None:
            return ev
        return self._abandon(now)

    def get_timer(self):
        """The next deadline (a tick): gap timeout or lockout end; or None."""
        if self._locked:
            return self._until
        if self._n:
            return ticks_add(self._last, self.gap_ms)
        return None

    def handle_timer(self, now):
        """Fire what is due at now: LockoutEnded, a wrong attempt, or None."""
        if self._locked:
            if ticks_diff(now, self._until) >= 0:
                self._locked = False
                return LockoutEnded()
            return None
        if self._n and ticks_diff(now, ticks_add(self._last, self.gap_ms)) >= 0:
            return self._wrong(now)
        return None

    # -- internals -----------------------------------------------------------

    def _clear(self):
        buf = self._buf
        for j in range(self._width):
            buf[j] = 0
        self._n = 0

    def _abandon(self, now):
        n = self._n
        if not n:
            return None
        if n >= self._shortest:
            return self._wrong(now)
        self._clear()
        return None

    def _wrong(self, now):
        self._clear()
        self._fails += 1
        if self._fails >= self.attempts:
            self._fails = 0
            self._locked = True
            self._until = ticks_add(now, self.lockout_s * 1000)
            return CodeLockout(self.lockout_s, self.attempts)
        return CodeRejected(self._fails, self.attempts - self._fails)
