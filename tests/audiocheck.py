"""Checks on recorded call audio and captured RTP, for the media interop tests.

gaps(): runs of near-zero samples in a recording (a lost or late frame
that nothing concealed). level_db(): RMS in dB relative to a sine of a
given amplitude. rtp_streams(): tshark's `-z rtp,streams` table as dicts.
"""

import math
import re

import peers


def gaps(samples, rate=8000, threshold=200, min_ms=3):
    """[(start_ms, length_ms)] of runs of |sample| < threshold lasting at
    least min_ms. A tone's zero crossings are a sample or two long, so a
    few ms is never the tone itself."""
    out = []
    need = max(1, rate * min_ms // 1000)
    run = 0
    start = 0
    for i, s in enumerate(samples):
        if -threshold < s < threshold:
            if run == 0:
                start = i
            run += 1
        else:
            if run >= need:
                out.append((start * 1000.0 / rate, run * 1000.0 / rate))
            run = 0
    if run >= need:
        out.append((start * 1000.0 / rate, run * 1000.0 / rate))
    return out


def longest_gap_ms(samples, rate=8000, threshold=200):
    found = gaps(samples, rate, threshold)
    return max([g[1] for g in found]) if found else 0.0


def rms(samples):
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def level_db(samples, amplitude):
    """RMS of samples relative to a full sine of that amplitude, in dB (0 = same)."""
    r = rms(samples)
    if r <= 0:
        return -120.0
    return 20 * math.log10(r / (amplitude / math.sqrt(2)))


def zero_cross_frequency(samples, rate=8000):
    """Frequency (Hz) of a short stretch of one tone, by zero crossings."""
    crossings = sum(1 for a, b in zip(samples, samples[1:]) if (a < 0) != (b < 0))
    return crossings / 2.0 / (len(samples) / float(rate))


def voiced_span(samples, threshold=500):
    """(first, last+1) indices of the loud part of a recording."""
    idx = [i for i, s in enumerate(samples) if abs(s) > threshold]
    if not idx:
        return 0, 0
    return idx[0], idx[-1] + 1


def rtp_streams(pcap, decode_as=()):
    """tshark -z rtp,streams rows as dicts: src, sport, dst, dport, ssrc,
    payload, packets, lost, max_delta_ms, max_jitter_ms, mean_jitter_ms,
    problem (tshark's "X": sequence errors, wrong timestamps...)."""
    text = peers.tshark_read(pcap, *peers.dissect_args(decode_as=decode_as), "-q", "-z", "rtp,streams")
    rows = []
    pat = (r"\s*[\d.]+\s+[\d.]+\s+(\d+\.\d+\.\d+\.\d+)\s+(\d+)\s+(\d+\.\d+\.\d+\.\d+)\s+(\d+)"
           r"\s+(0x[0-9A-Fa-f]+)\s+(.+?)\s+(\d+)\s+(-?\d+) \([^)]*\)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)"
           r"\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*(X?)\s*$")
    for line in text.splitlines():
        m = re.match(pat, line)
        if not m:
            continue
        g = m.groups()
        rows.append({"src": g[0], "sport": int(g[1]), "dst": g[2], "dport": int(g[3]), "ssrc": g[4],
                     "payload": g[5], "packets": int(g[6]), "lost": int(g[7]),
                     "max_delta_ms": float(g[10]), "mean_jitter_ms": float(g[12]),
                     "max_jitter_ms": float(g[13]), "problem": g[14] == "X", "line": line})
    return rows, text


def check_tone_samples(samples, rate, freq, what, amplitude=8000, max_gap_ms=20, skip_ms=200):
    """A recording (samples at rate) holds freq, at amplitude's level within
    3 dB and within 1% of freq, with no gap longer than max_gap_ms after the
    first skip_ms of its loud part; returns the figures."""
    a, b = voiced_span(samples)
    voiced = samples[a + rate * skip_ms // 1000:b]
    assert len(voiced) > rate, "%s: %d samples of tone" % (what, len(voiced))
    got = {"gap_ms": longest_gap_ms(voiced, rate),
           "level_db": level_db(voiced, amplitude),
           "freq": peers.dominant_frequency(voiced, rate),
           "seconds": len(voiced) / float(rate)}
    assert got["gap_ms"] <= max_gap_ms, "%s: gaps %r" % (what, gaps(voiced, rate)[:10])
    assert abs(got["level_db"]) <= 3, (what, got)
    assert abs(got["freq"] - freq) <= freq * 0.01, (what, got)
    return got
