"""What the user agent tells the application: facts, in the past tense.

Every event is JSON-friendly (to_dict): calls are named by their handle
("c1", "c2", ...), never by object, so the same event goes to the app, the
JSON line view, the event log and MQTT unchanged.
"""

from sipdoor.hal.base import Event


class Registered(Event):
    kind = "registered"

    def __init__(self, aor, expires, contact):
        self.aor = aor
        self.expires = expires
        self.contact = contact


class RegistrationFailed(Event):
    kind = "registration_failed"

    def __init__(self, aor, reason, status, retry_in_s):
        self.aor = aor
        self.reason = reason
        self.status = status  # the SIP status, or 0 for a timeout
        self.retry_in_s = retry_in_s


class Unregistered(Event):
    kind = "unregistered"

    def __init__(self, aor):
        self.aor = aor


class IncomingCall(Event):
    """A new INVITE. The app must answer() or reject() it (or leave it
    ringing). trusted: it came through our registrar/proxy or, without an
    account, from anywhere (peer-to-peer mode)."""

    kind = "incoming_call"

    def __init__(self, call, caller, display, src, trusted):
        self.call = call
        self.caller = caller  # the From URI, as text
        self.display = display
        self.src = "%s:%d" % (src[0], src[1])
        self.trusted = trusted


class CallRinging(Event):
    kind = "call_ringing"

    def __init__(self, call, target, status):
        self.call = call
        self.target = target
        self.status = status


class CallAnswered(Event):
    """Media may flow: negotiated is sdp's dict (codec, remote address...)."""

    kind = "call_answered"

    def __init__(self, call, target, negotiated, outgoing):
        self.call = call
        self.target = target
        self.negotiated = negotiated
        self.outgoing = outgoing


class CallHeld(Event):
    kind = "call_held"

    def __init__(self, call, by, negotiated):
        self.call = call
        self.by = by  # "peer" or "us"
        self.negotiated = negotiated


class CallResumed(Event):
    kind = "call_resumed"

    def __init__(self, call, by, negotiated):
        self.call = call
        self.by = by
        self.negotiated = negotiated


class CallUpdated(Event):
    """A re-INVITE changed the media (address, codec) without hold."""

    kind = "call_updated"

    def __init__(self, call, negotiated):
        self.call = call
        self.negotiated = negotiated


class CallEnded(Event):
    """reason: hangup_local, hangup_remote, cancelled, rejected, busy,
    declined, no_answer, timeout, failed, answered_elsewhere, error."""

    kind = "call_ended"

    def __init__(self, call, target, reason, status=0):
        self.call = call
        self.target = target
        self.reason = reason
        self.status = status


class DtmfReceived(Event):
    kind = "dtmf"

    def __init__(self, call, digit, source):
        self.call = call
        self.digit = digit
        self.source = source  # "info", "rfc4733" or "inband"


class MessageReceived(Event):
    kind = "message_received"

    def __init__(self, sender, text, content_type, trusted):
        self.sender = sender
        self.text = text
        self.content_type = content_type
        self.trusted = trusted


class MessageSent(Event):
    kind = "message_sent"

    def __init__(self, target, status, reason):
        self.target = target
        self.status = status  # 0: no answer at all
        self.reason = reason
