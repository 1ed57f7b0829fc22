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
"""

from sipdoor.media.stream import DtmfReceived as StreamDtmf
from sipdoor.media.stream import MediaTimeout, Stream
from sipdoor.net import Udp
from sipdoor.sip import events as sip

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
                 jitter_max_ms=200, inband_dtmf="auto"):
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

    def now(self):
        return self.loop.clock.now()

    # -- call events ---------------------------------------------------------------

    def handle(self, ev):
        if isinstance(ev, sip.CallAnswered):
            self.start(ev.call, ev.negotiated)
        elif isinstance(ev, (sip.CallHeld, sip.CallResumed, sip.CallUpdated)):
            leg = self.legs.get(ev.call)
            if leg is not None:
                leg.stream.update(ev.negotiated)
        elif isinstance(ev, sip.CallEnded):
            self.stop(ev.call)

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
        if self._tick_timer is None:
            self._tick_timer = self.loop.every(stream.ptime or self.ptime, self._tick)
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
        self.log.info("call %s: media ended: %d packets in, %d out, %d lost", handle, stats["packets_in"],
                      stats["packets_out"], stats["lost"])
        if self.current == handle:
            self.current = None
            for other in self.legs:
                self.current = other
                break
        if not self.legs and self._tick_timer is not None:
            self._tick_timer.cancel()
            self._tick_timer = None

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
        for handle in list(self.legs):
            leg = self.legs.get(handle)
            if leg is None:
                continue
            if handle == self.current:
                self.audio.read_into(self._mic)
                out = leg.stream.tick(now, self._mic)
                self.audio.write(out)
            else:
                leg.stream.tick(now, self._silence)
            self._flush(leg)

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
