//! `cella init` brings the machine's network up before any container
//! starts: each configured interface up with its static IPv4 address, the
//! default route through the gateway (the configuration's `address`,
//! `gateway` keys); an interface a container's DHCP client addresses
//! (`address IFACE dhcp`) only up. Nameservers (`nameserver`) are not
//! written to the machine's `/etc`: they become the containers'
//! `/etc/resolv.conf`.

use super::link::{add_address, default_route, find_link, net_error, set_up};
use super::netlink::Socket;
use crate::config::HostNetwork;
use crate::error::{Error, Result, Step};
use rustix::io::Errno;

/// Whether interface `name` has an IPv4 address (a DHCP client's, for a
/// container that `needs-network` it).
pub fn has_address(name: &str) -> bool {
    let Ok(mut sock) = Socket::route() else {
        return false;
    };
    matches!(find_link(&mut sock, name), Ok(Some(link))
        if matches!(super::link::address_of(&mut sock, link.index), Ok(Some(_))))
}

/// Bring interface `name` up; its index.
fn up(sock: &mut Socket, name: &str) -> Result<u32> {
    let index = find_link(sock, name)?
        .ok_or_else(|| Error::new(Step::Network, Errno::NODEV).at(format!("interface {name}")))?
        .index;
    set_up(sock, index).map_err(net_error(format!("bring {name} up")))?;
    Ok(index)
}

/// Set up `net` in our network namespace: every address, then the route;
/// a `dhcp` interface is only brought up.
pub fn configure(net: &HostNetwork) -> Result<()> {
    if net.addresses.is_empty() && net.gateway.is_none() && net.dhcp.is_empty() {
        return Ok(());
    }
    let mut sock = Socket::route().map_err(net_error("netlink"))?;
    for name in &net.dhcp {
        up(&mut sock, name)?;
    }
    // (index, address, prefix) of each configured interface.
    let mut links = Vec::new();
    for (name, addr, len) in &net.addresses {
        let index = up(&mut sock, name)?;
        match add_address(&mut sock, index, *addr, *len) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(net_error(format!("address {addr}/{len} on {name}"))(e)),
        }
        links.push((index, *addr, *len));
    }
    if let Some(gw) = net.gateway {
        // Through the interface whose subnet holds the gateway (else the
        // last one configured).
        let network = super::link::network;
        let index = links
            .iter()
            .find(|(_, a, l)| network(*a, *l) == network(gw, *l))
            .or(links.last())
            .map_or(0, |(index, ..)| *index);
        match default_route(&mut sock, gw, index) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(net_error(format!("default route via {gw}"))(e)),
        }
    }
    Ok(())
}
