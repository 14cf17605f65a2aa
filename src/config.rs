//! The init configuration: a small file a person writes by hand, describing
//! the containers `cella init` starts, in order.
//!
//! ```text
//! # /etc/cella/init.conf
//! hostname   edge-1        # the machine's hostname
//! on-exit    poweroff      # poweroff | reboot, once every container has ended for good
//! grace      5             # seconds between SIGTERM and SIGKILL when stopping
//! emergency  /bin/sh       # a shell for the console if something is wrong
//! module     /lib/modules/virtio_net.ko   # loaded first, in order (repeatable)
//! address    eth0 192.168.1.20/24   # the machine's network (the `net` feature),
//! gateway    192.168.1.1            # up before any container starts
//! nameserver 192.168.1.1            # the containers' resolv.conf
//!
//! [container web]
//! rootfs     /srv/web
//! command    /bin/httpd -f -p 8080
//! restart    on-failure    # no | on-failure[:N] | always (with backoff)
//! log        console       # console, with a "[web] " prefix | /path/to/file
//! memory     32m           # and every other `cella run` option, by its long name
//! pids       64
//! ```
//!
//! One `key value` per line, a single-valued key at most once per section
//! (list keys such as `env` and `module` add up); `#` starts a comment where a shell's would: at
//! the start of a word and outside quotes (`env A=b#c` and
//! `command sh -c 'echo #1'` keep theirs). A container key is
//! either one of `command`, `restart`, `log`, or a `cella run` option
//! (`rootfs`, `hostname`, `net`, `pid`, `memory`, `pids`, `cpus`, `cpu-weight`,
//! `io-weight`, `env`, `workdir`, `user`, `bind`, `tmpfs`, `init`,
//! `read-only`, `overlay`, `overlay-upper`), checked exactly as on the
//! command line. The kernel command
//! line can select the file (`cella.conf=PATH`) and override the global
//! keys (`cella.hostname=`, `cella.on-exit=`, `cella.grace=`, `cella.emergency=`).
//! Parsing is pure: no file system access.

use crate::cli::{self, RunArgs};
use crate::error::{Error, Result};

pub const DEFAULT_PATH: &str = "/etc/cella/init.conf";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExit {
    #[default]
    PowerOff,
    Reboot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    #[default]
    No,
    /// After a failure (exit status not 0), at most this many times in
    /// all (`on-failure:N`, docker's), or without end.
    OnFailure(Option<u32>),
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Log {
    /// To the console, each line prefixed with `[name] `.
    #[default]
    Console,
    /// Appended to this file.
    File(String),
}

#[derive(Debug, PartialEq)]
pub struct Container {
    pub args: RunArgs,
    pub restart: Restart,
    pub log: Log,
    /// `needs-network IFACE`: started once the interface has an IPv4
    /// address (one a DHCP client container gets), at most 60 s late.
    pub needs_network: Vec<String>,
}

impl Container {
    pub fn name(&self) -> &str {
        self.args.name.as_deref().unwrap_or("")
    }
}

#[derive(Debug, PartialEq)]
pub struct Config {
    pub hostname: Option<String>,
    pub on_exit: OnExit,
    pub grace_secs: u64,
    pub emergency: Option<String>,
    /// `module FILE [PARAM=VALUE...]`: kernel modules PID 1 loads, in file
    /// order, before the network and the containers (a board's modular
    /// kernel has no modprobe to load its NIC driver or nf_tables on demand).
    pub modules: Vec<Module>,
    pub network: HostNetwork,
    pub containers: Vec<Container>,
}

/// One `module` line: the module file and its parameters as the kernel
/// takes them (`name=value`, blank-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    pub params: String,
}

/// The machine's network, brought up before any container starts (the
/// `net` feature): `address IFACE ADDRESS/PREFIX` (repeatable), `gateway
/// ADDRESS`, `nameserver ADDRESS` (repeatable: the containers'
/// resolv.conf, instead of the machine's `/etc/resolv.conf`).
#[derive(Debug, Default, PartialEq, Clone)]
pub struct HostNetwork {
    pub addresses: Vec<(String, std::net::Ipv4Addr, u8)>,
    /// `address IFACE dhcp`: brought up, addressed by a container's DHCP
    /// client.
    pub dhcp: Vec<String>,
    pub gateway: Option<std::net::Ipv4Addr>,
    pub nameservers: Vec<std::net::IpAddr>,
}

impl HostNetwork {
    /// The resolv.conf the nameservers make, if any were given.
    pub fn resolv_conf(&self) -> Option<String> {
        (!self.nameservers.is_empty()).then(|| {
            self.nameservers
                .iter()
                .map(|n| format!("nameserver {n}\n"))
                .collect()
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hostname: None,
            on_exit: OnExit::PowerOff,
            grace_secs: 5,
            emergency: None,
            modules: Vec::new(),
            network: HostNetwork::default(),
            containers: Vec::new(),
        }
    }
}

/// What the kernel command line says to cella.
#[derive(Debug, Default, PartialEq)]
pub struct Cmdline {
    pub config: Option<String>,
    overrides: Vec<(String, String)>,
}

impl Cmdline {
    /// The value of `cella.KEY=` (the last one wins), for keys read before
    /// the configuration (`emergency`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.overrides
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Pick `cella.*` words out of `/proc/cmdline`.
/// The largest configuration file cella reads.
pub const MAX_SIZE: usize = 1 << 20;

pub fn cmdline(text: &str) -> Cmdline {
    let mut c = Cmdline::default();
    for word in text.split_whitespace() {
        let Some((key, value)) = word.strip_prefix("cella.").and_then(|w| w.split_once('=')) else {
            continue;
        };
        match key {
            "conf" => c.config = Some(value.to_owned()),
            _ => c.overrides.push((key.to_owned(), value.to_owned())),
        }
    }
    c
}

/// Parse a configuration file's text; `origin` names it in messages.
pub fn parse(text: &str, origin: &str) -> Result<Config> {
    let mut config = Config::default();
    let mut current: Option<Container> = None;
    // The keys given so far in this section (the global one first).
    let mut seen: Vec<&str> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let at = |msg: String| Error::usage(format!("{origin}:{}: {msg}", i + 1));
        let line = without_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let name = section
                .strip_suffix(']')
                .and_then(|s| s.trim().strip_prefix("container "))
                .map(str::trim)
                .ok_or_else(|| at(format!("expected [container NAME], found '{line}'")))?;
            if let Some(done) = current.take() {
                finish(done, &mut config).map_err(|e| at(e.to_string()))?;
            }
            // (A bound, so the check for a name defined twice stays cheap
            // on a slow board: 1 MiB of sections took 12 s here.)
            if config.containers.len() >= MAX_CONTAINERS {
                return Err(at(format!("more than {MAX_CONTAINERS} containers")));
            }
            if config.containers.iter().any(|c| c.name() == name) {
                return Err(at(format!("container '{name}' is defined twice")));
            }
            seen.clear();
            let mut args = RunArgs::default();
            cli::set_option(&mut args, "name", name).map_err(|e| at(e.to_string()))?;
            current = Some(Container {
                args,
                restart: Restart::No,
                log: Log::Console,
                needs_network: Vec::new(),
            });
            continue;
        }
        let (key, value) = match line.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim()),
            None => (line, ""),
        };
        // (`network` and `pids-limit` are docker's names of `net` and `pids`.)
        let key = match key {
            "network" => "net",
            "pids-limit" => "pids",
            k => k,
        };
        if seen.contains(&key) && !repeatable(key) {
            return Err(at(format!("{key} is given twice (only one counts)")));
        }
        seen.push(key);
        let result = match current.as_mut() {
            None => set_global(&mut config, key, value),
            Some(c) => set_container(c, key, value),
        };
        result.map_err(|e| at(e.to_string()))?;
    }
    if let Some(done) = current.take() {
        finish(done, &mut config).map_err(|e| Error::usage(format!("{origin}: {e}")))?;
    }
    if config.containers.is_empty() {
        return Err(Error::usage(format!(
            "{origin}: no [container NAME] section"
        )));
    }
    Ok(config)
}

/// `line` up to its comment: a `#` at the start of a word (the line's
/// start or after a blank), outside '…' and "…", as a shell reads it.
fn without_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut word_start = true;
    for (i, ch) in line.char_indices() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '#') if word_start => return &line[..i],
            (None, '\'' | '"') => quote = Some(ch),
            _ => {}
        }
        word_start = quote.is_none() && ch.is_whitespace();
    }
    line
}

/// The global `emergency` shell of a file that may not parse: the emergency
/// path must work precisely when the rest is broken.
pub fn emergency_line(text: &str) -> Option<String> {
    text.lines()
        .map(|l| without_comment(l).trim())
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| {
            l.strip_prefix("emergency")?
                .trim()
                .strip_prefix('/')
                .map(|p| format!("/{p}"))
        })
}

/// Apply the kernel command line's overrides of the global keys.
pub fn apply_overrides(config: &mut Config, cmdline: &Cmdline) -> Result<()> {
    for (key, value) in &cmdline.overrides {
        set_global(config, key, value)
            .map_err(|e| Error::usage(format!("kernel command line: cella.{key}: {e}")))?;
    }
    Ok(())
}

fn finish(mut c: Container, config: &mut Config) -> Result<()> {
    c.args.host_resolv = config.network.resolv_conf();
    if c.args.command.is_empty() {
        return Err(Error::usage(format!(
            "container '{}' has no command",
            c.name()
        )));
    }
    config.containers.push(c);
    Ok(())
}

/// The keys that add to a list each time they are given, in either kind of
/// section; any other key twice in one section is a mistake, refused.
fn repeatable(key: &str) -> bool {
    matches!(key, "module" | "address" | "nameserver" | "needs-network")
        || cli::among(cli::REPEATABLE, key)
}

/// The most containers one configuration may define.
const MAX_CONTAINERS: usize = 1024;

fn set_global(config: &mut Config, key: &str, value: &str) -> Result<()> {
    match key {
        "hostname" => {
            config.hostname = Some(
                cli::valid_hostname(value)
                    .ok_or_else(|| Error::usage(format!("hostname: {}", cli::HOSTNAME_RULE)))?,
            )
        }
        "on-exit" => {
            config.on_exit = match value {
                "poweroff" => OnExit::PowerOff,
                "reboot" => OnExit::Reboot,
                _ => {
                    return Err(Error::usage(format!(
                        "on-exit must be poweroff or reboot, not '{value}'"
                    )));
                }
            }
        }
        "grace" => {
            config.grace_secs = value.parse().ok().filter(|s| *s <= 3600).ok_or_else(|| {
                Error::usage(format!(
                    "grace must be whole seconds (0-3600), not '{value}'"
                ))
            })?
        }
        "emergency" => {
            // A path, run as it is: no arguments, no search.
            if !value.starts_with('/') || value.contains(char::is_whitespace) {
                return Err(Error::usage(format!(
                    "emergency must be the absolute path of a shell, not '{value}'"
                )));
            }
            config.emergency = Some(value.to_owned())
        }
        "module" => {
            let (path, params) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
            if !path.starts_with('/') {
                return Err(Error::usage(format!(
                    "module must be an absolute path to a module file, not '{path}'"
                )));
            }
            config.modules.push(Module {
                path: path.to_owned(),
                params: params.trim().to_owned(),
            });
        }
        "address" | "gateway" if !cfg!(feature = "net") => {
            return Err(Error::usage(format!(
                "{key}: this cella is built without networking (its 'net' feature)"
            )));
        }
        "address" => {
            let parsed = value
                .split_once(char::is_whitespace)
                .and_then(|(iface, cidr)| {
                    let (addr, len) = cidr.trim().split_once('/')?;
                    let len: u8 = len.parse().ok().filter(|l| (1..=32).contains(l))?;
                    let ok = !iface.is_empty() && iface.len() < 16 && !iface.contains('/');
                    ok.then(|| (iface.to_owned(), addr.parse().ok(), len))
                });
            let dhcp = value
                .strip_suffix(" dhcp")
                .map(str::trim)
                .filter(|i| !i.is_empty() && i.len() < 16 && !i.contains(['/', ' ']));
            match parsed {
                _ if dhcp.is_some() => config.network.dhcp.extend(dhcp.map(str::to_owned)),
                Some((iface, Some(addr), len)) => config.network.addresses.push((iface, addr, len)),
                _ => {
                    return Err(Error::usage(format!(
                        "address must be INTERFACE ADDRESS/PREFIX (IPv4) or INTERFACE dhcp, not '{value}'"
                    )));
                }
            }
        }
        "gateway" => {
            config.network.gateway = Some(value.parse().map_err(|_| {
                Error::usage(format!("gateway must be an IPv4 address, not '{value}'"))
            })?)
        }
        "nameserver" => config.network.nameservers.push(value.parse().map_err(|_| {
            Error::usage(format!(
                "nameserver must be an IPv4 or IPv6 address, not '{value}'"
            ))
        })?),
        _ => {
            return Err(Error::usage(format!(
                "unknown key '{key}' (container keys go after [container NAME])"
            )));
        }
    }
    Ok(())
}

fn set_container(c: &mut Container, key: &str, value: &str) -> Result<()> {
    match key {
        "command" => c.args.command = words(value)?.into_iter().map(Into::into).collect(),
        "restart" => {
            c.restart = match value {
                "no" => Restart::No,
                "on-failure" => Restart::OnFailure(None),
                "always" => Restart::Always,
                _ => match value
                    .strip_prefix("on-failure:")
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| *n > 0)
                {
                    Some(n) => Restart::OnFailure(Some(n)),
                    None => {
                        return Err(Error::usage(format!(
                            "restart must be no, on-failure[:N], or always, not '{value}'"
                        )));
                    }
                },
            }
        }
        "log" => {
            c.log = match value {
                "console" => Log::Console,
                path if path.starts_with('/') => Log::File(path.to_owned()),
                _ => {
                    return Err(Error::usage(format!(
                        "log must be console or an absolute path, not '{value}'"
                    )));
                }
            }
        }
        "name" => return Err(Error::usage("the name is the section's: [container NAME]")),
        "needs-network" => {
            if value.is_empty() || value.len() > 15 || value.contains(['/', ' ']) {
                return Err(Error::usage(format!(
                    "needs-network must name an interface, not '{value}'"
                )));
            }
            c.needs_network.push(value.to_owned())
        }
        _ => cli::set_option(&mut c.args, key, value)?,
    }
    Ok(())
}

/// Split a command into words: blanks separate, '…' and "…" group.
pub fn words(text: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for ch in text.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(ch);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(Error::usage("unterminated quote in command"));
    }
    if in_word {
        out.push(word);
    }
    if out.is_empty() {
        return Err(Error::usage("empty command"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "
# the machine
hostname edge-1
on-exit reboot
grace 3
emergency /bin/sh

[container web]
rootfs /srv/web   # comment after a value
command /bin/httpd -f -p 8080
restart on-failure
memory 32m
pids 64
env MODE=prod
read-only

[container job]
command sh -c 'echo \"one two\"; exit 3'
log /var/log/job.log
restart always
init yes
";

    #[test]
    fn sample_parses() {
        let c = parse(SAMPLE, "init.conf").unwrap();
        assert_eq!(c.hostname.as_deref(), Some("edge-1"));
        assert_eq!(
            (c.on_exit, c.grace_secs, c.emergency.as_deref()),
            (OnExit::Reboot, 3, Some("/bin/sh"))
        );
        assert_eq!(c.containers.len(), 2);
        let web = &c.containers[0];
        assert_eq!(web.name(), "web");
        assert_eq!(web.args.rootfs.as_deref(), Some("/srv/web".as_ref()));
        assert_eq!(web.args.command, ["/bin/httpd", "-f", "-p", "8080"]);
        assert_eq!(
            (web.restart, &web.log),
            (Restart::OnFailure(None), &Log::Console)
        );
        assert_eq!((web.args.memory, web.args.pids), (Some(32 << 20), Some(64)));
        assert_eq!(web.args.env, ["MODE=prod"]);
        assert!(web.args.read_only);
        let job = &c.containers[1];
        assert_eq!(job.args.command, ["sh", "-c", "echo \"one two\"; exit 3"]);
        assert_eq!(
            (job.restart, &job.log),
            (Restart::Always, &Log::File("/var/log/job.log".into()))
        );
        assert!(job.args.init);
    }

    #[test]
    fn list_keys_add_up_and_each_section_has_its_own() {
        let c = parse(
            "nameserver 10.0.0.1\nnameserver 10.0.0.2\n[container a1]\ncommand x\nmemory 1m\n\
             env A=1\nenv B=2\ntmpfs /t\ntmpfs /u\ncap-drop NET_RAW\ncap-drop CHOWN\n\
             [container a2]\ncommand y\nmemory 2m\n",
            "f",
        )
        .unwrap();
        assert_eq!(c.network.nameservers.len(), 2);
        let (a1, a2) = (&c.containers[0].args, &c.containers[1].args);
        assert_eq!((a1.env.len(), a1.tmpfs.len(), a1.cap_drop.len()), (2, 2, 2));
        assert_eq!((a1.memory, a2.memory), (Some(1 << 20), Some(2 << 20)));
    }

    #[test]
    fn modules_are_kept_in_order_with_their_parameters() {
        let text = "module /lib/modules/a.ko\nmodule /lib/modules/b.ko  debug=1 x=y\n\
                    [container a1]\ncommand x\n";
        let c = parse(text, "f").unwrap();
        let got: Vec<(&str, &str)> = c
            .modules
            .iter()
            .map(|m| (m.path.as_str(), m.params.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/lib/modules/a.ko", ""),
                ("/lib/modules/b.ko", "debug=1 x=y")
            ]
        );
        let e = parse("module a.ko\n[container a1]\ncommand x\n", "f").unwrap_err();
        assert!(
            e.to_string()
                .contains("f:1: module must be an absolute path to a module file, not 'a.ko'"),
            "{e}"
        );
    }

    #[cfg(not(feature = "net"))]
    #[test]
    fn without_networking_the_machines_network_keys_are_refused() {
        let e = parse("address eth0 10.0.2.15/24\n", "f")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("f:1: address: this cella is built without networking"),
            "{e}"
        );
    }

    #[cfg(feature = "net")]
    #[test]
    fn the_machines_network_keys() {
        let text = "address eth0 10.0.2.15/24\naddress eth1 192.168.7.2/16\ngateway 10.0.2.2\n\
                    nameserver 10.0.2.3\nnameserver fd00::3\n[container a1]\ncommand x\n";
        let c = parse(text, "f").unwrap();
        if cfg!(feature = "net") {
            let n = &c.network;
            assert_eq!(
                n.addresses,
                [
                    ("eth0".to_owned(), "10.0.2.15".parse().unwrap(), 24),
                    ("eth1".to_owned(), "192.168.7.2".parse().unwrap(), 16)
                ]
            );
            assert_eq!(n.gateway, Some("10.0.2.2".parse().unwrap()));
            assert_eq!(
                c.containers[0].args.host_resolv.as_deref(),
                Some("nameserver 10.0.2.3\nnameserver fd00::3\n")
            );
        }
        let c = parse(
            "address eth0 dhcp\n[container a1]\ncommand x\nneeds-network eth0\n",
            "f",
        )
        .unwrap();
        if cfg!(feature = "net") {
            assert_eq!(c.network.dhcp, ["eth0"]);
        }
        assert_eq!(c.containers[0].needs_network, ["eth0"]);
        let e = parse("[container a1]\ncommand x\nneeds-network a/b\n", "f").unwrap_err();
        assert!(
            e.to_string()
                .contains("needs-network must name an interface"),
            "{e}"
        );
        for (line, needle) in [
            ("address eth0", "address must be INTERFACE ADDRESS/PREFIX"),
            ("address eth0 10.0.2.15", "address must be"),
            ("address eth0 10.0.2.15/33", "address must be"),
            ("address eth0 fd00::1/64", "address must be"),
            ("gateway 10.0.2", "gateway must be an IPv4 address"),
            ("nameserver x", "nameserver must be"),
        ] {
            if !cfg!(feature = "net") && !line.starts_with("nameserver") {
                continue;
            }
            let e = parse(&format!("{line}\n[container a1]\ncommand x\n"), "f").unwrap_err();
            assert!(e.to_string().contains(needle), "{line}: {e}");
        }
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        for (text, needle) in [
            (
                "[container a1]\ncommand x\nfrobnicate 1",
                "f:3: unknown option 'frobnicate'",
            ),
            (
                "[container a1]\ncommand x\nmemory abc",
                "f:3: invalid value 'abc' for memory",
            ),
            ("[container a1]\n", "container 'a1' has no command"),
            ("hostname x\n", "no [container NAME] section"),
            (
                "memory 1m\n[container a1]\ncommand x",
                "f:1: unknown key 'memory'",
            ),
            (
                "[container a1]\ncommand x\n[container a1]\ncommand y",
                "f:3: container 'a1' is defined twice",
            ),
            (
                "[container ../x]\ncommand x",
                "f:1: invalid value '../x' for name",
            ),
            ("[web]\n", "f:1: expected [container NAME]"),
            (
                "emergency sh\n[container a1]\ncommand x",
                "f:1: emergency must be the absolute path of a shell, not 'sh'",
            ),
            (
                "emergency /bin/sh -c 'x'\n[container a1]\ncommand x",
                "f:1: emergency must be the absolute path of a shell",
            ),
            (
                &(0..=MAX_CONTAINERS)
                    .map(|i| format!("[container c{i}]\ncommand x\n"))
                    .collect::<String>(),
                "f:2049: more than 1024 containers",
            ),
            (
                "hostname 'box 6.6.6.6'\n[container a1]\ncommand x",
                "f:1: hostname: use 1-64 letters",
            ),
            (
                "[container a1]\ncommand x\nhostname h#evil",
                "f:3: invalid value 'h#evil' for hostname: use 1-64 letters",
            ),
            ("[container a1]\ncommand 'x", "f:2: unterminated quote"),
            (
                "[container a1]\ncommand x\nrestart sometimes",
                "restart must be no, on-failure[:N], or always",
            ),
            (
                "[container a1]\ncommand x\nlog relative.log",
                "log must be console or an absolute path",
            ),
            (
                "on-exit halt\n[container a1]\ncommand x",
                "f:1: on-exit must be poweroff or reboot",
            ),
            (
                "[container a1]\ncommand x\nread-only maybe",
                "expected yes or no",
            ),
            (
                "[container a1]\ncommand x\nmemory 64m\nenv A=1\nmemory 1g",
                "f:5: memory is given twice (only one counts)",
            ),
            (
                "[container a1]\ncommand x\nnet none\nnetwork host",
                "f:4: net is given twice",
            ),
            (
                "[container a1]\ncommand x\ncommand y",
                "f:3: command is given twice",
            ),
            (
                "grace 5\ngrace 1\n[container a1]\ncommand x",
                "f:2: grace is given twice",
            ),
            (
                "[container a1]\ncommand x\nread-only\nread-only no",
                "f:4: read-only is given twice",
            ),
        ] {
            let err = parse(text, "f").unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn kernel_command_line_selects_and_overrides() {
        let c = cmdline(
            "console=ttyS0 quiet cella.conf=/etc/other.conf cella.hostname=box cella.on-exit=reboot",
        );
        assert_eq!(c.config.as_deref(), Some("/etc/other.conf"));
        let mut config = parse("[container a1]\ncommand x", "f").unwrap();
        apply_overrides(&mut config, &c).unwrap();
        assert_eq!(
            (config.hostname.as_deref(), config.on_exit),
            (Some("box"), OnExit::Reboot)
        );
        let bad = cmdline("cella.grace=forever");
        assert!(
            apply_overrides(&mut config, &bad)
                .unwrap_err()
                .to_string()
                .contains("cella.grace")
        );
    }

    #[test]
    fn emergency_shell_is_found_in_a_broken_file() {
        assert_eq!(
            emergency_line("emergency /bin/sh\n[container a1]\nbogus").as_deref(),
            Some("/bin/sh")
        );
        assert_eq!(emergency_line("[container a1]\nemergency /bin/sh"), None);
        assert_eq!(emergency_line("emergency sh"), None);
    }

    #[test]
    fn restart_on_failure_takes_a_limit_as_dockers() {
        let one = |v: &str| {
            parse(&format!("[container a1]\ncommand x\nrestart {v}\n"), "f")
                .map(|c| c.containers[0].restart)
        };
        assert_eq!(one("on-failure:3"), Ok(Restart::OnFailure(Some(3))));
        assert_eq!(one("on-failure"), Ok(Restart::OnFailure(None)));
        for bad in ["on-failure:0", "on-failure:", "on-failure:x", "always:2"] {
            assert!(one(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_hash_starts_a_comment_only_where_a_shells_would() {
        let text = "[container a1]\n\
                    command sh -c 'echo #1; echo \"#2\"' # the comment\n\
                    env A=b#c\n\
                    env B=\"x #y\"   #z\n\
                    #env C=gone\n\
                    workdir /h#1\n";
        let c = parse(text, "f").unwrap();
        let a = &c.containers[0].args;
        assert_eq!(a.command, ["sh", "-c", "echo #1; echo \"#2\""]);
        assert_eq!(a.env, ["A=b#c", "B=\"x #y\""]);
        assert_eq!(a.workdir.as_deref(), Some("/h#1"));
        assert_eq!(without_comment("# all"), "");
        assert_eq!(without_comment("key value#not # yes"), "key value#not ");
        assert_eq!(without_comment("key 'a # b' # c"), "key 'a # b' ");
    }

    #[test]
    fn words_split_like_a_shell_without_expansion() {
        assert_eq!(
            words("a  b\t'c d' \"e'f\" g\"h i\"").unwrap(),
            ["a", "b", "c d", "e'f", "gh i"]
        );
        assert_eq!(words("''").unwrap(), [""]);
        assert!(words("   ").is_err());
    }
}
