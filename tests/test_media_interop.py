"""Audio and DTMF end to end with real peers on 127.0.0.1 (issue 4 and 5 scenarios).

The station sends a 1000 Hz tone from --audio-in and records to --audio-out;
the phone (baresip, or linphonec in file mode) plays 440 Hz and records.
Each side must hear the other's tone: at the level sent (within 3 dB), the
frequency within 1%, and without gaps (runs of near-zero samples) longer
than a frame after the first 200 ms. tshark checks the RTP and RTCP we send.
Each test runs in a network namespace of its own (root, iproute2); one
drops 10% of the RTP at random there with iptables; one runs the station
under MicroPython.
"""

import ctypes
import json
import os
import re
import subprocess
import time

import pytest

import audiocheck
import peers
from stationproc import Station, write_config

AMPLITUDE = 8000  # peers.write_tone_wav's default
FRAME_MS = 20


# -- a network namespace of our own per test --------------------------------------------

_CLONE_NEWNET = 0x40000000


def _setns(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns %s: %s" % (path, os.strerror(err)))
    finally:
        os.close(fd)


@pytest.fixture(autouse=True)
def netns():
    """Every test here runs in a fresh network namespace (lo up): processes
    it starts and sockets it opens live there; restored after. Other
    programs on the machine (another test run's station on RTP port 40000)
    then cannot cross-talk with ours."""
    name = "sipdoor-%d" % os.getpid()
    ip = peers.need_binary("ip", "iproute2")
    subprocess.run([ip, "netns", "del", name], capture_output=True)
    subprocess.run([ip, "netns", "add", name], check=True)
    subprocess.run([ip, "netns", "exec", name, ip, "link", "set", "lo", "up"], check=True)
    home = "/proc/thread-self/ns/net"
    saved = os.open(home, os.O_RDONLY)
    try:
        _setns("/run/netns/" + name)
        yield name
    finally:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.setns(saved, _CLONE_NEWNET)
        os.close(saved)
        subprocess.run([ip, "netns", "del", name], capture_output=True)


def config(tmp_path, targets=(), allow=(), codecs=("PCMU", "PCMA"), codes=(), account=None):
    sip = {"listen": "127.0.0.1:%d" % peers.free_udp_port(), "account": account, "allow": list(allow),
           "keepalive_s": 5}
    buttons = {"call": {"targets": list(targets), "repeat_press": "hangup"}} if targets else {}
    door = {"relay": "door", "pulse_ms": 500, "codes": list(codes)}
    return write_config(tmp_path, sip=sip, buttons=buttons, door=door, audio={"codecs": list(codecs)})


def check_tone(path, freq, what, max_gap_ms=FRAME_MS, skip_ms=200):
    """The recording holds freq, at the level sent, without gaps; returns figures."""
    samples, rate = peers.read_wav(path)
    assert rate == 8000, what
    a, b = audiocheck.voiced_span(samples)
    voiced = samples[a + rate * skip_ms // 1000:b]
    assert len(voiced) > rate, "%s: %d samples of tone" % (what, len(voiced))
    got = {"gap_ms": audiocheck.longest_gap_ms(voiced, rate),
           "level_db": audiocheck.level_db(voiced, AMPLITUDE),
           "freq": peers.dominant_frequency(voiced, rate),
           "seconds": len(voiced) / float(rate)}
    assert got["gap_ms"] <= max_gap_ms, "%s: gaps %r" % (what, audiocheck.gaps(voiced, rate)[:10])
    assert abs(got["level_db"]) <= 3, (what, got)
    assert abs(got["freq"] - freq) <= freq * 0.01, (what, got)
    return got


def station_port(st):
    """The local RTP port of the station's call, from its log."""
    m = re.search(r"local port (\d+)", st.stderr_now())
    assert m, st.stderr_now()
    return int(m.group(1))


def tone_files(tmp_path, phone_s=30):
    """(the door's 1000 Hz input, the phone's 440 Hz input, where the door's
    speaker output goes)."""
    tone_in = str(tmp_path / "door-1000.wav")
    peers.write_tone_wav(tone_in, 1000, 10)
    phone_tone = str(tmp_path / "phone-440.wav")
    peers.write_tone_wav(phone_tone, 440, phone_s)
    return tone_in, phone_tone, str(tmp_path / "door-heard.wav")


def tone_call(st, phone, seconds, timeout=10):
    """The door calls the phone, talks for seconds, hangs up and quits:
    (the call_answered event, the station's stderr, its SIP port)."""
    st.wait_for(lambda e: e["event"] == "ready", 30)
    st.send("tap call")
    answered = st.wait_for(lambda e: e["event"] == "call_answered", timeout)
    phone.wait_event("CALL_ESTABLISHED", timeout)
    time.sleep(seconds)
    st.send("tap call")
    st.wait_for(lambda e: e["event"] == "call_ended", timeout)
    phone.wait_event("CALL_CLOSED", timeout)
    port = station_port(st)
    st.send("quit")
    code, _, err = st.finish(20)
    assert code == 0, err
    return answered, err, port


def check_our_rtp(pcap, port, payload):
    """tshark: our stream(s) from port have the payload type, no loss or
    sequence errors, no problems flagged; RTCP went out from port + 1."""
    rows, text = audiocheck.rtp_streams(pcap)
    ours = [r for r in rows if r["sport"] == port]
    assert ours, text
    for r in ours:
        assert r["payload"] == payload, text
        assert r["lost"] == 0 and not r["problem"], text
        assert r["max_delta_ms"] < 3 * FRAME_MS, text
    rtcp = peers.tshark_read(pcap, *peers.dissect_args(), "-Y", "rtcp && udp.srcport == %d" % (port + 1),
                             "-T", "fields", "-e", "rtcp.pt")
    kinds = set(",".join(rtcp.split()).split(","))
    assert "200" in kinds or "201" in kinds, rtcp  # SR or RR
    assert "203" in kinds, rtcp  # BYE at the end
    assert peers.expert_warnings(pcap) == []
    return ours


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_two_way_tones_on_a_call_from_the_door(stack, tmp_path, codec):
    tone_in, phone_tone, heard_by_door = tone_files(tmp_path)
    cap = stack(peers.Tshark(bpf="udp"))
    phone = stack(peers.Baresip("flat", audio_in_wav=phone_tone, record_wav=str(tmp_path / "phone-heard.wav")))
    st = stack(Station("cpython", config(tmp_path, targets=[phone.uri], codecs=[codec]),
                       "--audio-in", tone_in, "--audio-out", heard_by_door))
    ans, err, port = tone_call(st, phone, 3)
    assert ans["negotiated"]["codec"] == codec
    pcap = cap.stop()

    sent = check_tone(phone.recorded_wav(), 1000, "what the phone heard")
    heard = check_tone(heard_by_door, 440, "what the door heard")
    assert heard["seconds"] > 2
    streams = check_our_rtp(pcap, port, {"PCMU": "g711U", "PCMA": "g711A"}[codec])
    print("sent %r heard %r streams %r" % (sent, heard, [r["line"] for r in streams]))


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_two_way_tones_through_kamailio(stack, tmp_path, codec):
    """The same call via a PBX: the station registers, Kamailio challenges
    its INVITE (407) and routes it to the phone registered there."""
    kam = stack(peers.Kamailio(users={"door": "door-pw-7", "101": "pw101"}))
    tone_in, phone_tone, heard_by_door = tone_files(tmp_path)
    phone = stack(peers.Baresip("flat", user="101", password="pw101", registrar=kam, audio_in_wav=phone_tone,
                                record_wav=str(tmp_path / "phone-heard.wav")))
    phone.wait_event("REGISTER_OK", 10)
    account = {"user": "door", "password": "door-pw-7", "domain": "127.0.0.1",
               "registrar": "sip:127.0.0.1:%d" % kam.port, "expires": 60}
    st = stack(Station("cpython", config(tmp_path, targets=["sip:101@127.0.0.1:%d" % kam.port], codecs=[codec],
                                         account=account), "--audio-in", tone_in, "--audio-out", heard_by_door))
    ans, _, _ = tone_call(st, phone, 3)
    assert ans["negotiated"]["codec"] == codec
    assert "registered" in [e["event"] for e in st.events]
    kam.wait_log("INVITE challenge door")
    check_tone(phone.recorded_wav(), 1000, "what the phone heard")
    heard = check_tone(heard_by_door, 440, "what the door heard")
    assert heard["seconds"] > 2


def test_resident_keys_the_door_code_and_the_door_opens(stack, tmp_path):
    phone = stack(peers.Baresip("flat"))
    st = stack(Station("cpython", config(tmp_path, targets=[phone.uri], allow=[], codes=["1234"])))
    st.wait_for(lambda e: e["event"] == "ready", 20)
    st.send("tap call")
    st.wait_for(lambda e: e["event"] == "call_answered", 10)
    phone.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(0.5)
    phone.send_dtmf("1234")
    on = st.wait_for(lambda e: e["event"] == "relay" and e["name"] == "door" and e["state"] == 1, 15)
    off = st.wait_for(lambda e: e["event"] == "relay" and e["name"] == "door" and e["state"] == 0, 5)
    assert abs((off["t"] - on["t"]) - 0.5) <= 0.05
    digits = [e["digit"] for e in st.events if e["event"] == "dtmf"]
    assert digits == ["1", "2", "3", "4"]
    opened = [e for e in st.events if e["event"] == "door_opened"]
    assert opened and opened[0]["by"] == phone.uri


def test_a_caller_not_allowed_cannot_open_the_door(stack, tmp_path):
    phone = stack(peers.Baresip("stranger"))
    st = stack(Station("cpython", config(tmp_path, allow=[], codes=["1234"])))
    ready = st.wait_for(lambda e: e["event"] == "ready", 20)
    phone.dial("sip:door@%s" % ready["listen"])
    st.wait_for(lambda e: e["event"] == "call_refused", 10)
    phone.wait_event("CALL_CLOSED", 10)
    assert not [e for e in st.events if e["event"] == "door_opened"]


def test_two_way_tones_with_linphonec(stack, tmp_path):
    """linphonec in file mode: `soundcard use files`, then `play` gives what it
    sends and `record` what it receives (both set before the call)."""
    tone_in, phone_tone, heard_by_door = tone_files(tmp_path)
    heard_by_phone = str(tmp_path / "linphone-heard.wav")
    phone = stack(peers.Linphonec("flat"))
    phone.send("soundcard use files")
    phone.send("play %s" % phone_tone)
    phone.send("record %s" % heard_by_phone)
    st = stack(Station("cpython", config(tmp_path, targets=[phone.uri], codecs=["PCMU"]),
                       "--audio-in", tone_in, "--audio-out", heard_by_door))
    _, err, _ = tone_call(st, phone, 3)
    deadline = time.time() + 5
    while time.time() < deadline and not os.path.exists(heard_by_phone):
        time.sleep(0.1)
    sent = check_tone(heard_by_phone, 1000, "what linphonec heard (station log: %s)" % err[-600:])
    heard = check_tone(heard_by_door, 440, "what the door heard")
    assert sent["seconds"] > 2 and heard["seconds"] > 2
    print("sent %r heard %r" % (sent, heard))


# -- door-speaker tones -----------------------------------------------------------------


def loud_frames(samples, threshold=1000):
    """One bool per 20 ms frame: its RMS is above threshold."""
    out = []
    for i in range(0, len(samples) - 159, 160):
        out.append(audiocheck.rms(samples[i:i + 160]) > threshold)
    return out


def runs(flags):
    """[(value, length)] of runs in a list of bools."""
    out = []
    for f in flags:
        if out and out[-1][0] == f:
            out[-1][1] += 1
        else:
            out.append([f, 1])
    return [tuple(r) for r in out]


def test_ringback_then_busy_on_the_door_speaker(stack, tmp_path):
    phone = stack(peers.Linphonec("flat", auto_answer=False))  # rings (180), never answers
    path = config(tmp_path, targets=[phone.uri])
    data = json.load(open(path))
    data["buttons"]["call"]["ring_timeout_s"] = 5
    json.dump(data, open(path, "w"))
    door = str(tmp_path / "door-speaker.wav")
    st = stack(Station("cpython", path, "--audio-out", door))
    st.wait_for(lambda e: e["event"] == "ready", 20)
    st.send("tap call")
    st.wait_for(lambda e: e["event"] == "nobody_answered", 15)
    time.sleep(4)
    st.send("quit")
    code, _, err = st.finish(15)
    assert code == 0, err
    samples, rate = peers.read_wav(door)
    r = runs(loud_frames(samples))
    # ringback: 1 s of 425 Hz, then silence until the ring timeout; then busy
    # for 3 s: 0.5 s on, 0.5 s off
    assert r[0][0] and abs(r[0][1] - 50) <= 1, r
    assert not r[1][0] and 180 <= r[1][1] <= 210, r
    busy = r[2:]
    assert [v for v, _ in busy][:5] == [True, False, True, False, True], r
    assert all(abs(n - 25) <= 1 for _, n in busy[:5]), r
    assert sum(n for v, n in busy if v) == 75 or abs(sum(n for v, n in busy if v) - 75) <= 2, r
    assert abs(peers.dominant_frequency(samples[:8000], rate) - 425) <= 4.25
    tail = len(samples) // 160 - sum(n for _, n in r[:2]) - 150
    assert tail <= 1, "the speaker went on after the busy tone: %r" % (r,)


def test_the_resident_hears_the_confirmation_beep_when_the_door_opens(stack, tmp_path):
    phone = stack(peers.Baresip("flat", record_wav=str(tmp_path / "phone-heard.wav")))
    st = stack(Station("cpython", config(tmp_path, targets=[phone.uri], codes=["1234"])))
    st.wait_for(lambda e: e["event"] == "ready", 20)
    st.send("tap call")
    st.wait_for(lambda e: e["event"] == "call_answered", 10)
    phone.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(0.5)
    phone.send_dtmf("1234")
    st.wait_for(lambda e: e["event"] == "door_opened", 15)
    time.sleep(1)
    st.send("tap call")
    st.wait_for(lambda e: e["event"] == "call_ended", 10)
    phone.wait_event("CALL_CLOSED", 10)
    samples, rate = peers.read_wav(phone.recorded_wav())
    a, b = audiocheck.voiced_span(samples)
    # confirm: 880 Hz for 100 ms, 60 ms pause, 1320 Hz for 160 ms (tones.PRESETS)
    assert 300 <= (b - a) * 1000 // rate <= 340, (a, b)
    assert abs(audiocheck.zero_cross_frequency(samples[a + 80:a + 720], rate) - 880) <= 18
    assert abs(audiocheck.zero_cross_frequency(samples[b - 1200:b - 80], rate) - 1320) <= 26


# -- loss: iptables dropping RTP at random ----------------------------------------------


def _iptables():
    """iptables-legacy: the kernel here has the x_tables statistic match, not nf_tables."""
    return peers.need_binary("iptables-legacy", "iptables")


def _drop_at_random(a, b, probability):
    """Drop UDP datagrams between port ranges a and b, both ways, at random,
    on INPUT: the sender never knows, as with a loss on the way (on OUTPUT
    it would get EPERM, and baresip then sends the frame again late)."""
    for src, dst in ((a, b), (b, a)):
        subprocess.run([_iptables(), "-A", "INPUT", "-p", "udp", "--sport", "%d:%d" % src,
                        "--dport", "%d:%d" % dst, "-m", "statistic", "--mode", "random",
                        "--probability", str(probability), "-j", "DROP"], check=True)


def test_ten_percent_random_rtp_loss_leaves_no_long_gap(stack, tmp_path):
    """10% of the RTP each way is dropped at random (iptables statistic). The
    station's jitter buffer repeats the last frame fading out over 60 ms and
    plays on through 100 ms of missing packets: what the door plays has no
    gap longer than 60 ms (that takes 6 losses in a row: about 1 in 4000
    runs of this test)."""
    tone_in, phone_tone, heard_by_door = tone_files(tmp_path)
    phone = stack(peers.Baresip("flat", audio_in_wav=phone_tone, record_wav=str(tmp_path / "phone-heard.wav")))
    _drop_at_random((40000, 40999), (phone.rtp_port, phone.rtp_port + 7), 0.1)
    st = stack(Station("cpython", config(tmp_path, targets=[phone.uri], codecs=["PCMU"]),
                       "--audio-in", tone_in, "--audio-out", heard_by_door))
    _, err, _ = tone_call(st, phone, 5, timeout=15)
    m = re.search(r"media ended: (\d+) packets in, (\d+) out, (\d+) lost", err)
    assert m, err
    packets_in, lost = int(m.group(1)), int(m.group(3))
    assert 0.03 <= lost / float(packets_in + lost) <= 0.2, m.group(0)  # the loss was there
    heard = check_tone(heard_by_door, 440, "what the door heard (10% loss)", max_gap_ms=60)
    # baresip's recorder just skips lost frames: the tone is there
    samples, rate = peers.read_wav(phone.recorded_wav())
    assert abs(peers.dominant_frequency(samples[1600:], rate) - 1000) <= 30
    stats = [e for e in st.events if e["event"] == "media_stats"]
    print("loss: %s; door heard %r; %r" % (m.group(0), heard, stats[-1:]))


# -- MicroPython ----------------------------------------------------------------------

# The full minute (SIPDOOR_MP_CALL_S shortens it when iterating by hand).
MP_CALL_S = int(os.environ.get("SIPDOOR_MP_CALL_S", "60"))


def test_micropython_station_holds_a_call_with_the_tone_intact(stack, tmp_path):
    tone_in, phone_tone, heard_by_door = tone_files(tmp_path, MP_CALL_S + 30)  # baresip hangs up at its end
    cap = stack(peers.Tshark(bpf="udp"))
    phone = stack(peers.Baresip("flat", audio_in_wav=phone_tone, record_wav=str(tmp_path / "phone-heard.wav")))
    st = stack(Station("micropython", config(tmp_path, targets=[phone.uri], codecs=["PCMU"]),
                       "--audio-in", tone_in, "--audio-out", heard_by_door))
    _, err, port = tone_call(st, phone, MP_CALL_S, timeout=15)
    pcap = cap.stop()
    sent = check_tone(phone.recorded_wav(), 1000, "what the phone heard")
    heard = check_tone(heard_by_door, 440, "what the door heard")
    assert sent["seconds"] > MP_CALL_S - 2
    streams = check_our_rtp(pcap, port, "g711U")
    heap = re.search(r"heap peak (\d+) bytes allocated, (\d+) live after a collection, (\d+) free", err)
    assert heap, err
    print("micropython %d s: sent %r heard %r; %s; stream %s" % (MP_CALL_S, sent, heard, heap.group(0),
                                                                 streams[0]["line"]))


def test_station_keys_dtmf_and_the_phone_hears_it(stack, tmp_path):
    phone = stack(peers.Baresip("flat"))
    st = stack(Station("cpython", config(tmp_path, targets=[phone.uri])))
    st.wait_for(lambda e: e["event"] == "ready", 20)
    st.send("tap call")
    st.wait_for(lambda e: e["event"] == "call_answered", 10)
    phone.wait_event("CALL_ESTABLISHED", 10)
    st.send("dtmf 123#")
    deadline = time.time() + 10
    while time.time() < deadline and phone.dtmf_received() != "123#":
        time.sleep(0.2)
    assert phone.dtmf_received() == "123#"
