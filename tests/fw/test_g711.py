"""G.711 codec tests, run by pytest on CPython and by tests/fw/run.py on MicroPython.

Every variant the running interpreter offers (g711.VARIANTS) is checked against
the ITU-T G.191 reference tables in tests/data/g711/: all 65536 inputs and all
256 codes of both laws. The reference is read in chunks so the MicroPython lane
stays inside a board-sized heap.
"""

import support
from sipdoor.media import g711

DATA = "tests/data/g711/"
CHUNK = 2048  # samples per step through the 65536-entry reference
LAWS = ("ulaw", "alaw")
BANNED_IMPORTS = ("time", "random", "socket", "machine")


def _codecs():
    return [g711.VARIANTS[name] for name in sorted(g711.VARIANTS)]


def _fn(codec, law, what):
    return getattr(codec, law + "_" + what)


def _read(name):
    with open(support.repo_path(DATA + name), "rb") as f:
        return f.read()


def _ramp(first, count, buf):
    """Fill buf with count int16 LE samples first, first + 1, ..."""
    j = 0
    for v in range(first, first + count):
        v &= 0xFFFF
        buf[j] = v & 0xFF
        buf[j + 1] = v >> 8
        j += 2


def _noise(nbytes, seed):
    """Deterministic bytes from a small LCG (no `random` needed on a board)."""
    out = bytearray(nbytes)
    x = seed
    for i in range(nbytes):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = x >> 16 & 0xFF
    return bytes(out)


def _first_diff(got, want):
    for i in range(min(len(got), len(want))):
        if got[i] != want[i]:
            return "first difference at %d: got %d, want %d" % (i, got[i], want[i])
    return "lengths %d and %d" % (len(got), len(want))


def _sample(pcm, i):
    v = pcm[2 * i] | (pcm[2 * i + 1] << 8)
    return v - 0x10000 if v & 0x8000 else v


def _check_encode_all_inputs(law):
    pcm = bytearray(2 * CHUNK)
    want = bytearray(CHUNK)
    got = bytearray(CHUNK)
    codecs = _codecs()
    with open(support.repo_path(DATA + law + "_encode_itu.u8"), "rb") as f:
        for base in range(0, 0x10000, CHUNK):
            assert f.readinto(want) == CHUNK
            _ramp(base - 0x8000, CHUNK, pcm)
            for codec in codecs:
                assert _fn(codec, law, "encode_into")(pcm, got) == CHUNK
                assert got == want, "%s %s from sample %d: %s" % (
                    codec.name, law, base - 0x8000, _first_diff(got, want))
        assert f.read(1) == b""


def test_ulaw_encode_all_65536_inputs_match_itu():
    _check_encode_all_inputs("ulaw")


def test_alaw_encode_all_65536_inputs_match_itu():
    _check_encode_all_inputs("alaw")


def test_decode_all_256_codes_match_itu():
    codes = bytes(range(256))
    for law in LAWS:
        want = _read(law + "_decode.s16le")
        assert len(want) == 512
        for codec in _codecs():
            got = _fn(codec, law, "decode")(codes)
            assert got == want, "%s %s: %s" % (codec.name, law, _first_diff(got, want))


def test_decode_then_encode_gives_the_code_back():
    codes = bytes(range(256))
    for codec in _codecs():
        # A-law has no zero code: every code survives the round trip.
        assert codec.alaw_encode(codec.alaw_decode(codes)) == codes, codec.name
        # u-law has +0 (0xFF) and -0 (0x7F); both decode to 0, which encodes as +0.
        want = bytearray(codes)
        want[0x7F] = 0xFF
        assert codec.ulaw_encode(codec.ulaw_decode(codes)) == bytes(want), codec.name


def test_encode_then_decode_is_within_half_a_step():
    pcm = _noise(2 * 1000, 7)
    for law in LAWS:
        back = g711.VARIANTS["plain"]
        out = _fn(back, law, "decode")(_fn(back, law, "encode")(pcm))
        assert len(out) == len(pcm)
        for i in range(1000):
            x = _sample(pcm, i)
            y = _sample(out, i)
            # The top segment's step is 1024 in 16-bit units for both laws;
            # beyond the loudest code (u-law 32124, A-law 32256) it clips.
            limit = 512 if -32124 <= x <= 32124 else 644
            assert abs(x - y) <= limit, "%s: %d -> %d" % (law, x, y)


def test_every_variant_agrees_with_plain():
    plain = g711.VARIANTS["plain"]
    pcm = _noise(2 * 480 + 1, 11)
    codes = _noise(480 + 1, 13)
    for codec in _codecs():
        for law in LAWS:
            # Memoryviews at an odd offset, as slices of a bigger receive buffer are.
            src = memoryview(pcm)[1:]
            want = _fn(plain, law, "encode")(bytes(src))
            assert _fn(codec, law, "encode")(src) == want, codec.name
            src = memoryview(codes)[1:]
            want = _fn(plain, law, "decode")(bytes(src))
            assert _fn(codec, law, "decode")(src) == want, codec.name


def test_every_frame_length_agrees_with_plain():
    # More lengths than the CPython variant keeps lane masks for, odd and even
    # sample counts, each at an odd offset into a bigger buffer.
    plain = g711.VARIANTS["plain"]
    pcm = _noise(2 * 41 + 1, 17)
    codes = _noise(41 + 1, 19)
    for codec in _codecs():
        for law in LAWS:
            for n in list(range(1, 42, 3)) + [2, 4, 40]:
                src = memoryview(pcm)[1:1 + 2 * n]
                want = _fn(plain, law, "encode")(bytes(src))
                assert _fn(codec, law, "encode")(src) == want, (codec.name, n)
                dst = bytearray(n + 1)
                assert _fn(codec, law, "encode_into")(bytes(src), dst) == n
                assert dst[:n] == want, (codec.name, n)
                src = memoryview(codes)[1:1 + n]
                want = _fn(plain, law, "decode")(bytes(src))
                assert _fn(codec, law, "decode")(src) == want, (codec.name, n)
                dst = bytearray(2 * n + 3)
                assert _fn(codec, law, "decode_into")(bytes(src), dst) == 2 * n
                assert dst[:2 * n] == want, (codec.name, n)


def test_encode_into_fills_a_preallocated_buffer():
    pcm = _noise(320, 3)
    other = _noise(320, 4)
    for codec in _codecs():
        for law in LAWS:
            want = _fn(codec, law, "encode")(pcm)
            dst = bytearray(b"\xaa" * 170)
            assert _fn(codec, law, "encode_into")(pcm, dst) == 160
            assert len(dst) == 170
            assert dst[:160] == want, codec.name
            assert dst[160:] == b"\xaa" * 10, codec.name
            # Same buffer, next frame: overwritten in place.
            assert _fn(codec, law, "encode_into")(other, dst) == 160
            assert dst[:160] == _fn(codec, law, "encode")(other), codec.name


def test_encode_into_an_rtp_payload_memoryview():
    pcm = _noise(320, 5)
    for codec in _codecs():
        for law in LAWS:
            packet = bytearray(b"\x80" * 12 + b"\x00" * 160)
            assert _fn(codec, law, "encode_into")(pcm, memoryview(packet)[12:]) == 160
            assert packet[:12] == b"\x80" * 12, codec.name
            assert packet[12:] == _fn(codec, law, "encode")(pcm), codec.name


def test_decode_into_fills_a_preallocated_buffer():
    codes = _noise(160, 9)
    for codec in _codecs():
        for law in LAWS:
            want = _fn(codec, law, "decode")(codes)
            dst = bytearray(b"\xaa" * 323)
            assert _fn(codec, law, "decode_into")(codes, dst) == 320
            assert len(dst) == 323
            assert dst[:320] == want, codec.name
            assert dst[320:] == b"\xaa\xaa\xaa", codec.name
            view = bytearray(b"\x55" * 331)
            assert _fn(codec, law, "decode_into")(codes, memoryview(view)[11:]) == 320
            assert view[11:] == want, codec.name
            assert view[:11] == b"\x55" * 11, codec.name


def test_odd_length_pcm_is_rejected():
    for codec in _codecs():
        for law in LAWS:
            for pcm in (b"\x01", b"\x01\x02\x03"):
                e = support.raises(ValueError, _fn(codec, law, "encode"), pcm)
                assert "odd" in str(e)
                support.raises(ValueError, _fn(codec, law, "encode_into"), pcm, bytearray(4))


def test_too_small_dst_is_rejected_untouched():
    for codec in _codecs():
        for law in LAWS:
            dst = bytearray(b"\xaa" * 159)
            support.raises(ValueError, _fn(codec, law, "encode_into"), bytes(320), dst)
            assert dst == b"\xaa" * 159
            dst = bytearray(b"\xaa" * 319)
            support.raises(ValueError, _fn(codec, law, "decode_into"), bytes(160), dst)
            assert dst == b"\xaa" * 319


def test_empty_input():
    for codec in _codecs():
        for law in LAWS:
            assert _fn(codec, law, "encode")(b"") == b""
            assert _fn(codec, law, "decode")(b"") == b""
            assert _fn(codec, law, "encode_into")(b"", bytearray(0)) == 0
            assert _fn(codec, law, "decode_into")(b"", bytearray(0)) == 0


def test_single_sample_and_code():
    for codec in _codecs():
        assert codec.ulaw_encode(b"\x00\x00") == b"\xff", codec.name
        assert codec.alaw_encode(b"\x00\x00") == b"\xd5", codec.name
        assert codec.ulaw_encode(b"\xff\xff") == b"\x7f", codec.name  # -1 is -0
        assert codec.ulaw_decode(b"\x00") == b"\x84\x82", codec.name  # -32124
        assert codec.alaw_decode(b"\xd5") == b"\x08\x00", codec.name  # +8
        dst = bytearray(1)
        assert codec.alaw_encode_into(b"\x00\x80", dst) == 1  # -32768
        assert dst == b"\x2a", codec.name


def test_results_are_bytes():
    for codec in _codecs():
        for law in LAWS:
            assert type(_fn(codec, law, "encode")(bytes(8))) is bytes, codec.name
            assert type(_fn(codec, law, "decode")(bytes(4))) is bytes, codec.name


def test_impl_is_the_best_available_and_public():
    assert g711.IMPL in g711.VARIANTS
    chosen = g711.VARIANTS[g711.IMPL]
    for law in LAWS:
        for what in ("encode", "encode_into", "decode", "decode_into"):
            assert getattr(g711, law + "_" + what) is _fn(chosen, law, what)
    try:
        import micropython  # noqa: F401

        on_micropython = True
    except ImportError:
        on_micropython = False
    if on_micropython:
        assert "table" not in g711.VARIANTS and "numpy" not in g711.VARIANTS
        for best in ("viper", "native", "plain"):
            if best in g711.VARIANTS:
                assert g711.IMPL == best
                break
    else:
        assert g711.IMPL == "table"
        assert "viper" not in g711.VARIANTS and "native" not in g711.VARIANTS


def test_into_variants_do_not_allocate_on_micropython():
    try:
        import micropython
    except ImportError:
        return  # CPython's fast path may allocate internally; that is allowed
    if not hasattr(micropython, "heap_lock"):
        return
    pcm = _noise(320, 1)
    codes = bytes(160)
    enc = bytearray(160)
    dec = bytearray(320)
    for codec in _codecs():
        calls = (
            (codec.ulaw_encode_into, pcm, enc), (codec.alaw_encode_into, pcm, enc),
            (codec.ulaw_decode_into, codes, dec), (codec.alaw_decode_into, codes, dec),
        )
        for fn, src, dst in calls:
            fn(src, dst)  # warm up outside the lock
            micropython.heap_lock()
            try:
                fn(src, dst)
            except MemoryError:
                micropython.heap_unlock()
                raise AssertionError("%s allocates per frame" % codec.name)
            micropython.heap_unlock()


def test_module_imports_no_clock_io_or_hardware():
    with open(support.repo_path("firmware/sipdoor/media/g711.py")) as f:
        for line in f:
            words = line.strip().replace(",", " ").split()
            if len(words) > 1 and words[0] in ("import", "from"):
                top = words[1].split(".")[0]
                assert top not in BANNED_IMPORTS, line


def test_a_loop_that_cannot_compile_leaves_plain_in_charge():
    # A firmware without the native emitter fails to compile the viper source;
    # the module must then keep working on "plain" rather than fail to import.
    assert g711._compile_mp("broken", "@micropython.viper\ndef enc_into(:\n") is None
    assert "broken" not in g711.VARIANTS
