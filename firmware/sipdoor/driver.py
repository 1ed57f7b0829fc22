"""Drive a sans-IO protocol object (the SIP user agent) from the loop.

The object takes datagrams and the time, and hands back datagrams to send,
events and its next deadline. The driver does the I/O: reads the socket
when the poller says so, sends what is queued, passes events on, and keeps
one loop timer at the object's earliest deadline. It runs as a wake hook
too, so whatever the app asked of the object during an event goes out in
the same loop turn.
"""

MAX_ROUNDS = 8  # events -> app -> more datagrams -> ... settles in a few rounds


class Random:
    """getrandbits(n <= 32) from the OS's random source (os.urandom on both
    runtimes): tags, branches, cnonces and SSRCs must not be guessable."""

    def __init__(self):
        import os

        self._urandom = os.urandom

    def getrandbits(self, n):
        b = self._urandom(4)
        v = b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)
        return v & ((1 << n) - 1) if n < 32 else v


class SipDriver:
    def __init__(self, loop, sock, ua, emit, log):
        self.loop = loop
        self.sock = sock
        self.ua = ua
        self.emit = emit
        self.log = log
        self._timer = None
        self._deadline = None
        self.sent = 0
        self.received = 0
        loop.poller.register(sock.sock, self._readable)
        loop.wake_hooks.append(self.pump)

    def now(self):
        return self.loop.clock.now()

    def _readable(self, _obj):
        short = self.sock.short_reads
        for _ in range(16):  # a burst is read in one go, but never forever
            data, addr = self.sock.recv()
            if data is None:
                break
            self.received += 1
            self.ua.receive_datagram(data, addr, self.now())
        if self.sock.short_reads != short:
            self.log.warning("SIP: heap too fragmented for a full receive buffer (%d short reads, %d dropped)",
                             self.sock.short_reads, self.sock.dropped)
        self.pump()

    def pump(self):
        for _ in range(MAX_ROUNDS):
            out = self.ua.datagrams_to_send()
            events = self.ua.events()
            if not out and not events:
                break
            for data, dest in out:
                try:
                    self.sock.send(data, dest)
                    self.sent += 1
                except OSError as e:  # no route, network down: the UA's timers retry
                    self.log.warning("cannot send to %s:%d: %s", dest[0], dest[1], e)
            for ev in events:
                self.emit(ev)
        self._reschedule()

    def _reschedule(self):
        when = self.ua.get_timer()
        if when == self._deadline and (self._timer is not None or when is None):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadline = when
        if when is not None:
            self._timer = self.loop.call_at(when, self._due)

    def _due(self):
        self._timer = None
        self._deadline = None
        self.ua.handle_timer(self.now())
        self.pump()
