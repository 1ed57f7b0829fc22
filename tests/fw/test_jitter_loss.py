"""Jitter buffer under loss with a shallow buffer: a lost packet with nothing
behind it yet is concealed and the timeline kept, not taken for an underrun
(which would re-buffer and leave 40-100 ms of silence)."""

from sipdoor.media.jitter import JitterBuffer
from test_jitter import FRAME, ident_decode_into, played, simulate


def _jb():
    return JitterBuffer(ident_decode_into, FRAME, 8000, 20, 200, conceal_frames=3, hold_frames=5)


def test_single_losses_keep_the_timeline():
    jb = _jb()
    lost = (10, 25, 26, 40, 60, 61, 70, 71, 72, 73)
    pk = [(20 * k + 1, k) for k in range(100) if k not in lost]
    out = simulate(jb, pk, 100)
    assert played(out) == [k for k in range(99) if k not in lost]
    assert jb.stats["underruns"] == 0
    # out[k + 1] is where packet k was due: the last frame repeated, fading
    # out over three frames (60 ms), then silence
    assert out[11] == (29, 19)
    assert out[26] == (44, 29) and out[27] == (29, 14)
    assert out[28] == (47, 47)
    assert out[71] == (89, 59) and out[72] == (59, 29) and out[73] == (29, 0)
    assert out[74] == (0, 0)
    assert out[75] == (94, 94)


def test_a_long_pause_is_still_an_underrun():
    jb = _jb()
    pk = [(20 * k + 1, k) for k in range(30)] + [(20 * k + 1, k) for k in range(40, 60)]
    out = simulate(jb, pk, 70)
    assert played(out) == list(range(30)) + list(range(40, 60))
    assert jb.stats["underruns"] == 2  # the pause, and the end
    assert jb.stats["held"] == 8  # 4 misses each time before the 5th makes it an underrun
