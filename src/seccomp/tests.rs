//! The compiler checked by running its programs: a classic-BPF interpreter
//! for the opcodes it emits, the kernel's structural checks, and a direct
//! evaluation of the profile to compare with.

use super::*;

const ALLOW: u32 = RET_ALLOW;
const KILL_PROCESS: u32 = RET_KILL_PROCESS;

fn errno(e: u16) -> u32 {
    RET_ERRNO | u32::from(e)
}

/// Runs `prog` on a `seccomp_data`, after the checks the kernel's
/// `bpf_check_classic` and `seccomp_check_filter` make.
fn run(prog: &[SockFilter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    validate(prog);
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let mut acc = 0u32;
    let mut pc = 0;
    loop {
        let i = prog[pc];
        pc += 1;
        let cond = match i.code {
            LD_W_ABS => {
                let k = i.k as usize;
                acc = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
                continue;
            }
            AND_K => {
                acc &= i.k;
                continue;
            }
            JA => {
                pc += i.k as usize;
                continue;
            }
            RET_K => return i.k,
            JEQ_K => acc == i.k,
            JGT_K => acc > i.k,
            JGE_K => acc >= i.k,
            code => panic!("opcode {code:#x}"),
        };
        pc += usize::from(if cond { i.jt } else { i.jf });
    }
}

fn validate(prog: &[SockFilter]) {
    assert!(
        !prog.is_empty() && prog.len() <= MAX_INSNS,
        "length {}",
        prog.len()
    );
    assert_eq!(prog.last().unwrap().code, RET_K, "must end in ret");
    for (pc, i) in prog.iter().enumerate() {
        let rest = prog.len() - pc - 1;
        match i.code {
            LD_W_ABS => assert!(i.k % 4 == 0 && i.k < 64, "load {} at {pc}", i.k),
            JA => assert!((i.k as usize) < rest, "ja out of range at {pc}"),
            JEQ_K | JGT_K | JGE_K => {
                assert!(
                    usize::from(i.jt.max(i.jf)) < rest,
                    "jump out of range at {pc}"
                )
            }
            AND_K | RET_K => {}
            code => panic!("opcode {code:#x} at {pc}"),
        }
    }
}

/// What the profile says, evaluated directly.
fn expected(p: &Profile, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let Some(a) = both()
        .into_iter()
        .find(|a| a.audit() == arch && (*a == Arch::NATIVE || p.architectures.contains(a)))
    else {
        return KILL_PROCESS;
    };
    if a == Arch::X86_64 && nr >= X32_BIT {
        return errno(ENOSYS);
    }
    let wide = matches!(a, Arch::X86_64 | Arch::Aarch64);
    // The names of `nr` (arm has an alias), instead of a lookup per name.
    let numbers = a.numbers().unwrap();
    let names: Vec<&str> = (table::NAMES.split(' ').enumerate())
        .filter(|&(i, _)| number(numbers, i) == Some(nr))
        .map(|(_, name)| name)
        .collect();
    // Past the highest number the profile names here: ENOSYS, unless the
    // default allows.
    let highest = p
        .rules
        .iter()
        .flat_map(|r| &r.names)
        .filter_map(|n| syscall_number(a, n))
        .max();
    let allows = matches!(p.default, Action::Allow | Action::Log);
    if highest.is_some_and(|h| nr > h) && !allows {
        return errno(ENOSYS);
    }
    for rule in &p.rules {
        if !rule.names.iter().any(|n| names.contains(&n.as_str())) {
            continue;
        }
        // runc: comparisons repeating an argument are each a rule (ORed).
        let repeats = (1..rule.args.len())
            .any(|i| rule.args[..i].iter().any(|c| c.index == rule.args[i].index));
        let holds = |c: &ArgCmp| {
            let v = args[usize::from(c.index)];
            let v = if wide { v } else { v & 0xffff_ffff };
            match c.op {
                Op::NotEqual => v != c.value,
                Op::LessThan => v < c.value,
                Op::LessEqual => v <= c.value,
                Op::EqualTo => v == c.value,
                Op::GreaterEqual => v >= c.value,
                Op::GreaterThan => v > c.value,
                Op::MaskedEqual => v & c.value == c.value_two,
            }
        };
        let matched = if repeats {
            rule.args.iter().any(holds)
        } else {
            rule.args.iter().all(holds)
        };
        if matched {
            return rule.action.ret();
        }
    }
    p.default.ret()
}

fn nr(name: &str) -> u32 {
    syscall_number(Arch::NATIVE, name).unwrap_or_else(|| panic!("{name}"))
}

fn call(prog: &[SockFilter], name: &str, args: [u64; 6]) -> u32 {
    run(prog, Arch::NATIVE.audit(), nr(name), args)
}

fn rule(names: &str, action: Action, args: &[(u8, Op, u64)]) -> Rule {
    Rule {
        names: names.split(' ').map(String::from).collect(),
        action,
        args: args
            .iter()
            .map(|&(index, op, value)| ArgCmp {
                index,
                value,
                value_two: 0,
                op,
            })
            .collect(),
    }
}

/// Arguments `a`, then zeros.
fn args(a: &[u64]) -> [u64; 6] {
    let mut all = [0; 6];
    all[..a.len()].copy_from_slice(a);
    all
}

/// Asserts the return value for each (syscall, arguments, expected).
fn calls(prog: &[SockFilter], cases: &[(&str, &[u64], u32)]) {
    for &(name, a, want) in cases {
        assert_eq!(call(prog, name, args(a)), want, "{name} {a:x?}");
    }
}

/// The native architecture and its compat one.
fn both() -> Vec<Arch> {
    [Some(Arch::NATIVE), Arch::COMPAT]
        .into_iter()
        .flatten()
        .collect()
}

const OPS: [Op; 7] = [
    Op::NotEqual,
    Op::LessThan,
    Op::LessEqual,
    Op::EqualTo,
    Op::GreaterEqual,
    Op::GreaterThan,
    Op::MaskedEqual,
];

fn profile(default: Action, rules: Vec<Rule>) -> Profile {
    Profile {
        default,
        architectures: Vec::new(),
        rules,
    }
}

#[test]
fn table_is_sorted_and_complete() {
    let names: Vec<&str> = table::NAMES.split(' ').collect();
    assert_eq!(names.len(), table::COUNT);
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    for name in "read write execve exit_group clone kexec_load".split(' ') {
        assert!(syscall_number(Arch::NATIVE, name).is_some(), "{name}");
    }
    assert_eq!(syscall_number(Arch::NATIVE, "no_such_call"), None);
    assert_eq!(syscall_number(Arch::X32, "read"), None);
}

#[test]
#[cfg(target_arch = "x86_64")]
fn x86_tables_match_the_kernel() {
    use linux_raw_sys::general as g;
    assert_eq!(nr("read"), g::__NR_read);
    assert_eq!(nr("execve"), 59);
    assert_eq!(nr("exit_group"), g::__NR_exit_group);
    assert_eq!(nr("clone3"), g::__NR_clone3);
    let x86 = |name| syscall_number(Arch::X86, name);
    assert_eq!(x86("execve"), Some(11));
    assert_eq!(x86("socketcall"), Some(102));
    assert_eq!(x86("_llseek"), Some(140));
    assert_eq!(syscall_number(Arch::X86_64, "_llseek"), None);
    assert_eq!(syscall_number(Arch::X86_64, "arch_prctl"), Some(158));
    // Not compiled in.
    assert_eq!(syscall_number(Arch::Arm, "cacheflush"), None);
}

#[test]
#[cfg(target_arch = "aarch64")]
fn arm_tables_match_the_kernel() {
    assert_eq!(nr("read"), linux_raw_sys::general::__NR_read);
    assert_eq!(syscall_number(Arch::Arm, "cacheflush"), Some(0xf0002));
    assert_eq!(syscall_number(Arch::Arm, "execve"), Some(11));
}

#[test]
fn oci_names() {
    let arches = [
        ("SCMP_ARCH_X86_64", Some(Arch::X86_64)),
        ("SCMP_ARCH_X86", Some(Arch::X86)),
        ("SCMP_ARCH_X32", Some(Arch::X32)),
        ("SCMP_ARCH_AARCH64", Some(Arch::Aarch64)),
        ("SCMP_ARCH_ARM", Some(Arch::Arm)),
        ("SCMP_ARCH_MIPS", None),
    ];
    for (name, want) in arches {
        assert_eq!(Arch::from_oci(name), want, "{name}");
    }
    let actions = [
        ("SCMP_ACT_ERRNO", None, Some(Action::Errno(1))),
        ("SCMP_ACT_ERRNO", Some(38), Some(Action::Errno(38))),
        ("SCMP_ACT_ERRNO", Some(70000), None),
        ("SCMP_ACT_TRACE", None, Some(Action::Trace(1))),
        ("SCMP_ACT_TRACE", Some(9), Some(Action::Trace(9))),
        ("SCMP_ACT_KILL", None, Some(Action::Kill)),
        ("SCMP_ACT_KILL_PROCESS", None, Some(Action::KillProcess)),
        ("SCMP_ACT_KILL_THREAD", None, Some(Action::KillThread)),
        ("SCMP_ACT_TRAP", None, Some(Action::Trap)),
        ("SCMP_ACT_ALLOW", Some(5), Some(Action::Allow)),
        ("SCMP_ACT_LOG", None, Some(Action::Log)),
        ("SCMP_ACT_NOTIFY", None, Some(Action::Notify)),
        ("SCMP_ACT_UNKNOWN", None, None),
    ];
    for (name, errno_ret, want) in actions {
        assert_eq!(action_from_oci(name, errno_ret), want, "{name}");
    }
    let ops = "SCMP_CMP_NE SCMP_CMP_LT SCMP_CMP_LE SCMP_CMP_EQ SCMP_CMP_GE SCMP_CMP_GT";
    let ops: Vec<_> = (ops.split(' ').chain(["SCMP_CMP_MASKED_EQ"]))
        .map(|o| op_from_oci(o).unwrap())
        .collect();
    assert_eq!(ops, OPS);
    assert_eq!(op_from_oci("SCMP_CMP_EQUAL"), None);
}

#[test]
fn return_values() {
    let all = [
        (Action::Kill, 0),
        (Action::KillThread, 0),
        (Action::KillProcess, 0x8000_0000),
        (Action::Trap, 0x0003_0000),
        (Action::Errno(95), 0x0005_005f),
        (Action::Trace(7), 0x7ff0_0007),
        (Action::Log, 0x7ffc_0000),
        (Action::Notify, 0x7fc0_0000),
        (Action::Allow, 0x7fff_0000),
    ];
    for (action, ret) in all {
        assert_eq!(action.ret(), ret, "{action:?}");
        // And the filter returns them.
        let p = profile(Action::Allow, vec![rule("getpid", action, &[])]);
        assert_eq!(call(&compile(&p).unwrap(), "getpid", [0; 6]), ret);
    }
}

#[test]
fn allow_deny_and_default() {
    let p = profile(
        Action::Errno(1),
        vec![
            rule("read write exit_group", Action::Allow, &[]),
            rule("getpid", Action::Errno(95), &[]),
            rule("no_such_call another_one", Action::Allow, &[]),
        ],
    );
    let prog = compile(&p).unwrap();
    calls(
        &prog,
        &[
            ("read", &[], ALLOW),
            ("write", &[], ALLOW),
            ("exit_group", &[], ALLOW),
            ("getpid", &[], errno(95)),
        ],
    );
    // Unnamed: the default below the highest number the profile names,
    // ENOSYS above it.
    let highest = ["read", "write", "exit_group", "getpid"]
        .map(nr)
        .into_iter()
        .max()
        .unwrap();
    for name in ["openat", "kexec_load", "close"] {
        let want = if nr(name) > highest {
            errno(ENOSYS)
        } else {
            errno(1)
        };
        assert_eq!(call(&prog, name, [0; 6]), want, "{name}");
    }
    let native = Arch::NATIVE.audit();
    for n in [999, 0x3fff_ffff] {
        assert_eq!(run(&prog, native, n, [0; 6]), errno(ENOSYS), "{n:#x}");
    }
}

#[test]
fn empty_profile_and_deny_list() {
    let prog = compile(&profile(Action::Allow, Vec::new())).unwrap();
    assert_eq!(call(&prog, "read", [0; 6]), ALLOW);
    assert_eq!(run(&prog, 0x1234, 0, [0; 6]), KILL_PROCESS);
    let kill = vec![rule("kexec_load", Action::KillProcess, &[])];
    let prog = compile(&profile(Action::Allow, kill)).unwrap();
    calls(
        &prog,
        &[("kexec_load", &[], KILL_PROCESS), ("read", &[], ALLOW)],
    );
}

#[test]
fn unknown_arch_is_killed() {
    let p = profile(Action::Allow, vec![rule("read", Action::Allow, &[])]);
    let prog = compile(&p).unwrap();
    // None, i386, x86_64, aarch64, arm, riscv64: all but the native one.
    let arches = [
        0,
        0x4000_0003,
        0xc000_003e,
        0xc000_00b7,
        0x4000_0028,
        0xc000_00f3,
    ];
    for arch in arches.into_iter().filter(|&a| a != Arch::NATIVE.audit()) {
        assert_eq!(
            run(&prog, arch, nr("read"), [0; 6]),
            KILL_PROCESS,
            "{arch:#x}"
        );
    }
}

#[test]
fn the_native_arch_applies_even_when_not_listed() {
    let mut p = profile(
        Action::Errno(1),
        vec![rule("read openat", Action::Allow, &[])],
    );
    p.architectures = Arch::COMPAT.into_iter().collect();
    let prog = compile(&p).unwrap();
    let native = Arch::NATIVE.audit();
    assert_eq!(run(&prog, native, nr("read"), [0; 6]), ALLOW);
    assert_eq!(run(&prog, native, nr("openat"), [0; 6]), ALLOW);
    assert_eq!(run(&prog, native, nr("write"), [0; 6]), errno(1));
    p.rules
        .push(rule("read", Action::Allow, &[(6, Op::EqualTo, 0)]));
    assert_eq!(compile(&p), Err(CompileError::ArgIndex(6)));
}

#[test]
fn numbers_past_the_highest_named_fail_with_enosys() {
    // read (0) and openat (257) on x86_64; clone3 (435) is past them.
    let p = profile(
        Action::Errno(1),
        vec![rule("read openat", Action::Allow, &[])],
    );
    let prog = compile(&p).unwrap();
    let native = Arch::NATIVE.audit();
    let highest = nr("read").max(nr("openat"));
    assert_eq!(run(&prog, native, highest, [0; 6]), ALLOW);
    assert_eq!(run(&prog, native, highest + 1, [0; 6]), errno(ENOSYS));
    assert_eq!(run(&prog, native, nr("clone3"), [0; 6]), errno(ENOSYS));
    // Below the highest, an unnamed number gets the default action.
    let below = (0..highest).find(|n| *n != nr("read")).unwrap();
    assert_eq!(run(&prog, native, below, [0; 6]), errno(1));
    // A default that allows stays so; a profile naming nothing has no tail.
    let allow = compile(&profile(
        Action::Allow,
        vec![rule("read", Action::Errno(1), &[])],
    ))
    .unwrap();
    assert_eq!(run(&allow, native, nr("clone3"), [0; 6]), ALLOW);
    let empty = compile(&profile(Action::Errno(1), Vec::new())).unwrap();
    assert_eq!(run(&empty, native, nr("clone3"), [0; 6]), errno(1));
}

#[test]
fn comparisons_on_one_argument_are_ored_as_runc_does() {
    // runc 1.1: personality(0) or personality(8) allowed; a rule with
    // comparisons on two arguments keeps them ANDed.
    let p = profile(
        Action::Errno(1),
        vec![
            rule(
                "personality",
                Action::Allow,
                &[(0, Op::EqualTo, 0), (0, Op::EqualTo, 8)],
            ),
            rule(
                "socket",
                Action::Allow,
                &[(0, Op::EqualTo, 1), (1, Op::EqualTo, 2)],
            ),
        ],
    );
    let prog = compile(&p).unwrap();
    let native = Arch::NATIVE.audit();
    let call = |name: &str, a0: u64, a1: u64| run(&prog, native, nr(name), [a0, a1, 0, 0, 0, 0]);
    assert_eq!(call("personality", 0, 0), ALLOW);
    assert_eq!(call("personality", 8, 0), ALLOW);
    assert_eq!(call("personality", 4, 0), errno(1));
    assert_eq!(call("socket", 1, 2), ALLOW);
    assert_eq!(call("socket", 1, 3), errno(1));
    assert_eq!(call("socket", 2, 2), errno(1));
}

#[test]
#[cfg(target_arch = "x86_64")]
fn x32_syscalls_fail_with_enosys() {
    let mut p = profile(Action::Allow, vec![rule("read", Action::Allow, &[])]);
    p.architectures = vec![Arch::X86_64, Arch::X86, Arch::X32];
    let prog = compile(&p).unwrap();
    let native = Arch::NATIVE.audit();
    for n in [X32_BIT, X32_BIT | 59, X32_BIT | 512, u32::MAX] {
        assert_eq!(run(&prog, native, n, [0; 6]), errno(ENOSYS), "{n:#x}");
    }
    assert_eq!(run(&prog, native, 0, [0; 6]), ALLOW);
    // Even when the default would have allowed it, and on a deny-all.
    let deny = compile(&profile(Action::KillProcess, Vec::new())).unwrap();
    assert_eq!(run(&deny, native, X32_BIT, [0; 6]), errno(ENOSYS));
}

#[test]
#[cfg(target_arch = "x86_64")]
fn i386_uses_its_own_table() {
    let mut p = profile(
        Action::Errno(1),
        vec![
            rule("execve", Action::Allow, &[]),
            rule("socketcall", Action::Errno(22), &[]),
            rule("dup3", Action::Allow, &[(1, Op::EqualTo, 5)]),
            rule("dup3", Action::Allow, &[(1, Op::EqualTo, 0x1_0000_0006)]),
        ],
    );
    let i386 = Arch::X86.audit();
    // Not listed: i386 is killed.
    assert_eq!(run(&compile(&p).unwrap(), i386, 11, [0; 6]), KILL_PROCESS);
    p.architectures = vec![Arch::X86_64, Arch::X86];
    let prog = compile(&p).unwrap();
    let dup3 = 330;
    let cases = [
        (11, [0; 6], ALLOW),      // execve
        (59, [0; 6], errno(1)),   // execve on x86_64 only
        (102, [0; 6], errno(22)), // socketcall
        (dup3, args(&[0, 5]), ALLOW),
        // 32-bit arguments: the high word is 0, so 0x1_0000_0006 never matches.
        (dup3, args(&[0, 6]), errno(1)),
        // No x32 check; past dup3, the highest number named: ENOSYS.
        (X32_BIT, [0; 6], errno(ENOSYS)),
    ];
    for (n, a, want) in cases {
        assert_eq!(run(&prog, i386, n, a), want, "{n} {a:?}");
    }
    calls(&prog, &[("execve", &[], ALLOW), ("read", &[], errno(1))]);
}

/// Every op, with values whose high and low words each compare all three
/// ways with the argument's.
#[test]
fn every_op_on_64_bit_values() {
    let words = [0u64, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff];
    let values: Vec<u64> = (words.iter())
        .flat_map(|hi| words.iter().map(move |lo| hi << 32 | lo))
        .collect();
    let native = Arch::NATIVE.audit();
    let getpid = nr("getpid");
    for op in OPS {
        for (n, &value) in values.iter().enumerate().step_by(5) {
            let value_two = values[(n * 7) % values.len()] & value;
            let cmp = ArgCmp {
                index: 3,
                value,
                value_two,
                op,
            };
            let mut p = profile(Action::Errno(1), vec![rule("getpid", Action::Allow, &[])]);
            p.rules[0].args.push(cmp);
            let prog = compile(&p).unwrap();
            for &arg in &values {
                let a = args(&[0, 0, 0, arg]);
                let want = expected(&p, native, getpid, a);
                assert_eq!(run(&prog, native, getpid, a), want, "{cmp:?} {arg:#x}");
            }
        }
    }
}

#[test]
fn ops_by_example() {
    let hi = 0x1_0000_0000u64;
    let p = profile(
        Action::Errno(1),
        vec![
            rule("getpid", Action::Allow, &[(0, Op::GreaterThan, hi + 5)]),
            rule("getppid", Action::Allow, &[(1, Op::LessThan, hi)]),
            rule("getuid", Action::Allow, &[(2, Op::NotEqual, 5)]),
            // Both must hold.
            rule(
                "getgid",
                Action::Allow,
                &[(5, Op::LessEqual, 7), (4, Op::GreaterEqual, 3)],
            ),
        ],
    );
    calls(
        &compile(&p).unwrap(),
        &[
            ("getpid", &[hi + 6], ALLOW),
            ("getpid", &[hi + 5], errno(1)),
            ("getpid", &[6], errno(1)),
            ("getpid", &[2 * hi], ALLOW),
            ("getppid", &[0, hi - 1], ALLOW),
            ("getppid", &[0, hi], errno(1)),
            ("getuid", &[0, 0, 5], errno(1)),
            ("getuid", &[0, 0, hi + 5], ALLOW),
            ("getgid", &[0, 0, 0, 0, 3, 7], ALLOW),
            ("getgid", &[0, 0, 0, 0, 2, 7], errno(1)),
            ("getgid", &[0, 0, 0, 0, 3, 8], errno(1)),
        ],
    );
}

#[test]
fn masked_equal() {
    let mask = 0x7e02_0000u64 | 0xf << 40;
    let cmp = ArgCmp {
        index: 0,
        value: mask,
        value_two: 1 << 41,
        op: Op::MaskedEqual,
    };
    let mut p = profile(Action::Errno(1), vec![rule("clone", Action::Allow, &[])]);
    p.rules[0].args.push(cmp);
    calls(
        &compile(&p).unwrap(),
        &[
            ("clone", &[1 << 41], ALLOW),
            ("clone", &[1 << 41 | 0x11], ALLOW), // outside the mask
            ("clone", &[0], errno(1)),
            ("clone", &[1 << 41 | 0x2_0000], errno(1)),
            ("clone", &[3 << 41], errno(1)),
        ],
    );
}

#[test]
fn first_matching_rule_wins() {
    // podman's socket rules: NETLINK_AUDIT gets EINVAL, the rest is allowed.
    let audit = [(0, Op::EqualTo, 16), (2, Op::EqualTo, 9)];
    let p = profile(
        Action::Errno(38),
        vec![
            rule("socket", Action::Errno(22), &audit),
            rule("socket", Action::Allow, &[(2, Op::NotEqual, 9)]),
            rule("socket", Action::Allow, &[(0, Op::NotEqual, 16)]),
            rule("setns", Action::Allow, &[]),
            rule("setns", Action::Errno(1), &[]),
            rule("getpid", Action::Errno(5), &[(0, Op::EqualTo, 1)]),
            rule("getpid", Action::Errno(6), &[]),
            rule("getpid", Action::Errno(7), &[(0, Op::EqualTo, 2)]),
        ],
    );
    calls(
        &compile(&p).unwrap(),
        &[
            ("socket", &[16, 3, 9], errno(22)),
            ("socket", &[16, 3, 0], ALLOW),
            ("socket", &[2, 1, 9], ALLOW),
            ("setns", &[], ALLOW),
            ("getpid", &[1], errno(5)),
            ("getpid", &[2], errno(6)),
            ("read", &[], errno(38)),
        ],
    );
}

/// A handful of podman's rules (samples/podman-config.json), its whole
/// allow-list stood in for by every name in the table.
#[test]
fn podman_like_profile() {
    let denied = "bdflush kexec_load migrate_pages userfaultfd vmsplice";
    let audit = [(0, Op::EqualTo, 16), (2, Op::EqualTo, 9)];
    let mut p = profile(
        Action::Errno(38),
        vec![
            rule(denied, Action::Errno(1), &[]),
            rule(table::NAMES, Action::Allow, &[]),
            rule("personality", Action::Allow, &[(0, Op::EqualTo, 0)]),
            rule("socket", Action::Errno(22), &audit),
        ],
    );
    p.architectures = both();
    let prog = compile(&p).unwrap();
    calls(
        &prog,
        &[
            ("kexec_load", &[], errno(1)),
            ("read", &[], ALLOW),
            ("socket", &[16, 0, 9], ALLOW), // the allow-list came first
        ],
    );
    // Runs of allowed numbers collapse: far fewer instructions than names.
    assert!(prog.len() < 100, "{}", prog.len());
    sweep(&p, &prog);
}

/// Every number on every listed architecture (and a few beyond) against
/// the direct evaluation, with a few argument patterns.
fn sweep(p: &Profile, prog: &[SockFilter]) {
    let patterns = [
        [0; 6],
        args(&[16, 3, 9]),
        [u64::MAX; 6],
        [1 << 32, 2, 3, 4, 5, 6],
    ];
    let beyond = [
        0xf0000,
        0xf0002,
        0xf0005,
        0x4000_0000,
        0x4000_0001,
        u32::MAX,
    ];
    for arch in both().into_iter().map(Arch::audit) {
        for n in (0..1100).chain(beyond) {
            for a in patterns {
                assert_eq!(
                    run(prog, arch, n, a),
                    expected(p, arch, n, a),
                    "{arch:#x} {n} {a:?}"
                );
            }
        }
    }
}

/// Every syscall with its own conditional rule: hundreds of bodies, so the
/// search's jumps span far more than 255 instructions.
#[test]
fn long_jumps() {
    let all: Vec<&str> = table::NAMES.split(' ').collect();
    // Native only: with the compat architecture too it would not fit.
    let mut p = profile(Action::Errno(1), Vec::new());
    for (i, name) in all.iter().enumerate() {
        let op = [Op::EqualTo, Op::GreaterThan, Op::NotEqual, Op::MaskedEqual][i % 4];
        let index = (i % 6) as u8;
        p.rules.push(rule(
            name,
            Action::Errno(100 + (i % 50) as u16),
            &[(index, op, i as u64)],
        ));
        if i % 3 == 0 {
            p.rules.push(rule(name, Action::Allow, &[]));
        }
    }
    let prog = compile(&p).unwrap();
    assert!(
        prog.iter().any(|i| i.code == JA && i.k > 255),
        "no long jump"
    );
    assert!(prog.len() > 1000, "{}", prog.len());
    sweep(&p, &prog);
    let native = Arch::NATIVE.audit();
    for (i, name) in all.iter().enumerate() {
        let Some(n) = syscall_number(Arch::NATIVE, name) else {
            continue;
        };
        for a in [0, i as u64, i as u64 + 1, 1 << 40 | i as u64].map(|a| [a; 6]) {
            assert_eq!(
                run(&prog, native, n, a),
                expected(&p, native, n, a),
                "{name}"
            );
        }
    }
}

#[test]
fn too_long() {
    let mut p = profile(Action::Errno(1), Vec::new());
    let args: Vec<_> = (0..6).map(|i| (i, Op::GreaterThan, 1 << 33)).collect();
    for name in table::NAMES.split(' ') {
        p.rules.push(rule(name, Action::Allow, &args));
    }
    assert!(matches!(compile(&p), Err(CompileError::TooLong(n)) if n > MAX_INSNS));
}

/// Random profiles against the direct evaluation.
#[test]
fn random_profiles() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let names = [
        "read", "write", "getpid", "clone", "openat", "dup3", "socket", "kill",
    ];
    let interesting = [0, 1, 2, 9, 16, 0xffff_ffff, 1 << 32, 1 << 32 | 2, u64::MAX];
    let actions = [
        Action::Allow,
        Action::Errno(1),
        Action::Errno(2),
        Action::Trap,
        Action::Log,
    ];
    for _ in 0..300 {
        let mut p = profile(actions[rand(5)], Vec::new());
        p.architectures = both();
        for _ in 0..rand(12) {
            let names = (0..1 + rand(2))
                .map(|_| names[rand(8)].to_string())
                .collect();
            let mut r = Rule {
                names,
                action: actions[rand(5)],
                args: Vec::new(),
            };
            for _ in 0..rand(3) {
                r.args.push(ArgCmp {
                    index: rand(6) as u8,
                    value: interesting[rand(9)],
                    value_two: interesting[rand(9)] & 0xffff_0000_0003,
                    op: OPS[rand(7)],
                });
            }
            p.rules.push(r);
        }
        let prog = compile(&p).unwrap();
        for _ in 0..40 {
            let name = names[rand(8)];
            let a = [0; 6].map(|_: u64| interesting[rand(9)]);
            for arch in both() {
                let Some(n) = syscall_number(arch, name) else {
                    continue;
                };
                let at = arch.audit();
                assert_eq!(
                    run(&prog, at, n, a),
                    expected(&p, at, n, a),
                    "{p:?} {name} {a:?}"
                );
            }
        }
    }
}

#[test]
fn default_profile_allows_a_shell_and_refuses_the_dangerous() {
    let p = default_profile();
    let prog = compile(&p).unwrap();
    let allowed = "read write execve exit_group openat mmap brk rt_sigaction wait4 getpid \
        fcntl ioctl pipe2 dup3 chdir uname chroot fchmodat2 ptrace";
    for name in allowed.split_ascii_whitespace() {
        assert_eq!(call(&prog, name, [0; 6]), ALLOW, "{name}");
    }
    let refused = "kexec_load init_module finit_module delete_module mount umount2 unshare \
        setns bpf perf_event_open keyctl add_key request_key userfaultfd open_by_handle_at \
        reboot swapon swapoff acct quotactl syslog kcmp pivot_root io_uring_setup sethostname";
    for name in refused.split_ascii_whitespace() {
        assert_eq!(call(&prog, name, [0; 6]), errno(1), "{name}");
    }
    #[cfg(target_arch = "x86_64")]
    calls(
        &prog,
        &[
            ("iopl", &[], errno(1)),
            ("ioperm", &[], errno(1)),
            ("arch_prctl", &[], ALLOW),
            ("modify_ldt", &[], ALLOW),
        ],
    );
    let (sigchld, newuser) = (17, u64::from(linux_raw_sys::general::CLONE_NEWUSER));
    calls(
        &prog,
        &[
            ("clone", &[0x0120_0000 | sigchld], ALLOW), // what fork() passes
            ("clone", &[newuser | sigchld], errno(1)),
            ("clone", &[0x4000_0000], errno(1)), // CLONE_NEWNET
            ("clone3", &[], errno(ENOSYS)),
            ("personality", &[0x0040_0000], errno(1)),
            ("socket", &[2, 1], ALLOW),
            ("socket", &[40, 1], errno(1)), // AF_VSOCK
        ],
    );
    for persona in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(call(&prog, "personality", args(&[persona])), ALLOW);
    }
    #[cfg(target_arch = "x86_64")]
    {
        let i386 = Arch::X86.audit();
        assert_eq!(run(&prog, i386, 11, [0; 6]), ALLOW, "execve");
        assert_eq!(run(&prog, i386, 283, [0; 6]), errno(1), "kexec_load");
        assert_eq!(run(&prog, i386, 120, args(&[newuser])), errno(1), "clone");
        assert_eq!(run(&prog, i386, 120, args(&[sigchld])), ALLOW, "clone");
    }
    sweep(&p, &prog);
}

#[test]
fn the_name_table_is_sorted_for_binary_search() {
    let names: Vec<&str> = super::table::NAMES.split(' ').collect();
    assert!(
        names.windows(2).all(|w| w[0] < w[1]),
        "NAMES must be sorted and unique"
    );
    assert_eq!(
        super::syscall_number(super::Arch::NATIVE, "zzz_not_a_syscall"),
        None
    );
}

/// The text of `default_bpf.rs`'s table for this build's compiled profile.
#[cfg(target_arch = "x86_64")]
fn default_program_text() -> String {
    let prog = compile(&default_profile()).unwrap();
    let mut out = format!("const X86_64: [SockFilter; {}] = [\n", prog.len());
    for i in &prog {
        out.push_str(&format!(
            "    f({:#06x}, {}, {}, {:#010x}),\n",
            i.code, i.jt, i.jf, i.k
        ));
    }
    out.push_str("];\n");
    out
}

#[cfg(target_arch = "x86_64")]
#[test]
fn default_program_is_current() {
    let compiled = compile(&default_profile()).unwrap();
    assert_eq!(
        default_program(),
        Some(&compiled[..]),
        "src/seccomp/default_bpf.rs is stale: run `cargo test --lib regenerate_default_program -- --ignored`"
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
#[ignore = "rewrites src/seccomp/default_bpf.rs"]
fn regenerate_default_program() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/seccomp/default_bpf.rs");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("const X86_64:").unwrap();
    let end = text[start..].find("];\n").unwrap() + start + 3;
    let new = format!(
        "{}{}{}",
        &text[..start],
        default_program_text(),
        &text[end..]
    );
    std::fs::write(path, new).unwrap();
}
