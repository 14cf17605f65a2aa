//! The name resolution files of a `cella run` or `cella init` container,
//! as docker writes them: `/etc/hosts`, `/etc/hostname` and, unless the
//! container has no network, `/etc/resolv.conf`. Their text is made here
//! (pure functions of the container's names, address and options and the
//! host's files); cella keeps them in the container's state directory and
//! binds them in read-only, so the image is never written. (docker binds
//! them writable; read-only, a container cannot fill the host's `/run`
//! through them.)

use std::net::{IpAddr, Ipv4Addr};

/// The network a container has, as far as its files are concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Only `lo`: hosts and hostname, no resolv.conf.
    None,
    /// The host's network: its hosts and resolv.conf as they are.
    Host,
    /// A bridge: the container's own address, and its gateway (the
    /// bridge's, the host as the container reaches it).
    Bridge(Ipv4Addr, Ipv4Addr),
}

/// What the user asked of the files: `--dns`, `--dns-search`,
/// `--dns-option`, `--add-host`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    pub dns: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
    /// (name, address) lines added to `/etc/hosts`; no address: docker's
    /// `host-gateway`, the host as the container reaches it.
    pub hosts: Vec<(String, Option<IpAddr>)>,
}

/// The host's files the container's are derived from.
pub struct HostFiles<'a> {
    pub hosts: Option<&'a str>,
    pub resolv: Option<&'a str>,
    /// systemd-resolved's list of upstream servers
    /// (`/run/systemd/resolve/resolv.conf`), for a host whose resolv.conf
    /// names only its stub at 127.0.0.53.
    pub upstream: Option<&'a str>,
}

/// Where each file goes in the container, and its name in the state directory.
pub const HOSTS: &str = "hosts";
pub const HOSTNAME: &str = "hostname";
pub const RESOLV: &str = "resolv.conf";

/// The files a container gets: hosts and hostname, and resolv.conf if it
/// has a network.
pub fn names(networked: bool) -> &'static [&'static str] {
    if networked {
        &[HOSTS, HOSTNAME, RESOLV]
    } else {
        &[HOSTS, HOSTNAME]
    }
}

/// The files (name in the state directory, text) of a container named
/// `name` with hostname `hostname`; a warning when its resolv.conf has no
/// nameserver it could reach.
pub fn make(
    mode: Mode,
    name: &str,
    hostname: &str,
    opts: &Options,
    host: &HostFiles<'_>,
) -> (Vec<(&'static str, String)>, Option<String>) {
    let mut files = vec![
        (HOSTS, hosts(mode, name, hostname, &opts.hosts, host.hosts)),
        (HOSTNAME, format!("{hostname}\n")),
    ];
    let mut warning = None;
    if mode != Mode::None {
        let (text, servers) = resolv_conf(mode, opts, host);
        if servers == 0 {
            warning = Some(match mode {
                Mode::Host => "the host's /etc/resolv.conf names no nameserver".to_owned(),
                _ => "no nameserver the container can reach: the host's /etc/resolv.conf names \
                      only loopback ones (give --dns ADDRESS)"
                    .to_owned(),
            });
        }
        files.push((RESOLV, text));
    }
    (files, warning)
}

/// docker's `/etc/hosts`: localhost, the container's own line (its address,
/// its hostname and name) on a bridge, then `--add-host`. With the host's
/// network, the host's file comes first instead.
pub fn hosts(
    mode: Mode,
    name: &str,
    hostname: &str,
    extra: &[(String, Option<IpAddr>)],
    host_hosts: Option<&str>,
) -> String {
    let mut out = String::new();
    match (mode, host_hosts) {
        (Mode::Host, Some(text)) => {
            out.push_str(text);
            if !text.is_empty() && !text.ends_with('\n') {
                out.push('\n');
            }
        }
        _ => out.push_str(
            "127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::\tip6-localnet\n\
             ff00::\tip6-mcastprefix\n\
             ff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n",
        ),
    }
    if let Mode::Bridge(addr, _) = mode {
        out.push_str(&format!("{addr}\t{hostname}"));
        if name != hostname {
            out.push_str(&format!(" {name}"));
        }
        out.push('\n');
    }
    for (host, addr) in extra {
        if let Some(addr) = addr.or_else(|| host_gateway(mode)) {
            out.push_str(&format!("{addr}\t{host}\n"));
        }
    }
    out
}

/// What docker's `host-gateway` stands for: the bridge's address on a
/// bridge, the host's loopback on its network; with no network, nothing
/// (`--add-host NAME:host-gateway` is refused there).
pub fn host_gateway(mode: Mode) -> Option<IpAddr> {
    match mode {
        Mode::None => None,
        Mode::Host => Some(Ipv4Addr::LOCALHOST.into()),
        Mode::Bridge(_, gateway) => Some(gateway.into()),
    }
}

/// `/etc/resolv.conf` and how many nameservers it names. With the host's
/// network, the host's file as it is (what `--dns...` give replaces its
/// lines). On a bridge, the host's servers the container can reach: not a
/// loopback one (that is the container's own `lo`); systemd-resolved's
/// stub is replaced by its upstream servers, as docker does; IPv4 only (the
/// bridge has no IPv6). No server is invented where none is left.
pub fn resolv_conf(mode: Mode, opts: &Options, host: &HostFiles<'_>) -> (String, usize) {
    let text = host.resolv.unwrap_or("");
    let asked = !(opts.dns.is_empty() && opts.search.is_empty() && opts.options.is_empty());
    let mut servers: Vec<IpAddr> = Vec::new();
    let mut search: Vec<&str> = Vec::new();
    let mut options: Vec<&str> = Vec::new();
    let mut stub = false;
    let nameservers = |text: &str| -> Vec<IpAddr> {
        lines(text)
            .filter_map(|(key, rest)| (key == "nameserver").then_some(rest))
            .filter_map(|v| v.split_whitespace().next()?.parse().ok())
            .collect()
    };
    for (key, rest) in lines(text) {
        match key {
            "search" | "domain" => search = rest.split_whitespace().collect(),
            "options" => options.extend(rest.split_whitespace()),
            _ => {}
        }
    }
    for server in nameservers(text) {
        match (mode, server) {
            (Mode::Host, _) => servers.push(server),
            (_, IpAddr::V4(v4)) if v4 == Ipv4Addr::new(127, 0, 0, 53) => stub = true,
            (_, IpAddr::V4(v4)) if !v4.is_loopback() => servers.push(server),
            _ => {}
        }
    }
    if stub && servers.is_empty() {
        servers = nameservers(host.upstream.unwrap_or(""))
            .into_iter()
            .filter(|s| matches!(s, IpAddr::V4(v4) if !v4.is_loopback()))
            .collect();
    }
    if mode == Mode::Host && !asked {
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        return (out, servers.len());
    }
    if !opts.dns.is_empty() {
        servers = opts.dns.clone();
    }
    if !opts.search.is_empty() {
        // `.`: none at all, not even the host's (docker's).
        search = opts
            .search
            .iter()
            .map(String::as_str)
            .filter(|s| *s != ".")
            .collect();
    }
    if !opts.options.is_empty() {
        options = opts.options.iter().map(String::as_str).collect();
    }
    let mut out = String::new();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in &servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    (out, servers.len())
}

/// (keyword, rest) of each line that is not blank or a comment.
fn lines(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            return None;
        }
        Some(match line.split_once(char::is_whitespace) {
            Some((k, rest)) => (k, rest.trim()),
            None => (line, ""),
        })
    })
}

/// `--add-host NAME:ADDRESS` or `NAME=ADDRESS` (docker's forms; an IPv6
/// address may be in brackets, and its colons are not the separator);
/// ADDRESS `host-gateway` gives no address (see [`host_gateway`]).
pub fn parse_add_host(v: &str) -> Option<(String, Option<IpAddr>)> {
    let (name, addr) = v.split_once('=').or_else(|| v.split_once(':'))?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    let addr = match addr {
        "host-gateway" => None,
        _ => Some(addr.parse().ok()?),
    };
    Some((name.to_owned(), addr)).filter(|_| ok)
}

/// A `--dns-search` domain or `--dns-option`: one word of printable ASCII.
pub fn is_word(v: &str) -> bool {
    !v.is_empty() && v.len() <= 253 && v.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESOLVED: &str = "# This is /run/systemd/resolve/stub-resolv.conf\n\
        nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n";
    const UPSTREAM: &str = "nameserver 192.168.1.1\nnameserver fd00::1\nsearch lan\n";

    fn host<'a>(resolv: &'a str, upstream: Option<&'a str>) -> HostFiles<'a> {
        HostFiles {
            hosts: Some("127.0.0.1 localhost\n10.1.2.3 build-server\n"),
            resolv: Some(resolv),
            upstream,
        }
    }

    #[test]
    fn a_bridge_container_has_its_address_and_names_in_hosts() {
        let extra = vec![("db".to_owned(), Some("10.0.0.9".parse().unwrap()))];
        let text = hosts(
            Mode::Bridge(Ipv4Addr::new(10, 88, 0, 5), Ipv4Addr::new(10, 88, 0, 1)),
            "web",
            "www",
            &extra,
            Some("1.2.3.4 host-only\n"),
        );
        assert!(text.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost"));
        assert!(text.contains("\n10.88.0.5\twww web\n"), "{text}");
        assert!(text.ends_with("10.0.0.9\tdb\n"));
        assert!(!text.contains("host-only"));
    }

    #[test]
    fn host_gateway_is_the_bridges_address_or_the_hosts_loopback() {
        let extra = vec![("gw".to_owned(), None)];
        let bridge = Mode::Bridge(Ipv4Addr::new(10, 88, 0, 5), Ipv4Addr::new(10, 88, 0, 1));
        let text = hosts(bridge, "web", "web", &extra, None);
        assert!(text.ends_with("\n10.88.0.1\tgw\n"), "{text}");
        let text = hosts(Mode::Host, "web", "web", &extra, Some("1.2.3.4 a\n"));
        assert_eq!(text, "1.2.3.4 a\n127.0.0.1\tgw\n");
    }

    #[test]
    fn without_a_network_hosts_has_localhost_and_no_address() {
        let text = hosts(Mode::None, "web", "web", &[], None);
        assert!(text.contains("127.0.0.1\tlocalhost\n"));
        assert!(!text.contains("web"));
    }

    #[test]
    fn the_hosts_network_takes_the_hosts_file_as_it_is() {
        let extra = vec![("db".to_owned(), Some("10.0.0.9".parse().unwrap()))];
        let text = hosts(Mode::Host, "web", "web", &extra, Some("1.2.3.4 a"));
        assert_eq!(text, "1.2.3.4 a\n10.0.0.9\tdb\n");
    }

    #[test]
    fn the_resolved_stub_is_replaced_by_its_ipv4_upstream_servers() {
        let bridge = Mode::Bridge(Ipv4Addr::new(10, 88, 0, 2), Ipv4Addr::new(10, 88, 0, 1));
        let (text, n) = resolv_conf(bridge, &Options::default(), &host(RESOLVED, Some(UPSTREAM)));
        assert_eq!(
            text,
            "search lan\nnameserver 192.168.1.1\noptions edns0 trust-ad\n"
        );
        assert_eq!(n, 1);
    }

    #[test]
    fn loopback_servers_are_dropped_and_none_is_invented() {
        let bridge = Mode::Bridge(Ipv4Addr::new(10, 88, 0, 2), Ipv4Addr::new(10, 88, 0, 1));
        let only_local = "nameserver 127.0.0.1\nnameserver ::1\n";
        let (text, n) = resolv_conf(bridge, &Options::default(), &host(only_local, None));
        assert_eq!((text.as_str(), n), ("", 0));
        let (files, warning) = make(
            bridge,
            "a",
            "a",
            &Options::default(),
            &host(only_local, None),
        );
        assert!(warning.unwrap().contains("--dns"));
        assert!(files.iter().any(|(f, _)| *f == RESOLV));
        // The stub without upstream servers: nothing either.
        let (_, n) = resolv_conf(bridge, &Options::default(), &host(RESOLVED, None));
        assert_eq!(n, 0);
    }

    #[test]
    fn the_hosts_network_keeps_the_hosts_servers_and_options_replace_them() {
        let (text, n) = resolv_conf(Mode::Host, &Options::default(), &host(RESOLVED, None));
        assert_eq!((text.as_str(), n), (RESOLVED, 1));
        let opts = Options {
            dns: vec!["9.9.9.9".parse().unwrap()],
            search: vec!["example.org".into()],
            options: vec!["ndots:2".into()],
            hosts: Vec::new(),
        };
        let bridge = Mode::Bridge(Ipv4Addr::new(10, 88, 0, 2), Ipv4Addr::new(10, 88, 0, 1));
        let (text, _) = resolv_conf(bridge, &opts, &host(RESOLVED, Some(UPSTREAM)));
        assert_eq!(
            text,
            "search example.org\nnameserver 9.9.9.9\noptions ndots:2\n"
        );
        // `--dns-search .`: no search line, not even the host's.
        let dot = Options {
            search: vec![".".into()],
            ..Options::default()
        };
        let (text, _) = resolv_conf(bridge, &dot, &host(RESOLVED, Some(UPSTREAM)));
        assert_eq!(text, "nameserver 192.168.1.1\noptions edns0 trust-ad\n");
    }

    #[test]
    fn without_a_network_there_is_no_resolv_conf() {
        let (files, warning) = make(Mode::None, "a", "h", &Options::default(), &host("", None));
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, [HOSTS, HOSTNAME]);
        assert_eq!(files[1].1, "h\n");
        assert!(warning.is_none());
    }

    #[test]
    fn add_host_takes_docker_forms_and_refuses_others() {
        assert_eq!(
            parse_add_host("db:10.0.0.9"),
            Some(("db".into(), "10.0.0.9".parse().ok()))
        );
        assert_eq!(
            parse_add_host("v6:[fd00::1]"),
            Some(("v6".into(), "fd00::1".parse().ok()))
        );
        assert_eq!(
            parse_add_host("v6:fd00::1"),
            Some(("v6".into(), "fd00::1".parse().ok()))
        );
        assert_eq!(parse_add_host("gw:host-gateway"), Some(("gw".into(), None)));
        // docker 25's form.
        assert_eq!(
            parse_add_host("db=10.0.0.9"),
            Some(("db".into(), "10.0.0.9".parse().ok()))
        );
        assert_eq!(
            parse_add_host("v6=fd00::1"),
            Some(("v6".into(), "fd00::1".parse().ok()))
        );
        for bad in [
            "db",
            "db:",
            ":1.2.3.4",
            "d b:1.2.3.4",
            "db:1.2.3",
            "a\nb:1.2.3.4",
            "db=",
            "=1.2.3.4",
            "d=b:1.2.3.4",
        ] {
            assert_eq!(parse_add_host(bad), None, "{bad}");
        }
        assert!(is_word("ndots:2") && !is_word("a b") && !is_word(""));
    }
}
