//! cella's own nf_tables table, `ip cella`: outbound NAT for the bridges'
//! containers and their published ports, written by cella over netlink
//! (no iptables or nft binary). Other tables are never touched. The table
//! is rebuilt whole, in one atomic batch, from the live containers'
//! records each time a bridge container starts or ends, so nothing of a
//! container outlives it and a killed cella's rules go with the next
//! rebuild; with no bridge container left, the table goes.
//!
//! Per bridge: `ip saddr SUBNET oifname != BRIDGE masquerade` (outbound),
//! `ip saddr 127.0.0.0/8 oifname BRIDGE masquerade` (a published port
//! reached from the host's 127.0.0.1, with `route_localnet` on the bridge:
//! the kernel way, no user-space proxy), `ip saddr SUBNET oifname BRIDGE
//! ct status dnat masquerade` (a container reaching a published port of
//! the bridge's, hairpin); forwarded, everything from the bridge is
//! accepted (a no-op unless another table drops: see [`forward_drops`]),
//! and into it only replies (`ct state established,related`) and what a
//! published port's DNAT sent (`ct status dnat`), the rest dropped: a
//! neighbour routing the subnet through the host reaches no unpublished
//! port, as docker's FORWARD rules have it. Before any of it,
//! at the raw priority: `iifname BRIDGE ip daddr 127.0.0.0/8 drop`, since
//! `route_localnet` would otherwise let a container (with NET_RAW, which
//! it has by default) reach the host's loopback-only services by sending
//! to 127.0.0.1 through the bridge (CVE-2020-8558's kind; docker and
//! kube-proxy drop the same). Replies to a published port reached from
//! 127.0.0.1 pass: at that priority their destination is still the
//! bridge's address their masquerade gave them. Per published port,
//! in prerouting and output: `fib daddr type local [ip daddr HOST_IP]
//! PROTO dport HOST_PORT dnat to ADDRESS:PORT`.

use super::netlink::{Message, Socket, into_frames};
use rustix::io::Errno;
use std::net::Ipv4Addr;

const TABLE: &str = "cella";
const NFPROTO_IPV4: u8 = 2;
const SUBSYS: u16 = 10 << 8;
const NEWTABLE: u16 = SUBSYS;
const GETCHAIN: u16 = SUBSYS | 4;
const DELTABLE: u16 = SUBSYS | 2;
const NEWCHAIN: u16 = SUBSYS | 3;
const NEWRULE: u16 = SUBSYS | 6;
const BATCH_BEGIN: u16 = 16;
const BATCH_END: u16 = 17;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;

const HOOK_PREROUTING: u32 = 0;
const HOOK_FORWARD: u32 = 2;
const HOOK_OUTPUT: u32 = 3;
const HOOK_POSTROUTING: u32 = 4;

/// A bridge's containers are NATed: its name and subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct Bridge {
    pub name: String,
    pub subnet: (Ipv4Addr, u8),
}

/// A published port of a container at `address`.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    pub port: crate::store::Port,
    pub address: Ipv4Addr,
}

/// The whole table: empty, it is removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    pub bridges: Vec<Bridge>,
    pub forwards: Vec<Forward>,
}

/// An nf_tables message for family ip.
fn msg(kind: u16, flags: u16) -> Message {
    Message::new(kind, flags).raw(&[NFPROTO_IPV4, 0, 0, 0])
}

fn be(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// The ruleset as one batch of messages, sequence numbers from `seq`:
/// the table made (so its removal cannot fail), removed, and made anew
/// with its chains and rules. Empty: made and removed.
pub fn batch(rs: &Ruleset, seq: u32) -> Vec<u8> {
    let mut msgs = vec![
        msg(NEWTABLE, NLM_F_CREATE).str(1, TABLE),
        msg(DELTABLE, 0).str(1, TABLE),
    ];
    if !rs.bridges.is_empty() {
        msgs.push(msg(NEWTABLE, NLM_F_CREATE).str(1, TABLE));
        for (name, kind, hook, prio) in [
            ("prerouting", "nat", HOOK_PREROUTING, -100i32),
            ("output", "nat", HOOK_OUTPUT, -100),
            ("postrouting", "nat", HOOK_POSTROUTING, 100),
            ("forward", "filter", HOOK_FORWARD, 0),
            // Before conntrack (-200) undoes a masquerade: see the module docs.
            ("loopback", "filter", HOOK_PREROUTING, -300),
        ] {
            msgs.push(
                msg(NEWCHAIN, NLM_F_CREATE)
                    .str(1, TABLE)
                    .str(3, name)
                    .nest(4)
                    .attr(1, &be(hook))
                    .attr(2, &be(prio as u32))
                    .end()
                    .attr(5, &be(1))
                    .str(7, kind),
            );
        }
        for b in &rs.bridges {
            msgs.extend(bridge_rules(b));
        }
        for f in &rs.forwards {
            for chain in ["prerouting", "output"] {
                msgs.push(rule(chain, |m| dnat(m, f)));
            }
        }
    }
    let mut out = frame(BATCH_BEGIN, seq);
    let mut n = seq;
    for m in msgs {
        n += 1;
        out.extend(into_frames(m, n));
    }
    out.extend(frame(BATCH_END, n + 1));
    out
}

/// BATCH_BEGIN or END: no ack asked (kernels before 6.10 give none).
fn frame(kind: u16, seq: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(20);
    b.extend_from_slice(&20u32.to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(&1u16.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    // nfgenmsg: family unspecified, version 0, res_id NFTABLES (big-endian).
    b.extend_from_slice(&[0, 0, 0, 10]);
    b
}

/// A rule appended to `chain`, its expressions written by `exprs`.
fn rule(chain: &str, exprs: impl FnOnce(Message) -> Message) -> Message {
    let m = msg(NEWRULE, NLM_F_CREATE | NLM_F_APPEND)
        .str(1, TABLE)
        .str(2, chain)
        .nest(4);
    exprs(m).end()
}

/// One expression: its name and its attributes.
fn expr(m: Message, name: &str, data: impl FnOnce(Message) -> Message) -> Message {
    data(m.nest(1).str(1, name).nest(2)).end().end()
}

fn value(m: Message, kind: u16, bytes: &[u8]) -> Message {
    m.nest(kind).attr(1, bytes).end()
}

/// Load `len` bytes at `offset` of the network (1) or transport (2) header.
fn payload(m: Message, base: u32, offset: u32, len: u32) -> Message {
    expr(m, "payload", |m| {
        m.attr(1, &be(1))
            .attr(2, &be(base))
            .attr(3, &be(offset))
            .attr(4, &be(len))
    })
}

/// Compare register 1 with `bytes`: equal, or not (`eq` false).
fn cmp(m: Message, eq: bool, bytes: &[u8]) -> Message {
    expr(m, "cmp", |m| {
        value(m.attr(1, &be(1)).attr(2, &be(u32::from(!eq))), 3, bytes)
    })
}

/// Register 1 &= `mask`.
fn and(m: Message, mask: &[u8]) -> Message {
    let zero = vec![0u8; mask.len()];
    expr(m, "bitwise", |m| {
        let m = m
            .attr(1, &be(1))
            .attr(2, &be(1))
            .attr(3, &be(mask.len() as u32));
        value(value(m, 4, mask), 5, &zero)
    })
}

/// Load meta `key` into register 1.
fn meta(m: Message, key: u32) -> Message {
    expr(m, "meta", |m| m.attr(2, &be(key)).attr(1, &be(1)))
}

const META_IIFNAME: u32 = 6;
const META_OIFNAME: u32 = 7;
const META_L4PROTO: u32 = 16;

/// An interface name as the kernel compares it (IFNAMSIZ, NUL-padded).
fn ifname(name: &str) -> [u8; 16] {
    let mut b = [0u8; 16];
    let n = name.len().min(15);
    b[..n].copy_from_slice(&name.as_bytes()[..n]);
    b
}

fn mask(len: u8) -> [u8; 4] {
    super::link::mask(len).to_be_bytes()
}

/// `ip saddr NET/LEN`.
fn saddr_in(m: Message, net: Ipv4Addr, len: u8) -> Message {
    addr_in(m, 12, net, len)
}

/// `ip daddr NET/LEN`.
fn daddr_in(m: Message, net: Ipv4Addr, len: u8) -> Message {
    addr_in(m, 16, net, len)
}

/// The IPv4 address at `offset` of the header is in NET/LEN.
fn addr_in(m: Message, offset: u32, net: Ipv4Addr, len: u8) -> Message {
    let m = and(payload(m, 1, offset, 4), &mask(len));
    let net = (u32::from(net) & u32::from_be_bytes(mask(len))).to_be_bytes();
    cmp(m, true, &net)
}

fn masq(m: Message) -> Message {
    m.nest(1).str(1, "masq").end()
}

fn accept(m: Message) -> Message {
    verdict(m, NF_ACCEPT)
}

fn drop_packet(m: Message) -> Message {
    verdict(m, NF_DROP)
}

const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;

/// The rule's verdict (`code`) into the verdict register.
fn verdict(m: Message, code: u32) -> Message {
    expr(m, "immediate", |m| {
        m.attr(1, &be(0))
            .nest(2)
            .nest(2)
            .attr(1, &be(code))
            .end()
            .end()
    })
}

/// conntrack's keys: the state (a bit per `IP_CT_*`), the status bits.
const CT_STATE: u32 = 0;
const CT_STATUS: u32 = 2;
const CT_ESTABLISHED: u32 = 1 << 1;
const CT_RELATED: u32 = 1 << 2;
const IPS_DST_NAT: u32 = 0x20;

/// `ct KEY & BITS != 0` (both keys a host-order u32).
fn ct_has(m: Message, key: u32, bits: u32) -> Message {
    let m = expr(m, "ct", |m| m.attr(1, &be(1)).attr(2, &be(key)));
    cmp(and(m, &bits.to_ne_bytes()), false, &0u32.to_ne_bytes())
}

/// A bridge's masquerades and forward rules.
fn bridge_rules(b: &Bridge) -> Vec<Message> {
    let (net, len) = b.subnet;
    let dev = ifname(&b.name);
    vec![
        // Out to anywhere but the bridge itself.
        rule("postrouting", |m| {
            masq(cmp(meta(saddr_in(m, net, len), META_OIFNAME), false, &dev))
        }),
        // From the host's 127.0.0.1 to a published port (route_localnet).
        rule("postrouting", |m| {
            let m = saddr_in(m, Ipv4Addr::new(127, 0, 0, 0), 8);
            masq(cmp(meta(m, META_OIFNAME), true, &dev))
        }),
        // A container to a published port on its own bridge (hairpin):
        // the reply must come back through the host.
        rule("postrouting", |m| {
            let m = cmp(meta(saddr_in(m, net, len), META_OIFNAME), true, &dev);
            masq(ct_has(m, CT_STATUS, IPS_DST_NAT))
        }),
        // Forwarded: all the containers send; into the bridge only what
        // answers them and what a published port's DNAT sent there, as
        // docker's FORWARD rules: an unpublished port is never reachable
        // from outside, even for a host that routes the subnet here.
        rule("forward", |m| {
            accept(cmp(meta(m, META_IIFNAME), true, &dev))
        }),
        rule("forward", |m| {
            let m = cmp(meta(m, META_OIFNAME), true, &dev);
            accept(ct_has(m, CT_STATE, CT_ESTABLISHED | CT_RELATED))
        }),
        rule("forward", |m| {
            let m = cmp(meta(m, META_OIFNAME), true, &dev);
            accept(ct_has(m, CT_STATUS, IPS_DST_NAT))
        }),
        rule("forward", |m| {
            drop_packet(cmp(meta(m, META_OIFNAME), true, &dev))
        }),
        // Nothing from the bridge to the host's loopback (see the module
        // docs).
        rule("loopback", |m| {
            let m = cmp(meta(m, META_IIFNAME), true, &dev);
            drop_packet(daddr_in(m, Ipv4Addr::new(127, 0, 0, 0), 8))
        }),
    ]
}

/// `fib daddr type local [ip daddr HOST_IP] PROTO dport HOST_PORT dnat
/// to ADDRESS:PORT`.
fn dnat(m: Message, f: &Forward) -> Message {
    let p = &f.port;
    // fib daddr type: a host-order RTN_* (RTN_LOCAL = 2).
    let m = expr(m, "fib", |m| {
        m.attr(1, &be(1)).attr(2, &be(3)).attr(3, &be(2))
    });
    let mut m = cmp(m, true, &2u32.to_ne_bytes());
    if let Some(ip) = p.host_ip {
        m = cmp(payload(m, 1, 16, 4), true, &ip.octets());
    }
    let m = cmp(meta(m, META_L4PROTO), true, &[if p.udp { 17 } else { 6 }]);
    let m = cmp(payload(m, 2, 2, 2), true, &p.host_port.to_be_bytes());
    let m = expr(m, "immediate", |m| {
        value(m.attr(1, &be(1)), 2, &f.address.octets())
    });
    let m = expr(m, "immediate", |m| {
        value(m.attr(1, &be(2)), 2, &p.port.to_be_bytes())
    });
    expr(m, "nat", |m| {
        m.attr(1, &be(1))
            .attr(2, &be(u32::from(NFPROTO_IPV4)))
            .attr(3, &be(1))
            .attr(5, &be(2))
    })
}

thread_local! {
    /// One nf_tables socket per process. Closing one after a batch that
    /// removed anything (and any close while the kernel still has removed
    /// rules to free) waits for an RCU grace period, about 10 ms here: one
    /// close, at exit, instead of one per use.
    /// (the process that made it, the socket).
    static SOCKET: std::cell::RefCell<Option<(u32, Socket)>> = const { std::cell::RefCell::new(None) };
}

fn with_socket<T>(f: impl FnOnce(&mut Socket) -> Result<T, Errno>) -> Result<T, Errno> {
    let me = rustix::process::getpid().as_raw_nonzero().get() as u32;
    SOCKET.with(|cell| {
        let mut slot = cell.borrow_mut();
        // A forked process (a supervisor, which closed what it inherited)
        // makes its own: the inherited number may be another file now.
        if slot.as_ref().is_some_and(|(pid, _)| *pid != me)
            && let Some((_, old)) = slot.take()
        {
            std::mem::forget(old);
        }
        if slot.is_none() {
            *slot = Some((me, Socket::netfilter()?));
        }
        match slot.as_mut() {
            Some((_, sock)) => f(sock),
            None => Err(Errno::BADF),
        }
    })
}

/// Write `rs` as cella's table (or remove the table when it is empty).
pub fn apply(rs: &Ruleset) -> Result<(), Errno> {
    let bytes = batch(rs, 1);
    with_socket(|sock| sock.batch(&bytes))
}

/// Base chains of other tables that drop what they forward by policy
/// (docker's `FORWARD`, iptables-nft's form of it): (table, chain). A
/// drop anywhere is final, so the bridges' traffic would not pass.
pub fn forward_drops() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let m = Message::dump(GETCHAIN).raw(&[0, 0, 0, 0]);
    let _ = with_socket(|sock| {
        sock.dump(m, &mut |_, payload| {
            let family = payload.first().copied().unwrap_or(0);
            let attrs = super::netlink::attrs(payload, 4);
            let get = |k: u16| attrs.iter().find(|(t, _)| *t == k).map(|(_, d)| *d);
            let hook = get(4).and_then(|h| {
                let inner = super::netlink::attrs(h, 0);
                inner
                    .iter()
                    .find(|(t, _)| *t == 1)
                    .and_then(|(_, d)| <[u8; 4]>::try_from(*d).ok())
                    .map(u32::from_be_bytes)
            });
            let policy = get(5)
                .and_then(|d| <[u8; 4]>::try_from(d).ok())
                .map(u32::from_be_bytes);
            let table = get(1).map(super::netlink::text).unwrap_or("");
            // ip (2) or inet (1), the forward hook, policy drop (0).
            if matches!(family, 1 | 2)
                && hook == Some(HOOK_FORWARD)
                && policy == Some(0)
                && table != TABLE
            {
                let chain = get(3).map(super::netlink::text).unwrap_or("");
                found.push((table.to_owned(), chain.to_owned()));
            }
        })
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::netlink::attrs;

    /// (type, payload) of each message of a batch.
    fn messages(b: &[u8]) -> Vec<(u16, u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = b;
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            let flags = u16::from_ne_bytes([rest[6], rest[7]]);
            out.push((kind, flags, rest[16..len].to_vec()));
            rest = &rest[(len + 3) & !3..];
        }
        out
    }

    fn names(p: &[u8]) -> Vec<String> {
        let list = attrs(p, 4)
            .into_iter()
            .find(|(k, _)| *k == 4)
            .map(|(_, d)| d.to_vec())
            .unwrap_or_default();
        attrs(&list, 0)
            .iter()
            .map(|(_, e)| crate::net::netlink::text(attrs(e, 0)[0].1).to_owned())
            .collect()
    }

    #[test]
    fn an_empty_ruleset_removes_the_table_safely() {
        let m = messages(&batch(&Ruleset::default(), 1));
        let kinds: Vec<u16> = m.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(kinds, [BATCH_BEGIN, NEWTABLE, DELTABLE, BATCH_END]);
        // Every inner message asks for its ack; the frame does not.
        assert_eq!(m[1].1 & 4, 4);
        assert_eq!(m[0].1, 1);
        assert_eq!(&m[0].2, &[0, 0, 0, 10]);
    }

    #[test]
    fn a_bridge_gets_its_chains_masquerades_and_accepts_and_ports_their_dnat() {
        let rs = Ruleset {
            bridges: vec![Bridge {
                name: "cella0".into(),
                subnet: ("10.88.0.0".parse().unwrap(), 16),
            }],
            forwards: vec![Forward {
                port: crate::store::Port::parse("127.0.0.1:8080:80").unwrap(),
                address: "10.88.0.5".parse().unwrap(),
            }],
        };
        let m = messages(&batch(&rs, 1));
        let kinds: Vec<u16> = m.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                BATCH_BEGIN,
                NEWTABLE,
                DELTABLE,
                NEWTABLE,
                NEWCHAIN,
                NEWCHAIN,
                NEWCHAIN,
                NEWCHAIN,
                NEWCHAIN,
                NEWRULE,
                NEWRULE,
                NEWRULE,
                NEWRULE,
                NEWRULE,
                NEWRULE,
                NEWRULE,
                NEWRULE,
                NEWRULE,
                NEWRULE,
                BATCH_END
            ]
        );
        // Rules are appended, and made.
        assert_eq!(m[9].1 & 0xc00, 0xc00);
        assert_eq!(
            names(&m[9].2),
            ["payload", "bitwise", "cmp", "meta", "cmp", "masq"]
        );
        assert_eq!(
            names(&m[11].2),
            [
                "payload", "bitwise", "cmp", "meta", "cmp", "ct", "bitwise", "cmp", "masq"
            ]
        );
        assert_eq!(names(&m[12].2), ["meta", "cmp", "immediate"]);
        // Into the bridge: established or related, or DNATed, else drop.
        for i in [13, 14] {
            assert_eq!(
                names(&m[i].2),
                ["meta", "cmp", "ct", "bitwise", "cmp", "immediate"]
            );
        }
        assert_eq!(names(&m[15].2), ["meta", "cmp", "immediate"]);
        // `iifname "cella0" ip daddr 127.0.0.0/8 drop`, in the loopback
        // chain: hook prerouting, priority -300 (before conntrack).
        assert_eq!(
            names(&m[16].2),
            ["meta", "cmp", "payload", "bitwise", "cmp", "immediate"]
        );
        let attr = |i: usize, kind: u16| {
            let all = attrs(&m[i].2, 4);
            crate::net::netlink::text(all.iter().find(|(k, _)| *k == kind).unwrap().1).to_owned()
        };
        assert_eq!(attr(16, 2), "loopback");
        assert_eq!(attr(8, 3), "loopback");
        let chain = attrs(&m[8].2, 4);
        let hook = attrs(chain.iter().find(|(k, _)| *k == 4).unwrap().1, 0);
        assert_eq!(hook[0].1, &[0, 0, 0, 0]);
        assert_eq!(hook[1].1, &(-300i32).to_be_bytes());
        assert_eq!(
            names(&m[17].2),
            [
                "fib",
                "cmp",
                "payload",
                "cmp",
                "meta",
                "cmp",
                "payload",
                "cmp",
                "immediate",
                "immediate",
                "nat"
            ]
        );
        // The prerouting chain: hook 0, priority -100 (big-endian), nat.
        let chain = attrs(&m[4].2, 4);
        let hook = attrs(chain.iter().find(|(k, _)| *k == 4).unwrap().1, 0);
        assert_eq!(hook[0].1, &[0, 0, 0, 0]);
        assert_eq!(hook[1].1, &(-100i32).to_be_bytes());
    }

    #[test]
    fn the_masquerade_rule_is_byte_for_byte_what_nft_decodes() {
        // `ip saddr 10.88.0.0/16 oifname != "cella0" masquerade`, as the
        // reference batch (checked against nft 1.0.6) has it.
        let b = Bridge {
            name: "cella0".into(),
            subnet: ("10.88.0.0".parse().unwrap(), 16),
        };
        let bytes = into_frames(bridge_rules(&b).remove(0), 2);
        assert_eq!(bytes.len(), 324);
        assert_eq!(&bytes[4..8], &[0x06, 0x0a, 0x05, 0x0c]);
        let expect_tail: [u8; 12] = [0x09, 0, 1, 0, b'm', b'a', b's', b'q', 0, 0, 0, 0];
        assert_eq!(&bytes[324 - 12..], &expect_tail);
        // payload dreg 1, base 1, offset 12, len 4
        let payload_at = 0x48;
        assert_eq!(
            &bytes[payload_at..payload_at + 32],
            &[
                8, 0, 1, 0, 0, 0, 0, 1, 8, 0, 2, 0, 0, 0, 0, 1, 8, 0, 3, 0, 0, 0, 0, 12, 8, 0, 4,
                0, 0, 0, 0, 4
            ]
        );
    }
}
