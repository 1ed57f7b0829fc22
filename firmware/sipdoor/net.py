"""Sockets and the one poll the loop waits in.

select.poll() reports a file descriptor on CPython and the object itself on
MicroPython; Poller hides that, so the loop sees (callback, object) pairs.
"""

import select
import socket
import sys


class Poller:
    """One select.poll over sockets and streams, each with a callback."""

    def __init__(self):
        self._poll = select.poll()
        self._by_key = {}

    @staticmethod
    def _key(obj):
        if isinstance(obj, int):
            return obj
        try:
            return obj.fileno()
        except (AttributeError, OSError):
            return id(obj)

    def register(self, obj, callback):
        self._poll.register(obj, select.POLLIN)
        self._by_key[self._key(obj)] = (callback, obj)

    def unregister(self, obj):
        try:
            self._poll.unregister(obj)
        except (KeyError, OSError, ValueError):
            pass
        self._by_key.pop(self._key(obj), None)

    def wait(self, timeout_ms):
        ready = []
        for entry in self._poll.poll(timeout_ms if timeout_ms > 0 else 0):
            found = self._by_key.get(self._key(entry[0]))
            if found is not None:
                ready.append(found)
            elif entry[1] & (select.POLLHUP | select.POLLERR):
                # A source we no longer track still reports hang-up: drop it.
                try:
                    self._poll.unregister(entry[0])
                except (KeyError, OSError, ValueError):
                    pass
        return ready


def parse_hostport(text, default_port=5060):
    """Split "host:port", "[v6]:port" or "host" into (host, port).

    Raises ValueError with a short reason for the caller's error message.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("expected \"host:port\"")
    port = default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("unclosed '[' in IPv6 address")
        host = text[1:end]
        rest = text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError("expected ':' after ']'")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif ":" in text:
        raise ValueError("IPv6 address must be in brackets, e.g. [::1]:5060")
    else:
        host = text
    if not host:
        raise ValueError("missing host")
    try:
        port = int(port)
    except ValueError:
        raise ValueError("bad port %r" % port)
    if not 1 <= port <= 65535:
        raise ValueError("bad port %d (expected 1-65535)" % port)
    return host, port


def parse_http_url(url):
    """(host, port, path) of an http:// URL; ValueError with a reason.
    Plain HTTP only: the station has no TLS stack on every board."""
    if not isinstance(url, str) or not url.lower().startswith("http://"):
        raise ValueError("must start with http:// (https is not supported)")
    rest = url[7:]
    slash = rest.find("/")
    hostport, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    if "@" in hostport or " " in url:
        raise ValueError("must look like http://host:port/path")
    host, port = parse_hostport(hostport, 80)
    return host, port, path


def udp_socket(host, port):
    """A non-blocking UDP socket bound to host:port (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    addr = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)[0][-1]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    # No SO_REUSEADDR: on Linux it lets two UDP sockets share a port, and a
    # second station (or an RTP port in use) must fail, not split traffic.
    sock.bind(addr)
    sock.setblocking(False)
    return sock


def _sockaddr_to_tuple(addr):
    """MicroPython's unix port gives raw sockaddr bytes; make (host, port)."""
    if isinstance(addr, tuple):
        return (addr[0], addr[1])
    family = addr[0] | (addr[1] << 8)
    port = (addr[2] << 8) | addr[3]
    if family == socket.AF_INET:
        return ("%d.%d.%d.%d" % (addr[4], addr[5], addr[6], addr[7]), port)
    raw = addr[8:24]
    groups = ["%x" % ((raw[i] << 8) | raw[i + 1]) for i in range(0, 16, 2)]
    return (":".join(groups), port)


# The longest datagram read: SIP over UDP should stay under the path MTU
# (RFC 3261 18.1.1: above 1300 bytes a sender should switch to TCP) and
# RFC 4475's longest message is 3.5 KB. MicroPython allocates this much for
# every read before trimming it, so bigger only fragments a board's heap;
# CPython (a Pi) takes up to 8 KB (a long offer from a softphone via a PBX).
MAX_RECV = 4096 if sys.implementation.name == "micropython" else 8192
SMALL_RECV = 2048  # what a SIP response or an INVITE with one audio stream needs


class Udp:
    """A bound UDP socket with (host, port) addresses on both runtimes."""

    def __init__(self, host, port):
        self.sock = udp_socket(host, port)
        self.host = host
        self.port = port
        self._targets = {}  # (host, port) -> resolved sockaddr, bounded
        self.short_reads = 0  # reads retried with a small buffer (heap too fragmented)
        self.dropped = 0  # datagrams dropped for want of any buffer

    def fileno(self):
        return self.sock.fileno()

    def recv(self, size=MAX_RECV):
        """(data, (host, port)), or (None, None) when nothing is waiting.
        A datagram longer than size arrives cut short (the parser then
        refuses it), so an attacker's 64 KiB costs us size bytes at most."""
        for want in (size, SMALL_RECV, 1):
            try:
                data, addr = self.sock.recvfrom(want)
            except OSError:
                return None, None
            except MemoryError:
                # MicroPython allocates the buffer before reading, so the
                # datagram is still queued: on a fragmented heap try a
                # smaller buffer (most SIP messages fit), at last drop it,
                # or it keeps the socket readable for ever.
                self.short_reads += 1
                continue
            if want == 1:
                self.dropped += 1
                return None, None
            return data, _sockaddr_to_tuple(addr)
        return None, None

    def send(self, data, addr):
        """Send a datagram to (host, port); False instead of raising."""
        target = self._targets.get(addr)
        if target is None:
            try:
                target = socket.getaddrinfo(addr[0], addr[1], 0, socket.SOCK_DGRAM)[0][-1]
            except (OSError, IndexError):
                return False
            if len(self._targets) >= 32:
                self._targets.clear()
            self._targets[addr] = target
        try:
            self.sock.sendto(data, target)
            return True
        except OSError:
            return False

    def close(self):
        self.sock.close()


class Resolver:
    """Host name -> address for the SIP layer, cached (a door station talks
    to one PBX). A name that does not resolve stays as it is: the send
    then fails and the SIP timers retry, as after any network loss."""

    def __init__(self):
        self._cache = {}

    def __call__(self, host):
        addr = self._cache.get(host)
        if addr is not None:
            return addr
        if _is_address(host):
            return host
        try:
            info = socket.getaddrinfo(host, 5060, 0, socket.SOCK_DGRAM)[0][-1]
            addr = _sockaddr_to_tuple(info)[0]
        except (OSError, IndexError):
            return host
        if len(self._cache) >= 16:
            self._cache.clear()
        self._cache[host] = addr
        return addr


def _is_address(host):
    if ":" in host:
        return True
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)


def local_address(listen_host, towards=None):
    """The address peers should see in Contact and SDP. A listen address
    other than 0.0.0.0 is used as is; otherwise the address the OS routes
    towards the registrar (CPython, via a connected UDP socket, which sends
    nothing), the Wi-Fi address (ESP32), else 127.0.0.1."""
    if listen_host not in ("0.0.0.0", "::", ""):
        return listen_host
    if towards is not None:
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.connect(socket.getaddrinfo(towards, 5060, 0, socket.SOCK_DGRAM)[0][-1])
                host = _sockaddr_to_tuple(s.getsockname())[0]
            finally:
                s.close()
            if host and host != "0.0.0.0":
                return host
        except (OSError, AttributeError, IndexError):
            pass
    try:
        import network

        return network.WLAN(network.STA_IF).ifconfig()[0]
    except Exception:
        return "127.0.0.1"
