"""WAV files as an audio device: 8 kHz mono 16-bit PCM, one 20 ms frame at a time.

The sim board (and --audio-in / --audio-out on any board) talks through
these: what the station would send comes from a file, what it receives goes
to one. Frames are read into and written from the caller's buffer, so the
20 ms path allocates nothing.
"""

import struct

from sipdoor.storage import os_reason

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
FRAME_BYTES = FRAME_SAMPLES * 2


class WavError(ValueError):
    """A file that is not 8 kHz mono 16-bit PCM WAV; path names the file."""

    def __init__(self, message, path=None):
        super().__init__(message)
        self.message = message
        self.path = path


def _read_exact(f, n):
    data = f.read(n)
    if data is None or len(data) != n:
        raise WavError("file ends early")
    return data


class WavReader:
    """Reads frames; loops back to the start at the end (a door chime, a test tone)."""

    def __init__(self, path, loop=True):
        self.path = path
        self.loop = loop
        self.f = open(path, "rb")
        try:
            self.data_start, self.data_len = self._parse_header()
        except Exception:
            self.f.close()
            raise
        self.pos = 0

    def _parse_header(self):
        f = self.f
        head = f.read(12)
        if len(head) < 12 or head[0:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise WavError("not a WAV file")
        fmt = None
        offset = 12
        while True:
            chunk = f.read(8)
            if not chunk or len(chunk) < 8:
                raise WavError("no data chunk")
            cid = chunk[0:4]
            size = struct.unpack("<I", chunk[4:8])[0]
            offset += 8
            if cid == b"fmt ":
                fmt = _read_exact(f, size)
                offset += size
                if size & 1:
                    f.read(1)
                    offset += 1
                tag, channels, rate = struct.unpack("<HHI", fmt[0:8])
                bits = struct.unpack("<H", fmt[14:16])[0]
                if tag != 1 or channels != 1 or bits != 16 or rate != RATE:
                    raise WavError("need 8000 Hz mono 16-bit PCM, got format %d, %d channel(s), %d bit, %d Hz"
                                   % (tag, channels, bits, rate))
            elif cid == b"data":
                if fmt is None:
                    raise WavError("data chunk before fmt chunk")
                return offset, size - (size & 1)
            else:
                f.seek(offset + size + (size & 1))
                offset += size + (size & 1)

    def read_into(self, buf):
        """Fill buf (even length) with the next samples; silence past the end."""
        want = len(buf)
        got = 0
        mv = memoryview(buf)
        while got < want:
            left = self.data_len - self.pos
            if left <= 0:
                if not self.loop or self.data_len == 0:
                    for i in range(got, want):
                        buf[i] = 0
                    return got
                self.f.seek(self.data_start)
                self.pos = 0
                left = self.data_len
            n = self.f.readinto(mv[got:got + min(want - got, left)])
            if not n:
                self.data_len = self.pos  # file shrank under us: treat as end
                continue
            got += n
            self.pos += n
        return got

    def close(self):
        self.f.close()


class WavWriter:
    """Writes frames; the header's sizes are fixed on close (and every flush)."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "wb")
        self.data_len = 0
        self._write_header()

    def _write_header(self):
        self.f.seek(0)
        self.f.write(b"RIFF" + struct.pack("<I", 36 + self.data_len) + b"WAVE")
        self.f.write(b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, RATE, RATE * 2, 2, 16))
        self.f.write(b"data" + struct.pack("<I", self.data_len))

    def write(self, buf):
        self.f.seek(44 + self.data_len)
        self.f.write(buf)
        self.data_len += len(buf)

    def flush(self):
        self._write_header()
        self.f.flush()

    def close(self):
        self.flush()
        self.f.close()


class WavAudio:
    """An audio device made of two WAV files (either may be absent)."""

    def __init__(self, audio_in=None, audio_out=None):
        self.reader = self.writer = None
        try:
            self.reader = WavReader(audio_in) if audio_in else None
        except (OSError, WavError) as e:
            raise WavError(getattr(e, "message", None) or os_reason(e), audio_in)
        try:
            self.writer = WavWriter(audio_out) if audio_out else None
        except OSError as e:
            if self.reader is not None:
                self.reader.close()
            raise WavError(os_reason(e), audio_out)

    def read_into(self, buf):
        """The microphone: the next frame from the input file, or silence."""
        if self.reader is None:
            for i in range(len(buf)):
                buf[i] = 0
            return len(buf)
        return self.reader.read_into(buf)

    def write(self, buf):
        """The speaker: append a frame to the output file, or drop it."""
        if self.writer is not None:
            self.writer.write(buf)

    def close(self):
        if self.reader is not None:
            self.reader.close()
        if self.writer is not None:
            self.writer.close()
