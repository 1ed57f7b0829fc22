"""The real-peer harness (tests/peers.py) works with the peers alone: no sipdoor code."""

import os
import socket
import struct
import time


import peers


def test_baresip_registers_with_digest_auth(stack):
    kam = stack(peers.Kamailio(users={"door": "pw", "101": "pw101"}))
    door = stack(peers.Baresip("door", user="door", password="pw", registrar=kam))
    ev = door.wait_event("REGISTER_OK", 5)
    assert ev["accountaor"] == "sip:door@127.0.0.1:%d" % kam.port
    kam.wait_log("REGISTER challenge door")      # 401 first
    kam.wait_log("REGISTER ok door")             # then 200
    assert kam.registered_contacts("door")


def test_wrong_password_is_refused(stack):
    kam = stack(peers.Kamailio(users={"door": "pw"}))
    door = stack(peers.Baresip("door", user="door", password="nope", registrar=kam))
    door.wait_event("REGISTER_FAIL", 5)
    assert kam.registered_contacts("door") == []


def test_call_through_kamailio(stack):
    kam = stack(peers.Kamailio(users={"door": "pw", "101": "pw101"}))
    door = stack(peers.Baresip("door", user="door", password="pw", registrar=kam))
    phone = stack(peers.Baresip("phone", user="101", password="pw101", registrar=kam))
    door.wait_event("REGISTER_OK", 5)
    phone.wait_event("REGISTER_OK", 5)
    door.dial(kam.user_uri("101"))
    phone.wait_event("CALL_ESTABLISHED", 5)
    door.wait_event("CALL_ESTABLISHED", 5)
    door.hangup()
    assert door.wait_event("CALL_CLOSED", 5)
    assert phone.wait_event("CALL_CLOSED", 5)
    kam.wait_log("INVITE challenge door")        # 407 for the caller's INVITE
    kam.wait_log("REQ BYE")                      # the BYE went through the proxy (record_route)


def test_kamailio_restart_keeps_port_and_drops_registrations(stack):
    kam = stack(peers.Kamailio(users={"door": "pw"}))
    door = stack(peers.Baresip("door", user="door", password="pw", registrar=kam, regint=2))
    door.wait_event("REGISTER_OK", 5)
    port = kam.port
    kam.restart()
    assert kam.port == port
    assert kam.registered_contacts("door") == []
    mark = door.mark()
    door.wait_event("REGISTER_OK", 8, since=mark)   # baresip re-registers (regint=2)
    assert kam.registered_contacts("door")


def test_peer_to_peer_audio_reaches_the_callee(stack, tmp_path):
    tone = peers.write_tone_wav(str(tmp_path / "tone.wav"), freq=1000, seconds=5)
    a = stack(peers.Baresip("a", audio_in_wav=tone))
    b = stack(peers.Baresip("b", record_wav=str(tmp_path / "heard.wav")))
    a.dial(b.uri)
    b.wait_event("CALL_ESTABLISHED", 5)
    a.wait_event("CALL_ESTABLISHED", 5)
    b.wait_event("CALL_RTPESTAB", 5)
    time.sleep(2)
    a.hangup()
    b.wait_event("CALL_CLOSED", 5)
    heard = b.recorded_wav()
    assert heard and os.path.exists(heard)
    samples, rate = peers.read_wav(heard)
    assert len(samples) > rate           # over a second of audio
    freq = peers.dominant_frequency(samples, rate)
    assert 950 < freq < 1050, "heard %.1f Hz" % freq


def test_dtmf_between_baresips(stack):
    a = stack(peers.Baresip("a"))
    b = stack(peers.Baresip("b"))
    a.dial(b.uri)
    a.wait_event("CALL_ESTABLISHED", 5)
    b.wait_event("CALL_ESTABLISHED", 5)
    a.send_dtmf("1234#")
    deadline = time.time() + 5
    while time.time() < deadline and b.dtmf_received() != "1234#":
        time.sleep(0.1)
    assert b.dtmf_received() == "1234#"
    ev = b.wait_event("CALL_DTMF_START", 1, param="#")
    assert ev["direction"] == "incoming"
    a.hangup()


def test_linphonec_calls_baresip(stack):
    b = stack(peers.Baresip("b"))
    lin = stack(peers.Linphonec("lin"))
    lin.dial(b.uri)
    b.wait_event("CALL_ESTABLISHED", 10)
    lin.wait_event("CALL_ESTABLISHED", 10)
    lin.hangup()
    b.wait_event("CALL_CLOSED", 5)
    lin.wait_event("CALL_CLOSED", 5)


def test_baresip_calls_linphonec(stack):
    lin = stack(peers.Linphonec("lin"))
    a = stack(peers.Baresip("a"))
    a.dial(lin.uri)
    a.wait_event("CALL_ESTABLISHED", 10)
    lin.wait_event("CALL_ESTABLISHED", 10)
    a.hangup()
    lin.wait_event("CALL_CLOSED", 5)


def test_tshark_sees_a_clean_call(stack):
    a = stack(peers.Baresip("a"))
    b = stack(peers.Baresip("b"))
    bpf = " or ".join(["udp port %d" % a.port, "udp port %d" % b.port,
                       "udp portrange %d-%d" % (a.rtp_port, a.rtp_port + 7),
                       "udp portrange %d-%d" % (b.rtp_port, b.rtp_port + 7)])
    cap = stack(peers.Tshark(bpf=bpf))
    a.dial(b.uri)
    a.wait_event("CALL_ESTABLISHED", 5)
    b.wait_event("CALL_ESTABLISHED", 5)
    a.send_dtmf("5")
    b.wait_event("CALL_DTMF_END", 5)
    a.hangup()
    b.wait_event("CALL_CLOSED", 5)
    pcap = cap.stop()
    text = "\n".join(peers.sip_summary(pcap))
    assert "INVITE sip:b@127.0.0.1" in text and "SIP/2.0 200 " in text and "BYE " in text, text
    rtp = peers.tshark_read(pcap, *peers.dissect_args(), "-Y", "rtp")
    assert "PCMU" in rtp and "DTMF Five 5" in rtp, rtp[:2000]
    assert peers.expert_warnings(pcap) == []


def test_expert_warnings_sees_a_malformed_packet(stack):
    port = peers.free_udp_port(2)
    cap = stack(peers.Tshark(ports=[port]))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(struct.pack("!BBHII", 0x80, 0, 1, 160, 1234) + b"\xff" * 160, ("127.0.0.1", port))
    s.sendto(struct.pack("!BBHII", 0x80, 101, 2, 160, 1234) + b"\x01", ("127.0.0.1", port))  # cut event
    s.close()
    found = peers.expert_warnings(cap.stop())
    assert any("malformed" in w and "rtpevent" in w for w in found), found


def test_baresip_calls_registered_linphonec_through_kamailio(stack):
    kam = stack(peers.Kamailio(users={"door": "pw", "102": "pw102"}))
    lin = stack(peers.Linphonec("lin", user="102", password="pw102", registrar=kam))
    door = stack(peers.Baresip("door", user="door", password="pw", registrar=kam))
    lin.wait_event("REGISTER_OK", 8)
    door.wait_event("REGISTER_OK", 5)
    door.dial(kam.user_uri("102"))
    door.wait_event("CALL_ESTABLISHED", 8)
    lin.wait_event("CALL_ESTABLISHED", 5)
    door.hangup()
    lin.wait_event("CALL_CLOSED", 5)
