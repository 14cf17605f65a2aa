//! A static helper the tests copy into a container's root file system, to
//! try things from inside that busybox cannot express.
//!
//! - `probe escape MARKER`: the classic chroot escape (chroot into a
//!   subdirectory while keeping the working directory outside it, walk up
//!   with `..`, chroot to where we got). Prints `ESCAPED` if MARKER (a host
//!   path) is then visible, else `CONTAINED` and what `/` holds.
//! - `probe hog MIB`: allocate and touch MIB mebibytes, then print `SURVIVED`.
//! - `probe fds`: list this process's open descriptors.
//! - `probe syscalls`: try calls a container's seccomp filter should refuse,
//!   with arguments that make them harmless, and print `name=errno` (0 when
//!   the call went through).
//! - `probe nr N...`: make system call number N with zero arguments (only
//!   numbers a test's seccomp filter refuses) and print `N=errno`.
//! - `probe tiocsti`: push a character into the terminal on stdin with
//!   `TIOCSTI`; prints `TIOCSTI ok` or `TIOCSTI errno=N`.
//! - `probe spoof ADDRESS PORT`: send one UDP datagram (`SPOOFED`) to
//!   ADDRESS:PORT as a raw Ethernet frame to the default gateway's MAC
//!   address, whatever ADDRESS is (127.0.0.1 included): what a container
//!   with NET_RAW can put on its bridge. Prints `sent`.
//! - `probe no-clone3 CMD...` (run outside containers): install a seccomp
//!   filter that makes clone3 fail with ENOSYS, as Docker's default profile
//!   and qemu-user do, check that it does, then exec CMD.

use std::os::unix::fs::chroot;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("escape") => escape(&args[2]),
        Some("hog") => hog(args[2].parse().expect("MIB")),
        Some("fds") => {
            let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
                .expect("/proc/self/fd")
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            fds.sort();
            println!("{}", fds.join(" "));
        }
        Some("no-clone3") => no_clone3(&args[2..]),
        Some("syscalls") => syscalls(),
        Some("nr") => {
            let results: Vec<String> = args[2..]
                .iter()
                .map(|n| {
                    let r = syscall3(n.parse().expect("a syscall number"), 0, 0, 0);
                    format!("{n}={}", if r < 0 { -r } else { 0 })
                })
                .collect();
            println!("{}", results.join(" "));
        }
        Some("tiocsti") => {
            let c = b'#';
            let r = syscall3(
                linux_raw_sys::general::__NR_ioctl as usize,
                0,
                0x5412,
                &c as *const u8 as usize,
            );
            if r == 0 {
                println!("TIOCSTI ok");
            } else {
                println!("TIOCSTI errno={}", -r);
            }
        }
        // Accept one TCP connection on PORT and print all it sends, to
        // its end (busybox nc -l may quit at its own stdin's end first).
        Some("recv") => recv(args[2].parse().expect("PORT")),
        // Answer one TCP connection (or UDP datagram) on PORT with the
        // address it came from: who a server behind NAT sees.
        Some("peer") => peer(
            args[2].parse().expect("PORT"),
            args.get(3).map(String::as_str),
        ),
        // Ask ADDRESS:PORT (a `probe peer`) and print its answer; exit 1
        // without one within 2 s.
        Some("ask") => ask(
            &args[2],
            args[3].parse().expect("PORT"),
            args.get(4).map(String::as_str),
        ),
        Some("spoof") => spoof(
            args[2].parse().expect("ADDRESS"),
            args[3].parse().expect("PORT"),
        ),
        _ => {
            eprintln!(
                "usage: probe escape MARKER | hog MIB | fds | syscalls | nr N... | tiocsti | no-clone3 CMD... | peer PORT [udp]"
            );
            std::process::exit(2);
        }
    }
}

fn spoof(to: std::net::Ipv4Addr, port: u16) {
    // The default route's gateway and device (/proc/net/route: hex, the
    // address in host order).
    let routes = std::fs::read_to_string("/proc/net/route").expect("/proc/net/route");
    let (dev, gateway) = routes
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f[1] == "00000000")
        .map(|f| {
            let g = u32::from_str_radix(f[2], 16).expect("gateway");
            (f[0].to_owned(), std::net::Ipv4Addr::from(g.swap_bytes()))
        })
        .expect("a default route");
    // Our address, and the gateway's MAC address (asked for by a datagram).
    let sock = std::net::UdpSocket::bind(("0.0.0.0", 0)).expect("bind");
    sock.connect((gateway, 9)).expect("connect");
    let std::net::IpAddr::V4(from) = sock.local_addr().unwrap().ip() else {
        panic!("not IPv4")
    };
    let mac_of = |text: &str| -> Vec<u8> {
        text.trim()
            .split(':')
            .map(|h| u8::from_str_radix(h, 16).expect("MAC"))
            .collect()
    };
    let mut gateway_mac = None;
    for _ in 0..100 {
        let _ = sock.send(b"arp");
        let arp = std::fs::read_to_string("/proc/net/arp").unwrap_or_default();
        gateway_mac = arp
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f[0] == gateway.to_string() && f[3] != "00:00:00:00:00:00")
            .map(|f| mac_of(f[3]));
        if gateway_mac.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let gateway_mac = gateway_mac.expect("the gateway's MAC address");
    let sys = |f: &str| std::fs::read_to_string(format!("/sys/class/net/{dev}/{f}")).expect(f);
    let own_mac = mac_of(&sys("address"));
    let index: i32 = sys("ifindex").trim().parse().expect("ifindex");
    // Ethernet, IPv4 (checksummed), UDP (no checksum), the payload.
    let data = b"SPOOFED\n";
    let udp_len = 8 + data.len() as u16;
    let mut ip = vec![0x45, 0];
    ip.extend((20 + udp_len).to_be_bytes());
    ip.extend([0, 1, 0x40, 0, 64, 17, 0, 0]);
    ip.extend(from.octets());
    ip.extend(to.octets());
    let mut sum: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let mut frame = gateway_mac.clone();
    frame.extend(&own_mac);
    frame.extend([0x08, 0x00]);
    frame.extend(ip);
    frame.extend(40000u16.to_be_bytes());
    frame.extend(port.to_be_bytes());
    frame.extend(udp_len.to_be_bytes());
    frame.extend([0, 0]);
    frame.extend(data);
    // AF_PACKET, SOCK_RAW, bound to the device: a write sends the frame.
    let eth_p_ip = 0x0800u16.to_be();
    let fd = syscall3(
        linux_raw_sys::general::__NR_socket as usize,
        17,
        3,
        usize::from(eth_p_ip),
    );
    assert!(fd >= 0, "socket(AF_PACKET): errno {}", -fd);
    let mut ll = [0u8; 20];
    ll[0..2].copy_from_slice(&17u16.to_ne_bytes());
    ll[2..4].copy_from_slice(&eth_p_ip.to_ne_bytes());
    ll[4..8].copy_from_slice(&index.to_ne_bytes());
    let r = syscall3(
        linux_raw_sys::general::__NR_bind as usize,
        fd as usize,
        ll.as_ptr() as usize,
        ll.len(),
    );
    assert_eq!(r, 0, "bind(AF_PACKET)");
    let r = syscall3(
        linux_raw_sys::general::__NR_write as usize,
        fd as usize,
        frame.as_ptr() as usize,
        frame.len(),
    );
    assert_eq!(r, frame.len() as isize, "write");
    println!("sent");
}

fn recv(port: u16) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind(("0.0.0.0", port)).expect("bind");
    let (mut conn, _) = listener.accept().expect("accept");
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    let _ = std::io::stdout().write_all(&got);
}

fn peer(port: u16, udp: Option<&str>) {
    use std::io::Write;
    if udp == Some("udp") {
        let sock = std::net::UdpSocket::bind(("0.0.0.0", port)).expect("bind");
        println!("listening");
        let mut buf = [0u8; 512];
        let (_, from) = sock.recv_from(&mut buf).expect("recv");
        let line = format!("peer={}\n", from.ip());
        let _ = sock.send_to(line.as_bytes(), from);
        print!("{line}");
    } else {
        let listener = std::net::TcpListener::bind(("0.0.0.0", port)).expect("bind");
        println!("listening");
        let (mut conn, from) = listener.accept().expect("accept");
        let line = format!("peer={}\n", from.ip());
        let _ = conn.write_all(line.as_bytes());
        print!("{line}");
    }
    let _ = std::io::stdout().flush();
}

fn ask(host: &str, port: u16, udp: Option<&str>) {
    use std::io::{Read, Write};
    let wait = std::time::Duration::from_secs(2);
    let limit = Some(wait);
    let addr: std::net::IpAddr = host.parse().expect("ADDRESS");
    let mut buf = [0u8; 512];
    let n = if udp == Some("udp") {
        let sock = std::net::UdpSocket::bind(("0.0.0.0", 0)).expect("bind");
        sock.set_read_timeout(limit).unwrap();
        sock.send_to(b"x", (addr, port)).expect("send");
        sock.recv(&mut buf).unwrap_or(0)
    } else {
        let Ok(mut conn) = std::net::TcpStream::connect_timeout(&(addr, port).into(), wait) else {
            std::process::exit(1)
        };
        conn.set_read_timeout(limit).unwrap();
        let _ = conn.write_all(b"x");
        conn.read(&mut buf).unwrap_or(0)
    };
    if n == 0 {
        std::process::exit(1);
    }
    print!("{}", String::from_utf8_lossy(&buf[..n]));
}

fn escape(marker: &str) {
    let _ = std::fs::create_dir_all("/.escape");
    std::env::set_current_dir("/").unwrap();
    chroot("/.escape").expect("chroot into subdir");
    // The working directory is now outside our root: `..` is not stopped there.
    for _ in 0..256 {
        let _ = std::env::set_current_dir("..");
    }
    chroot(".").expect("chroot to the top");
    let _ = std::env::set_current_dir("/");
    if Path::new(marker).exists() {
        println!("ESCAPED");
    } else {
        let mut names: Vec<String> = std::fs::read_dir("/")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        println!("CONTAINED {}", names.join(","));
    }
}

fn syscalls() {
    use linux_raw_sys::general as g;
    let key_spec_session_keyring = -3isize as usize;
    let calls: [(&str, usize, [usize; 3]); 5] = [
        // KEYCTL_GET_KEYRING_ID of the session keyring: works unconfined.
        (
            "keyctl",
            g::__NR_keyctl as usize,
            [0, key_spec_session_keyring, 0],
        ),
        // A NULL attr: EFAULT unconfined.
        (
            "perf_event_open",
            g::__NR_perf_event_open as usize,
            [0, 0, 0],
        ),
        // Zero entries: EINVAL unconfined.
        ("io_uring_setup", g::__NR_io_uring_setup as usize, [0, 0, 0]),
        // Zero size: EINVAL unconfined; docker's profile answers ENOSYS.
        ("clone3", g::__NR_clone3 as usize, [0, 0, 0]),
        // An empty key type: EINVAL or EFAULT unconfined.
        ("add_key", g::__NR_add_key as usize, [0, 0, 0]),
    ];
    for (name, nr, a) in calls {
        let r = syscall3(nr, a[0], a[1], a[2]);
        println!("{name}={}", if r < 0 { -r } else { 0 });
    }
}

fn hog(mib: usize) {
    let mut chunks = Vec::new();
    for _ in 0..mib {
        let mut v = vec![0u8; 1 << 20];
        for i in (0..v.len()).step_by(4096) {
            v[i] = 1;
        }
        chunks.push(v);
    }
    println!("SURVIVED {}", chunks.len());
}

/// This architecture's seccomp audit value and `seccomp` syscall number.
#[cfg(target_arch = "x86_64")]
const ARCH: (u32, usize) = (0xc000_003e, 317);
#[cfg(target_arch = "aarch64")]
const ARCH: (u32, usize) = (0xc000_00b7, 277);
#[cfg(target_arch = "arm")]
const ARCH: (u32, usize) = (0x4000_0028, 383);

/// A raw three-argument system call; returns the kernel's value (-errno on error).
#[allow(unsafe_code)]
fn syscall3(nr: usize, a: usize, b: usize, c: usize) -> isize {
    let ret: isize;
    // SAFETY: each architecture's syscall ABI; the arguments are plain
    // integers or point to data that outlives the call.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a, in("rsi") b,
            in("rdx") c, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        std::arch::asm!("svc 0", in("x8") nr, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c,
            options(nostack));
    }
    // SAFETY: as above; r7 is saved around the call (frame pointer in Thumb code).
    #[cfg(target_arch = "arm")]
    unsafe {
        std::arch::asm!("mov {saved}, r7", "mov r7, {nr}", "svc 0", "mov r7, {saved}", nr = in(reg) nr,
            saved = out(reg) _, inlateout("r0") a as isize => ret, in("r1") b, in("r2") c, options(nostack));
    }
    ret
}

fn no_clone3(cmd: &[String]) {
    use std::os::unix::process::CommandExt;

    #[repr(C)]
    struct SockFilter {
        code: u16,
        jt: u8,
        jf: u8,
        k: u32,
    }
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const SockFilter,
    }
    const LD_ABS_W: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const NR_CLONE3: u32 = 435; // the same on every architecture
    const RET_ERRNO_ENOSYS: u32 = 0x0005_0000 | 38;
    const RET_ALLOW: u32 = 0x7fff_0000;
    let filter = [
        SockFilter {
            code: LD_ABS_W,
            jt: 0,
            jf: 0,
            k: 4,
        }, // seccomp_data.arch
        SockFilter {
            code: JEQ_K,
            jt: 0,
            jf: 3,
            k: ARCH.0,
        },
        SockFilter {
            code: LD_ABS_W,
            jt: 0,
            jf: 0,
            k: 0,
        }, // seccomp_data.nr
        SockFilter {
            code: JEQ_K,
            jt: 0,
            jf: 1,
            k: NR_CLONE3,
        },
        SockFilter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: RET_ERRNO_ENOSYS,
        },
        SockFilter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: RET_ALLOW,
        },
    ];
    let prog = SockFprog {
        len: filter.len() as u16,
        filter: filter.as_ptr(),
    };
    rustix::thread::set_no_new_privs(true).expect("no_new_privs");
    // seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)
    assert_eq!(
        syscall3(ARCH.1, 1, 0, &prog as *const SockFprog as usize),
        0,
        "seccomp"
    );
    // clone3 with a zero size would be EINVAL; the filter answers first.
    assert_eq!(
        syscall3(NR_CLONE3 as usize, 0, 0, 0),
        -38,
        "clone3 must now fail with ENOSYS"
    );
    eprintln!("probe: clone3 blocked with ENOSYS");
    let err = std::process::Command::new(&cmd[0]).args(&cmd[1..]).exec();
    panic!("exec {}: {err}", cmd[0]);
}
