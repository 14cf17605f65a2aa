//! Linux capabilities: names as OCI and docker spell them, the five sets a
//! payload gets, and dropping to them in the child.
//!
//! The sets are plain bit masks, decided before the clone; [`Caps::apply`]
//! is what the child calls after switching user, so the payload starts with
//! exactly these sets whatever uid it runs as.

use rustix::io::Errno;
use rustix::thread::{CapabilitySet, CapabilitySets};

/// Capability names by number (`CAP_` prefix dropped), up to CAP_CHECKPOINT_RESTORE.
pub const NAMES: &str = concat!(
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP ",
    "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK ",
    "IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN ",
    "SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE ",
    "AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND ",
    "AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE",
);

/// Docker's default bounding set: what `cella run` keeps.
pub const DOCKER_DEFAULT: &str = concat!(
    "CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP ",
    "NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE",
);

/// The bit of `name` (`CAP_KILL`, `kill` or `KILL`), or `None`.
pub fn bit(name: &str) -> Option<u64> {
    let upper = name.to_ascii_uppercase();
    let short = upper.strip_prefix("CAP_").unwrap_or(&upper);
    NAMES.split(' ').position(|n| n == short).map(|i| 1u64 << i)
}

/// The bit of `name` as the OCI spec and runc take it: `CAP_` and the
/// name in capitals, nothing else (`kill` or `SYS_ADMIN` is no name).
pub fn oci_bit(name: &str) -> Option<u64> {
    let short = name.strip_prefix("CAP_")?;
    NAMES.split(' ').position(|n| n == short).map(|i| 1u64 << i)
}

/// The mask of a list of names; the first unknown name is the error.
pub fn mask<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<u64, &'a str> {
    names
        .into_iter()
        .try_fold(0, |m, n| bit(n).map(|b| m | b).ok_or(n))
}

/// Every capability this kernel knows (`cap_last_cap`), as a mask.
pub fn all_known() -> u64 {
    let last = crate::input::system_text("/proc/sys/kernel/cap_last_cap")
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(40)
        .min(63);
    (1u64 << (last + 1)) - 1
}

/// The capability sets of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

impl Caps {
    /// Docker's defaults: bounding = permitted = effective, nothing
    /// inheritable or ambient.
    pub fn docker_default() -> Caps {
        let m = mask(DOCKER_DEFAULT.split(' ')).unwrap_or(0);
        Caps::same(m)
    }

    /// One mask for bounding, effective and permitted (docker's `--cap-add`).
    pub fn same(m: u64) -> Caps {
        Caps {
            bounding: m,
            effective: m,
            permitted: m,
            inheritable: 0,
            ambient: 0,
        }
    }

    /// In the child, before the user switch (dropping from the bounding set
    /// needs CAP_SETPCAP in the effective set, which a switch to a non-root
    /// uid clears). `known` is [`all_known`].
    pub fn shrink_bounding(&self, known: u64) -> Result<(), Errno> {
        for cap in 0..64 {
            let b = 1u64 << cap;
            if known & b != 0 && self.bounding & b == 0 {
                rustix::thread::remove_capability_from_bounding_set(
                    CapabilitySet::from_bits_retain(b),
                )?;
            }
        }
        Ok(())
    }

    /// In the child, after the user switch (which kept the permitted set via
    /// `PR_SET_KEEPCAPS`): set the three process sets, then raise the
    /// ambient ones.
    pub fn apply(&self) -> Result<(), Errno> {
        rustix::thread::set_capabilities(
            None,
            CapabilitySets {
                effective: CapabilitySet::from_bits_retain(self.effective),
                permitted: CapabilitySet::from_bits_retain(self.permitted),
                inheritable: CapabilitySet::from_bits_retain(self.inheritable),
            },
        )?;
        rustix::thread::clear_ambient_capability_set()?;
        for cap in 0..64 {
            let b = 1u64 << cap;
            if self.ambient & b != 0 {
                // The kernel raises an ambient capability only if it is also
                // permitted and inheritable; `runc spec` asks for ambient
                // ones that are not, and runc and crun go on without them.
                let _ = rustix::thread::configure_capability_in_ambient_set(
                    CapabilitySet::from_bits_retain(b),
                    true,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_every_spelling() {
        assert_eq!(bit("CAP_CHOWN"), Some(1));
        assert_eq!(bit("kill"), Some(1 << 5));
        assert_eq!(bit("SYS_ADMIN"), Some(1 << 21));
        assert_eq!(bit("CAP_CHECKPOINT_RESTORE"), Some(1 << 40));
        assert_eq!(bit("CAP_NOPE"), None);
        assert_eq!(mask(["CAP_CHOWN", "CAP_NOPE"]), Err("CAP_NOPE"));
        assert_eq!(oci_bit("CAP_KILL"), Some(1 << 5));
        for not_oci in [
            "kill", "KILL", "cap_kill", "Cap_Kill", "CAP_kill", "CAP_NOPE",
        ] {
            assert_eq!(oci_bit(not_oci), None, "{not_oci}");
        }
    }

    #[test]
    fn docker_default_has_fourteen_and_no_sys_admin() {
        let d = Caps::docker_default();
        assert_eq!(d.bounding.count_ones(), 14);
        assert_eq!(d.bounding & bit("SYS_ADMIN").unwrap(), 0);
        assert_eq!(d.inheritable | d.ambient, 0);
    }
}
