//! `--net bridge`, seen from both sides. Each test runs cella in a network
//! namespace of its own (`unshare --net`), which stands in for the host:
//! the bridge, the veth pairs and every packet stay there, nothing touches
//! this machine's own network. Inside the containers: eth0, its address,
//! the default route, ping and TCP between containers; on the "host": the
//! bridge made once with a free subnet, no veth and no lease left after a
//! container ends, even a SIGKILLed one.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::*;

/// Run `script` (sh) in a new network namespace with `lo` up; `$C` is
/// cella, `$R` the rootfs, `$BB` a static busybox for the host side.
fn in_netns(root: &Path, script: &str) -> Output {
    let child = Command::new("unshare")
        .args(["--net", "sh", "-c"])
        .arg(format!("$BB ip link set lo up\n{script}"))
        .env("C", cella_bin())
        .env("R", root)
        .env("BB", root.join("bin/busybox"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_output(child, Duration::from_secs(120))
}

/// The links of the namespace after the script, as its last line printed
/// them (`$BB ip -o link | cut -d: -f2`), without `lo`. (A container's
/// veth goes with its network namespace, which the kernel tears down in
/// the background: [`LINKS`] gives it up to 5 s.)
fn links_after(out: &str) -> Vec<String> {
    out.lines()
        .skip_while(|l| *l != "LINKS")
        .skip(1)
        .map(|l| l.trim().split('@').next().unwrap().to_owned())
        .filter(|l| l != "lo")
        .collect()
}

const LINKS: &str = "for i in $(seq 100); do $BB ip -o link | grep -q veth || break; sleep 0.05; done\n\
    echo LINKS; $BB ip -o link | cut -d: -f2";

#[test]
fn a_bridge_container_has_eth0_its_address_and_the_default_route() {
    let _g = serial();
    let root = rootfs("bridge-basic");
    let name = format!("bridge-basic-{}", std::process::id());
    let out = in_netns(
        &root,
        &format!(
            "$C run --rootfs $R --net bridge --name {name} --add-host gw:host-gateway sh -c \
             'ip -4 -o addr show eth0; ip route; cat /sys/class/net/eth0/mtu; grep {name} /etc/hosts; \
              grep gw /etc/hosts; \
              echo RESOLV; cat /etc/resolv.conf; echo END'\n\
             echo rc=$?\n$BB ip -4 -o addr show cella0\n{LINKS}"
        ),
    );
    let text = stdout(&out);
    let err = stderr(&out);
    assert!(text.contains("rc=0"), "{text}{err}");
    assert!(
        text.contains("eth0    inet 10.88.0.2/16 brd 10.88.255.255"),
        "{text}"
    );
    assert!(text.contains("default via 10.88.0.1 dev eth0"), "{text}");
    assert!(text.contains("\n1500\n"), "{text}");
    assert!(text.contains(&format!("10.88.0.2\t{name}\n")), "{text}");
    // docker's host-gateway: the host as the container reaches it.
    assert!(text.contains("\n10.88.0.1\tgw\n"), "{text}");
    // The host's nameservers the container can reach: not a loopback one.
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let reachable: Vec<&str> = host
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .map(str::trim)
        .filter(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|a| !a.is_loopback())
        })
        .collect();
    let inside = text.split("RESOLV\n").nth(1).unwrap();
    let shown: Vec<&str> = inside
        .split("END")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .collect();
    assert_eq!(shown, reachable, "{inside}");
    assert!(
        text.contains("cella0    inet 10.88.0.1/16"),
        "the bridge stays: {text}"
    );
    assert_eq!(
        err,
        "cella: made bridge cella0 with 10.88.0.1/16\n\
         cella: turned IPv4 forwarding on (net.ipv4.ip_forward=1), as docker does\n"
    );
    assert_eq!(links_after(&text), ["cella0"], "no veth left: {text}");
    assert!(!Path::new("/run/cella").join(&name).exists());
}

#[test]
fn containers_on_the_bridge_ping_and_talk_tcp_and_reach_the_host() {
    let _g = serial();
    let root = rootfs("bridge-talk");
    let p = std::process::id();
    let out = in_netns(
        &root,
        &format!(
            "$C run --rootfs $R --net bridge --name srv-{p} --ip 10.88.0.10 \
               /bin/probe recv 8080 > $R/../srv-{p}.out 2>&1 &\n\
             $C run --rootfs $R --net bridge --name cli-{p} sh -c \
               'for i in $(seq 100); do ping -c1 -W1 10.88.0.10 >/dev/null && break; done; \
                echo ping=$?; \
                for i in $(seq 100); do echo hello over tcp | nc 10.88.0.10 8080 && break; sleep 0.05; done; \
                ping -c1 -W2 10.88.0.1 >/dev/null; echo gateway=$?'\n\
             wait\ncat $R/../srv-{p}.out\n{LINKS}"
        ),
    );
    let text = stdout(&out);
    assert!(text.contains("ping=0\n"), "{text}{}", stderr(&out));
    assert!(text.contains("gateway=0\n"), "{text}");
    assert!(text.contains("hello over tcp\n"), "{text}");
    assert_eq!(links_after(&text), ["cella0"], "{text}");
}

#[test]
fn a_subnet_the_host_uses_is_skipped_and_named_and_one_may_be_given() {
    let _g = serial();
    let root = rootfs("bridge-subnet");
    let out = in_netns(
        &root,
        "$BB ip link add d0 type bridge && $BB ip addr add 10.88.5.1/24 dev d0 \
           && $BB ip link set d0 up && $BB ip route add 10.90.0.0/15 dev d0 || exit 9\n\
         $C run --rootfs $R --net bridge ip -4 -o addr show eth0\n\
         $C run --rootfs $R --net bridge --bridge br-test --subnet 192.168.77.0/24 \
           ip -4 -o addr show eth0\n\
         $C run --rootfs $R --net bridge --bridge br-test --subnet 192.168.78.0/24 true\n\
         echo rc=$?\n",
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(text.contains("inet 10.89.0.2/16"), "{text}{err}");
    assert!(text.contains("inet 192.168.77.2/24"), "{text}{err}");
    assert!(
        err.contains("made bridge cella0 with 10.89.0.1/16 (10.88.0.0/16 in use on this host)"),
        "{err}"
    );
    assert!(
        err.contains("made bridge br-test with 192.168.77.1/24\n"),
        "{err}"
    );
    assert!(
        err.contains("--subnet 192.168.78.0/24: bridge br-test exists with 192.168.77.1/24"),
        "{err}"
    );
    assert!(text.contains("rc=125"), "{text}");
    // 10.90.0.0/15 covers 10.90 and 10.91: a subnet given there is refused.
    let out = in_netns(
        &root,
        "$BB ip link add d0 type bridge && $BB ip link set d0 up \
           && $BB ip route add 10.90.0.0/15 dev d0 || exit 9\n\
         $C run --rootfs $R --net bridge --subnet 10.91.0.0/16 true; echo rc=$?\n",
    );
    assert!(stdout(&out).contains("rc=125"), "{}", stdout(&out));
    assert!(
        stderr(&out)
            .contains("--subnet 10.91.0.0/16: the host already routes to or has an address in it"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn fixed_addresses_and_their_refusals_leave_nothing() {
    let _g = serial();
    let root = rootfs("bridge-ip");
    let p = std::process::id();
    let cgroups = cella_cgroups();
    let out = in_netns(
        &root,
        &format!(
            "$C run --rootfs $R --net bridge --name ip-a-{p} --ip 10.88.0.50 \
               sh -c 'touch /tmp/up; sleep 30' &\n\
             while [ ! -e $R/tmp/up ]; do sleep 0.05; done\n\
             $C run --rootfs $R --net bridge --name ip-b-{p} --ip 10.88.0.50 true; echo taken=$?\n\
             $C run --rootfs $R --net bridge --name ip-b-{p} --ip 10.89.0.3 true; echo outside=$?\n\
             $C run --rootfs $R --net bridge --name ip-b-{p} --ip 10.88.0.1 true; echo gateway=$?\n\
             $C run --rootfs $R --name ip-b-{p} --ip 10.88.0.9 true; echo nobridge=$?\n\
             $C run --rootfs $R --net bridge --name ip-b-{p} ip -4 -o addr show eth0\n\
             $C kill ip-a-{p} KILL; wait\n{LINKS}"
        ),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    for rc in ["taken=125", "outside=125", "gateway=125", "nobridge=125"] {
        assert!(text.contains(rc), "{rc}: {text}{err}");
    }
    assert!(
        err.contains("--ip 10.88.0.50: in use by container ip-a-"),
        "{err}"
    );
    assert!(
        err.contains("--ip 10.89.0.3: not a container address of the bridge's subnet 10.88.0.0/16"),
        "{err}"
    );
    assert!(
        err.contains("--ip, --bridge and --subnet are for a container on a bridge"),
        "{err}"
    );
    // The next free one skips the fixed address's holder only.
    assert!(text.contains("inet 10.88.0.2/16"), "{text}");
    assert_eq!(links_after(&text), ["cella0"], "{text}");
    for n in ["ip-a", "ip-b"] {
        assert!(!Path::new("/run/cella").join(format!("{n}-{p}")).exists());
    }
    assert_no_new_cgroups(&cgroups);
}

/// `--bridge` naming an interface that is not a bridge (a typo for the
/// host's eth0, say) is refused before anything is changed: its
/// `route_localnet` stays off, no veth, record or table is made.
#[test]
fn a_bridge_name_that_is_another_interface_is_refused_and_left_alone() {
    let _g = serial();
    let root = rootfs("bridge-notbridge");
    let p = std::process::id();
    let out = in_netns(
        &root,
        &format!(
            "$BB ip link add up0 type veth peer name up1 && $BB ip addr add 198.51.100.2/24 dev up0 \
               && $BB ip link set up0 up || exit 9\n\
             $C run --rootfs $R --net bridge --bridge up0 --name notbridge-{p} true; echo rc=$?\n\
             echo localnet=$(cat /proc/sys/net/ipv4/conf/up0/route_localnet)\n\
             {TABLES}\n\
             echo LINKS; $BB ip -o link | cut -d: -f2"
        ),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(text.contains("rc=125\n"), "{text}{err}");
    assert_eq!(
        err,
        "cella: --bridge up0: an interface of that name exists and is not a bridge\n"
    );
    assert!(text.contains("localnet=0\n"), "{text}");
    assert_eq!(tables_after(&text), Vec::<String>::new(), "{text}");
    // Only the pair made here (busybox names the peer itself).
    let links = links_after(&text);
    assert!(
        links.len() == 2 && links.contains(&"up0".to_owned()),
        "{text}"
    );
    assert!(
        !Path::new("/run/cella")
            .join(format!("notbridge-{p}"))
            .exists()
    );
}

/// A failure of the container's own setup is reported as itself, never
/// as the network step that then finds the container gone: a rootfs
/// whose /etc/hosts is a directory, ten times over.
#[test]
fn a_setup_failure_of_a_bridge_container_is_reported_as_itself() {
    let _g = serial();
    let root = rootfs("bridge-failure");
    std::fs::create_dir(root.join("etc/hosts")).unwrap();
    let p = std::process::id();
    let out = in_netns(
        &root,
        &format!(
            "for i in 1 2 3 4 5 6 7 8 9 10; do \
               $C run --rootfs $R --net bridge --name failure-{p} true; echo rc=$?; done\n{LINKS}"
        ),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(text.matches("rc=125\n").count(), 10, "{text}{err}");
    let failures: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("made bridge") && !l.contains("turned IPv4 forwarding on"))
        .collect();
    assert_eq!(failures.len(), 10, "{err}");
    for line in failures {
        assert!(
            line.starts_with("cella: bind mount ") && line.contains(" on /etc/hosts: "),
            "{err}"
        );
    }
    assert!(
        !Path::new("/run/cella")
            .join(format!("failure-{p}"))
            .exists()
    );
}

/// A published port is the container's alone, as under docker: one a
/// host program already uses is refused (not taken from it), so is an
/// address that is not the host's, and while the container has its port
/// no host program can take it.
#[test]
fn a_published_port_is_held_on_the_host_for_the_container() {
    let _g = serial();
    let root = rootfs("bridge-reserve");
    let p = std::process::id();
    let (used, held) = (22000 + p % 18000, 42000 + p % 18000);
    let out = in_netns(
        &root,
        &format!(
            "$R/bin/probe peer {used} > $R/../used-{p}.out 2>&1 & PEER=$!\n\
             until grep -q listening $R/../used-{p}.out 2>/dev/null; do sleep 0.05; done\n\
             $C run --rootfs $R --net bridge --name reserve-{p} -p {used}:80 true; echo inuse=$?\n\
             $C run --rootfs $R --net bridge --name reserve-{p} -p 203.0.113.9:{held}:80 true; echo notlocal=$?\n\
             kill $PEER\n\
             $C run --rootfs $R --net bridge --name reserve-{p} -p {held}:80 \
               sh -c 'touch /tmp/up; sleep 30' &\n\
             while [ ! -e $R/tmp/up ]; do sleep 0.05; done\n\
             timeout 2 $R/bin/probe peer {held}; echo hostbind=$?\n\
             $C kill reserve-{p} KILL; wait\n\
             $C run -d --rootfs $R --net bridge --name reserve-{p} -p {held}:80 sleep 30 > /dev/null\n\
             timeout 2 $R/bin/probe peer {held}; echo detached=$?\n\
             $C rm -f reserve-{p} > /dev/null\n{TABLES}\n{LINKS}"
        ),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    for rc in ["inuse=125", "notlocal=125"] {
        assert!(text.contains(rc), "{rc}: {text}{err}");
    }
    assert!(
        err.contains(&format!(
            "cella: -p 0.0.0.0:{used}->80/tcp: the host's port {used}/tcp is in use\n"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "cella: -p 203.0.113.9:{held}->80/tcp: 203.0.113.9 is not an address of this host\n"
        )),
        "{err}"
    );
    // The host program could not bind the container's port (its bind
    // failed and it panicked; had it bound, it would have listened until
    // the timeout ended it: 124), nor a detached container's, which its
    // supervisor holds.
    let code = |key: &str| -> i32 {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("no {key}: {text}{err}"))
    };
    for key in ["hostbind", "detached"] {
        assert!(![0, 124].contains(&code(key)), "{key}: {text}{err}");
    }
    assert_eq!(err.matches("bind: Os { code: 98").count(), 2, "{err}");
    assert_eq!(tables_after(&text), Vec::<String>::new(), "{text}");
    assert!(
        !Path::new("/run/cella")
            .join(format!("reserve-{p}"))
            .exists()
    );
}

/// A SIGKILLed cella leaves its published port's rule in cella's table
/// (its port then led to an address nobody has); the next command that
/// meets its record (`ps` here) takes the rule with the record.
#[test]
fn a_killed_bridge_containers_rules_go_with_its_record() {
    let _g = serial();
    let root = rootfs("bridge-killed-rules");
    let p = std::process::id();
    let port = 23000 + p % 17000;
    let out = in_netns(
        &root,
        &format!(
            "$C run --rootfs $R --net bridge --name killed-{p} -p {port}:80 \
               sh -c 'touch /tmp/up; sleep 30' & CELLA=$!\n\
             while [ ! -e $R/tmp/up ]; do sleep 0.05; done\n\
             kill -9 $CELLA; wait\n\
             echo dnat=$(nft list table ip cella | grep -c 'dport {port}')\n\
             $C ps > /dev/null\n{TABLES}"
        ),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    // (In prerouting and in output.)
    assert!(
        text.contains("dnat=2\n"),
        "the rules were left: {text}{err}"
    );
    assert_eq!(tables_after(&text), Vec::<String>::new(), "{text}{err}");
    assert!(!Path::new("/run/cella").join(format!("killed-{p}")).exists());
}

#[test]
fn fifty_containers_started_at_once_get_fifty_addresses() {
    let _g = serial();
    let root = rootfs("bridge-fifty");
    let p = std::process::id();
    let out = in_netns(
        &root,
        &format!(
            "$C run --rootfs $R --net bridge true\n\
             for i in $(seq 50); do\n\
               $C run --rootfs $R --net bridge --name fifty-{p}-$i \
                 sh -c 'ip -4 -o addr show eth0; while [ ! -e /tmp/go ]; do sleep 0.1; done' \
                 > $R/../fifty-{p}.$i 2>&1 &\n\
             done\n\
             # All fifty hold their addresses at once before any ends.\n\
             for t in $(seq 600); do\n\
               [ $(cat $R/../fifty-{p}.* | grep -c inet) -ge 50 ] && break; sleep 0.1\n\
             done\n\
             touch $R/tmp/go; wait\ncat $R/../fifty-{p}.*\n{LINKS}"
        ),
    );
    let text = stdout(&out);
    let mut addresses: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert_eq!(addresses.len(), 50, "{text}{}", stderr(&out));
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 50, "duplicates: {text}");
    assert_eq!(links_after(&text), ["cella0"], "{text}");
}

#[test]
fn a_killed_cella_leaves_no_veth_and_its_address_comes_back() {
    let _g = serial();
    let root = rootfs("bridge-kill");
    let p = std::process::id();
    let (port, other) = (20000 + (p + 11) % 20000, 20000 + (p + 12) % 20000);
    let out = in_netns(
        &root,
        &format!(
            "$C run --rootfs $R --net bridge --name kill-a-{p} --ip 10.88.0.77 -p {port}:80 \
               sh -c 'touch /tmp/up; sleep 30' &\n\
             CELLA=$!\n\
             while [ ! -e $R/tmp/up ]; do sleep 0.05; done\n\
             $BB ip -o link | grep -c veth\n\
             kill -9 $CELLA; wait\n\
             for i in $(seq 100); do $BB ip -o link | grep -q veth || break; sleep 0.05; done\n\
             rm $R/tmp/up\n\
             $C run --rootfs $R --net bridge --name kill-b-{p} --ip 10.88.0.77 -p {other}:80 \
               sh -c 'ip -4 -o addr show eth0; touch /tmp/up; sleep 30' &\n\
             while [ ! -e $R/tmp/up ]; do sleep 0.05; done\n\
             nft list table ip cella | grep dport\n\
             $C kill kill-b-{p} KILL; wait\n\
             {LINKS}"
        ),
    );
    let text = stdout(&out);
    assert!(text.starts_with("1\n"), "one veth while it ran: {text}");
    assert!(
        text.contains("inet 10.88.0.77/16"),
        "{text}{}",
        stderr(&out)
    );
    // The killed one's port went with the next start's rewrite of the table.
    assert!(!text.contains(&format!("dport {port} ")), "{text}");
    assert!(
        text.contains(&format!("dport {other} dnat to 10.88.0.77:80")),
        "{text}"
    );
    assert_eq!(links_after(&text), ["cella0"], "{text}");
    // The killed one's record went with the next start's sweep.
    assert!(!Path::new("/run/cella").join(format!("kill-a-{p}")).exists());
}

/// `cella init` with the configuration `text` (`{root}` for the rootfs),
/// as PID 1 (init_command's namespaces) in a network namespace of its own
/// that `setup` (sh) prepares first and `teardown` clears after.
fn init_in_netns(root: &Path, tag: &str, text: &str, setup: &str, teardown: &str) -> Output {
    let config = root.parent().unwrap().join(format!("{tag}.conf"));
    std::fs::write(&config, text.replace("{root}", &root.display().to_string())).unwrap();
    let args: Vec<String> = init_command(&config)
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    in_netns(
        root,
        &format!("{setup}\nunshare {}\n{teardown}\n", args.join(" ")),
    )
}

#[test]
fn init_containers_take_net_bridge() {
    let _g = serial();
    let root = rootfs("bridge-init");
    let out = init_in_netns(
        &root,
        "bridge-init",
        "on-exit poweroff\n[container web]\nrootfs {root}\nnet bridge\nip 10.88.0.42\n\
         command ip -4 -o addr show eth0\n",
        "",
        "",
    );
    assert!(
        stdout(&out).contains("inet 10.88.0.42/16"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// A "remote" host for the NAT tests: a network namespace of its own
/// behind the test's "host" namespace (veth `up0` 192.168.100.1 on the
/// host side, `rem0` 192.168.100.2 on the remote), whose `probe peer PORT`
/// says what address a connection came from. `$RPID` is its process.
const REMOTE: &str = "unshare --net sleep 60 & RPID=$!\n\
    for i in $(seq 100); do [ \"$(readlink /proc/$RPID/ns/net)\" != \"$(readlink /proc/self/ns/net)\" ] && break; sleep 0.02; done\n\
    ip link add up0 type veth peer name rem0 netns $RPID || exit 9\n\
    ip addr add 192.168.100.1/24 dev up0 && ip link set up0 up || exit 9\n\
    nsenter -t $RPID -n sh -c 'ip link set lo up; ip addr add 192.168.100.2/24 dev rem0; ip link set rem0 up' || exit 9\n";

/// The tables of the namespace, as `nft list tables` shows them.
const TABLES: &str = "echo TABLES; nft list tables";

fn tables_after(out: &str) -> Vec<String> {
    out.lines()
        .skip_while(|l| *l != "TABLES")
        .skip(1)
        .take_while(|l| l.starts_with("table "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn outbound_traffic_is_masqueraded_and_cellas_table_goes_with_the_last_container() {
    let _g = serial();
    let root = rootfs("bridge-nat");
    let out = in_netns(
        &root,
        &format!(
            "{REMOTE}\
             nsenter -t $RPID -n $R/bin/probe peer 9000 > $R/../nat-remote.out &\n\
             sleep 0.2\n\
             $C run --rootfs $R --net bridge sh -c \
               'nft_seen=$(echo hi | nc -w 5 192.168.100.2 9000); echo \"container got $nft_seen\"'\n\
             echo FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)\n\
             cat $R/../nat-remote.out\n\
             {TABLES}\nkill $RPID\n{LINKS}"
        ),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    // The remote sees the host's address, not the container's.
    assert!(text.contains("\npeer=192.168.100.1\n"), "{text}{err}");
    assert!(text.contains("container got peer=192.168.100.1"), "{text}");
    assert!(text.contains("FORWARD=1"), "{text}");
    assert!(
        err.contains("turned IPv4 forwarding on (net.ipv4.ip_forward=1), as docker does"),
        "{err}"
    );
    assert_eq!(tables_after(&text), Vec::<String>::new(), "{text}");
    assert!(
        !links_after(&text).iter().any(|l| l.starts_with("veth")),
        "{text}"
    );
}

/// `route_localnet` on the bridge (so published ports answer on the
/// host's 127.0.0.1) must not open the host's loopback to containers: a
/// frame a container writes with NET_RAW (which it has by default) to the
/// gateway's MAC address, addressed to 127.0.0.1, is dropped; the same
/// frame addressed to the bridge's own address arrives, so the frame is
/// right and the test can fail.
#[test]
fn a_container_cannot_reach_the_hosts_loopback_through_the_bridge() {
    let _g = serial();
    let root = rootfs("bridge-loopback");
    let p = std::process::id();
    let (lo, br) = (21000 + p % 19000, 41000 + p % 19000);
    let out = in_netns(
        &root,
        &format!(
            "$R/bin/probe peer {lo} udp > $R/../lo-{p}.out 2>&1 & LO=$!
             $R/bin/probe peer {br} udp > $R/../br-{p}.out 2>&1 & BR=$!
             until grep -q listening $R/../lo-{p}.out 2>/dev/null && grep -q listening $R/../br-{p}.out 2>/dev/null; do sleep 0.05; done
             $C run --rootfs $R --net bridge --name loopback-{p}                sh -c 'probe spoof 127.0.0.1 {lo} && probe spoof 10.88.0.1 {br}'
             for i in $(seq 100); do grep -q peer= $R/../br-{p}.out && break; sleep 0.05; done
             sleep 0.3
             echo LO; cat $R/../lo-{p}.out; echo BR; cat $R/../br-{p}.out
             kill $LO $BR 2>/dev/null
{LINKS}"
        ),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(text.starts_with("sent\nsent\n"), "{text}{err}");
    let (lo_seen, br_seen) = text
        .split_once("\nLO\n")
        .and_then(|(_, rest)| rest.split_once("\nBR\n").or(rest.split_once("BR\n")))
        .unwrap_or_else(|| panic!("{text}{err}"));
    assert!(
        br_seen.contains("peer=10.88."),
        "the control frame arrived: {text}{err}"
    );
    assert!(
        !lo_seen.contains("peer="),
        "a container reached the host's loopback: {text}{err}"
    );
}

#[test]
fn published_ports_answer_on_localhost_the_hosts_address_and_other_containers() {
    let _g = serial();
    let root = rootfs("bridge-ports");
    // Ports of this test process: the state store is the machine's, and
    // a port is published once across it.
    let p = std::process::id();
    let (tcp, udp) = (20000 + p % 20000, 40000 + p % 20000);
    let out = in_netns(
        &root,
        &format!(
            "$BB ip link add d0 type bridge && $BB ip addr add 192.168.50.1/24 dev d0 \
               && $BB ip link set d0 up || exit 9\n\
             $C run --rootfs $R --net bridge --name ports-{p} -p {tcp}:80 -p 127.0.0.1:{udp}:81/udp \
               sh -c 'probe peer 80; probe peer 80; probe peer 80; probe peer 80; probe peer 81 udp' \
               > $R/../ports-{p}.out 2>&1 &\n\
             until grep -q listening $R/../ports-{p}.out 2>/dev/null; do sleep 0.05; done\n\
             $C ps | grep ports-{p}\n\
             {TABLES}\n\
             ask() {{ for i in $(seq 100); do r=$($R/bin/probe ask $1 $2 $4) && echo \"$3 $r\" && return; sleep 0.05; done; echo \"$3 failed\"; }}\n\
             ask 127.0.0.1 {tcp} localhost\n\
             ask 192.168.50.1 {tcp} host-address\n\
             ask 10.88.0.1 {tcp} bridge-address\n\
             $C run --rootfs $R --net bridge sh -c \
               'for i in $(seq 100); do r=$(probe ask 192.168.50.1 {tcp}) && echo \"container $r\" && exit; sleep 0.05; done; echo container failed'\n\
             ask 127.0.0.1 {udp} udp udp\n\
             wait\n{TABLES}\n{LINKS}"
        ),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(
        text.contains(&format!("0.0.0.0:{tcp}->80/tcp, 127.0.0.1:{udp}->81/udp")),
        "cella ps: {text}{err}"
    );
    assert_eq!(tables_after(&text), ["table ip cella"], "{text}");
    // From the host's 127.0.0.1: through route_localnet, masqueraded to
    // the bridge's address.
    assert!(text.contains("localhost peer=10.88.0.1\n"), "{text}{err}");
    // From the host's own addresses, its real source.
    assert!(text.contains("host-address peer=192.168.50.1\n"), "{text}");
    assert!(text.contains("bridge-address peer=10.88.0.1\n"), "{text}");
    // Another container through the host's address: hairpin, masqueraded.
    assert!(text.contains("container peer=10.88.0.1\n"), "{text}");
    assert!(text.contains("udp peer=10.88.0.1\n"), "{text}");
    let last = text.rsplit("TABLES").next().unwrap();
    assert!(
        !last.contains("table ip cella"),
        "the table went with them: {text}"
    );
    assert_eq!(links_after(&text), ["d0", "cella0"], "{text}");
}

/// A host that routes the bridge's subnet through this one (a neighbour,
/// here a namespace with that route) reaches a container's published
/// port, through the host's address, and no other port of it, as docker's
/// FORWARD rules have it: into the bridge go only replies and what a
/// published port's DNAT sent there.
#[test]
fn a_neighbour_routing_the_bridge_reaches_only_published_ports() {
    let _g = serial();
    let root = rootfs("bridge-routed");
    let p = std::process::id();
    let published = 20000 + p % 20000;
    let out = in_netns(
        &root,
        &format!(
            "{REMOTE}\
             nsenter -t $RPID -n ip route add 10.88.0.0/16 via 192.168.100.1 || exit 9\n\
             $C run --rootfs $R --net bridge --name routed-{p} -p {published}:80 sh -c \
               'ip -o -4 addr show eth0 | sed \"s/.* inet \\([0-9.]*\\).*/\\1/\" > /addr; \
                probe peer 9999 & probe peer 80; wait' > $R/../routed-{p}.out 2>&1 &\n\
             until [ \"$(grep -c listening $R/../routed-{p}.out 2>/dev/null)\" = 2 ]; do sleep 0.05; done\n\
             A=$(cat $R/addr)\n\
             nsenter -t $RPID -n $R/bin/probe ask $A 9999 && echo unpublished-reached || echo unpublished-refused\n\
             nsenter -t $RPID -n $R/bin/probe ask $A 80 && echo direct-reached || echo direct-refused\n\
             echo \"published $(nsenter -t $RPID -n $R/bin/probe ask 192.168.100.1 {published})\"\n\
             echo \"from-host $($R/bin/probe ask $A 9999)\"\n\
             kill $RPID; wait\n{LINKS}"
        ),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(
        text.contains("published peer=192.168.100.2\n"),
        "{text}{err}"
    );
    // (The host itself reaches it: its own traffic is not forwarded.)
    assert!(text.contains("from-host peer=10.88."), "{text}{err}");
    assert!(text.contains("unpublished-refused\n"), "{text}{err}");
    assert!(text.contains("direct-refused\n"), "{text}{err}");
}

#[test]
fn a_port_published_twice_is_refused_leaving_nothing() {
    let _g = serial();
    let root = rootfs("bridge-port-clash");
    let p = std::process::id();
    let port = 20000 + (p + 7) % 20000;
    let out = in_netns(
        &root,
        &format!(
            "$C run --rootfs $R --net bridge --name clash-a-{p} -p {port}:80 \
               sh -c 'touch /tmp/up; sleep 30' &\n\
             while [ ! -e $R/tmp/up ]; do sleep 0.05; done\n\
             $C run --rootfs $R --net bridge --name clash-b-{p} -p 127.0.0.1:{port}:81 true; echo rc=$?\n\
             $C run --rootfs $R --net bridge --name clash-b-{p} -p {port}:80 -p {port}:81 true; echo rc=$?\n\
             $C run --rootfs $R --name clash-b-{p} -p {port}:80 true; echo rc=$?\n\
             $C kill clash-a-{p} KILL; wait\n{LINKS}"
        ),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(text.matches("rc=125").count(), 3, "{text}{err}");
    assert!(
        err.contains(&format!(
            "-p 127.0.0.1:{port}->81/tcp: the host's port {port}/tcp is published by container clash-a-{p}"
        )),
        "{err}"
    );
    assert!(err.contains("is given twice"), "{err}");
    assert!(
        err.contains("-p, --ip, --bridge and --subnet are for a container on a bridge"),
        "{err}"
    );
    assert_eq!(links_after(&text), ["cella0"], "{text}");
    assert!(
        !Path::new("/run/cella")
            .join(format!("clash-b-{p}"))
            .exists()
    );
}

#[test]
fn another_tables_dropping_forward_chain_is_warned_of_and_left_as_it_was() {
    let _g = serial();
    let root = rootfs("bridge-drop");
    let out = in_netns(
        &root,
        "nft add table ip filter && nft add chain ip filter FORWARD \
           '{ type filter hook forward priority 0; policy drop; }' \
           && nft add rule ip filter FORWARD ip saddr 1.2.3.4 accept || exit 9\n\
         before=$(nft list table ip filter)\n\
         $C run --rootfs $R --net bridge true; echo rc=$?\n\
         [ \"$before\" = \"$(nft list table ip filter)\" ] && echo untouched\n",
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(text.contains("rc=0\nuntouched\n"), "{text}{err}");
    assert!(
        err.contains(
            "cella: warning: chain FORWARD of table filter drops what it forwards by policy \
             (docker's FORWARD does): the traffic of the containers on cella0 may be dropped there"
        ),
        "{err}"
    );
}

#[test]
fn a_detached_bridge_container_is_reached_and_leaves_nothing_when_removed() {
    let _g = serial();
    let root = rootfs("bridge-detached");
    let p = std::process::id();
    let port = 20000 + (p + 21) % 20000;
    let out = in_netns(
        &root,
        &format!(
            "timeout -s KILL 20 $C run -d --name det-{p} --net bridge -p {port}:80 --rootfs $R \
               sh -c 'while true; do probe peer 80; done'; echo rc=$?\n\
             $C exec det-{p} ip -4 -o addr show eth0\n\
             for i in $(seq 100); do r=$($R/bin/probe ask 127.0.0.1 {port}) && echo \"got $r\" && break; sleep 0.05; done\n\
             $C stop -t 1 det-{p} >/dev/null; $C rm det-{p}\n\
             nft list tables\n{LINKS}"
        ),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(text.contains("rc=0"), "{text}{err}");
    assert!(text.contains("inet 10.88.0.2/16"), "{text}{err}");
    assert!(text.contains("got peer=10.88.0.1"), "{text}{err}");
    assert!(!text.contains("table ip cella"), "{text}");
    assert_eq!(links_after(&text), ["cella0"], "{text}");
    assert!(!Path::new("/run/cella").join(format!("det-{p}")).exists());
}

#[test]
fn cella_init_brings_the_machines_network_up_before_its_containers() {
    let _g = serial();
    let root = rootfs("init-net");
    // The machine: a network namespace of the test's own with a veth `h0`.
    let out = init_in_netns(
        &root,
        "init-net",
        "address h0 192.168.60.2/24\ngateway 192.168.60.1\nnameserver 192.168.60.53\n\
         nameserver fd00::53\n\
         [container web]\nrootfs {root}\nnet host\n\
         command sh -c 'ip -4 -o addr show h0; ip route; cat /etc/resolv.conf'\n",
        "$BB ip link add h0 type veth peer name h1 || exit 9",
        "",
    );
    let text = stdout(&out);
    assert!(
        text.contains("h0    inet 192.168.60.2/24"),
        "{text}{}",
        stderr(&out)
    );
    assert!(text.contains("default via 192.168.60.1 dev h0"), "{text}");
    assert!(
        text.contains("[web] nameserver 192.168.60.53\n[web] nameserver fd00::53\n"),
        "the containers' resolv.conf: {text}"
    );
}

#[test]
fn a_refused_first_container_leaves_no_bridge() {
    let _g = serial();
    let root = rootfs("bridge-refused-first");
    let out = in_netns(
        &root,
        &format!("$C run --rootfs $R --net bridge --ip 10.99.0.9 true; echo rc=$?\n{LINKS}"),
    );
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(text.contains("rc=125"), "{text}{err}");
    assert!(
        err.contains("--ip 10.99.0.9: not a container address of the bridge's subnet 10.88.0.0/16"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(links_after(&text), Vec::<String>::new(), "{text}");
}

#[test]
fn containers_that_need_the_network_wait_for_a_dhcp_containers_address() {
    let _g = serial();
    let root = rootfs("init-dhcp");
    std::fs::write(
        root.join("bin/dhcp-script"),
        "#!/bin/sh\n[ \"$1\" = bound ] && ip addr add $ip/$mask dev $interface\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(
        root.join("bin/dhcp-script"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let dir = root.parent().unwrap().to_path_buf();
    std::fs::write(
        dir.join("udhcpd.conf"),
        format!(
            "start 192.168.70.100\nend 192.168.70.110\ninterface h1\nlease_file {}/udhcpd.leases\n\
             option subnet 255.255.255.0\n",
            dir.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("udhcpd.leases"), "").unwrap();
    // The machine's eth0 is `h0`; a DHCP server answers on its peer `h1`.
    // `web` is listed first, and still starts only once `dhcpc` has got
    // the address.
    let out = init_in_netns(
        &root,
        "init-dhcp",
        "address h0 dhcp\n\
         [container web]\nrootfs {root}\nnet host\nneeds-network h0\n\
         command ip -4 -o addr show h0\n\
         [container dhcpc]\nrootfs {root}\nnet host\ncap-add NET_ADMIN\n\
         command udhcpc -f -q -n -t 20 -T 1 -i h0 -s /bin/dhcp-script\n",
        &format!(
            "ip link add h0 type veth peer name h1 && ip addr add 192.168.70.1/24 dev h1 \
               && ip link set h1 up || exit 9\n\
             timeout 60 $BB udhcpd -f {}/udhcpd.conf >/dev/null 2>&1 & DHCPD=$!",
            dir.display()
        ),
        "kill $DHCPD",
    );
    let text = stdout(&out);
    assert!(
        text.contains("web: waiting for h0's address"),
        "{text}{}",
        stderr(&out)
    );
    // An address of udhcpd's range, .100 to .110 (which one depends on
    // the veth's random MAC address).
    let leased = text
        .lines()
        .filter(|l| l.starts_with("[web] "))
        .find_map(|l| l.split("h0    inet 192.168.70.").nth(1))
        .and_then(|rest| rest.split('/').next()?.parse::<u8>().ok());
    assert!(
        leased.is_some_and(|host| (100..=110).contains(&host)),
        "{text}"
    );
}
