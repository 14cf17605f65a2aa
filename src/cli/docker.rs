//! docker's spellings of `cella run`'s options, decoded into the same
//! [`RunArgs`](super::RunArgs) fields: `-v`, `--mount`, `--tmpfs DST:OPTS`,
//! `--memory-swap`, `--cpu-shares`, `--cpuset-cpus`, `--stop-signal`,
//! sizes as docker writes them; and the docker options cella has no
//! feature for yet, refused with a message that says so.

use super::{Bind, decimal};

/// `--tmpfs DST[:OPTS]` and `--mount type=tmpfs`: where, and how.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Tmpfs {
    pub target: String,
    /// `MOUNT_ATTR_*`: nosuid and nodev unless `suid`/`dev`; `noexec`, `ro`.
    pub flags: u64,
    /// tmpfs's own options: `size` (bytes), `mode` (octal).
    pub size: Option<u64>,
    pub mode: u32,
}

const RDONLY: u64 = linux_raw_sys::general::MOUNT_ATTR_RDONLY as u64;
const NOSUID: u64 = linux_raw_sys::general::MOUNT_ATTR_NOSUID as u64;
const NODEV: u64 = linux_raw_sys::general::MOUNT_ATTR_NODEV as u64;
const NOEXEC: u64 = linux_raw_sys::general::MOUNT_ATTR_NOEXEC as u64;

impl Tmpfs {
    /// A tmpfs at `target` (absolute) with cella's defaults: nosuid,
    /// nodev, mode 1777, sized by the kernel (half the memory).
    pub fn at(target: &str) -> Option<Tmpfs> {
        target.starts_with('/').then(|| Tmpfs {
            target: target.to_owned(),
            flags: NOSUID | NODEV,
            size: None,
            mode: 0o1777,
        })
    }

    /// One the user asked for (`--tmpfs`, `--mount type=tmpfs`): noexec
    /// too, as docker makes every such tmpfs (`exec` undoes it).
    fn asked(target: &str) -> Option<Tmpfs> {
        let mut t = Tmpfs::at(target)?;
        t.flags |= NOEXEC;
        Some(t)
    }

    /// One of docker's tmpfs options (`size=10m`, `mode=700`, `noexec`).
    fn set(&mut self, option: &str) -> Option<()> {
        let (flag, on) = match option {
            "ro" => (RDONLY, true),
            "rw" => (RDONLY, false),
            "noexec" => (NOEXEC, true),
            "exec" => (NOEXEC, false),
            "nosuid" => (NOSUID, true),
            "suid" => (NOSUID, false),
            "nodev" => (NODEV, true),
            "dev" => (NODEV, false),
            _ => {
                let (key, value) = option.split_once('=')?;
                match key {
                    "size" => self.size = Some(size(value)?),
                    "mode" => self.mode = octal_mode(value)?,
                    _ => return None,
                }
                return Some(());
            }
        };
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
        Some(())
    }
}

fn octal_mode(v: &str) -> Option<u32> {
    (!v.is_empty() && v.len() <= 4)
        .then(|| u32::from_str_radix(v, 8).ok())
        .flatten()
}

pub const TMPFS_RULE: &str = "expected DST[:OPTIONS] with an absolute DST; options: size=, mode=, ro, rw, noexec, exec, nosuid, suid, nodev, dev";

/// `--tmpfs DST[:size=10m,mode=1777,noexec,...]`.
pub fn tmpfs(s: &str) -> Option<Tmpfs> {
    let (target, options) = s.split_once(':').unwrap_or((s, ""));
    let mut t = Tmpfs::asked(target)?;
    for o in options.split(',').filter(|o| !o.is_empty()) {
        t.set(o)?;
    }
    Some(t)
}

/// What `--mount` describes.
#[derive(Debug, PartialEq)]
pub enum Mount {
    Bind(Bind),
    Tmpfs(Tmpfs),
}

pub const MOUNT_RULE: &str = "expected type=bind,source=SRC,target=DST[,readonly] or type=tmpfs,target=DST[,tmpfs-size=SIZE][,tmpfs-mode=MODE]";

/// `--mount type=bind|tmpfs,source=,target=,readonly,tmpfs-size=,tmpfs-mode=`
/// (docker's key aliases: `src`, `destination`, `dst`, `ro`). Named
/// volumes are the caller's to refuse: `Err` carries why.
pub fn mount(s: &str) -> Result<Mount, &'static str> {
    let (mut kind, mut source, mut target) = (None, None, None);
    let (mut read_only, mut size_v, mut mode) = (false, None, None);
    for field in s.split(',') {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k {
            "type" => kind = Some(v),
            "source" | "src" => source = Some(v),
            "target" | "destination" | "dst" => target = Some(v),
            "readonly" | "ro" => {
                read_only = match v {
                    "" | "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(MOUNT_RULE),
                }
            }
            "tmpfs-size" => size_v = Some(size(v).ok_or(MOUNT_RULE)?),
            "tmpfs-mode" => mode = Some(octal_mode(v).ok_or(MOUNT_RULE)?),
            _ => return Err(MOUNT_RULE),
        }
    }
    let target = target.filter(|t| t.starts_with('/')).ok_or(MOUNT_RULE)?;
    match kind.unwrap_or("volume") {
        "bind" if size_v.is_none() && mode.is_none() => Ok(Mount::Bind(Bind {
            source: source.filter(|s| !s.is_empty()).ok_or(MOUNT_RULE)?.into(),
            target: target.to_owned(),
            read_only,
        })),
        "tmpfs" if source.is_none() => {
            let mut t = Tmpfs::asked(target).ok_or(MOUNT_RULE)?;
            t.size = size_v;
            t.mode = mode.unwrap_or(t.mode);
            if read_only {
                t.flags |= RDONLY;
            }
            Ok(Mount::Tmpfs(t))
        }
        "volume" => Err("named volumes are not supported: use type=bind with a host path"),
        _ => Err(MOUNT_RULE),
    }
}

/// `-v SRC:DST[:OPTIONS]`: a bind of a host path (a name would be docker's
/// named volume, which cella does not have).
pub fn volume(s: &str) -> Result<Bind, &'static str> {
    let bind = super::bind(s).ok_or(super::BIND_RULE)?;
    if !bind.source.to_string_lossy().starts_with('/') {
        return Err("named volumes are not supported: SRC must be an absolute host path");
    }
    Ok(bind)
}

/// A size as docker writes it: `1234`, `512k`, `64m`, `64M`, `64MiB`,
/// `1.5g` (binary multiples, case-insensitive, with an optional `b`, `ib`
/// or `i` after the unit), at least one page.
pub fn size(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let t = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .or_else(|| lower.strip_suffix('i'))
        .unwrap_or(&lower);
    let (number, shift) = match t.as_bytes().last()? {
        b'k' => (&t[..t.len() - 1], 10),
        b'm' => (&t[..t.len() - 1], 20),
        b'g' => (&t[..t.len() - 1], 30),
        b't' => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if frac.len() > 6 || (t.len() != lower.len() && shift == 0) {
        return None;
    }
    let whole = decimal(whole)?.checked_mul(1u64 << shift)?;
    let frac = if frac.is_empty() {
        0
    } else {
        decimal(frac)?.checked_mul(1u64 << shift)? / 10u64.pow(frac.len() as u32)
    };
    let n = whole.checked_add(frac)?;
    (n >= 4096 && n <= i64::MAX as u64).then_some(n)
}

/// `--memory-swap`: memory plus swap as docker means it; `-1` unlimited.
pub fn memory_swap(s: &str) -> Option<i64> {
    if s == "-1" {
        return Some(-1);
    }
    size(s).map(|n| n as i64)
}

/// `--cpuset-cpus 0-3,5`: CPU numbers and ranges, as the kernel reads them.
pub fn cpu_list(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.split(',').all(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            matches!((decimal(a), decimal(b)), (Some(a), Some(b)) if a <= b && b < 4096)
        });
    ok.then(|| s.to_owned())
}

/// `--stop-signal TERM|SIGTERM|15`: the signal's number.
pub fn signal(s: &str) -> Option<i32> {
    super::values::signal(s).map(|sig| sig.as_raw())
}

/// docker's options for what cella has no feature for yet: the message
/// that says so.
pub fn unsupported(option: &str) -> Option<&'static str> {
    Some(match option {
        "P" | "publish-all" | "expose" => {
            "give each published port with -p HOST_PORT:PORT (with --net bridge)"
        }
        "ip6" | "link" | "mac-address" | "network-alias" => {
            "not supported: a bridge container has an IPv4 address (--ip) and its name in /etc/hosts"
        }
        "pull" | "platform" => {
            "cella pulls no images: bring one over as a file (docker save, podman save, skopeo copy) and 'cella image import' it"
        }
        "restart" => {
            "restart policies are cella init's: 'restart on-failure' or 'always' in its configuration"
        }
        "gpus" => "GPUs are not supported: give the device nodes with --device",
        "volumes-from" => "not supported: give each bind with -v",
        "log-driver" | "log-opt" => "cella run -d keeps a log of its own: cella logs NAME",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_writes_them() {
        for (s, n) in [
            ("64m", 64 << 20),
            ("64M", 64 << 20),
            ("64MiB", 64 << 20),
            ("64mb", 64 << 20),
            ("64Mi", 64 << 20),
            ("1.5g", 3 << 29),
            ("0.5G", 1 << 29),
            ("4096", 4096),
            ("4k", 4096),
            ("1t", 1 << 40),
        ] {
            assert_eq!(size(s), Some(n), "{s}");
        }
        for s in [
            "",
            "m",
            "1.5",
            "4095",
            "64x",
            "-1m",
            "1..5g",
            "1.5.5g",
            "64mm",
            "64ib",
            "1.1234567g",
        ] {
            assert_eq!(size(s), None, "{s}");
        }
    }

    #[test]
    fn tmpfs_options() {
        let t = tmpfs("/tmp:size=10m,mode=700,noexec").unwrap();
        assert_eq!(t.target, "/tmp");
        assert_eq!(t.size, Some(10 << 20));
        assert_eq!(t.mode, 0o700);
        assert_eq!(t.flags, NOSUID | NODEV | NOEXEC);
        let t = tmpfs("/run").unwrap();
        assert_eq!(
            (t.size, t.mode, t.flags),
            (None, 0o1777, NOSUID | NODEV | NOEXEC)
        );
        assert_eq!(tmpfs("/x:suid,dev,ro,exec").unwrap().flags, RDONLY);
        for bad in ["tmp", "/t:size=", "/t:mode=9", "/t:bogus", "/t:size=1x"] {
            assert_eq!(tmpfs(bad), None, "{bad}");
        }
    }

    #[test]
    fn mounts_as_docker_spells_them() {
        assert_eq!(
            mount("type=bind,source=/a,target=/b,readonly"),
            Ok(Mount::Bind(Bind {
                source: "/a".into(),
                target: "/b".into(),
                read_only: true
            }))
        );
        assert_eq!(
            mount("type=bind,src=/a,dst=/b,ro=false"),
            Ok(Mount::Bind(Bind {
                source: "/a".into(),
                target: "/b".into(),
                read_only: false
            }))
        );
        let Ok(Mount::Tmpfs(t)) = mount("type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=750")
        else {
            panic!()
        };
        assert_eq!(
            (t.target.as_str(), t.size, t.mode),
            ("/t", Some(1 << 20), 0o750)
        );
        assert!(mount("type=volume,source=data,target=/d").is_err());
        assert!(mount("source=data,target=/d").is_err());
        for bad in [
            "type=bind,target=/b",
            "type=bind,source=/a,target=b",
            "type=tmpfs,source=/a,target=/b",
            "type=bind,source=/a,target=/b,tmpfs-size=1m",
            "type=bind,source=/a,target=/b,frob=1",
        ] {
            assert_eq!(mount(bad), Err(MOUNT_RULE), "{bad}");
        }
    }

    #[test]
    fn volumes_signals_and_cpu_lists() {
        assert!(volume("/a:/b:ro").unwrap().read_only);
        assert!(volume("data:/b").is_err());
        // docker's other -v options, comma-separated, change nothing here.
        assert!(volume("/a:/b:Z,ro").unwrap().read_only);
        assert!(
            volume("/a:/b:ro,z,rprivate,nocopy,delegated")
                .unwrap()
                .read_only
        );
        assert!(!volume("/a:/b:z").unwrap().read_only);
        for bad in [
            "/a:/b:ro,rw",
            "/a:/b:rshared",
            "/a:/b:ro,",
            "/a:/b:x",
            "/a:/b:ro:z",
        ] {
            assert!(volume(bad).is_err(), "{bad}");
        }
        assert_eq!(signal("SIGTERM"), Some(15));
        assert_eq!(signal("usr1"), Some(10));
        assert_eq!(signal("9"), Some(9));
        assert_eq!(signal("SIGFOO"), None);
        assert_eq!(signal("65"), None);
        // The real-time ones, as docker's and runc's kill take them.
        assert_eq!(signal("34"), Some(34));
        assert_eq!(signal("64"), Some(64));
        assert_eq!(signal("SIGRTMIN+3"), Some(37));
        assert_eq!(signal("rtmin"), Some(34));
        assert_eq!(signal("RTMAX-2"), Some(62));
        assert_eq!(signal("SIGRTMAX"), Some(64));
        for bad in [
            "RTMIN+31",
            "RTMIN-1",
            "RTMIN+",
            "RTMAX+1",
            "RTMIN+999",
            "0",
            "-9",
        ] {
            assert_eq!(signal(bad), None, "{bad}");
        }
        assert_eq!(cpu_list("0-3,5").as_deref(), Some("0-3,5"));
        for bad in ["", "3-1", "a", "0,,1", "1-"] {
            assert_eq!(cpu_list(bad), None, "{bad}");
        }
        assert_eq!(memory_swap("-1"), Some(-1));
        assert_eq!(memory_swap("1g"), Some(1 << 30));
    }
}
