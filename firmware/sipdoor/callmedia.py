"""Each call's media on real sockets: RTP/RTCP ports, the audio tick, events.

The SIP user agent picks a call's RTP port from RtpPorts when it builds the
SDP, so the port is bound before it is offered (never a port some other
program holds). CallMedia listens to the call events: an answered call gets
a media.stream.Stream on those sockets; hold, resume and media changes
update it; the end sends RTCP BYE and frees the ports.

The audio clock is one loop timer every ptime ms, scheduled from absolute
deadlines (loop.every), running only while a call has media. The call in
progress gets the microphone and the speaker; a second stream (there is at
most one answered call, but a crossing answer may briefly make two) sends
silence. Digits the stream hears (RFC 4733 or in-band) become the same
DtmfReceived event the SIP INFO path gives, so door codes work either way.

Door-speaker tones (media/tones.py, each generated once): ringback from the
first CallRinging of a call we make until it is answered or every ringing
leg ended; busy for busy_s on NobodyAnswered; beeps on DoorOpened (confirm),
a rejected code or a lockout (error) and CallEndingSoon (warning). Beeps
also replace the microphone in the call while they play, so the resident
hears them too; any tone replaces what the speaker plays meanwhile. The
tick also runs while a tone plays without a call.

Echo control. Acoustic echo cancellation (media/aec.py: speexdsp's
adaptive filter, CPython only) runs on each microphone frame of the call in
progress, with the frame last written to the speaker as its reference,
before anything else touches the frame. It runs when echo_cancel is "on" or
"auto" (the constructor's argument, else the audio device's echo_cancel
attribute, which the rpi and esp32 backends set from the board's
audio.echo_cancel; WAV files and the sim board have none: off). Where
speexdsp cannot be imported (MicroPython, a Pi without it) the station
keeps ducking only, and says so once at start.

Echo ducking (media/duck.py, off unless ducking_db > 0): while the far end
talks, the microphone frame sent is attenuated by ducking_db. With the
canceller running, the ducker stays as a residual echo suppressor, at most
AEC_DUCK_DB deep: the linear canceller removes most of the echo (20 dB and
more once converged) but not what a small speaker adds non-linearly, and a
shallow duck hides that rest while the resident still hears the visitor
talking over them.

A "dtmf_keyed" event (digits) sends those keys into the call in progress
(RFC 4733, or tones without a telephone-event).

At each call's end the log says the longest gap between two ticks and, on
MicroPython, the heap seen at ticks during the call (gc.mem_alloc): the
peak (garbage included) and the highest value just after a collection
(about the live data).
"""

try:
    import gc
except ImportError:  # pragma: no cover
    gc = None

from sipdoor.clock import ticks_diff
from sipdoor.media import aec
from sipdoor.media.duck import Ducker
from sipdoor.media.stream import DtmfReceived as StreamDtmf
from sipdoor.media.stream import MediaTimeout, Stream
from sipdoor.media.tones import ToneSource
from sipdoor.net import Udp
from sipdoor.sip import events as sip

# Purpose -> tones.PRESETS name (the constructor's tones= overrides, e.g. "ringback_us").
TONES = {"ringback": "ringback", "busy": "busy", "confirm": "confirm", "error": "error",
         "warning": "warning", "bell": "bell"}
_BEEPS = ("confirm", "error", "warning", "bell")
_HAS_HEAP = gc is not None and hasattr(gc, "mem_alloc")

# Ducking depth while the echo canceller runs (a residual echo suppressor).
AEC_DUCK_DB = 10

FIRST_PORT = 40000
LAST_PORT = 40998


class RtpPorts:
    """Even RTP ports with the RTCP port above, bound when handed out."""

    def __init__(self, host, first=FIRST_PORT, last=LAST_PORT):
        self.host = host
        self.first = first
        self.last = last
        self.next = first
        self.socks = {}  # port -> (rtp Udp, rtcp Udp)
        self.released = []  # ports the UA is done with, still used by media
        self.in_media = []

    def allocate(self):
        tries = (self.last - self.first) // 2 + 1
        for _ in range(tries):
            port = self.next
            self.next = port + 2 if port + 2 <= self.last else self.first
            if port in self.socks:
                continue
            try:
                rtp = Udp(self.host, port)
            except OSError:
                continue
            try:
                rtcp = Udp(self.host, port + 1)
            except OSError:
                rtp.close()
                continue
            self.socks[port] = (rtp, rtcp)
            return port
        raise OSError("no free RTP port in %d-%d" % (self.first, self.last))

    def sockets(self, port):
        return self.socks.get(port)

    def release(self, port):
        """The UA forgot the call; close now unless media still runs."""
        if port in self.in_media:
            self.released.append(port)
        else:
            self._close(port)

    def media_started(self, port):
        if port not in self.in_media:
            self.in_media.append(port)

    def media_done(self, port):
        if port in self.in_media:
            self.in_media.remove(port)
        if port in self.released:
            self.released.remove(port)
            self._close(port)

    def _close(self, port):
        pair = self.socks.pop(port, None)
        if pair is not None:
            pair[0].close()
            pair[1].close()

    def close_all(self):
        for port in list(self.socks):
            self._close(port)


class _Leg:
    def __init__(self, handle, port, stream, rtp, rtcp):
        self.handle = handle
        self.port = port
        self.stream = stream
        self.rtp = rtp
        self.rtcp = rtcp


class CallMedia:
    def __init__(self, loop, ua, ports, audio, rng, emit, log, ptime=20, jitter_min_ms=20,
                 jitter_max_ms=200, inband_dtmf="auto", tones=None, tone_level_dbfs=-13, busy_s=3,
                 ducking_db=0, ducking_threshold_dbfs=-36, ducking_hang_ms=300, echo_cancel=None,
                 echo_tail_ms=128):
        self.loop = loop
        self.ua = ua
        self.ports = ports
        self.audio = audio
        self.rng = rng
        self.emit = emit
        self.log = log
        self.ptime = ptime
        self.options = {"jitter_min_ms": jitter_min_ms, "jitter_max_ms": jitter_max_ms,
                        "inband_dtmf": inband_dtmf}
        self.legs = {}  # call handle -> _Leg
        self.current = None  # the handle that owns the microphone and speaker
        self._tick_timer = None
        self._mic = bytearray(ptime * 16)
        self._silence = bytes(ptime * 16)
        self.tone_names = dict(TONES)
        if tones:
            self.tone_names.update(tones)
        self.tone_level_dbfs = tone_level_dbfs
        self._busy_frames = busy_s * 1000 // ptime
        self._sources = {}  # purpose -> ToneSource, built at first use and kept
        self._tone = None  # the ToneSource playing
        self._tone_purpose = None
        self._tone_left = -1  # frames still to play (-1: until it ends or is stopped)
        self._ringing = []  # handles of our calls that rang (for ringback)
        self.aec = self._make_aec(audio if echo_cancel is None else None, echo_cancel, echo_tail_ms)
        self._far = bytearray(ptime * 16)  # the frame last written to the speaker: the AEC's reference
        self.ducker = None
        if ducking_db and ducking_db > 0:
            if self.aec is not None and ducking_db > AEC_DUCK_DB:
                ducking_db = AEC_DUCK_DB
            self.ducker = Ducker(ducking_db, ducking_threshold_dbfs, ducking_hang_ms, ptime)
        self._last_tick = None
        self._max_gap = 0
        self._heap_peak = 0
        self._heap_live = 0
        self._heap_last = 0

    def _make_aec(self, audio, mode, tail_ms):
        if mode is None:
            mode = getattr(audio, "echo_cancel", "off")
        if mode is True:
            mode = "on"
        elif not mode:
            mode = "off"
        if mode == "off":
            return None
        canceller = aec.make(self.ptime * 8, tail_ms, 8000)
        if canceller is None:
            say = self.log.warning if mode == "on" else self.log.info
            say("echo cancelling is not available here (no speexdsp): echo ducking only")
        else:
            self.log.info("echo cancelling on (speexdsp, %d ms tail)", tail_ms)
        return canceller

    def now(self):
        return self.loop.clock.now()

    # -- call events ---------------------------------------------------------------

    def handle(self, ev):
        kind = ev.kind
        if isinstance(ev, sip.CallAnswered):
            self._ringing = []
            if self._tone_purpose == "ringback":
                self.stop_tone()
            self.start(ev.call, ev.negotiated)
        elif isinstance(ev, (sip.CallHeld, sip.CallResumed, sip.CallUpdated)):
            leg = self.legs.get(ev.call)
            if leg is not None:
                leg.stream.update(ev.negotiated)
        elif isinstance(ev, sip.CallEnded):
            self.stop(ev.call)
            if ev.call in self._ringing:
                self._ringing.remove(ev.call)
                if not self._ringing and self._tone_purpose == "ringback":
                    self.stop_tone()
        elif isinstance(ev, sip.CallRinging):
            if ev.call not in self._ringing and not self.legs:
                self._ringing.append(ev.call)
                if self._tone_purpose != "ringback":
                    self.play("ringback")
        elif kind == "nobody_answered":
            self._ringing = []
            self.play("busy", self._busy_frames)
        elif kind == "door_opened":
            self.play("confirm")
        elif kind == "call_ending_soon":
            self.play("warning")
        elif kind == "bell_in_call":
            self.play("bell")  # a visitor rang while a resident watches: they hear it
        elif kind == "door_code" and getattr(ev, "state", None) in ("rejected", "locked_out"):
            self.play("error")
        elif kind == "dtmf_keyed" and self.current is not None:
            # keys pressed at the station (the sim's "dtmf DIGITS", a keypad)
            self.send_dtmf(self.current, ev.digits)

    # -- tones ---------------------------------------------------------------------

    def play(self, purpose, frames=-1):
        """Play a tone (a TONES purpose) on the door speaker; beeps go into the call too."""
        src = self._sources.get(purpose)
        if src is None:
            name = self.tone_names.get(purpose)
            if not name:
                return
            try:
                src = ToneSource(name, self.tone_level_dbfs, self.ptime * 8)
            except ValueError as e:
                self.log.error("tone %s: %s", purpose, e)
                return
            self._sources[purpose] = src
        src.reset()
        self._tone = src
        self._tone_purpose = purpose
        self._tone_left = frames
        self._ensure_tick(self.ptime)

    def stop_tone(self):
        self._tone = None
        self._tone_purpose = None
        self._tone_left = -1
        self._maybe_stop_tick()

    def tone_playing(self):
        return self._tone_purpose

    def _next_tone_frame(self):
        src = self._tone
        if src is None:
            return None
        frame = src.next()
        if self._tone_left > 0:
            self._tone_left -= 1
        if frame is None or src.done or self._tone_left == 0:
            self._tone = None
            self._tone_purpose = None
            self._tone_left = -1
        return frame

    def _ensure_tick(self, period):
        if self._tick_timer is None:
            self._last_tick = None
            self._tick_timer = self.loop.every(period, self._tick)

    def _maybe_stop_tick(self):
        if not self.legs and self._tone is None and self._tick_timer is not None:
            self._tick_timer.cancel()
            self._tick_timer = None

    def start(self, handle, negotiated):
        call = self.ua.calls.get(handle)
        if call is None or handle in self.legs:
            return
        pair = self.ports.sockets(call.rtp_port)
        if pair is None:
            self.log.error("call %s: no RTP socket on port %d", handle, call.rtp_port)
            return
        stream = Stream(negotiated, self.rng, self.now(), self.log, self.options["jitter_min_ms"],
                        self.options["jitter_max_ms"], inband_dtmf=self.options["inband_dtmf"])
        leg = _Leg(handle, call.rtp_port, stream, pair[0], pair[1])
        self.legs[handle] = leg
        self.ports.media_started(call.rtp_port)
        self.loop.poller.register(leg.rtp.sock, lambda _s, leg=leg: self._readable(leg, True))
        self.loop.poller.register(leg.rtcp.sock, lambda _s, leg=leg: self._readable(leg, False))
        if self.current is None:
            self.current = handle
        if self.ducker is not None:
            self.ducker.reset()
        far = self._far
        for i in range(len(far)):
            far[i] = 0
        self._max_gap = 0
        self._heap_peak = 0
        self._heap_live = 0
        self._heap_last = 0
        period = stream.ptime or self.ptime
        t = self._tick_timer
        if t is not None and len(self.legs) == 1 and t.period != period:
            t.cancel()  # a tone's tick at another period: the call's clock wins
            self._tick_timer = None
        self._ensure_tick(period)
        self.log.info("call %s: media %s to %s:%d, local port %d", handle, negotiated["codec"],
                      negotiated["remote_addr"], negotiated["remote_port"], call.rtp_port)

    def stop(self, handle):
        leg = self.legs.pop(handle, None)
        if leg is None:
            return
        leg.stream.close(self.now())
        self._flush(leg)
        self.loop.poller.unregister(leg.rtp.sock)
        self.loop.poller.unregister(leg.rtcp.sock)
        self.ports.media_done(leg.port)
        stats = leg.stream.stats()
        self.log.info("call %s: media ended: %d packets in, %d out, %d lost, longest tick gap %d ms", handle,
                      stats["packets_in"], stats["packets_out"], stats["lost"], self._max_gap)
        if _HAS_HEAP:
            self.log.info("call %s: heap peak %d bytes allocated, %d live after a collection, %d free now",
                          handle, self._heap_peak, self._heap_live, gc.mem_free())
        if self.aec is not None and self.aec.frames:
            self.log.info("call %s: echo canceller ran on %d frames", handle, self.aec.frames)
            self.aec.frames = 0
        if self.ducker is not None and self.ducker.ducked_frames:
            self.log.info("call %s: microphone ducked for %d frames", handle, self.ducker.ducked_frames)
            self.ducker.ducked_frames = 0
        if self.current == handle:
            self.current = None
            for other in self.legs:
                self.current = other
                break
        self._maybe_stop_tick()

    def send_dtmf(self, handle, digits):
        leg = self.legs.get(handle)
        if leg is not None:
            leg.stream.send_dtmf(digits, self.now())

    # -- I/O -------------------------------------------------------------------------

    def _readable(self, leg, is_rtp):
        sock = leg.rtp if is_rtp else leg.rtcp
        now = self.now()
        for _ in range(8):
            data, addr = sock.recv(2048)
            if data is None:
                break
            if is_rtp:
                leg.stream.receive_rtp(data, addr, now)
            else:
                leg.stream.receive_rtcp(data, addr, now)
        self._flush(leg)

    def _tick(self):
        now = self.now()
        last = self._last_tick
        if last is not None:
            gap = ticks_diff(now, last)
            if gap > self._max_gap:
                self._max_gap = gap
        self._last_tick = now
        if _HAS_HEAP:
            used = gc.mem_alloc()
            if used > self._heap_peak:
                self._heap_peak = used
            if used < self._heap_last and used > self._heap_live:
                self._heap_live = used  # just after a collection: about what is live
            self._heap_last = used
        purpose = self._tone_purpose
        tone = self._next_tone_frame()
        if not self.legs:
            if tone is not None:
                self.audio.write(tone)
            self._maybe_stop_tick()
            return
        for handle in list(self.legs):
            leg = self.legs.get(handle)
            if leg is None:
                continue
            if handle == self.current:
                mic = self._mic
                self.audio.read_into(mic)
                canceller = self.aec
                if canceller is not None and len(mic) == canceller.frame_bytes:
                    canceller.near(mic, self._far)  # every frame, so the filter keeps its timing
                if tone is not None and purpose in _BEEPS:
                    out = leg.stream.tick(now, tone)
                else:
                    if self.ducker is not None:
                        self.ducker.near(mic, self._silence)
                    out = leg.stream.tick(now, mic)
                if self.ducker is not None:
                    self.ducker.far(out)
                played = out if tone is None else tone
                self.audio.write(played)
                if canceller is not None:
                    if played is not None and len(played) == len(self._far):
                        self._far[:] = played
                    else:
                        self._far[:] = self._silence
            else:
                leg.stream.tick(now, self._silence)
            self._flush(leg)
        if self._tone is None:
            self._maybe_stop_tick()

    def _flush(self, leg):
        for data, dest, kind in leg.stream.datagrams_to_send():
            sock = leg.rtp if kind == "rtp" else leg.rtcp
            sock.send(data, dest)
        for ev in leg.stream.events():
            if isinstance(ev, StreamDtmf):
                self.emit(sip.DtmfReceived(leg.handle, ev.digit, ev.source))
            elif isinstance(ev, MediaTimeout):
                self.log.warning("call %s: no RTP for %d s: ending the call", leg.handle, ev.seconds)
                self.ua.media_timeout(leg.handle, self.now())
            else:
                ev.call = leg.handle
                self.emit(ev)

    def close(self):
        for handle in list(self.legs):
            self.stop(handle)
        self.ports.close_all()
