"""The event log: bounded, coalesced writes, flush on close, power-cut tolerant."""

import json
import os

from support import make_loop, run_for, tmpdir

from sipdoor.eventlog import EventLog, read_events


def _log(size=5, interval=1000):
    loop, clock = make_loop()
    path = tmpdir() + "/events.jsonl"
    return EventLog(path, size, loop, None, interval), loop, clock, path


def _lines(path):
    try:
        with open(path) as f:
            return f.read().count("\n")
    except OSError:
        return 0


def test_first_event_is_written_at_once_then_coalesced():
    log, loop, clock, path = _log()
    log.add({"event": "a"})
    run_for(loop, clock, 10)
    assert log.writes == 1 and read_events(path) == [{"event": "a"}]
    for i in range(3):
        log.add({"event": "b", "i": i})
    run_for(loop, clock, 500)
    assert log.writes == 1  # within the second: held in RAM
    run_for(loop, clock, 600)
    assert log.writes == 2
    assert [e.get("i") for e in read_events(path)] == [None, 0, 1, 2]


def test_close_flushes_pending_events():
    log, loop, clock, path = _log()
    log.add({"event": "a"})
    run_for(loop, clock, 10)
    log.add({"event": "last"})
    log.close()
    assert read_events(path)[-1] == {"event": "last"}
    assert log.read()[-1] == {"event": "last"}


def test_keeps_the_last_n_across_two_files():
    log, loop, clock, path = _log(size=5)
    for i in range(23):
        log.add({"i": i})
        run_for(loop, clock, 1000)
    log.close()
    assert [e["i"] for e in read_events(path, 5)] == [18, 19, 20, 21, 22]
    assert _lines(path) <= 5 and _lines(path + ".1") <= 5
    # A fresh log (after a restart) counts what is there and goes on.
    again = EventLog(path, 5, loop, None, 1000)
    again.add({"i": 23})
    again.close()
    assert [e["i"] for e in again.read()] == [19, 20, 21, 22, 23]


def test_a_big_burst_rotates_within_one_flush():
    log, loop, clock, path = _log(size=4)
    for i in range(11):
        log.add({"i": i})
    log.close()
    assert [e["i"] for e in read_events(path, 4)] == [7, 8, 9, 10]


def test_torn_last_line_is_skipped_and_the_next_starts_clean():
    log, loop, clock, path = _log()
    with open(path, "w") as f:
        f.write('{"i": 1}\n{"i": 2}\nnot json\n{"i": 3, "tor')
    log = EventLog(path, 5, loop, None, 1000)
    assert [e["i"] for e in read_events(path)] == [1, 2]
    log.add({"i": 4})
    log.close()
    assert [e["i"] for e in read_events(path)] == [1, 2, 4]


def test_write_failure_keeps_events_in_ram_bounded():
    loop, clock = make_loop()
    base = tmpdir()
    path = base + "/missing/events.jsonl"
    log = EventLog(path, 3, loop, None, 1000)
    for i in range(5):
        log.add({"i": i})
    run_for(loop, clock, 3000)
    assert log.failures >= 1 and log.dropped == 2
    assert [json.loads(l)["i"] for l in log.pending] == [2, 3, 4]
    os.mkdir(base + "/missing")  # the card is back
    run_for(loop, clock, 6000)
    assert [e["i"] for e in read_events(path)] == [2, 3, 4]
