"""CPython-only checks of the G.711 codec against its generator, audioop and ITU-T G.191.

The two-runtime tests in tests/fw/test_g711.py already compare every variant
with the ITU tables; these add what needs CPython: the generator, CPython's C
audioop as an independent implementation, and the STL's own sweep vectors.
"""

import array
import os
import subprocess
import sys
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # built in before 3.13; the audioop-lts package after

from sipdoor.media import g711, g711_cpython

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "g711")
GENERATOR = os.path.join(ROOT, "tools", "gen_g711_tables.py")
TABLES = os.path.join(ROOT, "firmware", "sipdoor", "media", "g711_tables.py")
CODECS = [g711.VARIANTS[name] for name in sorted(g711.VARIANTS)]
CODEC_IDS = [c.name for c in CODECS]


def read(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def native16(le_bytes):
    """audioop works in the machine's byte order; our PCM is little-endian."""
    if sys.byteorder == "little":
        return le_bytes
    return audioop.byteswap(le_bytes, 2)


ALL_INPUTS = array.array("h", range(-32768, 32768))
if sys.byteorder == "big":
    ALL_INPUTS.byteswap()
ALL_PCM = ALL_INPUTS.tobytes()  # little-endian ramp, like sweep.src
ALL_CODES = bytes(range(256))


def run_generator(*args):
    return subprocess.run([sys.executable, GENERATOR] + list(args), capture_output=True, text=True, timeout=120)


def test_generator_reproduces_the_committed_tables(tmp_path):
    out = tmp_path / "g711_tables.py"
    proc = run_generator("--output", str(out))
    assert proc.returncode == 0, proc.stderr
    with open(TABLES, "rb") as f:
        committed = f.read()
    assert out.read_bytes() == committed, "g711_tables.py is stale: run python3 tools/gen_g711_tables.py"


def test_generator_check_mode(tmp_path):
    assert run_generator("--check").returncode == 0
    stale = tmp_path / "g711_tables.py"
    with open(TABLES, encoding="ascii") as f:
        stale.write_text(f.read().replace("\\xff", "\\xfe", 1), encoding="ascii")
    proc = run_generator("--check", "--output", str(stale))
    assert proc.returncode == 1
    assert "stale" in proc.stderr
    assert run_generator("--check", "--output", str(tmp_path / "missing.py")).returncode == 1


def test_sweep_source_is_the_full_ramp():
    assert read("sweep.src") == ALL_PCM


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize("law,suffix", [("ulaw", "u"), ("alaw", "a")])
def test_itu_sweep_vectors(codec, law, suffix):
    src = read("sweep.src")
    encoded = read("sweep-r." + suffix)  # int16 per sample, code in the low byte
    assert encoded[1::2] == bytes(len(encoded) // 2)
    codes = getattr(codec, law + "_encode")(src)
    assert codes == encoded[0::2]
    assert getattr(codec, law + "_decode")(codes) == read("sweep-r.%s-%s" % (suffix, suffix))


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
def test_alaw_encode_agrees_with_audioop_on_all_inputs(codec):
    assert codec.alaw_encode(ALL_PCM) == audioop.lin2alaw(native16(ALL_PCM), 2)


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
def test_decode_agrees_with_audioop_on_all_codes(codec):
    assert codec.ulaw_decode(ALL_CODES) == native16(audioop.ulaw2lin(ALL_CODES, 2))
    assert codec.alaw_decode(ALL_CODES) == native16(audioop.alaw2lin(ALL_CODES, 2))


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
def test_ulaw_encode_differs_from_audioop_only_on_the_508_documented_inputs(codec):
    ours = codec.ulaw_encode(ALL_PCM)
    theirs = audioop.lin2ulaw(native16(ALL_PCM), 2)
    diff = [i - 32768 for i in range(65536) if ours[i] != theirs[i]]
    # audioop folds a negative sample x as -(x >> 2) where G.191 takes (~x) >> 2,
    # one quantum louder: it returns our code for x - 4. That changes the code
    # only for the 4 inputs just above each of the 127 negative decision levels.
    expected = [x for x in range(-32768, 0) if ours[x + 32768] != ours[max(x - 4, -32768) + 32768]]
    assert diff == expected
    assert len(diff) == 508
    runs = [diff[i:i + 4] for i in range(0, 508, 4)]
    assert all(r == list(range(r[0], r[0] + 4)) for r in runs)
    assert diff[-4:] == [-4, -3, -2, -1]
    assert all(theirs[x + 32768] == ours[x + 32768] - 1 for x in diff)
    assert ours == read("ulaw_encode_itu.u8")



UNSIGNED = [v & 0xFFFF for v in range(-32768, 32768)]  # the samples of ALL_PCM, in order


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_cpython_split_tables_reproduce_their_table_or_refuse_it(law):
    # The "table" encoders derive two 256 B tables from the generated encode
    # table at import, checking every distinct input: they give exactly that
    # table's codes (right or wrong: the ITU tests judge the table), or the
    # import fails. Never a silent difference.
    from sipdoor.media import g711_tables

    table = getattr(g711_tables, law.upper() + "_ENCODE")
    shift = getattr(g711_tables, law.upper() + "_SHIFT")
    split = getattr(g711_cpython, "_" + law + "_split")
    codec = getattr(g711_cpython, "_" + law + "_codec")
    refused = 0
    for i in (0, 5, 123, len(table) // 2 + 3, len(table) - 77, len(table) - 1):
        bad = bytearray(table)
        bad[i] ^= 0x01
        bad = bytes(bad)
        try:
            th, tl = split(bad)
        except ImportError:
            refused += 1
            continue
        encode = codec(th, tl)[0]
        assert encode(ALL_PCM) == bytes(bad[v >> shift] for v in UNSIGNED), i
    assert refused  # a code out of line with its segment cannot be split


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_cpython_charmap_decoder_needs_no_surrogates(law):
    from sipdoor.media import g711_tables

    dtab = getattr(g711_tables, law.upper() + "_DECODE")
    values = array.array("h", dtab)
    if sys.byteorder == "big":
        values.byteswap()
    # Some decoded values are UTF-16 surrogates as 16-bit units (signed
    # -10240..-8193); UTF-16 would pass those only through an error handler.
    assert any(-10240 <= v < -8192 for v in values)
    decode = g711_cpython._decoder(dtab)
    assert decode(bytes(range(256)) * 3) == dtab * 3
    backwards = bytes(range(255, -1, -1))
    assert decode(memoryview(backwards)) == b"".join(dtab[2 * c:2 * c + 2] for c in backwards)
