"""Jitter buffer tests: a simulated network (loss, reorder, duplication, jitter)
feeds packets by arrival time while the loop pops one frame every 20 ms.

The test "codec" decodes code c to the sample value c, so every output frame
says which packet it came from: packet k carries code k % 200 + 20 (never 0,
so silence and concealment stand out).
"""

import mediautil
from sipdoor.media import g711
from sipdoor.media.jitter import JitterBuffer

FRAME = 160


def ident_decode_into(codes, dst):
    j = 0
    for c in codes:
        dst[j] = c
        dst[j + 1] = 0
        j += 2
    return j


def code(k):
    return k % 200 + 20


def payload(k, n=FRAME):
    return bytes([code(k)]) * n


def simulate(jb, packets, ticks, ts0=1000, seq0=500, ssrc=1, start=0, samples=FRAME):
    """packets: list of (arrival_ms, k) sending packet k (ts = ts0 + k * samples).
    Returns the output frames as (first, last) sample values. (Packed into
    ints while running, to keep long runs inside a board-sized heap.)"""
    packed = [(a << 10) | k for a, k in packets]
    del packets
    packed.sort()
    out = []
    i = 0
    for t in range(ticks):
        now = start + 20 * t
        while i < len(packed) and packed[i] >> 10 <= now:
            arr = packed[i] >> 10
            k = packed[i] & 1023
            jb.put((seq0 + k) & 0xFFFF, (ts0 + k * samples) & 0xFFFFFFFF, payload(k, samples), arr, ssrc)
            i += 1
        pcm = jb.pop(now)
        out.append((mediautil.sample(pcm, 0) << 16) | mediautil.sample(pcm, FRAME - 1))
    return [(x >> 16, x & 0xFFFF) for x in out]


def played(out):
    """Packet numbers of the frames played whole, in order (numbers past 199
    are told apart by their order, as codes repeat every 200 packets)."""
    got = []
    base = 0
    for v, w in out:
        if v == w and v >= 20:
            k = base + v - 20
            if got and k < got[-1] - 100:
                base += 200
                k += 200
            got.append(k)
    return got


def new_jb(**kw):
    return JitterBuffer(ident_decode_into, FRAME, 8000, **kw)


def test_in_order_stream_plays_every_frame_once():
    jb = new_jb()
    out = simulate(jb, [(20 * k + 5, k) for k in range(100)], 105)
    assert played(out) == list(range(100))
    st = jb.stats
    assert st["lost"] == 0 and st["late"] == 0 and st["duplicate"] == 0
    # Start-up waits for min_ms (one frame) only.
    assert out[0] == (0, 0) and out[1][0] == code(0)


def test_reordered_packets_come_out_in_order():
    jb = new_jb(min_ms=60)
    pk = []
    for k in range(0, 100, 2):  # each pair swapped on the wire
        pk.append((20 * k + 5, k + 1))
        pk.append((20 * k + 6, k))
    out = simulate(jb, pk, 110)
    assert played(out) == list(range(100))
    assert jb.stats["lost"] == 0


def test_duplicates_are_dropped_and_counted():
    jb = new_jb()
    pk = []
    for k in range(50):
        pk.append((20 * k + 5, k))
        pk.append((20 * k + 7, k))
    pk.append((20 * 60, 3))  # a very old duplicate too
    out = simulate(jb, pk, 70)
    assert played(out) == list(range(50))
    assert jb.stats["duplicate"] == 50
    assert jb.stats["late"] == 1  # beyond the 32-packet window: known only as late


def test_lost_frame_is_concealed_by_a_fading_repeat():
    jb = new_jb(min_ms=40)
    pk = [(20 * k + 5, k) for k in range(40) if k != 10]
    out = simulate(jb, pk, 40)  # stop before the stream runs dry
    got = played(out)
    assert 10 not in got and got == [k for k in range(len(got) + 1) if k != 10]
    # The frame after packet 9 repeats it fading: starts at its value, ends near 0.
    i = [j for j in range(len(out)) if out[j][0] == code(9)][0]
    assert out[i + 1][0] == code(9) and out[i + 1][1] < code(9) // 10 + 1
    assert jb.stats["lost"] == 1 and jb.stats["concealed"] == 1


def test_two_lost_frames_fade_then_silence():
    jb = new_jb(min_ms=60)
    pk = [(20 * k + 5, k) for k in range(40) if k not in (10, 11)]
    out = simulate(jb, pk, 45)
    i = [j for j in range(len(out)) if out[j][0] == code(9)][0]
    assert out[i + 1][0] == code(9)
    assert out[i + 2] == (0, 0)
    assert out[i + 3][0] == code(12)


def test_late_packet_is_dropped():
    jb = new_jb()
    pk = [(20 * k + 5, k) for k in range(30) if k != 8]
    pk.append((20 * 8 + 200, 8))  # arrives long after its turn
    out = simulate(jb, pk, 35)
    assert jb.stats["late"] == 1
    assert 8 not in played(out)


def test_jitter_grows_the_delay_and_then_nothing_is_lost():
    rng = mediautil.Rng(5)
    jb = new_jb()
    pk = [(20 * k + rng.randint(0, 60), k) for k in range(500)]
    out = simulate(jb, pk, 520)
    got = played(out)
    # Early underruns teach it; the second half plays without a gap.
    tail = got[len(got) // 2:]
    assert tail == list(range(tail[0], tail[0] + len(tail)))
    assert jb.target_ms() >= 60
    assert jb.target_ms() <= 200
    assert jb.stats["underruns"] < 20


def test_depth_is_capped_at_max():
    jb = new_jb(max_ms=100)
    # 40 packets arrive in one burst (a stalled network), then the stream goes on.
    pk = [(800, k) for k in range(40)] + [(800 + 20 * (k - 39), k) for k in range(40, 100)]
    out = simulate(jb, pk, 110)
    assert jb.depth_ms() <= 120
    assert jb.stats["dropped"] + jb.stats["overflow"] > 0
    got = played(out)
    assert got[-1] >= 90
    assert got == sorted(got)


def test_delay_shrinks_again_when_the_network_calms():
    jb = new_jb()
    rng = mediautil.Rng(9)
    pk = [(20 * k + rng.randint(0, 120), k) for k in range(100)]
    pk += [(20 * k + 5, k) for k in range(100, 1000)]
    simulate(jb, pk, 1000)
    assert jb.depth_ms() <= 60, jb.depth_ms()
    assert jb.stats["dropped"] > 0


def test_ssrc_change_resyncs():
    jb = new_jb()
    pk = [(20 * k + 5, k) for k in range(20)]
    # A new source with its own numbering (ts0/seq0 far away) takes over.
    jb2_ts = 90000000
    out = simulate(jb, pk, 22)
    for k in range(20):
        now = 440 + 20 * k
        jb.put((7000 + k) & 0xFFFF, jb2_ts + 160 * k, payload(100 + k), now - 15, 2)
        pcm = jb.pop(now)
        out.append((mediautil.sample(pcm, 0), mediautil.sample(pcm, FRAME - 1)))
    assert jb.stats["resyncs"] == 1
    got = played(out)
    assert got[:20] == list(range(20))
    assert got[20:] == list(range(100, 100 + len(got) - 20))
    assert len(got) >= 37


def test_big_timestamp_jump_resyncs_same_ssrc():
    jb = new_jb()
    out = simulate(jb, [(20 * k + 5, k) for k in range(10)], 12)
    for k in range(10):
        now = 240 + 20 * k
        jb.put(510 + k, 1000 + 8000 * 60 + 160 * k, payload(50 + k), now - 10, 1)
        pcm = jb.pop(now)
        out.append((mediautil.sample(pcm, 0), mediautil.sample(pcm, FRAME - 1)))
    assert jb.stats["resyncs"] == 1
    got = played(out)
    assert got[:10] == list(range(10))
    assert got[10:] == list(range(50, 60))


def test_silence_suppression_gap_restarts_playout():
    # The peer stops sending for 600 ms (VAD), then resumes with later timestamps.
    jb = new_jb()
    pk = [(20 * k + 5, k) for k in range(20)] + [(20 * k + 5, k) for k in range(50, 80)]
    out = simulate(jb, pk, 85)
    assert played(out) == list(range(20)) + list(range(50, 80))
    assert jb.stats["late"] == 0


def test_other_packet_sizes_are_played_by_timestamp():
    # 30 ms packets (240 samples) into 20 ms frames: every sample still comes out.
    jb = new_jb(min_ms=40)
    out = []
    k = 0
    vals = []
    for t in range(105):  # the last packet arrives at 2075 ms
        now = 20 * t
        while 30 * k + 5 <= now and k < 70:
            jb.put(k, 240 * k, payload(k, 240), 30 * k + 5, 1)
            k += 1
        pcm = jb.pop(now)
        vals += [mediautil.sample(pcm, i) for i in range(0, FRAME, 80)]
    seq = [v - 20 for v in vals if v]
    # Each packet covers 240 samples = 3 of our half-frame probes.
    assert seq == sorted(seq)
    for p in range(68):
        assert seq.count(p) == 3, (p, seq.count(p))
    assert jb.stats["lost"] == 0


def test_with_real_g711_and_wrapping_numbers():
    pcm = mediautil.sines(160, [1000], -10)
    codes = g711.ulaw_encode(pcm)
    jb = JitterBuffer(g711.ulaw_decode_into, FRAME)
    for k in range(10):
        jb.put((0xFFFB + k) & 0xFFFF, (0xFFFFFE00 + 160 * k) & 0xFFFFFFFF, codes, 20 * k, 7)
    outs = [bytes(jb.pop(20 * k + 10)) for k in range(12)]
    assert outs.count(g711.ulaw_decode(codes)) == 10
    assert jb.stats["resyncs"] == 0


def test_pop_allocates_nothing_on_micropython():
    jb = new_jb()
    jb.decode_into = g711.ulaw_decode_into
    codes = bytes(160)
    for k in range(5):
        jb.put(k, 160 * k, codes, 20 * k, 1)
    jb.pop(100)

    def work():
        jb.pop(120)

    assert mediautil.heap_locked(work)
