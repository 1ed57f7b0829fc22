"""One call's state and its offer/answer bookkeeping (RFC 3261 13-15, RFC 3264).

The UA (ua.py) moves a Call through these states; they are listed here so
the whole life of a call reads in one place:

  outgoing:  calling --1xx--> ringing --2xx--> confirmed --BYE--> ended
             calling/ringing --cancel()--> cancelling --487/timeout--> ended
             calling/ringing --300-699 or timer B--> ended
  incoming:  incoming --answer()--> answered --ACK--> confirmed
             incoming --reject()/CANCEL--> ended
             answered --no ACK in 64*T1--> ended (BYE sent)
  confirmed: BYE either way, an in-dialog keep-alive that gets no answer
             (peer gone), or a media timeout from the app --> ended

A re-INVITE (hold, resume, new address) runs inside confirmed; only one at a
time per direction: a peer's re-INVITE while ours is pending gets 491
(14.2), and ours that gets 491 is retried after a random 2.1-4 s (14.1).
"""

from sipdoor.sip import sdp

CALLING = "calling"
RINGING = "ringing"
CANCELLING = "cancelling"
INCOMING = "incoming"
ANSWERED = "answered"
CONFIRMED = "confirmed"
ENDED = "ended"

LIVE = (CALLING, RINGING, INCOMING, ANSWERED, CONFIRMED)


class Call:
    """What the UA knows of one call. handle is the name events use."""

    def __init__(self, handle, outgoing, target, rtp_port):
        self.handle = handle
        self.outgoing = outgoing
        self.target = target  # the URI called, or the caller's URI
        self.state = CALLING if outgoing else INCOMING
        self.rtp_port = rtp_port
        self.invite = None  # our INVITE (outgoing) or the peer's (incoming)
        self.invite_txn = None
        self.dialog = None
        self.local_sdp = None  # sdp.Session we sent last
        self.remote_offer = None  # the peer's last offer (incoming side)
        self.negotiated = None
        self.held_by_peer = False
        self.held_by_us = False
        self.provisional = False  # a 1xx came (CANCEL may go now, 9.1)
        self.cancel_wanted = False
        self.ack_wire = None  # our 2xx ACK, re-sent on 2xx retransmissions
        self.ok_response = None  # our 2xx to an INVITE, until its ACK
        self.ok_txn = None
        self.ok_interval = 0
        self.bye_after_ack = False
        self.reinvite_txn = None  # our pending re-INVITE
        self.reinvite_offer = None
        self.reinvite_retries = 0
        self.offer_in_ok = False  # the peer's INVITE had no SDP: answer comes in ACK
        self.src = None
        self.end_reason = None

    @property
    def live(self):
        return self.state in LIVE

    def __repr__(self):
        return "<Call %s %s %s>" % (self.handle, "out" if self.outgoing else "in", self.state)

    # -- offer / answer ------------------------------------------------------

    def make_offer(self, host, media, rng, direction="sendrecv"):
        """Our offer (a new one, or a re-offer keeping the o= line)."""
        offer = sdp.make_offer(host, self.rtp_port, media["codecs"], media["dtmf_pt"],
                               media["ptime"], direction, rng=rng, previous=self.local_sdp)
        return offer

    def answer_offer(self, offer, host, media, rng):
        """Answer the peer's offer; returns the answer Session. Raises
        sdp.SdpError (400) or sdp.NotAcceptable (488)."""
        direction = "sendonly" if self.held_by_us else "sendrecv"
        answer, negotiated = sdp.make_answer(offer, host, self.rtp_port, media["codecs"], direction,
                                             media["ptime"], rng=rng, previous=self.local_sdp)
        self.local_sdp = answer
        self.remote_offer = offer
        return answer, negotiated
