"""SIP dialogs (RFC 3261 section 12), sans-IO.

A dialog is the peer-to-peer relationship an INVITE creates: Call-ID, both
tags, both CSeq counters, the route set and the remote target. In-dialog
requests (ACK for 2xx, BYE, re-INVITE, INFO) are built from it, never from
the original request: the field notes say calls "drop after ~30 s" when the
2xx ACK gets its route or tags wrong.

Rules:
- UAC side (12.1.2): route set = the 2xx's Record-Route in reverse order,
  remote target = its Contact, remote tag = its To tag.
- UAS side (12.1.1): route set = the request's Record-Route in order, remote
  target = its Contact, remote tag = its From tag.
- Loose routing (12.2.1.1): when the first route has ;lr, the Request-URI is
  the remote target and Route lists the route set; otherwise (strict router)
  the Request-URI is the first route and the remote target goes last.
- A request whose CSeq is not above the last one seen is out of order
  (12.2.2): the caller answers it 500.
- A target refresh (re-INVITE, its 2xx) replaces the remote target.
"""

from sipdoor.sip.headers import NameAddr, parse_name_addr
from sipdoor.sip.message import Request
from sipdoor.sip.uri import parse_uri


def _contact_uri(msg):
    contacts = msg.contacts
    if contacts:
        return contacts[0].uri.copy()
    return None


def _record_routes(msg):
    out = []
    for value in msg.get_list("record-route"):
        out.append(parse_name_addr(value))
    return out


class Dialog:
    """One dialog. Build with Dialog.as_uac() or Dialog.as_uas()."""

    def __init__(self, call_id, local, remote, local_seq, remote_seq, target, routes):
        self.call_id = call_id
        self.local = local  # NameAddr with our tag (our From in requests we send)
        self.remote = remote  # NameAddr with the peer's tag
        self.local_seq = local_seq
        self.remote_seq = remote_seq  # None until the peer sends a request
        self.remote_target = target
        self.routes = routes  # [NameAddr], in the order requests carry them

    @property
    def local_tag(self):
        return self.local.tag

    @property
    def remote_tag(self):
        return self.remote.tag

    @property
    def key(self):
        return (self.call_id, self.local.tag, self.remote.tag)

    @classmethod
    def as_uac(cls, request, response):
        """The dialog a 1xx-with-tag or 2xx to our INVITE creates."""
        routes = _record_routes(response)
        routes.reverse()
        target = _contact_uri(response) or request.uri.copy()
        return cls(request.call_id, request.from_.copy(), response.to.copy(),
                   request.cseq.seq, None, target, routes)

    @classmethod
    def as_uas(cls, request, local_tag):
        """The dialog we create by answering request with local_tag."""
        local = request.to.copy()
        local.tag = local_tag
        target = _contact_uri(request)
        if target is None:  # 8.1.1.8 makes Contact mandatory; be lenient, use From
            target = request.from_.uri.copy()
        return cls(request.call_id, local, request.from_.copy(), 0, request.cseq.seq, target,
                   _record_routes(request))

    def update_from_uac_response(self, response):
        """A later response of the same dialog (the 2xx after an early 1xx,
        or a re-INVITE's 2xx): refresh the target, and the route set while
        the dialog is still early (12.1.2 sets it from the 2xx)."""
        target = _contact_uri(response)
        if target is not None:
            self.remote_target = target

    def refresh_target(self, request):
        """A target-refresh request from the peer (re-INVITE, 12.2.2)."""
        target = _contact_uri(request)
        if target is not None:
            self.remote_target = target

    def accept_remote_seq(self, request):
        """False when the request is out of order (answer 500, 12.2.2);
        ACK and CANCEL carry the INVITE's number and are not counted."""
        if request.method in ("ACK", "CANCEL"):
            return True
        seq = request.cseq.seq
        if self.remote_seq is not None and seq <= self.remote_seq:
            return False
        self.remote_seq = seq
        return True

    def matches(self, msg, incoming=True):
        """Whether a request from the peer (incoming) belongs here."""
        if msg.call_id != self.call_id:
            return False
        ours = msg.to if incoming else msg.from_
        theirs = msg.from_ if incoming else msg.to
        return ours is not None and theirs is not None and \
            ours.tag == self.local.tag and theirs.tag == self.remote.tag

    def next_hop(self):
        """The URI to send an in-dialog request to (before any outbound proxy)."""
        if self.routes:
            return self.routes[0].uri
        return self.remote_target

    def create_request(self, method, via, contact=None, cseq=None):
        """An in-dialog request with Via already chosen by the caller.
        cseq: given for ACK (the INVITE's number); otherwise the next one."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        routes = [str(r) for r in self.routes]
        if self.routes and "lr" not in self.routes[0].uri.params:
            uri = parse_uri(str(self.routes[0].uri))
            uri.params.remove("method")  # 12.2.1.1: parameters not allowed in R-URI removed
            routes = routes[1:] + [str(NameAddr(self.remote_target))]
        else:
            uri = self.remote_target.copy()
        req = Request(method, uri)
        req.add("Via", via)
        for r in routes:
            req.add("Route", r)
        req.add("Max-Forwards", "70")
        req.add("From", str(self.local))
        req.add("To", str(self.remote))
        req.add("Call-ID", self.call_id)
        req.add("CSeq", "%d %s" % (cseq, method))
        if contact is not None:
            req.add("Contact", contact)
        return req
