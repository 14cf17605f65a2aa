//! Device access rules, the one implementation for every container: the
//! rule type, docker's (runc 1.1's) default list, and the two ways a kernel
//! enforces them: `devices.deny`/`devices.allow` lines on cgroup v1, and a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program on cgroup v2 (built here, loaded
//! and attached with raw `bpf(2)` in `sys::bpf`).
//!
//! The program reads `struct bpf_cgroup_dev_ctx` (access and type, major,
//! minor) and tries the rules last to first, as the kernel's v1 list
//! behaves: the first match decides, nothing matching is a refusal.

use crate::sys::bpf::BpfInsn;

/// One rule: allow or deny `access` (a subset of `rwm`) to devices of
/// `kind` (`a` all, `c` char, `b` block), major and minor (`None`: any).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: u8,
    pub major: Option<u64>,
    pub minor: Option<u64>,
    pub access: String,
}

/// What every container may use whatever else its rules say (runc 1.1's
/// list, which docker and podman rely on): mknod of any node (opening it is
/// another matter), the standard nodes, ptys and the tun device; one rule
/// after each comma.
pub const DEFAULT_ALLOWED: &str = concat!(
    "c *:* m,b *:* m,c 1:3 rwm,c 1:5 rwm,c 1:7 rwm,c 1:8 rwm,c 1:9 rwm,c 5:0 rwm,",
    "c 5:2 rwm,c 136:* rwm,c 10:200 rwm",
);

/// docker's device rules for a container: deny everything, allow the
/// default list, then `extra` (the nodes of `--device`).
pub fn docker_default(extra: &[DeviceRule]) -> Vec<DeviceRule> {
    let mut rules = vec![DeviceRule {
        allow: false,
        kind: b'a',
        major: None,
        minor: None,
        access: "rwm".into(),
    }];
    rules.extend(default_allowed());
    rules.extend_from_slice(extra);
    rules
}

/// [`DEFAULT_ALLOWED`] as rules.
pub fn default_allowed() -> impl Iterator<Item = DeviceRule> {
    DEFAULT_ALLOWED
        .split(',')
        .filter_map(|line| rule_of_line(true, line))
}

/// Whether `access` is a non-empty subset of `rwm`, each letter at most once.
pub fn valid_access(access: &str) -> bool {
    !access.is_empty()
        && access.len() <= 3
        && access.bytes().all(|b| matches!(b, b'r' | b'w' | b'm'))
        && access
            .bytes()
            .enumerate()
            .all(|(i, b)| !access.as_bytes()[..i].contains(&b))
}

/// The rules as v1 `devices.deny`/`devices.allow` writes, in order.
pub fn v1_writes(rules: &[DeviceRule]) -> Vec<super::Write> {
    rules
        .iter()
        .map(|r| {
            let file = if r.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            super::Write::new("devices", file, line(r), "device rules")
        })
        .collect()
}

/// The v1 line of a rule (`c 1:3 rwm`, `a *:* rwm`), for `devices.allow`
/// or `devices.deny`.
pub fn line(r: &DeviceRule) -> String {
    let num = |n: Option<u64>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
    if r.kind == b'a' {
        return format!("a *:* {}", r.access);
    }
    format!(
        "{} {}:{} {}",
        r.kind as char,
        num(r.major),
        num(r.minor),
        r.access
    )
}

// eBPF opcodes used.
const LDX_W: u8 = 0x61; // r_dst = *(u32 *)(r_src + off)
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const AND64_K: u8 = 0x57;
const RSH64_K: u8 = 0x77;
const JNE_K: u8 = 0x55;
const EXIT: u8 = 0x95;

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

fn access_bits(access: &str) -> i32 {
    access.bytes().fold(0, |m, b| {
        m | match b {
            b'r' => ACC_READ,
            b'w' => ACC_WRITE,
            b'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

/// The program for `rules` (in config order; later rules win).
pub fn program(rules: &[DeviceRule]) -> Vec<BpfInsn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),   // r2 = access << 16 | type
        insn(MOV64_X, 3, 2, 0, 0), // r3 = r2
        insn(AND64_K, 2, 0, 0, 0xffff),
        insn(RSH64_K, 3, 0, 0, 16), // r3 = access
        insn(LDX_W, 4, 1, 4, 0),    // r4 = major
        insn(LDX_W, 5, 1, 8, 0),    // r5 = minor
    ];
    for rule in rules.iter().rev() {
        let mut block: Vec<BpfInsn> = Vec::new();
        // Jumps to the next rule are patched once the block's length is known.
        let mut skips: Vec<usize> = Vec::new();
        if rule.kind != b'a' {
            let t = if rule.kind == b'b' {
                DEV_BLOCK
            } else {
                DEV_CHAR
            };
            skips.push(block.len());
            block.push(insn(JNE_K, 2, 0, 0, t));
        }
        let allowed = access_bits(&rule.access);
        if allowed != ACC_READ | ACC_WRITE | ACC_MKNOD {
            // Every access asked for must be in the rule's.
            block.push(insn(MOV64_X, 0, 3, 0, 0));
            block.push(insn(AND64_K, 0, 0, 0, !allowed & 7));
            skips.push(block.len());
            block.push(insn(JNE_K, 0, 0, 0, 0));
        }
        if let Some(major) = rule.major {
            skips.push(block.len());
            block.push(insn(JNE_K, 4, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor {
            skips.push(block.len());
            block.push(insn(JNE_K, 5, 0, 0, minor as i32));
        }
        block.push(insn(MOV64_K, 0, 0, 0, i32::from(rule.allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        let unconditional = skips.is_empty();
        for at in skips {
            block[at].off = (len - at - 1) as i16;
        }
        p.extend(block);
        // A rule that matches everything ends the program: the verifier
        // refuses unreachable instructions after it.
        if unconditional {
            return p;
        }
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// Parse a v1-style rule line (`c 1:3 rwm`, `a *:* rwm`) into a rule.
pub fn rule_of_line(allow: bool, line: &str) -> Option<DeviceRule> {
    let mut parts = line.split(' ');
    let kind = parts.next()?.bytes().next()?;
    let (major, minor) = parts.next()?.split_once(':')?;
    let num = |s: &str| {
        if s == "*" {
            Some(None)
        } else {
            s.parse().ok().map(Some)
        }
    };
    Some(DeviceRule {
        allow,
        kind,
        major: num(major)?,
        minor: num(minor)?,
        access: parts.next()?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for exactly the instructions `program` emits.
    fn run(p: &[BpfInsn], kind: i32, access: i32, major: u32, minor: u32) -> u64 {
        let ctx = [((access as u32) << 16) | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 15) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => {
                    assert_eq!(src, 1);
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                MOV64_X => r[dst] = r[src],
                MOV64_K => r[dst] = i.imm as i64 as u64,
                AND64_K => r[dst] &= i.imm as i64 as u64,
                RSH64_K => r[dst] >>= i.imm,
                JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                EXIT => return r[0],
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    fn rule(allow: bool, line: &str) -> DeviceRule {
        rule_of_line(allow, line).unwrap()
    }

    #[test]
    fn later_rules_win_and_nothing_matching_is_refused() {
        let rules = [
            rule(false, "a *:* rwm"),
            rule(true, "c 1:3 rwm"),
            rule(true, "c 136:* rw"),
            rule(true, "b *:* m"),
        ];
        let p = program(&rules);
        assert_eq!(
            run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3),
            1,
            "/dev/null"
        );
        assert_eq!(
            run(&p, DEV_CHAR, ACC_READ, 1, 7),
            0,
            "/dev/full: not listed"
        );
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 136, 5), 1, "any pty");
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD, 136, 5), 0, "pty: no mknod");
        assert_eq!(run(&p, DEV_BLOCK, ACC_MKNOD, 8, 0), 1, "mknod of a disk");
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 8, 0), 0, "but not reading it");
        // A deny after an allow takes it back.
        let p = program(&[rule(true, "a *:* rwm"), rule(false, "c 1:3 w")]);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE, 1, 3), 0);
        assert_eq!(
            run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3),
            1,
            "the deny covers w only as a whole request"
        );
        assert_eq!(run(&program(&[]), DEV_CHAR, ACC_READ, 1, 3), 0);
    }
}
