"""WAV files as audio: frames in and out, looping, bad files refused."""

import struct

import support
from sipdoor.hal.wav import FRAME_BYTES, WavAudio, WavError, WavReader, WavWriter


def ramp(n):
    out = bytearray(2 * n)
    for i in range(n):
        struct.pack_into("<h", out, 2 * i, (i * 37) % 30000 - 15000)
    return out


def test_write_then_read_back():
    path = support.tmpdir() + "/a.wav"
    data = ramp(400)
    w = WavWriter(path)
    w.write(data[:FRAME_BYTES])
    w.write(data[FRAME_BYTES:])
    w.close()
    r = WavReader(path, loop=False)
    assert r.data_len == 800
    buf = bytearray(FRAME_BYTES)
    assert r.read_into(buf) == FRAME_BYTES and buf == data[:FRAME_BYTES]
    assert r.read_into(buf) == FRAME_BYTES and buf == data[FRAME_BYTES:2 * FRAME_BYTES]
    assert r.read_into(buf) == 160  # 80 samples left, rest is silence
    assert buf[:160] == data[640:] and buf[160:] == bytes(160)
    r.close()


def test_reader_loops():
    path = support.tmpdir() + "/b.wav"
    w = WavWriter(path)
    w.write(ramp(100))
    w.close()
    r = WavReader(path)
    buf = bytearray(FRAME_BYTES)
    r.read_into(buf)
    assert buf[:200] == ramp(100) and buf[200:] == ramp(60)
    r.close()


def test_bad_files_are_refused():
    d = support.tmpdir()
    support.raises(WavError, WavReader, support.write_file(d + "/t.wav", "not a wav at all"))
    support.raises(OSError, WavReader, d + "/missing.wav")
    stereo = d + "/s.wav"
    with open(stereo, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36) + b"WAVE")
        f.write(b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, 44100, 44100 * 4, 4, 16))
        f.write(b"data" + struct.pack("<I", 0))
    e = support.raises(WavError, WavReader, stereo)
    assert "8000 Hz mono" in str(e)


def test_audio_without_files_is_silence_and_a_sink():
    a = WavAudio()
    buf = bytearray(b"\x01" * FRAME_BYTES)
    a.read_into(buf)
    assert buf == bytes(FRAME_BYTES)
    a.write(buf)
    a.close()
