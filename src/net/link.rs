//! The links of a network namespace as cella sets them up over
//! rtnetlink: found by name, brought up, addressed and routed. A bridge
//! container's (`super::bridge`) and `cella init`'s machine's
//! (`super::host`).

use super::netlink::{self as nl, Message, Socket};
use crate::error::{Error, Result, Step};
use rustix::io::Errno;
use std::net::Ipv4Addr;

pub fn net_error(what: impl Into<String>) -> impl FnOnce(Errno) -> Error {
    let what = what.into();
    move |e| Error::new(Step::Network, e).at(what)
}

/// A link found by name.
pub struct Iface {
    pub index: u32,
    pub mtu: u32,
    /// Its kind is `bridge`.
    pub is_bridge: bool,
}

/// The link named `name`, if there is one.
pub fn find_link(sock: &mut Socket, name: &str) -> Result<Option<Iface>> {
    let mut found = None;
    let m = Message::new(nl::RTM_GETLINK, 0)
        .ifinfo(0, 0, 0)
        .str(nl::IFLA_IFNAME, name);
    match sock.dump(m, &mut |_, payload| {
        let index = payload
            .get(4..8)
            .map_or(0, |b| u32::from_ne_bytes(b.try_into().unwrap()));
        let attrs = nl::attrs(payload, 16);
        let attr = |kind| attrs.iter().find(|(k, _)| *k == kind).map(|(_, d)| *d);
        let mtu = attr(nl::IFLA_MTU).map_or(1500, nl::u32_of);
        let is_bridge = attr(nl::IFLA_LINKINFO).is_some_and(|info| {
            nl::attrs(info, 0)
                .iter()
                .any(|(k, d)| *k == nl::IFLA_INFO_KIND && nl::text(d) == "bridge")
        });
        found = Some(Iface {
            index,
            mtu,
            is_bridge,
        });
    }) {
        Ok(()) => Ok(found),
        Err(Errno::NODEV) => Ok(None),
        Err(e) => Err(net_error(format!("find link {name}"))(e)),
    }
}

/// The first IPv4 address (and prefix) of link `index`.
pub fn address_of(sock: &mut Socket, index: u32) -> Result<Option<(Ipv4Addr, u8)>> {
    let mut found = None;
    let m = Message::dump(nl::RTM_GETADDR).ifaddr(0, 0);
    sock.dump(m, &mut |_, payload| {
        let (Some(&prefix), Some(idx)) = (payload.get(1), payload.get(4..8)) else {
            return;
        };
        if found.is_some() || u32::from_ne_bytes(idx.try_into().unwrap()) != index {
            return;
        }
        found = nl::attrs(payload, 8)
            .iter()
            .find(|(k, _)| *k == nl::IFA_LOCAL)
            .and_then(|(_, d)| <[u8; 4]>::try_from(*d).ok())
            .map(|b| (Ipv4Addr::from(b), prefix));
    })
    .map_err(net_error("list addresses"))?;
    Ok(found)
}

pub fn add_address(
    sock: &mut Socket,
    index: u32,
    addr: Ipv4Addr,
    len: u8,
) -> rustix::io::Result<()> {
    let broadcast = Ipv4Addr::from(network(addr, len) | !mask(len));
    sock.request(
        Message::new(nl::RTM_NEWADDR, nl::NLM_F_CREATE | nl::NLM_F_EXCL)
            .ifaddr(len, index)
            .attr(nl::IFA_LOCAL, &addr.octets())
            .attr(nl::IFA_ADDRESS, &addr.octets())
            .attr(nl::IFA_BROADCAST, &broadcast.octets()),
    )
}

pub fn set_up(sock: &mut Socket, index: u32) -> rustix::io::Result<()> {
    sock.request(Message::new(nl::RTM_NEWLINK, 0).ifinfo(index, nl::IFF_UP, nl::IFF_UP))
}

/// The default route through `gateway` on link `index`.
pub fn default_route(sock: &mut Socket, gateway: Ipv4Addr, index: u32) -> rustix::io::Result<()> {
    sock.request(
        Message::new(nl::RTM_NEWROUTE, nl::NLM_F_CREATE | nl::NLM_F_EXCL)
            .rtmsg(0)
            .attr(nl::RTA_GATEWAY, &gateway.octets())
            .u32(nl::RTA_OIF, index),
    )
}

/// `addr/len`'s network (host order).
pub fn network(addr: Ipv4Addr, len: u8) -> u32 {
    u32::from(addr) & mask(len)
}

pub fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}
