"""Audio path: G.711, RTP/RTCP, jitter buffer, DTMF, tones (sans-IO)."""
