//! A blocking rtnetlink socket: one request at a time, or a pipelined batch.
//!
//! A plain blocking socket is all a short-lived, single-threaded plugin
//! needs; it keeps every kernel request visible as one function call.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use netlink_packet_core::{
    ErrorBuffer, ErrorMessage, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR,
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, Parseable, ParseableParametrized,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{
    Socket as RawSocket, SocketAddr,
    protocols::{NETLINK_GENERIC, NETLINK_ROUTE},
};
use nix::sched::{CloneFlags, setns};

use super::error::NlError;
use super::request::{Failure, Request, Subject};

type Message = NetlinkMessage<RouteNetlinkMessage>;
pub type NlResult<T> = Result<T, NlError>;

/// Room for one receive. The kernel writes only what a reply needs, and a
/// buffer that is not zeroed first is mapped only where it writes: zeroing
/// 64 KiB for every socket cost 16 page faults each.
const RECV_BUF: usize = 64 * 1024;
/// Bytes of requests sent in one write; the kernel refuses writes larger
/// than the socket's send buffer.
const BATCH_BYTES: usize = 32 * 1024;
/// Requests sent before waiting for their answers, so that error replies
/// can never overflow the receive buffer.
const BATCH_MESSAGES: usize = 128;
const DUMP_ATTEMPTS: usize = 10;

pub struct Socket {
    raw: RawSocket,
    seq: u32,
    buf: Vec<u8>,
}

impl Socket {
    /// An rtnetlink socket in the calling thread's network namespace.
    pub fn open() -> NlResult<Socket> {
        Socket::open_protocol(NETLINK_ROUTE)
    }

    /// A generic-netlink socket in the calling thread's network namespace,
    /// for the families `raw` talks to (ethtool).
    pub fn generic() -> NlResult<Socket> {
        Socket::open_protocol(NETLINK_GENERIC)
    }

    fn open_protocol(protocol: isize) -> NlResult<Socket> {
        let raw = RawSocket::new(protocol).map_err(NlError::io("open netlink socket"))?;
        // Connected to the kernel, the socket takes no message from anyone
        // else (a process in a pod's namespace could otherwise send it
        // forged replies). connect also binds it, to a port of the
        // kernel's choosing: no bind of our own.
        raw.connect(&SocketAddr::new(0, 0)).map_err(NlError::io("connect netlink socket"))?;
        // Extended ACKs carry the kernel's reason; strict checking makes
        // rtnetlink filter dumps by the index we ask for.
        let _ = raw.set_ext_ack(true);
        let _ = raw.set_cap_ack(true);
        if protocol == NETLINK_ROUTE {
            let _ = raw.set_netlink_get_strict_chk(true);
        }
        Ok(Socket { raw, seq: 0, buf: Vec::with_capacity(RECV_BUF) })
    }

    /// A socket bound to the namespace `ns`. A netlink socket stays in the
    /// namespace it was created in, so it is opened from inside `ns`.
    pub fn open_in(ns: BorrowedFd<'_>, home: BorrowedFd<'_>) -> NlResult<Socket> {
        in_namespace(ns, home, Socket::open)?
    }

    /// The socket's descriptor (its namespace's cookie is asked of it).
    pub fn fd(&self) -> RawFd {
        self.raw.as_raw_fd()
    }

    /// Sends one request and waits for its acknowledgement.
    pub fn ack(&mut self, msg: RouteNetlinkMessage) -> NlResult<()> {
        self.ack_one(Request::new(msg, 0, Subject::Link, ""))
    }

    /// Sends `request` alone; its failure is the error.
    pub fn ack_one(&mut self, request: Request) -> NlResult<()> {
        self.batch(vec![request])?.pop().map_or(Ok(()), |f| Err(f.error))
    }

    /// Sends one request that the kernel answers with one message.
    pub fn get(&mut self, msg: RouteNetlinkMessage) -> NlResult<RouteNetlinkMessage> {
        let (ty, body) = self.get_raw(msg)?;
        RouteNetlinkMessage::parse_with_param(body.as_slice(), ty).map_err(undecodable)
    }

    /// `get`, the reply undecoded (its message type and body), for a
    /// caller that needs little of it.
    pub fn get_raw(&mut self, msg: RouteNetlinkMessage) -> NlResult<(u16, Vec<u8>)> {
        let seq = self.send(&[Request::new(msg, 0, Subject::Link, "")], NLM_F_REQUEST, false)?;
        loop {
            let n = self.recv()?;
            if let Some((header, body)) =
                raw_messages(&self.buf[..n]).into_iter().find(|(h, _)| h.sequence_number == seq)
            {
                let no_reply = || NlError::other("the kernel sent no reply");
                return match header.message_type {
                    NLMSG_ERROR => Err(error_reply(body, header.flags).unwrap_or_else(no_reply)),
                    // Below 16 are netlink's own (NOOP, DONE, OVERRUN), no reply's.
                    ty if ty < 16 => Err(no_reply()),
                    ty => Ok((ty, body.to_vec())),
                };
            }
        }
    }

    /// Dumps a table, retrying when the kernel says the dump was
    /// interrupted by a concurrent change.
    pub fn dump(&mut self, msg: RouteNetlinkMessage) -> NlResult<Vec<RouteNetlinkMessage>> {
        let decode = |(ty, body): (u16, Vec<u8>)| RouteNetlinkMessage::parse_with_param(body.as_slice(), ty);
        self.dump_raw(msg, |_, _| true)?.into_iter().map(|r| decode(r).map_err(undecodable)).collect()
    }

    /// `dump`, each reply undecoded (its message type and body), and only
    /// those `keep` takes, for a caller that needs few of them.
    pub fn dump_raw(
        &mut self,
        msg: RouteNetlinkMessage,
        mut keep: impl FnMut(u16, &[u8]) -> bool,
    ) -> NlResult<Vec<(u16, Vec<u8>)>> {
        for _ in 0..DUMP_ATTEMPTS {
            let seq =
                self.send(&[Request::new(msg.clone(), 0, Subject::Link, "")], NLM_F_REQUEST | NLM_F_DUMP, false)?;
            let (mut items, mut interrupted) = (Vec::new(), false);
            'replies: loop {
                let n = self.recv()?;
                for (header, body) in raw_messages(&self.buf[..n]) {
                    if header.sequence_number != seq {
                        continue;
                    }
                    interrupted |= header.flags & NLM_F_DUMP_INTR != 0;
                    match header.message_type {
                        NLMSG_DONE => break 'replies,
                        NLMSG_ERROR => match error_reply(body, header.flags) {
                            Some(e) => return Err(e),
                            None => break 'replies,
                        },
                        // Below 16 are netlink's own (NOOP, OVERRUN), no reply's.
                        ty if ty < 16 => {}
                        ty if keep(ty, body) => items.push((ty, body.to_vec())),
                        _ => {}
                    }
                }
            }
            if !interrupted {
                return Ok(items);
            }
        }
        Err(NlError::other("dump kept being interrupted by concurrent changes"))
    }

    /// Sends `msgs` (each with its extra flags, such as NLM_F_CREATE)
    /// pipelined and returns the failures, each naming its request.
    /// Only the last request of each window asks for an ACK: successes
    /// produce no reply, errors arrive with their sequence number, and the
    /// last ACK (or error) tells that the whole window was processed.
    /// A batch is not a transaction: the kernel goes on after a failure.
    /// No reply is lost silently: one that does not fit the receive buffer
    /// makes the next receive fail with ENOBUFS. But a success only says
    /// that the kernel accepted the request: it can still undo it later
    /// (see cmd/kept.rs).
    pub fn batch(&mut self, msgs: Vec<Request>) -> NlResult<Vec<Failure>> {
        let mut failures = Vec::new();
        let mut done = 0;
        while done < msgs.len() {
            let window = window_len(&msgs[done..]);
            let first = self.send(&msgs[done..done + window], NLM_F_REQUEST, true)?;
            let last = first.wrapping_add(window as u32 - 1);
            let mut acked = false;
            self.receive_any(|m| {
                let pos = m.header.sequence_number.wrapping_sub(first) as usize;
                if let (NetlinkPayload::Error(e), true) = (&m.payload, pos < window) {
                    if let Some(error) = NlError::from_reply(e, m.header.flags) {
                        let req = &msgs[done + pos];
                        failures.push(Failure { subject: req.subject, what: req.what.clone(), error });
                    }
                    acked |= m.header.sequence_number == last;
                }
                acked
            })?;
            done += window;
        }
        Ok(failures)
    }

    /// A request netlink-packet-route has no type for (nexthop objects, a
    /// generic-netlink family's):
    /// message type `ty` with `body` as the kernel takes it. A dump
    /// (NLM_F_DUMP in `flags`) returns the replies' bodies; anything else
    /// waits for its acknowledgement and returns nothing.
    pub fn raw(&mut self, ty: u16, flags: u16, body: &[u8]) -> NlResult<Vec<Vec<u8>>> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut out = Vec::with_capacity(16 + body.len());
        out.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(body);
        self.raw.send(&out, 0).map_err(NlError::io("send netlink request"))?;
        let mut replies = Vec::new();
        loop {
            let n = self.recv()?;
            for (header, body) in raw_messages(&self.buf[..n]) {
                if header.sequence_number != seq {
                    continue;
                }
                match header.message_type {
                    NLMSG_DONE => return Ok(replies),
                    NLMSG_ERROR => return error_reply(body, header.flags).map_or(Ok(replies), Err),
                    _ => replies.push(body.to_vec()),
                }
            }
        }
    }

    /// Writes requests with consecutive sequence numbers in one send; with
    /// `ack_last` the last one asks for an ACK. Returns the first number.
    fn send(&mut self, msgs: &[Request], flags: u16, ack_last: bool) -> NlResult<u32> {
        let first = self.seq.wrapping_add(1);
        let mut out = Vec::with_capacity(msgs.len() * 64);
        for (i, Request { msg: inner, flags: extra, .. }) in msgs.iter().enumerate() {
            self.seq = self.seq.wrapping_add(1);
            let mut header = NetlinkHeader::default();
            header.flags = flags | extra | if ack_last && i + 1 == msgs.len() { NLM_F_ACK } else { 0 };
            header.sequence_number = self.seq;
            let mut m = Message::new(header, NetlinkPayload::from(inner.clone()));
            m.finalize();
            let start = out.len();
            out.resize(start + m.buffer_len(), 0);
            m.serialize(&mut out[start..]);
        }
        self.raw.send(&out, 0).map_err(NlError::io("send netlink request"))?;
        Ok(first)
    }

    /// Receives one datagram into `buf`, replacing what it held; returns its
    /// length.
    fn recv(&mut self) -> NlResult<usize> {
        self.buf.clear();
        self.raw.recv(&mut self.buf, 0).map_err(NlError::io("receive netlink reply"))?;
        Ok(self.buf.len())
    }

    fn receive_any(&mut self, mut f: impl FnMut(Message) -> bool) -> NlResult<()> {
        loop {
            let n = self.recv()?;
            let mut off = 0;
            while off < n {
                let m = Message::deserialize(&self.buf[off..n]).map_err(undecodable)?;
                off += (m.header.length as usize).max(16).next_multiple_of(4);
                if f(m) {
                    return Ok(());
                }
            }
        }
    }
}

/// Runs `f` with this thread in the network namespace `ns`, then returns to
/// `home`. Only for what stays bound to the namespace it was opened in (a
/// netlink socket, a /proc/sys/net file). The plugin is single-threaded and
/// owns its thread; this avoids a thread (its start-up, stack and malloc
/// arena) on every call. Failing to return would leave later requests in
/// the wrong namespace, so that aborts the process: nothing is half done
/// at that point, and records cover the rest.
pub fn in_namespace<T>(ns: BorrowedFd<'_>, home: BorrowedFd<'_>, f: impl FnOnce() -> T) -> NlResult<T> {
    setns(ns, CloneFlags::CLONE_NEWNET).map_err(|e| NlError::errno("enter network namespace", e))?;
    let out = f();
    if let Err(e) = setns(home, CloneFlags::CLONE_NEWNET) {
        crate::log::log(crate::log::Level::Error, format_args!("cannot return to the host network namespace: {e}"));
        std::process::abort();
    }
    Ok(out)
}

/// A reply the route crate could not decode.
pub fn undecodable(e: impl std::fmt::Display) -> NlError {
    NlError::other(format!("cannot decode netlink reply: {e}"))
}

/// The messages of one read: each header and its body, without decoding
/// the bodies (their types may be unknown to the route crate).
fn raw_messages(buf: &[u8]) -> Vec<(NetlinkHeader, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let Ok(header) = NetlinkHeader::parse(&NetlinkBuffer::new(&buf[off..])) else { break };
        let len = (header.length as usize).clamp(16, buf.len() - off);
        out.push((header, &buf[off + 16..off + len]));
        off += len.next_multiple_of(4);
    }
    out
}

/// The error an NLMSG_ERROR body carries; None for an ACK.
fn error_reply(body: &[u8], flags: u16) -> Option<NlError> {
    let buffer = ErrorBuffer::new_checked(&body).ok()?;
    NlError::from_reply(&ErrorMessage::parse(&buffer).ok()?, flags)
}

/// How many of `msgs` go out before waiting for answers.
fn window_len(msgs: &[Request]) -> usize {
    use netlink_packet_core::Emitable;
    let mut bytes = 0;
    for (i, Request { msg: m, .. }) in msgs.iter().enumerate().take(BATCH_MESSAGES) {
        bytes += m.buffer_len() + 16;
        if bytes > BATCH_BYTES && i > 0 {
            return i;
        }
    }
    msgs.len().min(BATCH_MESSAGES)
}
