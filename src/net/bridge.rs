//! `--net bridge`: a container on a bridge of the host (`cella0` unless
//! named), as docker's default network. Before the container is recorded,
//! [`prepare`] makes the bridge if it is missing (with a subnet no route of
//! the host uses, or the one given) and leases an address, under the
//! store's network lock; the lease is the container's record (a live
//! record holding an address is the only thing that keeps it, so a crashed
//! cella's address comes back when its record is swept). Once the
//! container's process exists, [`Attachment::attach`] makes its veth pair
//! (the host end on the bridge, the other end `eth0` straight in the
//! container's network namespace) and gives `eth0` its address and the
//! default route; the returned [`Link`] removes the host end (and with it
//! `eth0`) when the container goes.

use super::link::{
    Iface, add_address, address_of, default_route, find_link, mask, net_error, network, set_up,
};
use super::netlink::{self as nl, Message, Socket};
use crate::error::{Error, Result, Step};
use crate::store;
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use std::net::Ipv4Addr;
use std::path::Path;

/// The bridge a container goes on when none is named.
pub const DEFAULT_BRIDGE: &str = "cella0";

/// Subnets tried for a new bridge, in order: podman's and docker's first,
/// then others of the private ranges, each /16.
fn candidates() -> impl Iterator<Item = (Ipv4Addr, u8)> {
    (88..100u8)
        .map(|b| (Ipv4Addr::new(10, b, 0, 0), 16))
        .chain((17..32u8).map(|b| (Ipv4Addr::new(172, b, 0, 0), 16)))
}

/// What a container asks of its bridge.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub bridge: String,
    /// `--subnet`: the subnet of the bridge if cella makes it.
    pub subnet: Option<(Ipv4Addr, u8)>,
    /// `--ip`: this address, not the next free one.
    pub address: Option<Ipv4Addr>,
    /// `-p`: ports of the host forwarded to the container's.
    pub ports: Vec<store::Port>,
}

/// A container's place on its bridge, leased but not yet attached.
#[derive(Debug)]
pub struct Attachment {
    pub bridge: String,
    bridge_index: u32,
    mtu: u32,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// The host end of the container's veth pair.
    pub veth: String,
    pub ports: Vec<store::Port>,
    /// The state store the container is recorded in (its rules are made
    /// from the live records there).
    store: std::path::PathBuf,
    /// The store's network lock, held until the container's record (the
    /// lease) is in place.
    lock: Option<OwnedFd>,
    /// Each published port bound on the host (see [`reserve`]), until
    /// the container's [`Link`] holds them.
    reserved: Vec<OwnedFd>,
}

/// Make the bridge if needed and lease an address on it, for a container
/// recorded under `store`; check that its ports are free. `notes` gets a
/// line when a bridge is made or forwarding turned on, `warnings` one
/// when another table would drop the bridge's traffic.
pub fn prepare(
    store: &Path,
    req: &Request,
    notes: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<Attachment> {
    store::prepare_root(store)?;
    let lock = store::lock_network(store)?;
    let mut sock = Socket::route().map_err(net_error("netlink"))?;
    let found = find_link(&mut sock, &req.bridge)?;
    // A bridge to make: its subnet first, so that what is wrong with the
    // request is said before the bridge exists.
    let mut new = None;
    let (bridge_index, mtu, (gateway, prefix)) = match found {
        // Before anything is changed: a link of that name that is not a
        // bridge (a typo for the host's eth0, say) is left as it is.
        Some(link) if !link.is_bridge => {
            return Err(Error::usage(format!(
                "--bridge {}: an interface of that name exists and is not a bridge",
                req.bridge
            )));
        }
        Some(Iface { index, mtu, .. }) => {
            let found = address_of(&mut sock, index)?.ok_or_else(|| {
                Error::usage(format!(
                    "bridge {} has no IPv4 address: give it one, or name another with --bridge",
                    req.bridge
                ))
            })?;
            if let Some((net, len)) = req.subnet
                && (len != found.1 || network(found.0, len) != network(net, len))
            {
                return Err(Error::usage(format!(
                    "--subnet {net}/{len}: bridge {} exists with {}/{}",
                    req.bridge, found.0, found.1
                )));
            }
            (index, mtu, found)
        }
        None => {
            let (subnet, skipped) = new_subnet(&mut sock, req)?;
            new = Some(skipped);
            (0, 1500, subnet)
        }
    };
    let taken = leased(store, &req.bridge);
    let address = choose(gateway, prefix, req.address, &taken)?;
    for p in &req.ports {
        if let Some((id, q)) = published(store).into_iter().find(|(_, q)| q.clashes(p)) {
            return Err(Error::usage(format!(
                "-p {}: the host's port {}/{} is published by container {id} ({})",
                p.shown(),
                p.host_port,
                p.proto(),
                q.shown()
            )));
        }
    }
    // (A loop: a `collect` into a `Result` costs a kilobyte of code each.)
    let mut reserved = Vec::with_capacity(req.ports.len());
    for p in &req.ports {
        reserved.push(reserve(p)?);
    }
    let (bridge_index, mtu) = match new {
        None => (bridge_index, mtu),
        Some(skipped) => {
            let made = make_bridge(&mut sock, &req.bridge, gateway, prefix)?;
            let mut note = format!("made bridge {} with {gateway}/{prefix}", req.bridge);
            if !skipped.is_empty() {
                note.push_str(&format!(" ({} in use on this host)", skipped.join(", ")));
            }
            notes.push(note);
            made
        }
    };
    forwarding(&req.bridge, notes)?;
    let drops = super::nft::forward_drops();
    if !drops.is_empty() {
        let chains: Vec<String> = drops
            .iter()
            .map(|(t, c)| format!("chain {c} of table {t}"))
            .collect();
        warnings.push(format!(
            "{} drops what it forwards by policy (docker's FORWARD does): the traffic of \
             the containers on {} may be dropped there; cella edits no table but its own",
            chains.join(", "),
            req.bridge
        ));
    }
    Ok(Attachment {
        bridge: req.bridge.clone(),
        bridge_index,
        mtu,
        address,
        prefix,
        gateway,
        veth: veth_name(),
        ports: req.ports.clone(),
        store: store.to_path_buf(),
        lock: Some(lock),
        reserved,
    })
}

/// Port `p` bound on the host (not listened on) for the container's life,
/// as docker's proxy holds it: a port a host program uses is refused, not
/// taken from it by the DNAT rule, and so is an address that is not the
/// host's; and no program can take the port while the container has it.
fn reserve(p: &store::Port) -> Result<OwnedFd> {
    use rustix::net::{AddressFamily, SocketAddrV4, SocketFlags, SocketType};
    let kind = if p.udp {
        SocketType::DGRAM
    } else {
        SocketType::STREAM
    };
    let sock = rustix::net::socket_with(AddressFamily::INET, kind, SocketFlags::CLOEXEC, None)
        .map_err(net_error("socket"))?;
    let ip = p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let refused = |why: String| Error::usage(format!("-p {}: {why}", p.shown()));
    match rustix::net::bind(&sock, &SocketAddrV4::new(ip, p.host_port)) {
        Ok(()) => Ok(sock),
        Err(Errno::ADDRINUSE) => Err(refused(format!(
            "the host's port {}/{} is in use",
            p.host_port,
            p.proto()
        ))),
        Err(Errno::ADDRNOTAVAIL) => Err(refused(format!("{ip} is not an address of this host"))),
        Err(e) => Err(refused(crate::error::strerror(e).to_owned())),
    }
}

/// Every published port of the live containers under `store`.
fn published(store: &Path) -> Vec<(String, store::Port)> {
    live(store)
        .into_iter()
        .flat_map(|(id, n)| n.ports.into_iter().map(move |p| (id.clone(), p)))
        .collect()
}

/// (id, network) of the containers whose cella still holds them, on
/// bridges of this network namespace.
fn live(store: &Path) -> Vec<(String, store::Network)> {
    let ours = netns();
    held(store)
        .into_iter()
        .filter(|(_, net)| net.netns == ours)
        .collect()
}

/// (id, network) of every container on a bridge whose cella still holds
/// it, in any network namespace.
fn held(store: &Path) -> Vec<(String, store::Network)> {
    store::ids(store)
        .into_iter()
        .filter(|id| store::owned(store, id))
        .filter_map(|id| Some((id.clone(), store::Record::load(store, &id).ok()?.network?)))
        .collect()
}

/// Our network namespace (the inode of its file).
fn netns() -> u64 {
    rustix::fs::stat("/proc/self/ns/net").map_or(0, |st| st.st_ino)
}

/// IPv4 forwarding on (a host-wide switch, as docker turns it on: said
/// once, when cella turns it), and `route_localnet` on the bridge, so a
/// published port answers on the host's 127.0.0.1.
fn forwarding(bridge: &str, notes: &mut Vec<String>) -> Result<()> {
    let forward = "/proc/sys/net/ipv4/ip_forward";
    if crate::input::system_text(forward).as_deref().map(str::trim) != Some("1") {
        crate::input::write_system(forward, "1").map_err(net_error(forward))?;
        notes.push("turned IPv4 forwarding on (net.ipv4.ip_forward=1), as docker does".to_owned());
    }
    let localnet = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    crate::input::write_system(&localnet, "1").map_err(net_error(localnet))?;
    Ok(())
}

/// cella's table rewritten from the live containers, after the records of
/// killed ones are gone.
pub fn forget_the_gone(store: &Path) -> Result<()> {
    rebuild(store, None)
}

/// Rewrite cella's nf_tables table from the live bridge containers under
/// `store` (less `gone`, a container on its way out), under the network
/// lock.
fn rebuild(store: &Path, gone: Option<&str>) -> Result<()> {
    let _lock = store::lock_network(store)?;
    let live = live(store);
    let with = ruleset(&live, None);
    let without = ruleset(&live, gone);
    // A container whose going changes nothing (no port, not the last on
    // its bridge) leaves the table as it is: a rewrite is a removal, whose
    // freeing costs a grace period. (A start always rewrites it: that is
    // what removes a killed cella's rules.)
    if gone.is_some() && with == without {
        return Ok(());
    }
    super::nft::apply(&without).map_err(net_error("write nf_tables table ip cella"))
}

/// The table for the `live` containers, less `gone`.
fn ruleset(live: &[(String, store::Network)], gone: Option<&str>) -> super::nft::Ruleset {
    let mut rs = super::nft::Ruleset::default();
    for (id, n) in live {
        if Some(id.as_str()) == gone {
            continue;
        }
        let subnet = (Ipv4Addr::from(network(n.address, n.prefix)), n.prefix);
        if !rs.bridges.iter().any(|b| b.name == n.bridge) {
            rs.bridges.push(super::nft::Bridge {
                name: n.bridge.clone(),
                subnet,
            });
        }
        for port in &n.ports {
            rs.forwards.push(super::nft::Forward {
                port: *port,
                address: n.address,
            });
        }
    }
    rs
}

/// `veth` and 7 random hex digits, as docker names them (at most 15 bytes).
fn veth_name() -> String {
    let mut b = [0u8; 4];
    let _ = rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty());
    format!("veth{:07x}", u32::from_ne_bytes(b) & 0x0fff_ffff)
}

/// The addresses leased on `bridge`: those of containers whose cella
/// still holds them.
fn leased(store: &Path, bridge: &str) -> Vec<(Ipv4Addr, String)> {
    held(store)
        .into_iter()
        .filter_map(|(id, net)| (net.bridge == bridge).then_some((net.address, id)))
        .collect()
}

/// The address to lease: `wanted` if it is free and in the subnet, else
/// the lowest free one after the gateway.
pub fn choose(
    gateway: Ipv4Addr,
    prefix: u8,
    wanted: Option<Ipv4Addr>,
    taken: &[(Ipv4Addr, String)],
) -> Result<Ipv4Addr> {
    let net = network(gateway, prefix);
    let broadcast = net | !mask(prefix);
    let usable = |a: u32| a > net && a < broadcast && a != u32::from(gateway);
    if let Some(a) = wanted {
        if !usable(u32::from(a)) {
            return Err(Error::usage(format!(
                "--ip {a}: not a container address of the bridge's subnet {}/{prefix} \
                 (its gateway is {gateway})",
                Ipv4Addr::from(net)
            )));
        }
        if let Some((_, id)) = taken.iter().find(|(t, _)| *t == a) {
            return Err(Error::usage(format!("--ip {a}: in use by container {id}")));
        }
        return Ok(a);
    }
    (net + 1..broadcast)
        .filter(|a| usable(*a) && !taken.iter().any(|(t, _)| u32::from(*t) == *a))
        .map(Ipv4Addr::from)
        .next()
        .ok_or_else(|| {
            Error::usage(format!(
                "no free address left on the bridge's subnet {}/{prefix}",
                Ipv4Addr::from(net)
            ))
        })
}

/// The IPv4 networks the host already routes to or has addresses in.
fn used_networks(sock: &mut Socket) -> Result<Vec<(u32, u8)>> {
    let mut used = Vec::new();
    let m = Message::dump(nl::RTM_GETROUTE).rtmsg(0);
    sock.dump(m, &mut |_, p| {
        let (Some(&dst_len), Some(&kind)) = (p.first().and(p.get(1)), p.get(7)) else {
            return;
        };
        let attrs = nl::attrs(p, 12);
        let table = attrs
            .iter()
            .find(|(k, _)| *k == nl::RTA_TABLE)
            .map_or(u32::from(p[4]), |(_, d)| nl::u32_of(d));
        let dst = attrs
            .iter()
            .find(|(k, _)| *k == nl::RTA_DST)
            .and_then(|(_, d)| <[u8; 4]>::try_from(*d).ok());
        if kind == nl::RTN_UNICAST
            && table != nl::RT_TABLE_LOCAL
            && dst_len > 0
            && let Some(d) = dst
        {
            used.push((u32::from(Ipv4Addr::from(d)), dst_len));
        }
    })
    .map_err(net_error("list routes"))?;
    let m = Message::dump(nl::RTM_GETADDR).ifaddr(0, 0);
    sock.dump(m, &mut |_, p| {
        let Some(&prefix) = p.get(1) else { return };
        if let Some(a) = nl::attrs(p, 8)
            .iter()
            .find(|(k, _)| *k == nl::IFA_LOCAL)
            .and_then(|(_, d)| <[u8; 4]>::try_from(*d).ok())
        {
            used.push((u32::from(Ipv4Addr::from(a)), prefix.max(1)));
        }
    })
    .map_err(net_error("list addresses"))?;
    Ok(used)
}

/// Whether two networks overlap (the shorter prefix decides).
pub fn overlaps((a, la): (u32, u8), (b, lb): (u32, u8)) -> bool {
    (a ^ b) & mask(la.min(lb)) == 0
}

/// Make the bridge `req.bridge` with the first subnet nothing on the host
/// uses (or `req.subnet`), its gateway address and up.
fn new_subnet(sock: &mut Socket, req: &Request) -> Result<((Ipv4Addr, u8), Vec<String>)> {
    let used = used_networks(sock)?;
    let busy = |net: Ipv4Addr, len: u8| used.iter().any(|u| overlaps(*u, (network(net, len), len)));
    let mut skipped = Vec::new();
    let (net, len) = match req.subnet {
        Some((net, len)) => {
            if busy(net, len) {
                return Err(Error::usage(format!(
                    "--subnet {net}/{len}: the host already routes to or has an address in it"
                )));
            }
            (net, len)
        }
        None => candidates()
            .find(|(net, len)| {
                let free = !busy(*net, *len);
                if !free {
                    skipped.push(format!("{net}/{len}"));
                }
                free
            })
            .ok_or_else(|| {
                Error::usage("no free private /16 for a bridge: give one with --subnet")
            })?,
    };
    Ok(((Ipv4Addr::from(network(net, len) + 1), len), skipped))
}

/// Make the bridge `name` with `gateway/len` as its address, up; return
/// (index, MTU).
fn make_bridge(sock: &mut Socket, name: &str, gateway: Ipv4Addr, len: u8) -> Result<(u32, u32)> {
    let m = Message::new(nl::RTM_NEWLINK, nl::NLM_F_CREATE | nl::NLM_F_EXCL)
        .ifinfo(0, 0, 0)
        .str(nl::IFLA_IFNAME, name)
        .nest(nl::IFLA_LINKINFO)
        .str(nl::IFLA_INFO_KIND, "bridge")
        .end();
    sock.request(m)
        .map_err(net_error(format!("create bridge {name}")))?;
    let made = find_link(sock, name)?.ok_or_else(|| {
        Error::new(Step::Network, Errno::NODEV).at(format!("create bridge {name}"))
    })?;
    let (index, mtu) = (made.index, made.mtu);
    add_address(sock, index, gateway, len)
        .map_err(net_error(format!("address {gateway} on {name}")))?;
    set_up(sock, index).map_err(net_error(format!("bring {name} up")))?;
    Ok((index, mtu))
}

impl Attachment {
    /// The descriptors it holds (the network lock, until the container is
    /// recorded; the published ports), which a fork that closes the others
    /// keeps (a supervisor's, see `crate::detach`).
    pub fn held_fds(&self) -> impl Iterator<Item = i32> + '_ {
        self.lock
            .iter()
            .chain(&self.reserved)
            .map(rustix::fd::AsRawFd::as_raw_fd)
    }

    /// The container is recorded with its address: others may lease now.
    pub fn unlock(&mut self) {
        self.lock = None;
    }

    /// What its record says of it.
    pub fn record(&self) -> store::Network {
        store::Network {
            bridge: self.bridge.clone(),
            address: self.address,
            prefix: self.prefix,
            veth: self.veth.clone(),
            netns: netns(),
            ports: self.ports.clone(),
        }
    }

    /// Give the container `pid` (whose network namespace is new and
    /// empty but for `lo`) its `eth0` on the bridge, its address and its
    /// default route.
    ///
    /// The container is named by its pid in our pid namespace, never by
    /// `/proc/PID`: a `/proc` of another pid namespace (`cella` under
    /// `unshare --pid` without a `/proc` of its own) names another process.
    pub fn attach(&self, pid: rustix::process::Pid, id: &str) -> Result<Link> {
        let theirs = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
            .map_err(net_error("pidfd of the container"))?;
        let mut host = Socket::route().map_err(net_error("netlink"))?;
        let peer: Vec<u8> = Message::new(0, 0)
            .raw(&nl::ifinfo(0, 0, 0))
            .str(nl::IFLA_IFNAME, "eth0")
            .u32(nl::IFLA_MTU, self.mtu)
            .u32(nl::IFLA_NET_NS_PID, pid.as_raw_nonzero().get() as u32)
            .into_body();
        let m = Message::new(nl::RTM_NEWLINK, nl::NLM_F_CREATE | nl::NLM_F_EXCL)
            .ifinfo(0, nl::IFF_UP, nl::IFF_UP)
            .str(nl::IFLA_IFNAME, &self.veth)
            .u32(nl::IFLA_MTU, self.mtu)
            .u32(nl::IFLA_MASTER, self.bridge_index)
            .nest(nl::IFLA_LINKINFO)
            .str(nl::IFLA_INFO_KIND, "veth")
            .nest(nl::IFLA_INFO_DATA)
            .attr(nl::VETH_INFO_PEER, &peer)
            .end()
            .end();
        host.request(m).map_err(net_error(format!(
            "create veth {} on {}",
            self.veth, self.bridge
        )))?;
        let mut ports = Vec::with_capacity(self.reserved.len());
        for fd in &self.reserved {
            ports.push(rustix::io::fcntl_dupfd_cloexec(fd, 0).map_err(net_error("hold port"))?);
        }
        let link = Link {
            store: self.store.clone(),
            id: id.to_owned(),
            _ports: ports,
        };
        // Hairpin on its bridge port: the container may reach itself
        // through one of its published ports.
        let port = find_link(&mut host, &self.veth)?
            .ok_or_else(|| Error::new(Step::Network, Errno::NODEV).at(self.veth.clone()))?
            .index;
        host.request(
            Message::new(nl::RTM_SETLINK, 0)
                .raw(&nl::bridge_ifinfo(port))
                .nest(nl::IFLA_PROTINFO)
                .attr(nl::IFLA_BRPORT_MODE, &[1])
                .end(),
        )
        .map_err(net_error(format!("hairpin mode on {}", self.veth)))?;
        let mut inside = socket_in(&theirs)?;
        let eth0 = find_link(&mut inside, "eth0")?
            .ok_or_else(|| Error::new(Step::Network, Errno::NODEV).at("eth0"))?
            .index;
        let shown = format!("{}/{} on eth0", self.address, self.prefix);
        add_address(&mut inside, eth0, self.address, self.prefix).map_err(net_error(shown))?;
        set_up(&mut inside, eth0).map_err(net_error("bring eth0 up"))?;
        default_route(&mut inside, self.gateway, eth0)
            .map_err(net_error(format!("default route via {}", self.gateway)))?;
        rebuild(&self.store, None)?;
        Ok(link)
    }
}

fn open_ns(path: &str) -> Result<OwnedFd> {
    rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(net_error(path))
}

/// An rtnetlink socket in the network namespace of the process `pidfd`
/// (a socket stays in the namespace it was made in): we step in, make it,
/// and step back.
fn socket_in(pidfd: &OwnedFd) -> Result<Socket> {
    use rustix::thread::{
        LinkNameSpaceType, ThreadNameSpaceType, move_into_link_name_space,
        move_into_thread_name_spaces,
    };
    let ours = open_ns("/proc/self/ns/net")?;
    move_into_thread_name_spaces(rustix::fd::AsFd::as_fd(pidfd), ThreadNameSpaceType::NETWORK)
        .map_err(net_error("enter the container's network namespace"))?;
    let sock = Socket::route();
    move_into_link_name_space(
        rustix::fd::AsFd::as_fd(&ours),
        Some(LinkNameSpaceType::Network),
    )
    .map_err(net_error("return to the host's network namespace"))?;
    sock.map_err(net_error("netlink"))
}

/// A container's place on its bridge: on drop (its processes gone), its
/// rules leave cella's table. The veth pair is not deleted here: it goes
/// with the container's network namespace, which the kernel tears down
/// in the background once its last process has exited. (Deleting it
/// ourselves waited for RCU grace periods: about 45 ms of a 50 ms
/// `cella run --net bridge`, measured with `size-report/bench-net.sh`.)
pub struct Link {
    store: std::path::PathBuf,
    id: String,
    /// Its published ports, held on the host (see [`reserve`]) as long as
    /// the container lives: this outlives the request they were bound for.
    _ports: Vec<OwnedFd>,
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = rebuild(&self.store, Some(&self.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn the_lowest_free_address_after_the_gateway_is_leased() {
        let gw = a("10.88.0.1");
        assert_eq!(choose(gw, 16, None, &[]).unwrap(), a("10.88.0.2"));
        let taken = vec![
            (a("10.88.0.2"), "x".to_owned()),
            (a("10.88.0.4"), "y".to_owned()),
        ];
        assert_eq!(choose(gw, 16, None, &taken).unwrap(), a("10.88.0.3"));
    }

    #[test]
    fn a_fixed_address_must_be_free_and_a_containers_of_the_subnet() {
        let gw = a("10.88.0.1");
        let taken = vec![(a("10.88.0.7"), "web".to_owned())];
        assert_eq!(
            choose(gw, 16, Some(a("10.88.3.4")), &taken).unwrap(),
            a("10.88.3.4")
        );
        for (bad, why) in [
            ("10.88.0.7", "in use by container web"),
            ("10.88.0.1", "not a container address"),
            ("10.88.0.0", "not a container address"),
            ("10.88.255.255", "not a container address"),
            ("10.89.0.2", "not a container address"),
        ] {
            let e = choose(gw, 16, Some(a(bad)), &taken).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn a_full_subnet_says_so() {
        let gw = a("192.168.5.1");
        let taken: Vec<_> = (2..255)
            .map(|i| (a(&format!("192.168.5.{i}")), "c".to_owned()))
            .collect();
        assert!(
            choose(gw, 24, None, &taken)
                .unwrap_err()
                .to_string()
                .contains("no free address")
        );
    }

    #[test]
    fn overlapping_networks_are_seen_from_either_side() {
        let n = |s: &str| u32::from(a(s));
        assert!(overlaps((n("10.88.0.0"), 16), (n("10.88.5.0"), 24)));
        assert!(overlaps((n("10.0.0.0"), 8), (n("10.88.0.0"), 16)));
        assert!(!overlaps((n("10.89.0.0"), 16), (n("10.88.0.0"), 16)));
        assert!(overlaps((n("192.0.2.2"), 32), (n("192.0.2.0"), 24)));
    }

    #[test]
    fn candidates_start_with_podmans_and_docker_is_among_them() {
        let all: Vec<_> = candidates().collect();
        assert_eq!(all[0], (a("10.88.0.0"), 16));
        assert!(all.contains(&(a("172.17.0.0"), 16)));
    }

    #[test]
    fn veth_names_fit_ifnamsiz() {
        let n = veth_name();
        assert!(n.starts_with("veth") && n.len() == 11, "{n}");
    }
}
