"""Sans-IO SIP user agent (RFC 3261 and friends)."""
