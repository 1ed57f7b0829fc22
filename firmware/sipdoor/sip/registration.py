"""Registration with a registrar (RFC 3261 section 10), sans-IO.

The field notes list how small stacks fail here, so each is a rule:
- One Call-ID for the life of the binding; CSeq goes up by one for every
  REGISTER, auth retries and refreshes alike (10.2.4; FRITZ!Box and Asterisk
  refuse anything else).
- Refresh before expiry: at expires minus a tenth (at least 5 s early).
- 423 Interval Too Brief: retry at once with its Min-Expires (10.2.8).
- Any failure (an error status, no answer, rejected credentials, a lost
  keep-alive) re-registers with capped exponential back-off plus jitter,
  forever: a door station must come back after an outage on its own.
- 503 with Retry-After waits as long as the registrar asks (within the cap).
- The registrar's view of our address (Via received/rport, RFC 3581) goes
  into the Contact: behind NAT the binding is re-done at once with it.
- Shutting down sends Expires: 0 (unregister).

States: idle -> registering -> registered -> (refresh) registering ...;
any failure -> waiting (back-off timer) -> registering; stop() ->
unregistering -> idle.
"""

from sipdoor.clock import ticks_add
from sipdoor.sip.events import Registered, RegistrationFailed, Unregistered
from sipdoor.sip.headers import parse_uint

IDLE = "idle"
REGISTERING = "registering"
REGISTERED = "registered"
WAITING = "waiting"
UNREGISTERING = "unregistering"

BACKOFF_FIRST_S = 5
BACKOFF_MAX_S = 300
MAX_423 = 3


def refresh_ms(expires):
    """When to refresh a binding that lasts expires seconds."""
    early = expires * 100  # a tenth, in ms
    if early < 5000:
        early = 5000
    if early > expires * 500:
        early = expires * 500
    return expires * 1000 - early


def backoff_s(failures, rng, retry_after=None):
    """Seconds to wait after the n-th failure in a row: 5, 10, 20 ... 300,
    each with up to +20% jitter so a building full of stations does not
    re-register in lock step after a PBX restart."""
    base = BACKOFF_FIRST_S
    for _ in range(failures - 1):
        base *= 2
        if base >= BACKOFF_MAX_S:
            base = BACKOFF_MAX_S
            break
    if retry_after is not None and retry_after > base:
        base = retry_after if retry_after < BACKOFF_MAX_S else BACKOFF_MAX_S
    return base + base * (rng.getrandbits(8) % 21) // 100


class Registration:
    """One account's binding. The UA sends what it builds and feeds back the
    final response or a timeout; the Registration keeps its own timer."""

    def __init__(self, ua, account):
        self.ua = ua
        self.user = account["user"]
        self.domain = account["domain"]
        self.registrar = account["registrar"]
        self.wanted = account["expires"]
        self.expires = self.wanted
        self.aor = "sip:%s@%s" % (self.user, self.domain)
        self.call_id = ua.new_call_id()
        self.tag = ua.new_tag()
        self.cseq = 0
        self.state = IDLE
        self.failures = 0
        self.tries_423 = 0
        self.deadline = None  # tick of the next REGISTER, or None
        self.nat_fixed = False
        self.up = False  # Registered was announced and no failure since
        self.contact_host = None  # what the registrar saw (received/rport)
        self.contact_port = None

    @property
    def registered(self):
        return self.state == REGISTERED

    def start(self, now):
        self._send(now, self.expires)

    def stop(self, now):
        """Unregister; True when a REGISTER went out (wait for it a moment)."""
        was = self.state
        self.deadline = None
        if was in (REGISTERED, REGISTERING):
            self.state = UNREGISTERING
            self._send(now, 0)
            return True
        self.state = IDLE
        return False

    def lost(self, now, reason):
        """The registrar stopped answering keep-alives: register again now."""
        if self.state in (REGISTERED,):
            self._fail(now, reason, 0, first_delay_s=0)

    def handle_timer(self, now):
        self.deadline = None
        if self.state in (REGISTERED, WAITING, REGISTERING):
            self._send(now, self.expires)

    # -- talking to the UA --------------------------------------------------

    def contact(self):
        host = self.contact_host or self.ua.local_host
        port = self.contact_port or self.ua.local_port
        return "<sip:%s@%s:%d>" % (self.user, _host_for_uri(host), port)

    def _send(self, now, expires):
        if expires:
            self.state = REGISTERING
        self.ua.send_register(self, expires, now)

    def next_cseq(self):
        self.cseq += 1
        return self.cseq

    def on_response(self, resp, now):
        status = resp.status
        if status < 200:
            return
        if self.state == UNREGISTERING:
            self.state = IDLE
            self.up = False
            self.ua.emit(Unregistered(self.aor))
            return
        if status < 300:
            self._ok(resp, now)
        elif status == 423 and self.tries_423 < MAX_423:
            self.tries_423 += 1
            self.expires = _min_expires(resp, self.expires)
            self._send(now, self.expires)
        else:
            retry_after = None
            if status in (500, 503):
                retry_after = _retry_after(resp)
            self._fail(now, "%d %s" % (status, resp.reason), status, retry_after=retry_after)

    def on_timeout(self, now):
        if self.state == UNREGISTERING:
            self.state = IDLE
            return
        self._fail(now, "no answer from the registrar", 0)

    def on_auth_failed(self, now, why):
        if self.state == UNREGISTERING:
            self.state = IDLE
            return
        self._fail(now, why, 401)

    def _ok(self, resp, now):
        self.tries_423 = 0
        granted = _granted(resp, self.contact(), self.expires)
        if not self.nat_fixed and _learn_address(self, resp):
            self.nat_fixed = True
            self.ua.log.info("registrar sees us as %s:%s; registering that contact",
                             self.contact_host, self.contact_port)
            self._send(now, self.expires)
            return
        self.state = REGISTERED
        self.failures = 0
        if granted <= 0:
            granted = self.expires
        self.deadline = ticks_add(now, refresh_ms(granted))
        if not self.up:
            self.up = True
            self.ua.emit(Registered(self.aor, granted, self.contact()))
        self.ua.log.debug("registered for %d s", granted)

    def _fail(self, now, reason, status, retry_after=None, first_delay_s=None):
        self.failures += 1
        self.up = False
        if first_delay_s is not None and self.failures == 1:
            wait = first_delay_s
        else:
            wait = backoff_s(self.failures, self.ua.rng, retry_after)
        self.state = WAITING
        self.nat_fixed = False
        self.deadline = ticks_add(now, wait * 1000)
        self.ua.emit(RegistrationFailed(self.aor, reason, status, wait))


def _host_for_uri(host):
    return "[%s]" % host if ":" in host and not host.startswith("[") else host


def _retry_after(resp):
    value = resp.get("retry-after")
    if value is None:
        return None
    try:
        return parse_uint(value.split(";")[0].split("(")[0].strip(), 86400, "Retry-After")
    except Exception:
        return None


def _min_expires(resp, current):
    value = resp.get("min-expires")
    try:
        n = parse_uint((value or "").strip(), 86400 * 7, "Min-Expires")
    except Exception:
        return current * 2
    return n if n > current else current * 2


def _granted(resp, our_contact, asked):
    """The expiry the registrar granted our contact (10.2.4): its Contact's
    expires param, else the Expires header, else what we asked for."""
    ours = our_contact.strip("<>").lower()
    contacts = []
    try:
        contacts = resp.contacts or []
    except Exception:
        contacts = []
    for c in contacts:
        if str(c.uri).lower() == ours:
            value = c.params.get("expires")
            if value is not None:
                try:
                    return parse_uint(value, 2 ** 31, "expires")
                except Exception:
                    break
    value = resp.get("expires")
    if value is not None:
        try:
            return parse_uint(value.strip(), 2 ** 31, "Expires")
        except Exception:
            pass
    return asked


def _learn_address(reg, resp):
    """True when Via received/rport says our contact address is not what
    the registrar sees (a NAT between us), after storing what it sees."""
    via = resp.via
    if via is None:
        return False
    host = via.received
    port = via.rport
    if port is not None and not isinstance(port, int):
        try:
            port = int(port)
        except ValueError:
            port = None
    host = host or reg.ua.local_host
    port = port or reg.ua.local_port
    if host == (reg.contact_host or reg.ua.local_host) and port == (reg.contact_port or reg.ua.local_port):
        return False
    reg.contact_host = host
    reg.contact_port = port
    return True
