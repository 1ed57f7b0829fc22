"""Exceptions of the SIP stack.

A parse error carries the response status to answer with, so the layer that
owns the socket can reply (or drop) without knowing why the parser failed.
"""

# Reason phrases for the statuses the message layer itself produces.
_REASONS = {
    400: "Bad Request",
    413: "Request Entity Too Large",
    416: "Unsupported URI Scheme",
    505: "Version Not Supported",
    513: "Message Too Large",
}


class SipError(Exception):
    """Base of every error the SIP stack raises on purpose."""


class SipParseError(SipError):
    """Malformed or unacceptable input.

    status: the response code a UAS should answer with (400 unless the RFC
    names a more precise one: 505 bad version, 513 too large, ...).
    reason: a short explanation, safe to use as the reason phrase.
    message: the partly parsed Request/Response when the start line and
    headers could be split, else None; it lets the caller build a reply.
    """

    def __init__(self, status=400, reason=None):
        if reason is None:
            reason = _REASONS.get(status, "Bad Request")
        super().__init__("%d %s" % (status, reason))
        self.status = status
        self.reason = reason
        self.message = None


def bad(reason, status=400):
    """Shorthand used by the parsers: SipParseError(status, reason)."""
    return SipParseError(status, reason)
