//! docker's default seccomp profile, as it applies to docker's default
//! capabilities (`caps::DOCKER_DEFAULT`, what `cella run` keeps): the
//! rules docker includes only for CAP_SYS_ADMIN, CAP_SYS_MODULE and the
//! like are left out, `chroot` (CAP_SYS_CHROOT) is in.
//!
//! An allow-list with EPERM for everything else, so kexec_load, the module
//! calls, mount, unshare, setns, bpf, perf_event_open, keyctl, add_key,
//! userfaultfd, reboot, swapon, acct, quotactl, iopl, syslog, kcmp and the
//! clock setters are refused. Beyond the list: `clone` without namespace
//! flags, `clone3` failing with ENOSYS (its flags sit in memory a filter
//! cannot read, and libc then falls back to `clone`), `personality` for
//! the harmless personas only, and `socket` for anything but AF_VSOCK.
//! ptrace and process_vm_* are allowed as docker does from Linux 4.8
//! (cella needs 5.12). io_uring is left out, as docker has done since
//! 25.0; fchmodat2, cachestat, the futex2 calls and map_shadow_stack,
//! newer siblings of allowed calls that libc starts using, are in.

use super::{Action, Arch, ArgCmp, Op, Profile, Rule};
use linux_raw_sys::general::{
    CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER,
    CLONE_NEWUTS,
};

/// Allowed whatever the arguments. Names an architecture lacks are skipped.
const ALLOWED: &str = concat!(
    "_llseek _newselect accept accept4 access adjtimex alarm bind brk cachestat capget ",
    "capset chdir chmod chown chown32 chroot clock_adjtime clock_adjtime64 clock_getres ",
    "clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep ",
    "clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 ",
    "dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 ",
    "epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group ",
    "faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod ",
    "fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr ",
    "flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs ",
    "fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait ",
    "futex_waitv futex_wake futimesat get_robust_list get_thread_area getcpu getcwd ",
    "getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups ",
    "getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority ",
    "getrandom getresgid getresgid32 getresuid getresuid32 getrlimit getrusage getsid ",
    "getsockname getsockopt gettid gettimeofday getuid getuid32 getxattr ",
    "inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel io_destroy ",
    "io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit ioctl ioprio_get ",
    "ioprio_set ipc kill landlock_add_rule landlock_create_ruleset ",
    "landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr ",
    "llistxattr lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack ",
    "membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock ",
    "mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive ",
    "mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl ",
    "msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep ",
    "newfstatat open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 ",
    "pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv ",
    "preadv2 prlimit64 process_mrelease process_vm_readv process_vm_writev pselect6 ",
    "pselect6_time64 ptrace pwrite64 pwritev pwritev2 read readahead readlink readlinkat ",
    "readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr ",
    "rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending ",
    "rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait ",
    "rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max ",
    "sched_get_priority_min sched_getaffinity sched_getattr sched_getparam ",
    "sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 ",
    "sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield ",
    "seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile ",
    "sendfile64 sendmmsg sendmsg sendto set_robust_list set_thread_area set_tid_address ",
    "setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 ",
    "setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid ",
    "setresuid32 setreuid setreuid32 setrlimit setsid setsockopt setuid setuid32 ",
    "setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 ",
    "sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 ",
    "statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time ",
    "timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 ",
    "timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 ",
    "timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask ",
    "uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 ",
    "waitid waitpid write writev",
);

/// docker's additions for the build architecture.
#[cfg(target_arch = "x86_64")]
const ARCH_ALLOWED: &str = "arch_prctl modify_ldt";
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
const ARCH_ALLOWED: &str =
    "arm_fadvise64_64 arm_sync_file_range breakpoint cacheflush set_tls sync_file_range2";

/// Namespace flags `clone` may not have.
const CLONE_NAMESPACES: u32 = CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET;

/// Personas `personality` may set or query: PER_LINUX, PER_LINUX32,
/// UNAME26, PER_LINUX32|UNAME26, and 0xffffffff (query only).
const PERSONAS: [u64; 5] = [0, 8, 0x20000, 0x20008, 0xffff_ffff];

const AF_VSOCK: u64 = linux_raw_sys::net::AF_VSOCK as u64;

/// The filter `cella run` applies unless told otherwise. Covers the native
/// architecture and its compat one, as docker's does.
pub fn default_profile() -> Profile {
    // Written for size: this runs once.
    let rule = |names: &str, action: Action, args: Vec<ArgCmp>| Rule {
        names: names.split_ascii_whitespace().map(String::from).collect(),
        action,
        args,
    };
    let arg0 = |op: Op, value: u64| {
        vec![ArgCmp {
            index: 0,
            value,
            value_two: 0,
            op,
        }]
    };
    let mut rules = vec![
        rule(ALLOWED, Action::Allow, Vec::new()),
        rule(ARCH_ALLOWED, Action::Allow, Vec::new()),
        rule("clone3", Action::Errno(super::ENOSYS), Vec::new()),
    ];
    for persona in PERSONAS {
        rules.push(rule(
            "personality",
            Action::Allow,
            arg0(Op::EqualTo, persona),
        ));
    }
    rules.push(rule("socket", Action::Allow, arg0(Op::NotEqual, AF_VSOCK)));
    // (flags & CLONE_NAMESPACES) == 0.
    let no_namespaces = arg0(Op::MaskedEqual, CLONE_NAMESPACES.into());
    rules.push(rule("clone", Action::Allow, no_namespaces));
    Profile {
        default: Action::Errno(super::EPERM),
        architectures: [Some(Arch::NATIVE), Arch::COMPAT]
            .into_iter()
            .flatten()
            .collect(),
        rules,
    }
}
