"""SIP timer values (RFC 3261 section 17 and table 4; RFC 6026 timers L, M).

Every transaction timer is derived from T1, T2 and T4, so a deployment with a
slow or fast network changes three numbers, not twelve. Values in ms. UDP only:
the station has no reliable transport, so no timer is ever zero.
"""

T1 = 500  # RTT estimate
T2 = 4000  # longest retransmit interval for non-INVITE requests and INVITE responses
T4 = 5000  # longest time a message stays in the network
TRYING = 200  # INVITE server: send 100 Trying when the TU is silent this long (17.2.1)


class TimerConfig:
    """T1, T2, T4 and the timers built from them (all in milliseconds).

    d is "at least 32 s" over UDP (17.1.1.2), so it does not scale with T1.
    """

    def __init__(self, t1=T1, t2=T2, t4=T4, d=32000, trying=TRYING):
        if t1 <= 0 or t2 < t1 or t4 <= 0 or d <= 0 or trying <= 0:
            raise ValueError("bad SIP timer values")
        self.t1 = t1
        self.t2 = t2
        self.t4 = t4
        self.d = d
        self.trying = trying

    @property
    def b(self):
        """INVITE client gives up (A stops with it)."""
        return 64 * self.t1

    @property
    def f(self):
        """Non-INVITE client gives up."""
        return 64 * self.t1

    @property
    def h(self):
        """INVITE server stops waiting for the ACK of its final response."""
        return 64 * self.t1

    @property
    def i(self):
        """INVITE server absorbs ACK retransmissions after the first ACK."""
        return self.t4

    @property
    def j(self):
        """Non-INVITE server absorbs request retransmissions."""
        return 64 * self.t1

    @property
    def k(self):
        """Non-INVITE client absorbs response retransmissions."""
        return self.t4

    @property
    def l(self):  # noqa: E743 - the RFC's name
        """INVITE server in Accepted (RFC 6026): absorbs INVITE retransmissions."""
        return 64 * self.t1

    @property
    def m(self):
        """INVITE client in Accepted (RFC 6026): passes 2xx retransmissions up."""
        return 64 * self.t1

    def __repr__(self):
        return "<TimerConfig T1=%d T2=%d T4=%d>" % (self.t1, self.t2, self.t4)
