"""G.711 on CPython: the "table" and "numpy" variants of media/g711.py.

A module of its own so MicroPython never loads this code (g711.py imports it
only on CPython): it would cost a board about 2 KiB of .mpy and 3 KiB of heap
for nothing. g711.py documents the variants; variants() returns them.
"""

# CPython runs a Python-level loop at ~30 ns per step, so "table" keeps every
# per-sample step inside C: bytes.translate (an 8-bit lookup), extended slices
# (deinterleave / interleave) and int.from_bytes / int.to_bytes, where one
# Python int holds a whole frame and &, |, ^, +, shifts act on every byte
# (or 16-bit) lane at once. No op carries across lanes (see each encoder).
# An 8-bit lookup cannot see a 12- or 14-bit sample, so each encoder splits
# the code into a part looked up from the high byte (TH) and a part looked up
# from a byte made of TH's segment bits and the low byte's top bits (TL):
#
#     code = TH[hi] ^ TL[segment(TH[hi]) | top bits of lo]
#
# TH and TL are 256 bytes each, derived at import from ULAW_ENCODE /
# ALAW_ENCODE by a loop that visits every distinct input of the encoder and
# checks the split gives that table's code (ImportError otherwise): so the
# generated tables stay the single source of truth. MicroPython never imports
# this module, so a board holds none of its code.

import codecs as _codecs

from sipdoor.media import g711_tables as _tables
from sipdoor.media.g711 import _ALAW_SHIFT, _ULAW_SHIFT, Codec, _reject

VARIANTS = {}
_from_bytes = int.from_bytes
_MASKS_KEPT = 8  # frame lengths whose lane masks are cached, per law


def _split_error(law):
    return ImportError("g711: the %s tables do not split into TH/TL; see g711.py" % law)


def _alaw_split(enc):
    """TH, TL for A-law: code = TH[h] ^ TL[(TH[h] & 0xF0) | (l >> 4)].

    A-law looks at x >> 4 and its segments start at powers of two, so
    they line up with the high byte h: for |x| >= 4096 the code depends
    on h alone; below, on h and the top 1..4 bits of the low byte l.
    TH[h] is the code of the sample h << 8; its top nibble (sign,
    segment) says how many of l's bits count and which way round, so TL,
    indexed by it and l >> 4, gives the mantissa bits that differ.
    """
    th = bytearray(256)
    tl = bytearray(256)
    seen = bytearray(256)
    for h in range(256):
        base = enc[h << 4]  # the code of h << 8: low byte 0
        th[h] = base
        for l4 in range(16):
            i = (base & 0xF0) | l4
            flip = enc[(h << 4) | l4] ^ base
            if seen[i] and tl[i] != flip:
                raise _split_error("A-law")
            seen[i] = 1
            tl[i] = flip
    return bytes(th), bytes(tl)


def _ulaw_split(enc):
    """TH, TL for u-law: code = TH[b >> 8] ^ TL[(TH[b >> 8] & 0xE0) | ((b & 0xFF) >> 3)].

    u-law looks at x >> 2 plus a bias of 33 (132 in 16-bit units), so its
    segments line up with bytes only after the bias is added: the encoder
    folds a negative x to ~x (G.191's one's complement), computes
    b = (x & ~3) + 132 (at most 32897: no carry out of a 16-bit lane) and
    looks up b's high byte in TH. TH holds the code of the first positive
    sample in that block with its bits 4-7 (the same for a whole segment)
    replaced by 7 - segment in bits 5-7, which says how many of the low
    byte's bits 3-7 count; so TL, indexed by those two, gives the mantissa
    bits to flip in and undoes the replacement. The sign clears bit 7: the
    encoder carries it in bit 0 of b, which no lookup reads.
    """
    # The samples that fold to x >> 2 == k sit at 16383 - k: same code, bit 7 clear.
    if enc[::-1] != enc.translate(bytes(c ^ 0x80 for c in range(256))):
        raise _split_error("u-law")
    th = bytearray(256)
    tl = bytearray(256)
    seen = bytearray(256)
    have = bytearray(256)
    for x in range(0, 0x8000, 4):  # x & ~3 of every folded sample
        code = enc[x >> 2]
        b = x + 132
        hb = b >> 8
        if not have[hb]:  # the first sample in the block
            have[hb] = 1
            th[hb] = (code & 0x0F) | (code & 0x70) << 1  # bits 4-6 are 7 - segment
        i = (th[hb] & 0xE0) | ((b & 0xFF) >> 3)
        flip = code ^ th[hb]
        if seen[i] and tl[i] != flip:
            raise _split_error("u-law")
        seen[i] = 1
        tl[i] = flip
    return bytes(th), bytes(tl)


def _lanes(pattern, n):
    """An int holding n copies of the little-endian byte string pattern."""
    return _from_bytes(pattern * n, "little")


def _mask_cache(make):
    """masks(n) -> make(n), kept for the first few frame lengths seen."""
    kept = {}

    def masks(n):
        m = make(n)
        if len(kept) < _MASKS_KEPT:
            kept[n] = m
        return m

    return kept, masks

# encode_into repeats encode's steps rather than calling it: on CPython a
# nested call costs about 5% of a frame here. Keep the two in step.


def _ulaw_codec(th, tl):
    """encode, encode_into for u-law: 16-bit lanes, then 8-bit lanes."""
    kept, masks = _mask_cache(lambda n: (
        _lanes(b"\x01\x00", n), _lanes(b"\xfc\xff", n), _lanes(b"\x84\x00", n),
        _lanes(b"\xe0", n), _lanes(b"\x1f", n), _lanes(b"\x01", n)))

    def encode(pcm, fb=_from_bytes, get=kept.get):
        n = len(pcm) >> 1
        if len(pcm) & 1:
            _reject(pcm, b"", 2)
        if not n:
            return b""
        one, not3, bias, me0, m1f, m01 = get(n) or masks(n)
        x = fb(pcm, "little")
        s = (x >> 15) & one  # 1 in each negative lane
        # fold (x ^ 0xFFFF is ~x in a lane), drop the 2 bits u-law ignores,
        # add the bias and put the sign in bit 0
        b = (((x ^ (s * 0xFFFF)) & not3) + (bias | s)).to_bytes(2 * n, "little")
        t = fb(b[1::2].translate(th), "little")
        lo = fb(b[0::2], "little")
        i = ((t & me0) | ((lo >> 3) & m1f)).to_bytes(n, "little")
        return (fb(i.translate(tl), "little") ^ t ^ ((lo & m01) << 7)).to_bytes(n, "little")

    def encode_into(pcm, dst, fb=_from_bytes, get=kept.get):
        n = len(pcm) >> 1
        if len(pcm) & 1 or len(dst) < n:
            _reject(pcm, dst, 2)
        if n:
            one, not3, bias, me0, m1f, m01 = get(n) or masks(n)
            x = fb(pcm, "little")
            s = (x >> 15) & one
            b = (((x ^ (s * 0xFFFF)) & not3) + (bias | s)).to_bytes(2 * n, "little")
            t = fb(b[1::2].translate(th), "little")
            lo = fb(b[0::2], "little")
            i = ((t & me0) | ((lo >> 3) & m1f)).to_bytes(n, "little")
            # CPython copies bytes stored into a bytearray's slice twice;
            # still cheaper than making a memoryview of dst first.
            dst[:n] = (fb(i.translate(tl), "little") ^ t ^ ((lo & m01) << 7)).to_bytes(n, "little")
        return n

    return encode, encode_into


def _alaw_codec(th, tl):
    """encode, encode_into for A-law: high and low bytes apart, as 8-bit lanes."""
    kept, masks = _mask_cache(lambda n: (_lanes(b"\xf0", n), _lanes(b"\x0f", n)))

    def encode(pcm, fb=_from_bytes, get=kept.get, bytes=bytes, bytearray=bytearray):
        n = len(pcm) >> 1
        if len(pcm) & 1:
            _reject(pcm, b"", 2)
        if not n:
            return b""
        mf0, m0f = get(n) or masks(n)
        if type(pcm) is not bytes and type(pcm) is not bytearray:
            pcm = bytes(pcm)  # a memoryview's slices have no translate
        t = fb(pcm[1::2].translate(th), "little")
        i = ((t & mf0) | ((fb(pcm[0::2], "little") >> 4) & m0f)).to_bytes(n, "little")
        return (fb(i.translate(tl), "little") ^ t).to_bytes(n, "little")

    def encode_into(pcm, dst, fb=_from_bytes, get=kept.get, bytes=bytes, bytearray=bytearray):
        n = len(pcm) >> 1
        if len(pcm) & 1 or len(dst) < n:
            _reject(pcm, dst, 2)
        if n:
            mf0, m0f = get(n) or masks(n)
            if type(pcm) is not bytes and type(pcm) is not bytearray:
                pcm = bytes(pcm)
            t = fb(pcm[1::2].translate(th), "little")
            i = ((t & mf0) | ((fb(pcm[0::2], "little") >> 4) & m0f)).to_bytes(n, "little")
            dst[:n] = (fb(i.translate(tl), "little") ^ t).to_bytes(n, "little")
        return n

    return encode, encode_into


def _decoder(dtab):
    """decode(codes) -> bytes through the charmap and UTF-16 codecs, in C.

    codecs.charmap_decode maps each code to one character of a 256-char
    str, here the int16 value itself, and UTF-16-LE writes each as its two
    bytes: two C calls instead of two translates and two interleaving
    slice stores. Values whose high byte is 0xD8-0xDF are surrogates,
    which UTF-16 refuses (or passes one by one through an error handler,
    slowly), so bytes are written through a permutation that moves the
    high bytes in use out of that range, and one bytes.translate of the
    result puts them back. Checked here on all 256 codes. A 256-char str
    and a 256 B table: about 0.9 KiB per law.
    """
    vals = [dtab[2 * c] | dtab[2 * c + 1] << 8 for c in range(256)]
    highs = set(v >> 8 for v in vals)
    wire = list(range(256))  # wire[b]: the byte written for the real byte b
    spare = [b for b in range(256) if b not in highs and not 0xD8 <= b <= 0xDF and b != 0xFF]
    for b in sorted(highs):
        if 0xD8 <= b <= 0xDF or b == 0xFF:  # surrogates; 0xFFFE means "unmapped" to charmap
            f = spare.pop()
            wire[b], wire[f] = f, b
    back = bytearray(256)
    for b in range(256):
        back[wire[b]] = b
    back = bytes(back)
    chars = "".join(chr(wire[v >> 8] << 8 | wire[v & 0xFF]) for v in vals)

    def decode(codes, cd=_codecs.charmap_decode, u16=_codecs.utf_16_le_encode):
        return u16(cd(codes, None, chars)[0])[0].translate(back)

    try:
        ok = decode(bytes(range(256))) == dtab
    except ValueError:  # UnicodeError
        ok = False
    if not ok:
        raise ImportError("g711: the charmap decoder does not give the decode table")
    return decode


def _table_law(encode, encode_into, dtab):
    """One law's four entry points."""
    decode = _decoder(dtab)
    lo = bytearray(dtab[0::2])
    hi = bytearray(dtab[1::2])

    def decode_into(codes, dst, even=slice(0, None, 2), odd=slice(1, None, 2), tr=bytearray.translate):
        # Not decode() and a copy: storing bytes into a bytearray's slice
        # copies them first. Two translates of a bytearray give bytearrays,
        # which extended-slice assignment interleaves into dst directly.
        n = len(codes) << 1
        if len(dst) != n:
            if len(dst) < n:
                _reject(codes, dst, 1)
            even = slice(0, n, 2)
            odd = slice(1, n, 2)
        if n:
            c = bytearray(codes)
            dst[even] = tr(c, lo)
            dst[odd] = tr(c, hi)
        return n

    return encode, encode_into, decode, decode_into


VARIANTS["table"] = Codec(
    "table",
    _table_law(*_ulaw_codec(*_ulaw_split(_tables.ULAW_ENCODE)), _tables.ULAW_DECODE),
    _table_law(*_alaw_codec(*_alaw_split(_tables.ALAW_ENCODE)), _tables.ALAW_DECODE),
)


try:
    import numpy as _np
except ImportError:
    _np = None


if _np is not None:

    def _widen(table, shift):
        """64 KiB table indexed by the unsigned 16-bit sample itself."""
        wide = bytearray(0x10000)
        step = 1 << shift
        for k in range(step):
            wide[k::step] = table
        return bytes(wide)

    def _numpy_law(wide, dtab):
        """One law's entry points on numpy: frombuffer views, take, tobytes."""
        u8 = _np.dtype("u1")
        u16le = _np.dtype("<u2")
        i16le = _np.dtype("<i2")
        etab = _np.frombuffer(wide, u8)
        dtab = _np.frombuffer(dtab, i16le)

        def encode(pcm):
            if len(pcm) & 1:
                _reject(pcm, b"", 2)
            return etab.take(_np.frombuffer(pcm, u16le)).tobytes() if pcm else b""

        def encode_into(pcm, dst):
            n = len(pcm) >> 1
            if len(pcm) & 1 or len(dst) < n:
                _reject(pcm, dst, 2)
            if n:
                etab.take(_np.frombuffer(pcm, u16le, n), out=_np.frombuffer(dst, u8, n))
            return n

        def decode(codes):
            return dtab.take(_np.frombuffer(codes, u8)).tobytes() if codes else b""

        def decode_into(codes, dst):
            n = len(codes)
            if len(dst) < 2 * n:
                _reject(codes, dst, 1)
            if n:
                dtab.take(_np.frombuffer(codes, u8, n), out=_np.frombuffer(dst, i16le, n))
            return 2 * n

        return encode, encode_into, decode, decode_into

    VARIANTS["numpy"] = Codec(
        "numpy",
        _numpy_law(_widen(_tables.ULAW_ENCODE, _ULAW_SHIFT), _tables.ULAW_DECODE),
        _numpy_law(_widen(_tables.ALAW_ENCODE, _ALAW_SHIFT), _tables.ALAW_DECODE),
    )



def variants():
    """name -> Codec of every CPython variant this machine can run."""
    return VARIANTS
