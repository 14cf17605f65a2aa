//! `cella init` brings a board's network up: Debian's kernel boots under
//! QEMU (x86_64, aarch64, armv7) with cella as `/init` and two virtio NICs
//! on QEMU's user-mode network, restricted (`restrict=on`: nothing leaves
//! the machine; only the forwards below reach this host's loopback).
//!
//! The configuration is what a board with a modular kernel needs: the NIC
//! driver, the bridge, veth and nf_tables modules (`module`), a static
//! address, gateway and nameserver on `eth0`, and `eth1` left to a DHCP
//! container. From outside the guest, the test sees:
//! - a published port (`publish 8080:80`) answering through the guest's
//!   `eth0` (QEMU's `hostfwd` from this host's 127.0.0.1): the container
//!   sees the connection come from the gateway, 10.0.2.2;
//! - a bridge container reaching a "remote" server (QEMU's `guestfwd`
//!   10.0.2.100:1234 to a listener of this test) through the guest's
//!   masquerade: without it, the reply to the container's private address
//!   would never come back (the user-mode network knows only 10.0.2.0/24);
//! - the containers' resolv.conf naming the configured nameserver;
//! - a container that `needs-network eth1` started only after the DHCP
//!   container got QEMU's lease for eth1.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::guest::{self, Arch, Cpio};

const APPLETS: &[&str] = &["sh", "cat", "ip", "udhcpc", "timeout", "echo"];

/// Modules the configuration loads (their dependencies come first).
/// crc32c_generic is libcrc32c's soft dependency: with no modprobe in the
/// guest, nothing would load it on demand.
const MODULES: &[&str] = &[
    "crc32c_generic",
    "virtio_pci",
    "virtio_net",
    "bridge",
    "veth",
    "nf_tables",
    "nft_chain_nat",
    "nft_masq",
    "nft_nat",
    "nft_fib_ipv4",
    "nft_ct",
];

/// The configuration after the `module` lines.
const CONFIG: &str = r#"hostname board
grace 2
address eth0 10.0.2.15/24
gateway 10.0.2.2
nameserver 10.0.2.3
address eth1 dhcp

[container web]
rootfs /rootfs
net bridge
publish 8080:80
command timeout 240 /bin/probe peer 80

[container client]
rootfs /rootfs
net bridge
command sh -c 'cat /etc/resolv.conf; ip -4 -o addr show eth0; echo "remote says $(/bin/probe ask 10.0.2.100 1234)"'

[container dhcpc]
rootfs /rootfs
net host
cap-add NET_ADMIN
command udhcpc -f -q -n -t 30 -T 1 -i eth1 -s /bin/dhcp-script

[container late]
rootfs /rootfs
net host
needs-network eth1
command ip -4 -o addr show eth1
"#;

const DHCP_SCRIPT: &str =
    "#!/bin/sh\n[ \"$1\" = bound ] && ip addr add $ip/$mask dev $interface\nexit 0\n";

fn initramfs(arch: &Arch) -> Vec<u8> {
    let (cella, probe) = guest::build_for(arch);
    let busybox = std::fs::read(guest::busybox(arch)).unwrap();
    let mut cpio = Cpio::default();
    for d in [
        "dev",
        "proc",
        "sys",
        "run",
        "etc",
        "etc/cella",
        "lib",
        "lib/modules",
    ] {
        cpio.dir(d);
    }
    cpio.char_dev("dev/console", 5, 1);
    cpio.file("init", &std::fs::read(cella).unwrap(), true);
    let mut config = String::new();
    for (name, body) in guest::modules(arch, MODULES) {
        cpio.file(&format!("lib/modules/{name}"), &body, false);
        config.push_str(&format!("module /lib/modules/{name}\n"));
    }
    config.push_str(CONFIG);
    cpio.file("etc/cella/init.conf", config.as_bytes(), false);
    guest::add_busybox_root(&mut cpio, "/rootfs", &busybox, APPLETS);
    cpio.file("rootfs/bin/probe", &std::fs::read(probe).unwrap(), true);
    cpio.file("rootfs/bin/dhcp-script", DHCP_SCRIPT.as_bytes(), true);
    cpio.finish()
}

/// A free port on this host's loopback (QEMU binds it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The "remote" server: answer the first connection that says something.
fn remote(listener: TcpListener) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return String::new();
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(300)));
        let mut byte = [0u8; 1];
        match conn.read(&mut byte) {
            Ok(1) => {
                let _ = conn.write_all(b"hello-from-remote\n");
                String::from_utf8_lossy(&byte).into_owned()
            }
            _ => String::new(),
        }
    })
}

/// Connect to the published port until the container answers (the guest
/// takes a while to boot; until its container listens, the user-mode
/// network accepts and then drops the connection).
fn ask_published(
    port: u16,
    limit: Duration,
    guest_off: Arc<AtomicBool>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < limit && !guest_off.load(Ordering::Relaxed) {
            if let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) {
                // A guest that is not listening yet resets the connection
                // at once; one that is may answer slowly (software
                // emulation, other guests beside): wait for it, since its
                // one answer goes to this connection.
                let _ = conn.set_read_timeout(Some(Duration::from_secs(120)));
                let _ = conn.write_all(b"x");
                let mut answer = String::new();
                let _ = conn.read_to_string(&mut answer);
                if answer.starts_with("peer=") {
                    return answer;
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        String::new()
    })
}

fn network_comes_up(arch: &Arch) {
    support::require_root();
    let initramfs = initramfs(arch);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let remote_port = listener.local_addr().unwrap().port();
    let remote = remote(listener);
    let published = free_port();
    let args = [
        "-netdev".to_owned(),
        format!(
            "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{published}-:8080,\
             guestfwd=tcp:10.0.2.100:1234-tcp:127.0.0.1:{remote_port}"
        ),
        "-device".to_owned(),
        "virtio-net-pci,netdev=n0".to_owned(),
        "-netdev".to_owned(),
        "user,id=n1,restrict=on,net=10.0.3.0/24".to_owned(),
        "-device".to_owned(),
        "virtio-net-pci,netdev=n1".to_owned(),
    ];
    let limit = Duration::from_secs(600);
    let guest_off = Arc::new(AtomicBool::new(false));
    let asker = ask_published(published, limit, guest_off.clone());
    let console = guest::boot_with_devices(arch, &initramfs, &args, limit);
    guest_off.store(true, Ordering::Relaxed);
    let answer = asker.join().unwrap();
    // The remote thread waits for a connection that may never come.
    let heard = if remote.is_finished() {
        remote.join().unwrap()
    } else {
        String::new()
    };
    let has = |needle: &str| console.lines().any(|l| l.contains(needle));
    let failures: Vec<&str> = console
        .lines()
        .filter(|l| l.starts_with("cella: module") || l.starts_with("cella: network"))
        .collect();
    assert!(
        failures.is_empty(),
        "{}: {failures:#?}\n{console}",
        arch.deb_arch
    );
    assert_eq!(answer, "peer=10.0.2.2\n", "{}:\n{console}", arch.deb_arch);
    assert!(has("[web] peer=10.0.2.2"), "{console}");
    assert_eq!(
        heard, "x",
        "{}: the remote heard nothing\n{console}",
        arch.deb_arch
    );
    assert!(has("[client] remote says hello-from-remote"), "{console}");
    assert!(has("[client] nameserver 10.0.2.3"), "{console}");
    assert!(
        console
            .lines()
            .any(|l| l.starts_with("[client] ") && l.contains("eth0") && l.contains("inet 10.")),
        "{console}"
    );
    assert!(has("late: waiting for eth1's address"), "{console}");
    assert!(
        has("[late] ") && has("eth1    inet 10.0.3.15/24"),
        "{console}"
    );
    assert!(has("cella: powering off"), "{console}");
}

#[test]
fn init_network_on_x86_64() {
    network_comes_up(&guest::X86_64);
}

#[test]
fn init_network_on_aarch64() {
    network_comes_up(&guest::AARCH64);
}

#[test]
fn init_network_on_armv7() {
    if !guest::armv7_buildable() {
        return;
    }
    network_comes_up(&guest::ARMV7);
}
