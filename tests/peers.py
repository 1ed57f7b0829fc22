"""Real SIP peers for the tests: Kamailio, baresip, linphonec and a tshark capture.

Every peer runs on 127.0.0.1 only, on free ports, in its own temporary
directory, in the foreground, with its output captured to a log file. Each is
stopped by its PID (SIGTERM, then SIGKILL) and is also registered with atexit,
so that no process survives a failing test. A missing binary is a test failure
(AssertionError), never a skip.

    kam = Kamailio(users={"door": "pw", "101": "pw101"})
    phone = Baresip("101", user="101", password="pw101", registrar=kam)
    phone.wait_event("REGISTER_OK")
    door = Baresip("door", user="door", password="pw", registrar=kam)
    door.dial("sip:101@127.0.0.1:%d" % kam.port)
    phone.wait_event("CALL_ESTABLISHED")

Use them as context managers, or call .stop() (e.g. from a pytest fixture).
Their temp dirs (configs, logs, captures) are removed at interpreter exit;
SIPDOOR_KEEP_PEER_DIRS=1 keeps them for debugging.
"""

import atexit
import json
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import wave

HOST = "127.0.0.1"
_live = set()  # peers still running, stopped at interpreter exit


_dirs = []  # temp dirs, removed at exit unless SIPDOOR_KEEP_PEER_DIRS=1 (for debugging)


def _mkdtemp(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    _dirs.append(d)
    return d


def _stop_all():
    for peer in list(_live):
        try:
            peer.stop()
        except Exception:
            pass
    if os.environ.get("SIPDOOR_KEEP_PEER_DIRS") != "1":
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_stop_all)


def need_binary(name, package):
    """Absolute path of a binary; AssertionError (not a skip) when missing."""
    path = shutil.which(name)
    if not path:
        for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
            if os.access(os.path.join(d, name), os.X_OK):
                path = os.path.join(d, name)
                break
    if not path:
        raise AssertionError("%s is not installed (Debian package %s): run `make test`, "
                             "which installs tools/debian-test-packages.txt" % (name, package))
    return path


# -- ports --------------------------------------------------------------------

_given = set()  # ports handed out by this process, never handed out twice
_port_lock = threading.Lock()


def _udp_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _tcp_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_udp_port(count=2, tcp=False):
    """First port of `count` consecutive free UDP ports on 127.0.0.1.

    The first port is even (RTP), so port+1 is free for RTCP with the default
    count=2. tcp=True also requires the TCP ports to be free (ctrl_tcp).
    """
    with _port_lock:
        for _ in range(200):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((HOST, 0))
            base = s.getsockname()[1] & ~1
            s.close()
            if base < 1024 or base + count > 65535:
                continue
            ports = range(base, base + count)
            if any(p in _given for p in ports):
                continue
            if all(_udp_free(p) and (not tcp or _tcp_free(p)) for p in ports):
                _given.update(ports)
                return base
    raise AssertionError("no %d consecutive free UDP ports on %s" % (count, HOST))


def free_tcp_port():
    with _port_lock:
        for _ in range(200):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            port = s.getsockname()[1]
            s.close()
            if port not in _given:
                _given.add(port)
                return port
    raise AssertionError("no free TCP port on %s" % HOST)


# -- audio files ----------------------------------------------------------------

def write_tone_wav(path, freq=1000.0, seconds=5.0, rate=8000, amplitude=8000):
    """Mono S16LE WAV (what baresip's aufile needs: 8000 Hz for G.711). freq=0: silence."""
    n = int(rate * seconds)
    if freq:
        step = 2 * math.pi * freq / rate
        frames = b"".join(struct.pack("<h", int(amplitude * math.sin(step * i))) for i in range(n))
    else:
        frames = b"\0\0" * n
    w = wave.open(path, "wb")
    try:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    finally:
        w.close()
    return path


def read_wav(path):
    """(samples as a tuple of ints, sample rate) of a mono 16-bit WAV."""
    w = wave.open(path, "rb")
    try:
        rate, n, width, ch = w.getframerate(), w.getnframes(), w.getsampwidth(), w.getnchannels()
        data = w.readframes(n)
    finally:
        w.close()
    assert width == 2 and ch == 1, "%s: expected mono 16-bit, got %d ch %d bytes" % (path, ch, width)
    return struct.unpack("<%dh" % (len(data) // 2), data), rate


def dominant_frequency(samples, rate, threshold=500):
    """Frequency (Hz) estimated by zero crossings over the non-silent samples, or 0."""
    loud = [s for s in samples if abs(s) > threshold]
    if len(loud) < rate // 10:
        return 0.0
    # keep the stretch between the first and last loud sample (skips silence around it)
    idx = [i for i, s in enumerate(samples) if abs(s) > threshold]
    part = samples[idx[0]:idx[-1] + 1]
    crossings = sum(1 for a, b in zip(part, part[1:]) if (a < 0) != (b < 0))
    return crossings / 2.0 / (len(part) / float(rate))


_silence = {}


def _silence_wav(seconds=300):
    """One shared silent WAV per process (aufile ends the call at end of file)."""
    path = _silence.get(seconds)
    if not path or not os.path.exists(path):
        d = _mkdtemp("sipdoor-silence-")
        path = write_tone_wav(os.path.join(d, "silence.wav"), freq=0, seconds=seconds)
        _silence[seconds] = path
    return path


# -- process base ----------------------------------------------------------------

class Peer:
    """A child process in its own session, logging to self.logfile."""

    name = "peer"
    proc = None

    def __init__(self):
        self.dir = _mkdtemp("sipdoor-%s-" % self.name)
        self.logfile = os.path.join(self.dir, "output.log")
        self._log_fh = None

    def _spawn(self, argv, stdin=subprocess.DEVNULL, env=None, stdout_pipe=False):
        self._log_fh = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            argv, cwd=self.dir, stdin=stdin, env=env,
            stdout=subprocess.PIPE if stdout_pipe else self._log_fh,
            stderr=subprocess.STDOUT, start_new_session=True)
        _live.add(self)
        return self.proc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        """Everything the process printed so far (text)."""
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, text, timeout=5.0):
        """Wait until `text` appears in the log (loggers may lag the SIP messages)."""
        deadline = time.time() + timeout
        while text not in self.log():
            if time.time() > deadline:
                self._fail("%r not in the log within %.0f s" % (text, timeout))
            time.sleep(0.05)
        return True

    def _fail(self, what):
        tail = "\n".join(self.log().splitlines()[-40:])
        raise AssertionError("%s: %s\n--- last lines of %s ---\n%s" % (self.name, what, self.logfile, tail))

    def _kill(self, timeout=5.0):
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the session we started: pgid == pid
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)
        else:
            # main process gone: make sure no child of its group survives
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self):
        self._kill()
        if self._log_fh:
            self._log_fh.close()
            self._log_fh = None
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def sip_options(port, host=HOST, timeout=0.3):
    """Send one OPTIONS to host:port over UDP; the status code of the answer or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((HOST, 0))
        lport = s.getsockname()[1]
        branch = "z9hG4bK%08x" % (int(time.time() * 1e6) & 0xffffffff)
        msg = ("OPTIONS sip:%s:%d SIP/2.0\r\n"
               "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
               "Max-Forwards: 70\r\n"
               "From: <sip:probe@%s>;tag=probe\r\n"
               "To: <sip:%s:%d>\r\n"
               "Call-ID: %s@probe\r\n"
               "CSeq: 1 OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n") % (host, port, HOST, lport, branch, HOST, host, port, branch)
        s.sendto(msg.encode(), (host, port))
        s.settimeout(timeout)
        data = s.recv(65535)
        m = re.match(rb"SIP/2\.0 (\d{3})", data)
        return int(m.group(1)) if m else None
    except OSError:
        return None
    finally:
        s.close()


# -- Kamailio ------------------------------------------------------------------------

KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"

_KAMAILIO_CFG = r"""#!KAMAILIO
# Registrar + proxy for the tests (written by tests/peers.py).
debug=2
log_stderror=yes
log_prefix="{$mt $hdr(CSeq)} "
children=2
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:%(port)d
# no alias=127.0.0.1: an alias without port matches every port, so all the
# UAs on 127.0.0.1 would be "myself" and loose_route() would misroute the ACK/BYE

mpath="%(modules)s"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "ctl.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "auth_db.so"

modparam("ctl", "binrpc", "unix:%(dir)s/kamailio_ctl")
modparam("usrloc", "db_mode", 0)          # locations in memory only
modparam("registrar", "max_expires", 3600)
modparam("registrar", "min_expires", 1)
modparam("rr", "append_fromtag", 1)
# credentials: db_text table %(dir)s/db/subscriber, plain passwords
modparam("auth_db", "db_url", "text://%(dir)s/db")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")

request_route {
    xlog("L_INFO", "REQ $rm $ru from $si:$sp user=$fU\n");
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (!sanity_check("17895", "7")) { xlog("L_WARN", "malformed request from $si:$sp\n"); exit; }

    # in-dialog requests: follow the Route set (record_route below)
    if (has_totag()) {
        if (loose_route()) { route(RELAY); }
        if (is_method("ACK")) {
            if (t_check_trans()) { route(RELAY); }
            exit;
        }
        sl_send_reply("404", "Not here");
        exit;
    }
    if (is_method("CANCEL")) {
        if (t_check_trans()) { route(RELAY); }
        exit;
    }
    if (is_method("ACK")) { exit; }
    t_check_trans();

    if (is_method("REGISTER")) {
        if (!auth_check("$fd", "subscriber", "1")) {
            xlog("L_INFO", "REGISTER challenge $fU ($rc)\n");
            auth_challenge("$fd", "0");         # 401
            exit;
        }
        consume_credentials();
        if (!save("location")) { sl_reply_error(); }
        xlog("L_INFO", "REGISTER ok $fU $ct\n");
        exit;
    }

    if (is_method("OPTIONS") && $rU == $null && uri == myself) {
        sl_send_reply("200", "OK");
        exit;
    }

    # requests from our users must authenticate
    if ($fd == "127.0.0.1" && !is_method("PRACK")) {
        if (!auth_check("$fd", "subscriber", "1")) {
            xlog("L_INFO", "$rm challenge $fU ($rc)\n");
            auth_challenge("$fd", "0");         # 407
            exit;
        }
        consume_credentials();
    }

    remove_hf("Route");
    if (is_method("INVITE|SUBSCRIBE")) { record_route(); }
    if ($rU == $null) { sl_send_reply("484", "Address Incomplete"); exit; }
    if (!lookup("location")) {
        xlog("L_INFO", "$rm to $rU: not registered\n");
        sl_send_reply("404", "Not Found");
        exit;
    }
    route(RELAY);
}

route[RELAY] {
    if (!t_relay()) { sl_reply_error(); }
    exit;
}

onreply_route {
    xlog("L_INFO", "REPLY $rs $rr to $rm\n");
}
"""


class Kamailio(Peer):
    """Kamailio registrar/proxy with digest auth on udp:127.0.0.1:port.

    users: {"username": "password"}; the realm/domain is 127.0.0.1. REGISTER
    gets 401 then 200; out-of-dialog requests from user@127.0.0.1 get 407;
    requests are routed to registered contacts (404 when none).
    """

    name = "kamailio"
    domain = HOST

    def __init__(self, users=None, port=None, start=True):
        self.binary = need_binary("kamailio", "kamailio")
        super().__init__()
        self.users = dict(users or {})
        self.port = port or free_udp_port(1)
        os.makedirs(os.path.join(self.dir, "db"))
        with open(os.path.join(self.dir, "db", "version"), "w") as f:
            f.write("table_name(string) table_version(int)\nsubscriber:7\n")
        with open(os.path.join(self.dir, "db", "subscriber"), "w") as f:
            f.write("id(int,auto) username(string) domain(string) password(string) "
                    "ha1(string,null) ha1b(string,null)\n")
            for i, (user, pw) in enumerate(sorted(self.users.items()), 1):
                assert ":" not in user + pw, "db_text: no ':' in users/passwords"
                f.write("%d:%s:%s:%s::\n" % (i, user, HOST, pw))
        self.cfg = os.path.join(self.dir, "kamailio.cfg")
        with open(self.cfg, "w") as f:
            f.write(_KAMAILIO_CFG % {"port": self.port, "dir": self.dir, "modules": KAMAILIO_MODULES})
        if start:
            self.start()

    @property
    def uri(self):
        return "sip:%s:%d" % (HOST, self.port)

    def user_uri(self, user):
        return "sip:%s@%s:%d" % (user, HOST, self.port)

    def start(self, timeout=10.0):
        # -DD: no daemon, keep children; -E: log to stderr; small memory pools
        self._spawn([self.binary, "-DD", "-E", "-f", self.cfg, "-m", "32", "-M", "4",
                     "-P", os.path.join(self.dir, "kamailio.pid"), "-Y", self.dir])
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self._fail("exited with status %s at start" % self.proc.returncode)
            if sip_options(self.port) == 200:
                return self
            time.sleep(0.1)
        self._fail("no answer to OPTIONS on udp:%s:%d within %.0f s" % (HOST, self.port, timeout))

    def restart(self):
        """Stop and start again on the same port (registrations are lost: usrloc in memory)."""
        self.stop()
        return self.start()

    def rpc(self, *args):
        """Output of `kamcmd` on the control socket, e.g. rpc("ul.dump")."""
        kamcmd = need_binary("kamcmd", "kamailio")
        out = subprocess.run([kamcmd, "-s", "unix:%s/kamailio_ctl" % self.dir] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        return out.stdout.decode("utf-8", "replace")

    def registered_contacts(self, user):
        """Contact URIs currently registered for user (via kamcmd ul.lookup)."""
        out = self.rpc("ul.lookup", "location", "%s@%s" % (user, HOST))
        return re.findall(r"Address:\s*(\S+)", out)


# -- baresip -----------------------------------------------------------------------

def _netstring(obj):
    data = json.dumps(obj).encode()
    return b"%d:%s," % (len(data), data)


class Baresip(Peer):
    """baresip 1.0 driven through ctrl_tcp (netstring JSON).

    Peer-to-peer (no user): callable at .uri = sip:NAME@127.0.0.1:PORT.
    Registered (user, password, registrar=Kamailio or "host:port"): AOR
    sip:USER@127.0.0.1:KPORT, registers with digest auth.

    Events are baresip's own JSON dicts, appended to .events, e.g.
      {"event": True, "type": "CALL_ESTABLISHED", "class": "call",
       "accountaor": "sip:b@127.0.0.1", "direction": "incoming",
       "peeruri": "sip:a@127.0.0.1", "id": "60aea7bcbf4818ee", "param": "sip:a@127.0.0.1"}
    types: REGISTER_OK, REGISTER_FAIL, CALL_INCOMING, CALL_RINGING, CALL_PROGRESS,
    CALL_ESTABLISHED, CALL_CLOSED (param = reason), CALL_DTMF_START (param = digit),
    CALL_DTMF_END, CALL_RTPESTAB, CALL_RTCP, CALL_LOCAL_SDP, CALL_REMOTE_SDP.
    Each event also gets "t" (time.time() when received).
    """

    name = "baresip"

    def __init__(self, name, user=None, password=None, registrar=None, auto_answer=True,
                 audio_in_wav=None, record_wav=None, regint=60, extra_account_params=""):
        self.binary = need_binary("baresip", "baresip-core")
        self.name = name
        super().__init__()
        self.user = user
        self.port = free_udp_port(1)
        self.rtp_port = free_udp_port(8)          # rtp_ports range (RTP/RTCP pairs)
        self.ctrl_port = free_tcp_port()
        self.record_wav = record_wav
        self.rec_dir = os.path.join(self.dir, "rec")
        self.events = []
        self._responses = {}
        self._cond = threading.Condition()
        self._token = 0
        self._sock = None
        if registrar is not None and not isinstance(registrar, str):
            registrar = "%s:%d" % (registrar.domain, registrar.port)
        self.registrar = registrar
        if user:
            assert registrar, "a registered baresip needs registrar="
            self.aor = "sip:%s@%s" % (user, registrar)
        else:
            self.aor = "sip:%s@%s" % (name, HOST)
        source = audio_in_wav or _silence_wav()
        modules = ["g711.so", "aufile.so", "aubridge.so"]
        if record_wav:
            modules.append("sndfile.so")
            os.makedirs(self.rec_dir)
        cfg = [
            "# baresip config for the tests (tests/peers.py)",
            "poll_method epoll",
            "sip_listen %s:%d" % (HOST, self.port),
            "net_interface %s" % HOST,              # an address, not `lo`
            "audio_source aufile,%s" % source,      # 8000 Hz mono S16 WAV; the call ends at EOF
            "audio_player aubridge,nowhere",         # no sound card: a bridge to nothing
            "audio_alert aubridge,nowhere",
            "rtp_ports %d-%d" % (self.rtp_port, self.rtp_port + 7),
            "call_max_calls 4",
            "module_path /usr/lib/baresip/modules",
        ] + ["module %s" % m for m in modules] + [
            "module_app account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            "ctrl_tcp_listen %s:%d" % (HOST, self.ctrl_port),
        ]
        if record_wav:
            cfg.append("snd_path %s" % self.rec_dir)  # sndfile: dump-<time>-dec.wav = what we hear
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write("\n".join(cfg) + "\n")
        params = ";answermode=%s" % ("auto" if auto_answer else "manual")
        if user:
            params += ";auth_user=%s;auth_pass=%s;regint=%d" % (user, password or "", regint)
        else:
            params += ";regint=0"
        account = "<%s>%s%s" % (self.aor, params, extra_account_params)
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            # a registered account is added with `uanew` once ctrl_tcp is connected,
            # else its REGISTER_OK comes before we listen and is lost
            f.write("" if user else account + "\n")
        with open(os.path.join(self.dir, "contacts"), "w") as f:
            f.write("")
        self._start()
        if user:
            self.command("uanew", account)

    @property
    def uri(self):
        """Where to call this baresip directly (peer to peer)."""
        return "sip:%s@%s:%d" % (self.user or self.name, HOST, self.port)

    def _start(self, timeout=10.0):
        self._spawn([self.binary, "-f", self.dir])
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self._fail("exited with status %s at start" % self.proc.returncode)
            try:
                self._sock = socket.create_connection((HOST, self.ctrl_port), timeout=0.5)
                break
            except OSError:
                time.sleep(0.1)
        else:
            self._fail("ctrl_tcp %s:%d not listening within %.0f s" % (HOST, self.ctrl_port, timeout))
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _read_loop(self):
        buf = b""
        sock = self._sock
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                return
            buf += data
            while True:
                colon = buf.find(b":")
                if colon < 0:
                    break
                length = int(buf[:colon])
                if len(buf) < colon + 1 + length + 1:
                    break
                msg = json.loads(buf[colon + 1:colon + 1 + length].decode("utf-8", "replace"))
                buf = buf[colon + 1 + length + 1:]
                msg["t"] = time.time()
                with self._cond:
                    if msg.get("event"):
                        self.events.append(msg)
                    elif msg.get("response"):
                        self._responses[msg.get("token")] = msg
                    self._cond.notify_all()

    def command(self, cmd, params=None, timeout=5.0):
        """Run a baresip (menu) command; returns the response dict, AssertionError if not ok."""
        with self._cond:
            self._token += 1
            token = str(self._token)
        req = {"command": cmd, "token": token}
        if params is not None:
            req["params"] = params
        self._sock.sendall(_netstring(req))
        deadline = time.time() + timeout
        with self._cond:
            while token not in self._responses:
                left = deadline - time.time()
                if left <= 0:
                    self._fail("no response to %r within %.0f s" % (req, timeout))
                self._cond.wait(left)
            resp = self._responses.pop(token)
        if not resp.get("ok"):
            self._fail("command %r failed: %r" % (req, resp))
        return resp

    def dial(self, uri):
        return self.command("dial", uri)

    def hangup(self):
        return self.command("hangup")

    def answer(self):
        return self.command("accept")

    def send_dtmf(self, digits):
        """RFC 4733 telephone-events on the current call."""
        return self.command("sndcode", digits)

    def mark(self):
        """Index to pass as since= to wait only for events after now."""
        with self._cond:
            return len(self.events)

    def find_events(self, kind, since=0, **fields):
        with self._cond:
            return [e for e in self.events[since:]
                    if e.get("type") == kind and all(e.get(k) == v for k, v in fields.items())]

    def wait_event(self, kind, timeout=10.0, since=0, **fields):
        """First event of type `kind` (e.g. "CALL_ESTABLISHED") at index >= since whose
        fields match; AssertionError with the log tail on timeout."""
        deadline = time.time() + timeout
        with self._cond:
            while True:
                for e in self.events[since:]:
                    if e.get("type") == kind and all(e.get(k) == v for k, v in fields.items()):
                        return e
                left = deadline - time.time()
                if left <= 0:
                    break
                self._cond.wait(left)
            seen = [e.get("type") for e in self.events]
        self._fail("no %s event %r within %.0f s (events: %s)" % (kind, fields, timeout, seen))

    def dtmf_received(self, since=0):
        """Digits received so far (CALL_DTMF_START params) as a string."""
        return "".join(e.get("param", "") for e in self.find_events("CALL_DTMF_START", since))

    def recordings(self):
        """Paths of the decoded (received) audio dumps, oldest first (needs record_wav)."""
        if not os.path.isdir(self.rec_dir):
            return []
        names = sorted(n for n in os.listdir(self.rec_dir) if n.endswith("-dec.wav"))
        return [os.path.join(self.rec_dir, n) for n in names]

    def recorded_wav(self):
        """The last received-audio recording, copied to record_wav; None when none yet.
        Complete once the call is closed (wait for CALL_CLOSED first)."""
        recs = self.recordings()
        if not recs:
            return None
        if self.record_wav:
            shutil.copyfile(recs[-1], self.record_wav)
            return self.record_wav
        return recs[-1]

    def stop(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        super().stop()


# -- linphonec -------------------------------------------------------------------------

class Linphonec(Peer):
    """linphonec (liblinphone 5.1) with commands written to its stdin pipe.

    Peer to peer: callable at .uri = sip:NAME@127.0.0.1:PORT (auto-answer with -a).
    Registered: user, password, registrar (Kamailio or "host:port").
    Events parsed from its output, appended to .events as dicts:
      {"type": "CALL_OUTGOING"|"CALL_RINGING"|"CALL_ESTABLISHED"|"CALL_MEDIA"|
               "CALL_INCOMING"|"CALL_CLOSED"|"CALL_ERROR"|"REGISTER_OK"|"REGISTER_FAIL",
       "id": "1" (linphonec call id, when known), "peeruri": "...", "line": raw line, "t": time}
    """

    name = "linphonec"

    _PATTERNS = [
        ("CALL_OUTGOING", r"Call (?P<id>\d+) to (?P<peeruri>\S+) in progress"),
        ("CALL_RINGING", r"Call (?P<id>\d+) to (?P<peeruri>\S+) ringing"),
        ("CALL_INCOMING", r"Receiving new incoming call from (?P<peeruri>\S+), assigned id (?P<id>\d+)"),
        ("CALL_ESTABLISHED", r"Call (?P<id>\d+) with (?P<peeruri>\S+) connected"),
        ("CALL_MEDIA", r"Media streams established with (?P<peeruri>\S+) for call (?P<id>\d+)"),
        ("CALL_CLOSED", r"Call (?P<id>\d+) with (?P<peeruri>\S+) ended"),
        ("CALL_ERROR", r"Call (?P<id>\d+) with (?P<peeruri>\S+) error"),
    ]

    def __init__(self, name="linphone", user=None, password=None, registrar=None, auto_answer=True):
        self.binary = need_binary("linphonec", "linphone-cli")
        self.name = name
        super().__init__()
        self.user = user
        self.port = free_udp_port(1)
        self.rtp_port = free_udp_port(2)
        self.events = []
        self._cond = threading.Condition()
        if registrar is not None and not isinstance(registrar, str):
            registrar = "%s:%d" % (registrar.domain, registrar.port)
        self.registrar = registrar
        home = os.path.join(self.dir, "home")
        os.makedirs(os.path.join(home, ".local", "share", "linphone"))
        ident = user or name
        rc = [
            "# linphonec config for the tests (tests/peers.py)",
            "[sip]",
            "sip_port=%d" % self.port,
            "sip_tcp_port=0",
            "sip_tls_port=0",
            "bind_address=%s" % HOST,
            "use_ipv6=0",
            "ipv6_migration_done=1",                 # else use_ipv6 is "migrated" away and SDP gets IPv6
            "contact=sip:%s@%s" % (ident, HOST),
            "guess_hostname=0",
            "supported=replaces",                    # no gruu/outbound: Kamailio here has no GRUU support
            "[rtp]",
            "audio_rtp_port=%d" % self.rtp_port,
            "bind_address=%s" % HOST,                # c= line in the SDP (else the default-route address)
            "[sound]",
            "echocancellation=0",
            "[video]",
            "automatically_initiate=0",
            "automatically_accept=0",
            "display=0",
            "capture=0",
            "[storage]",
            "uri=%s" % os.path.join(self.dir, "linphone.db"),
        ]
        if user:
            assert registrar, "a registered linphonec needs registrar="
            rc += [
                "[proxy_0]",
                "reg_proxy=<sip:%s;transport=udp>" % registrar,
                "reg_identity=sip:%s@%s" % (user, registrar.split(":")[0]),
                "reg_expires=60",
                "reg_sendregister=1",
                "publish=0",
                "[auth_info_0]",
                "username=%s" % user,
                "passwd=%s" % (password or ""),
                "realm=%s" % registrar.split(":")[0],
            ]
        self.rcfile = os.path.join(self.dir, "linphonerc")
        with open(self.rcfile, "w") as f:
            f.write("\n".join(rc) + "\n")
        argv = [self.binary, "-c", self.rcfile, "-S", "-d", "3", "-l", os.path.join(self.dir, "liblinphone.log")]
        if auto_answer:
            argv.append("-a")
        env = dict(os.environ, HOME=home)
        # stdin must stay open (EOF makes linphonec quit): a pipe we keep until stop()
        self._spawn(argv, stdin=subprocess.PIPE, env=env, stdout_pipe=True)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        # registration states are only in liblinphone's log, not on stdout
        self._tailer = threading.Thread(target=self._tail_liblinphone, daemon=True)
        self._tailer.start()
        self._wait_listening()

    def _tail_liblinphone(self):
        path = os.path.join(self.dir, "liblinphone.log")
        states = {"LinphoneRegistrationOk": "REGISTER_OK", "LinphoneRegistrationFailed": "REGISTER_FAIL"}
        pos = 0
        while self.proc is not None:
            try:
                with open(path, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
            except OSError:
                chunk = b""
            end = chunk.rfind(b"\n") + 1
            pos += end
            for raw in chunk[:end].splitlines():
                m = re.search(rb"identity \[(\S+)\] moving from state \[\w+\] to \[(\w+)\]", raw)
                if m and m.group(2).decode() in states:
                    ev = {"type": states[m.group(2).decode()], "peeruri": m.group(1).decode(),
                          "line": raw.decode("utf-8", "replace"), "t": time.time()}
                    with self._cond:
                        self.events.append(ev)
                        self._cond.notify_all()
            time.sleep(0.1)

    @property
    def uri(self):
        return "sip:%s@%s:%d" % (self.user or self.name, HOST, self.port)

    def _wait_listening(self, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self._fail("exited with status %s at start" % self.proc.returncode)
            if not _udp_free(self.port):   # the SIP socket is bound
                time.sleep(0.2)
                return
            time.sleep(0.1)
        self._fail("not listening on udp:%s:%d within %.0f s" % (HOST, self.port, timeout))

    def _read_loop(self):
        out = self.proc.stdout
        for raw in iter(out.readline, b""):
            self._log_fh.write(raw)
            self._log_fh.flush()
            line = raw.decode("utf-8", "replace").strip()
            for kind, pat in self._PATTERNS:
                m = re.search(pat, line)
                if m:
                    ev = {"type": kind, "line": line, "t": time.time()}
                    ev.update(m.groupdict())
                    with self._cond:
                        self.events.append(ev)
                        self._cond.notify_all()

    def send(self, command):
        """Write one linphonec command line (e.g. "call sip:...", "terminate", "answer")."""
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def dial(self, uri):
        self.send("call %s" % uri)

    def hangup(self):
        self.send("terminate")

    def answer(self):
        self.send("answer")

    def send_dtmf(self, digits):
        for d in digits:
            self.send("dtmf %s" % d)
            time.sleep(0.2)

    def mark(self):
        with self._cond:
            return len(self.events)

    def wait_event(self, kind, timeout=10.0, since=0, **fields):
        deadline = time.time() + timeout
        with self._cond:
            while True:
                for e in self.events[since:]:
                    if e["type"] == kind and all(e.get(k) == v for k, v in fields.items()):
                        return e
                left = deadline - time.time()
                if left <= 0:
                    break
                self._cond.wait(left)
            seen = [e["type"] for e in self.events]
        self._fail("no %s event %r within %.0f s (events: %s)" % (kind, fields, timeout, seen))

    def log(self):
        text = super().log()
        try:
            with open(os.path.join(self.dir, "liblinphone.log"), "rb") as f:
                text += "\n--- liblinphone.log ---\n" + f.read().decode("utf-8", "replace")[-20000:]
        except OSError:
            pass
        return text

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        proc = self.proc
        super().stop()
        if proc is not None:
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass


# -- tshark ----------------------------------------------------------------------------

class Tshark(Peer):
    """Capture on lo with a BPF filter: Tshark(ports=[5060, 5062]) or Tshark(bpf="udp").

    .stop() ends the capture (the pcap is complete after it); .pcap is the file.
    """

    name = "tshark"

    def __init__(self, ports=None, bpf=None, pcap=None):
        self.binary = need_binary("tshark", "tshark")
        super().__init__()
        if bpf is None:
            bpf = " or ".join("udp port %d" % p for p in ports) if ports else "udp"
        self.bpf = bpf
        self.pcap = pcap or os.path.join(self.dir, "capture.pcapng")
        # dumpcap says "Capture started" before it really captures, and writes the
        # file in bursts: probe datagrams to a port of our own (in the filter) tell
        # when the capture is live and when everything before them is on disk
        self.probe_port = free_udp_port(1)
        self._spawn([self.binary, "-i", "lo", "-f", "(%s) or udp dst port %d" % (bpf, self.probe_port),
                     "-w", self.pcap, "-q"])
        self._probe_until_written("capture did not start")

    def _probe_until_written(self, what, timeout=15.0):
        size = os.path.getsize(self.pcap) if os.path.exists(self.pcap) else 0
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            deadline = time.time() + timeout
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    self._fail("%s: tshark exited with status %s" % (what, self.proc.returncode))
                s.sendto(b"sipdoor-capture-probe", (HOST, self.probe_port))
                time.sleep(0.05)
                if os.path.exists(self.pcap) and os.path.getsize(self.pcap) > max(size, 400):
                    return
        finally:
            s.close()
        self._fail("%s within %.0f s" % (what, timeout))

    def stop(self):
        """Flush (probe), SIGINT so dumpcap closes the file, then the usual stop."""
        if self.alive():
            try:
                self._probe_until_written("capture not flushed", timeout=5)
            except AssertionError:
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        super().stop()
        return self.pcap


def tshark_read(pcap, *args):
    """Output of `tshark -r pcap ARGS...` (text)."""
    binary = need_binary("tshark", "tshark")
    out = subprocess.run([binary, "-r", pcap] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=60)
    assert out.returncode == 0, "tshark -r %s %s failed: %s" % (pcap, " ".join(args), out.stderr.decode())
    return out.stdout.decode("utf-8", "replace")


def sip_summary(pcap):
    """One line per SIP message: 'frame src:port -> dst:port request-line/status-line'."""
    text = tshark_read(pcap, *dissect_args(), "-Y", "sip", "-T", "fields", "-E", "separator=|",
                       "-e", "frame.number", "-e", "ip.src", "-e", "udp.srcport",
                       "-e", "ip.dst", "-e", "udp.dstport",
                       "-e", "sip.Request-Line", "-e", "sip.Status-Line")
    lines = []
    for row in text.splitlines():
        f = row.split("|")
        if len(f) >= 7:
            lines.append("%s %s:%s -> %s:%s %s" % (f[0], f[1], f[2], f[3], f[4], f[5] or f[6]))
    return lines


def dissect_args(heuristics=("sip_udp", "rtp_udp"), decode_as=()):
    """tshark options so SIP and RTP on any UDP port are dissected (RTP has no
    well-known port: without the rtp_udp heuristic it is plain UDP and never checked).
    decode_as: e.g. ["udp.port==40000,rtp"]."""
    args = []
    for h in heuristics:
        args += ["--enable-heuristic", h]
    for d in decode_as:
        args += ["-d", d]
    return args


def expert_warnings(pcap, protocols=None, heuristics=("sip_udp", "rtp_udp"), decode_as=()):
    """Malformed packets and warning/error expert items of a capture, one string each
    ("frame N: malformed (eth:...:rtpevent)" or "frame N: warning <protocols>: <message>").
    [] means a clean capture.

    protocols: only keep items of frames with one of these protocols (e.g. {"sip", "rtp"}).
    """
    text = tshark_read(pcap, *dissect_args(heuristics, decode_as), "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
                       "-E", "aggregator=;", "-e", "frame.number", "-e", "_ws.malformed",
                       "-e", "_ws.expert.severity", "-e", "_ws.expert.group",
                       "-e", "_ws.expert.message", "-e", "frame.protocols",
                       "-Y", "_ws.malformed or _ws.expert.severity >= 0x00600000")
    names = {0x00800000: "error", 0x00600000: "warning", 0x00400000: "note",
             0x00200000: "chat", 0x00100000: "comment"}
    found = []
    for row in text.splitlines():
        f = row.split("|")
        if len(f) < 6:
            continue
        frame, malformed, sev, _group, msg, protos = f[:6]
        if protocols and not set(protos.split(":")) & set(protocols):
            continue
        if malformed:
            found.append("frame %s: malformed (%s)" % (frame, protos))
        sevs, msgs = sev.split(";"), msg.split(";")
        for s, m in zip(sevs, msgs):
            try:
                level = int(s, 0)
            except ValueError:
                continue
            if level >= 0x00600000:
                found.append("frame %s: %s %s: %s" % (frame, names.get(level, hex(level)), protos, m))
    return found
