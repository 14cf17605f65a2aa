//! rtnetlink, as much as cella needs: one request at a time, each acked,
//! or a dump read to its end. Messages are built into a byte vector
//! (`nlmsghdr`, a fixed header, attributes in 4-byte-aligned TLVs, nests);
//! replies are walked as slices. The constants are rtnetlink(7)'s, written
//! out here because linux-raw-sys has them as enum types or not at all.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_SETLINK: u16 = 19;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_GETROUTE: u16 = 26;

pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_MTU: u16 = 4;
pub const IFLA_MASTER: u16 = 10;
pub const IFLA_PROTINFO: u16 = 12;
pub const IFLA_BRPORT_MODE: u16 = 4;
pub const IFLA_LINKINFO: u16 = 18;
pub const IFLA_NET_NS_PID: u16 = 19;
pub const IFLA_INFO_KIND: u16 = 1;
pub const IFLA_INFO_DATA: u16 = 2;
pub const VETH_INFO_PEER: u16 = 1;

pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_BROADCAST: u16 = 4;

pub const RTA_DST: u16 = 1;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RTA_TABLE: u16 = 15;
pub const RT_TABLE_MAIN: u8 = 254;
pub const RT_TABLE_LOCAL: u32 = 255;
pub const RTPROT_BOOT: u8 = 3;
pub const RTN_UNICAST: u8 = 1;

pub const IFF_UP: u32 = 1;
const AF_INET: u8 = 2;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 1 << 15;
const HEADER: usize = 16;

/// A message being built.
pub struct Message {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Message {
    /// A request of `kind` (`RTM_*`) with `flags` besides REQUEST and ACK.
    pub fn new(kind: u16, flags: u16) -> Message {
        Message::with_flags(kind, flags | NLM_F_REQUEST | NLM_F_ACK)
    }

    /// A dump of every object of `kind` (`RTM_GET*`): no ACK, the replies
    /// end with DONE. (DUMP's bits are EXCL's and REPLACE's in a NEW
    /// request: the two are told apart here, not by the flags.)
    pub fn dump(kind: u16) -> Message {
        Message::with_flags(kind, NLM_F_REQUEST | NLM_F_DUMP)
    }

    fn with_flags(kind: u16, flags: u16) -> Message {
        let mut buf = vec![0u8; HEADER];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        Message {
            buf,
            nests: Vec::new(),
        }
    }

    /// `ifinfomsg`: family unspecified, the link `index`, `flags` of `change`.
    pub fn ifinfo(mut self, index: u32, flags: u32, change: u32) -> Message {
        self.buf.extend_from_slice(&ifinfo(index, flags, change));
        self
    }

    /// `ifaddrmsg` for IPv4.
    pub fn ifaddr(mut self, prefix: u8, index: u32) -> Message {
        self.buf.extend_from_slice(&[AF_INET, prefix, 0, 0]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self
    }

    /// `rtmsg` for an IPv4 unicast route in the main table.
    pub fn rtmsg(mut self, dst_len: u8) -> Message {
        self.buf.extend_from_slice(&[
            AF_INET,
            dst_len,
            0,
            0,
            RT_TABLE_MAIN,
            RTPROT_BOOT,
            0,
            RTN_UNICAST,
        ]);
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self
    }

    /// Raw bytes (a fixed header inside a nest).
    pub fn raw(mut self, bytes: &[u8]) -> Message {
        self.buf.extend_from_slice(bytes);
        self
    }

    pub fn attr(mut self, kind: u16, data: &[u8]) -> Message {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    pub fn u32(self, kind: u16, v: u32) -> Message {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// A NUL-terminated string.
    pub fn str(self, kind: u16, s: &str) -> Message {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.attr(kind, &b)
    }

    pub fn nest(mut self, kind: u16) -> Message {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    pub fn end(mut self) -> Message {
        if let Some(start) = self.nests.pop() {
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    /// What follows the `nlmsghdr`: the data of an attribute that holds a
    /// fixed header and attributes (a veth's peer).
    pub fn into_body(self) -> Vec<u8> {
        self.buf[HEADER..].to_vec()
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

/// `m` as bytes, with sequence number `seq` (one message of a batch).
pub fn into_frames(m: Message, seq: u32) -> Vec<u8> {
    m.finish(seq)
}

/// `ifinfomsg` bytes.
pub fn ifinfo(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// `ifinfomsg` of family AF_BRIDGE (a bridge port's settings).
pub fn bridge_ifinfo(index: u32) -> [u8; 16] {
    let mut b = ifinfo(index, 0, 0);
    b[0] = 7;
    b
}

/// An rtnetlink socket, in the network namespace it was made in.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    pub fn route() -> Result<Socket, Errno> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            // NETLINK_ROUTE is protocol 0.
            None,
        )?;
        Ok(Socket { fd, seq: 0 })
    }

    /// An nf_tables socket, in the network namespace it was made in.
    pub fn netfilter() -> Result<Socket, Errno> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            Some(rustix::net::netlink::NETFILTER),
        )?;
        Ok(Socket { fd, seq: 0 })
    }

    /// Send a whole nf_tables batch in one write and read every answer
    /// (the kernel has them all queued when the write returns): the first
    /// error, if any (the batch is then undone whole).
    pub fn batch(&mut self, bytes: &[u8]) -> Result<(), Errno> {
        rustix::net::send(&self.fd, bytes, SendFlags::empty())?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut first_error = Ok(());
        loop {
            let n = match rustix::net::recv(&self.fd, &mut buf, RecvFlags::DONTWAIT) {
                Ok((n, _)) => n,
                Err(Errno::AGAIN) => break,
                Err(e) => return Err(e),
            };
            for reply in replies(&buf[..n]) {
                if let (Ok(()), Reply::Error { code, .. }) = (first_error, reply?) {
                    first_error = errno_of(code);
                }
            }
        }
        first_error
    }

    /// Send `m` and wait for its ack (or the error the kernel answers).
    pub fn request(&mut self, m: Message) -> Result<(), Errno> {
        self.exchange(m, &mut |_, _| {})
    }

    /// Send the dump request `m` and give each reply's (type, payload).
    pub fn dump(&mut self, m: Message, each: &mut dyn FnMut(u16, &[u8])) -> Result<(), Errno> {
        self.exchange(m, each)
    }

    fn exchange(&mut self, m: Message, each: &mut dyn FnMut(u16, &[u8])) -> Result<(), Errno> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = m.finish(seq);
        rustix::net::send(&self.fd, &bytes, SendFlags::empty())?;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let (n, _) = rustix::net::recv(&self.fd, &mut buf, RecvFlags::empty())?;
            for reply in replies(&buf[..n]) {
                match reply? {
                    Reply::Done { seq: s } if s == seq => return Ok(()),
                    Reply::Error { seq: s, code } if s == seq => return errno_of(code),
                    Reply::Message {
                        seq: s,
                        kind,
                        payload,
                    } if s == seq => each(kind, payload),
                    _ => {}
                }
            }
        }
    }
}

/// A message the kernel answered with.
enum Reply<'a> {
    /// An ack (`code` 0) or an error (`-errno`).
    Error { seq: u32, code: i32 },
    /// The end of a dump.
    Done { seq: u32 },
    Message {
        seq: u32,
        kind: u16,
        payload: &'a [u8],
    },
}

/// The messages of one datagram the kernel sent.
fn replies(mut rest: &[u8]) -> impl Iterator<Item = Result<Reply<'_>, Errno>> {
    std::iter::from_fn(move || {
        if rest.len() < HEADER {
            return None;
        }
        let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
        if len < HEADER || len > rest.len() {
            rest = &[];
            return Some(Err(Errno::PROTO));
        }
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
        let payload = &rest[HEADER..len];
        rest = &rest[align(len).min(rest.len())..];
        Some(Ok(match kind {
            NLMSG_DONE => Reply::Done { seq },
            NLMSG_ERROR => Reply::Error {
                seq,
                code: payload
                    .get(0..4)
                    .map_or(0, |b| i32::from_ne_bytes(b.try_into().unwrap())),
            },
            _ => Reply::Message { seq, kind, payload },
        }))
    })
}

/// An ack's code as a result.
fn errno_of(code: i32) -> Result<(), Errno> {
    if code == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw_os_error(-code))
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// The attributes of `payload` after its fixed header of `skip` bytes:
/// (type without flags, data).
pub fn attrs(payload: &[u8], skip: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut rest = payload.get(skip..).unwrap_or_default();
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        if len < 4 || len > rest.len() {
            break;
        }
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        out.push((kind, &rest[4..len]));
        rest = &rest[align(len).min(rest.len())..];
    }
    out
}

/// An attribute's data as a NUL-terminated string.
pub fn text(data: &[u8]) -> &str {
    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    std::str::from_utf8(&data[..end]).unwrap_or("")
}

/// An attribute's data as a u32 (0 if it is not 4 bytes).
pub fn u32_of(data: &[u8]) -> u32 {
    data.try_into().map_or(0, u32::from_ne_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_framed_aligned_and_nested() {
        let m = Message::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
            .ifinfo(0, IFF_UP, IFF_UP)
            .str(IFLA_IFNAME, "cella0")
            .nest(IFLA_LINKINFO)
            .str(IFLA_INFO_KIND, "bridge")
            .end();
        let b = m.finish(7);
        assert_eq!(b.len() % 4, 0);
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), RTM_NEWLINK);
        let flags = u16::from_ne_bytes([b[6], b[7]]);
        assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), 7);
        let a = attrs(&b[HEADER..], 16);
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].0, text(a[0].1)), (IFLA_IFNAME, "cella0"));
        assert_eq!(a[1].0, IFLA_LINKINFO);
        let inner = attrs(a[1].1, 0);
        assert_eq!((inner[0].0, text(inner[0].1)), (IFLA_INFO_KIND, "bridge"));
    }

    #[test]
    fn a_dump_has_no_ack_flag() {
        let b = Message::dump(RTM_GETROUTE).rtmsg(0).finish(1);
        assert_eq!(u16::from_ne_bytes([b[6], b[7]]), NLM_F_REQUEST | NLM_F_DUMP);
    }

    #[test]
    fn truncated_attributes_end_the_walk() {
        assert!(attrs(&[8, 0, 1, 0, 1, 2], 0).is_empty());
        assert_eq!(attrs(&[5, 0, 3, 0, b'a', 0, 0, 0], 0), vec![(3, &b"a"[..])]);
    }
}
