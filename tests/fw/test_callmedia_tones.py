"""CallMedia's door-speaker tones and echo ducking, on a fake clock (both runtimes)."""

import mediautil
import support
from sipdoor.app import BellInCall, CallEndingSoon, DoorOpened, NobodyAnswered
from sipdoor.callmedia import CallMedia, RtpPorts
from sipdoor.hal.base import Event
from sipdoor.doorcode import CodeAccepted, CodeLockout, CodeRejected
from sipdoor.media import g711
from sipdoor.net import Udp
from sipdoor.sip import events as sip


class Log:
    def __init__(self):
        self.lines = []

    def _add(self, msg, args):
        self.lines.append(msg % args if args else msg)

    def debug(self, msg, *args):
        self._add(msg, args)

    info = warning = error = debug


class Audio:
    """The speaker records whether each frame was loud (and keeps the first
    few frames); the mic gives a fixed frame. Small: the lane has 256K."""

    KEEP = 10

    def __init__(self, mic=None):
        self.played = []
        self.frames = []
        self.mic = mic

    def read_into(self, buf):
        if self.mic is None:
            for i in range(len(buf)):
                buf[i] = 0
        else:
            buf[:] = self.mic
        return len(buf)

    def write(self, buf):
        self.played.append(mediautil.rms(buf) > 300)
        if len(self.frames) < self.KEEP:
            self.frames.append(bytes(buf))


class Keyed(Event):
    kind = "dtmf_keyed"

    def __init__(self, digits):
        self.digits = digits


class Call:
    def __init__(self, port):
        self.rtp_port = port


class Ua:
    def __init__(self):
        self.calls = {}


def _media(audio=None, **kw):
    loop, clock = support.make_loop()
    ua = Ua()
    ports = RtpPorts("127.0.0.1", 41000, 41998)
    m = CallMedia(loop, ua, ports, audio or Audio(), mediautil.Rng(3), lambda ev: None, Log(), 20, **kw)
    return m, loop, clock, ua, ports


def test_ringback_from_first_ringing_until_answered():
    m, loop, clock, ua, ports = _media()
    m.handle(sip.CallRinging(1, "sip:a@x", 180))
    m.handle(sip.CallRinging(2, "sip:b@x", 180))
    assert m.tone_playing() == "ringback"
    support.run_for(loop, clock, 1500)
    played = m.audio.played
    assert 70 <= len(played) <= 76
    assert played[:55] == [True] * 50 + [False] * 5
    want = mediautil.amp(-13) ** 2 / 2
    assert abs(mediautil.tone_power(b"".join(m.audio.frames), 425) - want) < want / 10
    m.handle(sip.CallEnded(1, "sip:a@x", "cancelled"))
    assert m.tone_playing() == "ringback"  # leg 2 still rings
    m.handle(sip.CallAnswered(2, "sip:b@x", {}, True))  # no such UA call: no media
    assert m.tone_playing() is None
    n = len(played)
    support.run_for(loop, clock, 200)
    assert len(played) == n
    assert m._tick_timer is None


def test_ringback_stops_when_every_ringing_leg_ended():
    m, loop, clock, _, _ = _media()
    m.handle(sip.CallRinging(7, "sip:a@x", 180))
    support.run_for(loop, clock, 100)
    m.handle(sip.CallEnded(7, "sip:a@x", "cancelled"))
    assert m.tone_playing() is None
    assert m._tick_timer is None


def test_busy_for_three_seconds_when_nobody_answered():
    m, loop, clock, _, _ = _media()
    m.handle(sip.CallRinging(1, "sip:a@x", 180))
    support.run_for(loop, clock, 300)
    m.audio.played = []
    m.handle(NobodyAnswered("call", "no_answer"))
    assert m.tone_playing() == "busy"
    support.run_for(loop, clock, 4000)
    played = m.audio.played
    assert len(played) == 150
    assert played[:50] == [True] * 25 + [False] * 25
    assert m._tick_timer is None


def test_beeps_on_door_events():
    m, loop, clock, _, _ = _media()
    for ev, purpose in ((DoorOpened("door", "sip:a@x"), "confirm"),
                        (CodeRejected(1, 4), "error"), (CodeLockout(60, 5), "error"),
                        (CallEndingSoon(1, 10), "warning"), (BellInCall("call", 1), "bell")):
        m.handle(ev)
        assert m.tone_playing() == purpose, ev
        support.run_for(loop, clock, 2000)
        assert m.tone_playing() is None
        assert m._tick_timer is None
    m.handle(CodeAccepted("door", 0))
    assert m.tone_playing() is None
    # confirm: 880 Hz 100 ms, gap, 1320 Hz 160 ms
    played = m.audio.played
    assert played[:16] == [True] * 5 + [False] * 3 + [True] * 8


def test_tones_are_made_once():
    m, loop, clock, _, _ = _media()
    m.handle(DoorOpened("door", "x"))
    src = m._sources["confirm"]
    support.run_for(loop, clock, 1000)
    m.handle(DoorOpened("door", "x"))
    assert m._sources["confirm"] is src


def _call(m, ua, ports, peer_port, handle=1):
    port = ports.allocate()
    ua.calls[handle] = Call(port)
    neg = {"codec": "PCMU", "pt": 0, "remote_addr": "127.0.0.1", "remote_port": peer_port,
           "rtcp_port": peer_port + 1, "ptime": 20, "direction": "sendrecv"}
    m.handle(sip.CallAnswered(handle, "sip:a@x", neg, True))
    return port


def _sent_pcm(peer):
    """PCM of every RTP audio packet waiting on the peer socket."""
    out = []
    while True:
        data, _ = peer.recv(2048)
        if data is None:
            break
        if len(data) == 172 and data[1] & 0x7F == 0:
            pcm = bytearray(320)
            g711.ulaw_decode_into(memoryview(data)[12:], pcm)
            out.append(bytes(pcm))
    return out


def _send_rtp(sock, port, seq, pcm):
    pkt = bytearray(172)
    pkt[0] = 0x80
    pkt[2] = (seq >> 8) & 0xFF
    pkt[3] = seq & 0xFF
    ts = seq * 160
    pkt[4:8] = bytes([(ts >> 24) & 0xFF, (ts >> 16) & 0xFF, (ts >> 8) & 0xFF, ts & 0xFF])
    pkt[8:12] = b"\x12\x34\x56\x78"
    g711.ulaw_encode_into(pcm, memoryview(pkt)[12:])
    sock.send(bytes(pkt), ("127.0.0.1", port))


def test_a_beep_goes_into_the_call_and_ducking_quietens_the_mic():
    voice = mediautil.sines(160, [1000], -10)
    m, loop, clock, ua, ports = _media(Audio(voice), ducking_db=20, ducking_hang_ms=40)
    peer_port = 43010
    peer = Udp("127.0.0.1", peer_port)
    try:
        port = _call(m, ua, ports, peer_port)
        support.run_for(loop, clock, 100)
        sent = _sent_pcm(peer)
        assert len(sent) >= 4
        loud = mediautil.rms(voice)
        assert abs(mediautil.rms(sent[-1]) - loud) < loud * 0.1
        # the far end talks: the mic goes out 20 dB down, for the hang time after
        far = mediautil.sines(160, [440], -12)
        for seq in range(10):
            _send_rtp(peer, port, seq, far)
        m._readable(m.legs[1], True)
        support.run_for(loop, clock, 200)
        sent = _sent_pcm(peer)
        quiet = [mediautil.rms(f) for f in sent[3:]]
        assert quiet and max(quiet) < loud * 0.15, quiet
        support.run_for(loop, clock, 400)
        sent = _sent_pcm(peer)
        assert abs(mediautil.rms(sent[-1]) - loud) < loud * 0.1
        # a beep replaces the mic in the call while it plays
        m.handle(DoorOpened("door", "sip:a@x"))
        support.run_for(loop, clock, 100)
        sent = _sent_pcm(peer)
        assert mediautil.tone_power(b"".join(sent[-4:]), 880) > mediautil.amp(-16) ** 2 / 2
        # keys keyed at the station go out as RFC 4733 events (without a
        # negotiated telephone-event: as tones)
        m.handle(Keyed("5"))
        support.run_for(loop, clock, 300)
        assert m.legs[1].stream.counters["dtmf_out"] == 1
        m.handle(sip.CallEnded(1, "sip:a@x", "hangup"))
        assert not m.legs
        assert [l for l in m.log.lines if "longest tick gap" in l]
    finally:
        peer.close()
        m.close()
