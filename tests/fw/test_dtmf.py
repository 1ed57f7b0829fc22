"""DTMF tests: RFC 4733 receive/send, Goertzel in-band detection, tone generation."""

import mediautil
import support
from sipdoor.media import dtmf


def _event(code, end, duration, volume=10):
    return bytes([code, (0x80 if end else 0) | volume, duration >> 8, duration & 0xFF])


def _key_packets(code, ts, updates=3):
    """What a phone sends for one key: start, updates, three identical ends."""
    out = [(_event(code, False, 160), ts)]
    for i in range(updates):
        out.append((_event(code, False, 320 + 160 * i), ts))
    for _ in range(3):
        out.append((_event(code, True, 160 * (updates + 2)), ts))
    return out


def test_redundant_packets_give_one_event_per_key():
    rx = dtmf.DtmfReceiver()
    got = []
    ts = 1000
    for code in (1, 2, 3, 4, 11, 10, 0, 15):
        for payload, t in _key_packets(code, ts):
            k = rx.receive(payload, t)
            if k is not None:
                got.append(k)
        ts += 1600
    assert got == ["1", "2", "3", "4", "#", "*", "0", "D"]


def test_same_key_twice_is_two_presses():
    rx = dtmf.DtmfReceiver()
    got = []
    for ts in (8000, 9600):
        for payload, t in _key_packets(5, ts):
            k = rx.receive(payload, t)
            if k:
                got.append(k)
    assert got == ["5", "5"]


def test_lost_start_and_retransmitted_ends_still_one_event():
    rx = dtmf.DtmfReceiver()
    packets = _key_packets(9, 4242)[2:]  # start and first update lost
    got = [rx.receive(p, t) for p, t in packets + packets]  # and everything duplicated
    assert [k for k in got if k] == ["9"]
    assert rx.last_duration == 800


def test_unknown_events_and_short_payloads_are_ignored():
    rx = dtmf.DtmfReceiver()
    assert rx.receive(_event(16, False, 160), 1) is None  # flash
    assert rx.receive(b"\x01\x0a", 2) is None
    assert rx.receive(_event(1, False, 160), 3) == "1"


def _send(sender, ticks, ts=50000):
    """Run the sender for ticks; returns one entry per tick: None (audio) or
    (marker, event_ts, payload bytes)."""
    out = []
    for _ in range(ticks):
        d = sender.next_packet(ts)
        out.append(None if d is None else (d[0], d[1], bytes(sender.payload)))
        ts += 160
    return out


def test_sender_paces_a_string_of_keys():
    tx = dtmf.DtmfSender(frame=160, duration_ms=100, pause_ms=60)
    tx.queue("1234#")
    assert tx.busy()
    seq = _send(tx, 60)
    rx = dtmf.DtmfReceiver()
    keys = [rx.receive(p[2], p[1]) for p in seq if p]
    assert [k for k in keys if k] == ["1", "2", "3", "4", "#"]
    # One key: start with marker, updates each ptime, three ends, 3 ticks of audio.
    first = seq[:10]
    assert first[0][0] is True and first[0][2] == _event(1, False, 160)
    assert [p[2] for p in first[1:4]] == [_event(1, False, d) for d in (320, 480, 640)]
    assert [p[2] for p in first[4:7]] == [_event(1, True, 800)] * 3
    assert all(p[0] is False for p in first[1:7])
    assert len(set([p[1] for p in first[:7]])) == 1  # one timestamp for the event
    assert first[7:10] == [None, None, None]
    assert seq[10][0] is True and seq[10][1] == 50000 + 160 * 10
    assert not tx.busy() and seq[-1] is None


def test_sender_duration_and_volume_are_configurable():
    tx = dtmf.DtmfSender(frame=160, duration_ms=200, pause_ms=0, volume=7)
    tx.queue("a")
    seq = [p for p in _send(tx, 20) if p]
    assert len(seq) == 10 + 2  # 1600 samples: start + 9 updates (the last is the first end) + 2 ends
    assert seq[-1][2] == bytes([12, 0x80 | 7, 0x06, 0x40])


def test_bad_keys_are_refused():
    tx = dtmf.DtmfSender()
    support.raises(ValueError, tx.queue, "12x")
    assert not tx.busy()
    support.raises(ValueError, dtmf.event_code, "E")
    assert dtmf.event_code("#") == 11 and dtmf.event_code("b") == 13


# -- Goertzel --------------------------------------------------------------------


def _key_pcm(key, ms, dbfs, rng, noise=-50, start=0):
    i = dtmf.KEYPAD.index(key)
    n = ms * 8
    return mediautil.sines(n, [dtmf.ROWS[i // 4], dtmf.COLS[i % 4]], dbfs, start, noise, rng)


def _detect(det, pcm, frame=160):
    got = []
    for f in mediautil.frames(pcm, frame):
        k = det.feed(f)
        if k:
            got.append(k)
    return got


def _silence(ms, rng, noise=-50):
    return mediautil.sines(ms * 8, [], -100, 0, noise, rng)


def test_goertzel_detects_every_key_at_speech_levels():
    rng = mediautil.Rng(3)
    gap = _silence(80, rng)
    for block in (205, 160):
        det = dtmf.GoertzelDetector(block=block)
        for n, key in enumerate(dtmf.KEYPAD):
            level = (-10, -15, -20, -25)[n % 4]
            got = _detect(det, _key_pcm(key, 80, level, rng) + gap)
            assert got == [key], (block, key, level, got)


def test_goertzel_levels_with_noise():
    rng = mediautil.Rng(4)
    det = dtmf.GoertzelDetector()
    for level in (-10, -15, -20, -25):
        pcm = _key_pcm("5", 100, level, rng, noise=-45) + _silence(100, rng, -45)
        assert _detect(det, pcm) == ["5"], level
    # Far below the threshold: nothing.
    assert _detect(det, _key_pcm("5", 100, -40, rng, noise=-60) + _silence(60, rng)) == []


def test_goertzel_rejects_single_tones_and_noise():
    rng = mediautil.Rng(5)
    det = dtmf.GoertzelDetector()
    for freqs in ([697], [1209], [1000], [440, 480], [350, 440]):
        pcm = mediautil.sines(8 * 300, freqs, -10, 0, -50, rng)
        assert _detect(det, pcm) == [], freqs
    assert _detect(det, _silence(300, rng, -20)) == []


def test_goertzel_rejects_speech_like_sound():
    # A voiced vowel: harmonics of a gliding pitch with a formant envelope.
    import math

    rng = mediautil.Rng(6)
    det = dtmf.GoertzelDetector()
    n = 8 * 600
    pcm = bytearray(2 * n)
    phase = 0.0
    for i in range(n):
        f0 = 110 + 60 * i / n  # rising pitch, passes DTMF-ish harmonics
        phase += 2 * math.pi * f0 / 8000
        v = 0.0
        for h in range(1, 30):
            f = h * f0
            if f > 3600:
                break
            env = 1.0 / (1 + ((f - 700) / 200) ** 2) + 0.6 / (1 + ((f - 1200) / 250) ** 2)
            v += env * math.sin(h * phase)
        mediautil.put_sample(pcm, i, 6000 * v + (rng.getrandbits(8) - 128))
    assert _detect(det, pcm) == []


def test_goertzel_twist_limits():
    rng = mediautil.Rng(7)
    det = dtmf.GoertzelDetector()
    n = 8 * 100
    # Column 12 dB below the row: beyond the 8 dB normal twist.
    pcm = mediautil.sines(n, [770], -10, 0, None)
    col = mediautil.sines(n, [1336], -22, 0, None)
    mix = bytearray(2 * n)
    for i in range(n):
        mediautil.put_sample(mix, i, mediautil.sample(pcm, i) + mediautil.sample(col, i))
    assert _detect(det, bytes(mix) + _silence(60, rng)) == []
    # Column 4 dB below: accepted.
    col = mediautil.sines(n, [1336], -14, 0, None)
    for i in range(n):
        mediautil.put_sample(mix, i, mediautil.sample(pcm, i) + mediautil.sample(col, i))
    assert _detect(det, bytes(mix) + _silence(60, rng)) == ["5"]


def test_goertzel_timing_needs_40ms_and_a_gap():
    rng = mediautil.Rng(8)
    for block in (205, 160):
        det = dtmf.GoertzelDetector(block=block)
        # 20 ms: too short.
        assert _detect(det, _key_pcm("7", 20, -10, rng) + _silence(100, rng)) == [], block
        # A long key is one event.
        assert _detect(det, _key_pcm("7", 600, -10, rng) + _silence(100, rng)) == ["7"], block
        # Two keys with no gap: only the first counts.
        pcm = _key_pcm("1", 100, -10, rng) + _key_pcm("2", 100, -10, rng) + _silence(60, rng)
        assert _detect(det, pcm) == ["1"], block
        # The same keys with a 60 ms gap: both.
        pcm = _key_pcm("1", 100, -10, rng) + _silence(60, rng) + _key_pcm("2", 100, -10, rng) + _silence(60, rng)
        assert _detect(det, pcm) == ["1", "2"], block


def test_tone_generator_keys_are_detected():
    gen = dtmf.ToneGenerator(level_dbfs=-12)
    det = dtmf.GoertzelDetector()
    frame = bytearray(320)
    got = []
    for key in "1234567890*#ABCD":
        gen.set_key(key)
        for _ in range(5):
            k = det.feed(gen.fill(frame))
            if k:
                got.append(k)
        gen.set_key(None)
        for _ in range(4):
            k = det.feed(gen.fill(frame))
            if k:
                got.append(k)
    assert "".join(got) == "1234567890*#ABCD"
    gen.set_key("1")
    gen.fill(frame)
    p = mediautil.tone_power(mediautil.sines(160, [697], -12) + bytes(0), 697)
    assert abs(mediautil.tone_power(frame, 697) - p) < p * 0.1
    support.raises(ValueError, gen.set_key, "x")
