//! `cella VERB --help` for every verb: what each takes (for the OCI verbs
//! as runc's help lists them: the options cella honours, not runc's full
//! text), `cella init --help` with its configuration's keys, and "did you
//! mean" for a mistyped option.

/// (usage, what it does, options).
type Entry = (&'static str, &'static str, &'static str);

/// (usage, what it does, options) of `verb`'s help: the verbs of
/// containers managed by name (docker's way), then the OCI verbs (runc's).
/// (A match, not a table: no relocation per string.)
fn entry(verb: &str) -> Option<Entry> {
    match verb {
        #[cfg(feature = "manage")]
        "ps" => Some((
            "ps [-a] [-q]",
            "list the containers: NAME, STATUS, PID, CREATED, COMMAND",
            "  -a, --all               with those that ended\n  -q, --quiet             their names only\n",
        )),
        #[cfg(feature = "manage")]
        "logs" => Some((
            "logs [-f] [-t] [--tail N|all] NAME",
            "print what a `run -d` container wrote: stdout's lines on stdout,\nstderr's on stderr (a terminal's: stdout)",
            "  -f, --follow            go on printing while it runs\n  -t, --timestamps        each line after the time it was written\n  -n, --tail N|all        the last N lines only (all: every one)\n",
        )),
        #[cfg(feature = "manage")]
        "stop" => Some((
            "stop [-t SECS] NAME...",
            "send its stop signal (SIGTERM unless --stop-signal), then after SECS\n(its --stop-timeout, else 10) SIGKILL to everything left",
            "  -t, --time SECS         how long to wait before SIGKILL\n",
        )),
        #[cfg(feature = "manage")]
        "rm" => Some((
            "rm [-f] NAME...",
            "remove a container that has ended",
            "  -f, --force             stop a running one first\n",
        )),
        #[cfg(feature = "manage")]
        "wait" => Some((
            "wait NAME...",
            "wait for a container to end; print its exit status",
            "",
        )),
        #[cfg(feature = "manage")]
        "attach" => Some((
            "attach NAME",
            "this terminal on a `run -d -t` container's (input with -dit); ctrl-P ctrl-Q\nleaves it running",
            "",
        )),
        #[cfg(feature = "manage")]
        "inspect" => Some((
            "inspect NAME...",
            "print the containers' records and descriptions as a JSON array",
            "",
        )),
        #[cfg(feature = "oci")]
        "create" => Some((
            "create [OPTIONS] ID",
            "create a container from a bundle; `start` runs its process",
            "  -b, --bundle DIR        the bundle (default: the current directory)\n  --console-socket SOCK   send the pty master there (process.terminal)\n  --pid-file FILE         write the container's pid there\n  --preserve-fds N        pass N more fds after stdio\n",
        )),
        #[cfg(feature = "oci")]
        "run" => Some((
            "run [OPTIONS] ID",
            "create and start a container; in the foreground, wait and delete it",
            "  -b, --bundle DIR        the bundle (default: the current directory)\n  -d, --detach            do not wait for the container\n  --keep                  keep the stopped container (delete removes it)\n  --console-socket SOCK   send the pty master there (else cella relays the terminal)\n  --pid-file FILE         write the container's pid there\n  --preserve-fds N        pass N more fds after stdio\n",
        )),
        #[cfg(feature = "oci")]
        "start" => Some(("start ID", "run the process of a created container", "")),
        #[cfg(feature = "oci")]
        "state" => Some(("state ID", "print the container's state as JSON", "")),
        #[cfg(feature = "oci")]
        "kill" => Some((
            "kill [--all] ID [SIGNAL]",
            "send a signal (default TERM; 0: is it alive?)",
            "  -a, --all               every process of the container\n  -s, --signal SIG        the signal, by name or number\n",
        )),
        #[cfg(feature = "oci")]
        "delete" => Some((
            "delete [--force] ID",
            "delete a stopped container",
            "  -f, --force             kill a running one first; a missing one is no error\n",
        )),
        #[cfg(feature = "oci")]
        "exec" => Some((
            "exec [OPTIONS] ID [COMMAND [ARG...]]",
            "run a new process in a running container",
            "  -p, --process FILE      the process as config.json's process object\n  -t, --tty               a terminal (relayed by cella without --console-socket)\n  -i, --interactive       pass stdin (a `cella run` container: else /dev/null)\n  --console-socket SOCK   send the pty master there\n  -d, --detach            do not wait for the process\n  --pid-file FILE         write its pid there\n  --cwd, -w DIR           its working directory\n  -e, --env KEY=VALUE     add to its environment\n  -u, --user UID[:GID]    run as this user (names too, in a `cella run` container)\n  -g, --additional-gids G add a group\n  -c, --cap CAP           add a capability\n  --no-new-privs          set no_new_privs\n  --preserve-fds N        pass N more fds after stdio\n  --cgroup [CTRL:]PATH    join this cgroup below the container's\n  --ignore-paused         exec into a paused container (it starts on resume)\n",
        )),
        #[cfg(feature = "oci")]
        "list" => Some((
            "list [--format table|json] [--quiet]",
            "list the containers",
            "  -f, --format FMT        table or json\n  -q, --quiet             ids only\n",
        )),
        // (`cella ps` is the manage verb's where both are built.)
        #[cfg(all(feature = "oci", not(feature = "manage")))]
        "ps" => Some((
            "ps [--format table|json] ID [PS-ARGS...]",
            "list the container's processes (ps -ef by default)",
            "  -f, --format FMT        table or json (pids)\n",
        )),
        #[cfg(feature = "oci")]
        "pause" => Some(("pause ID", "freeze every process of the container", "")),
        #[cfg(feature = "oci")]
        "resume" => Some(("resume ID", "thaw a paused container", "")),
        #[cfg(feature = "oci")]
        "update" => Some((
            "update [OPTIONS] ID",
            "change the container's limits",
            "  -r, --resources FILE    linux.resources as JSON (- for stdin)\n  --memory SIZE           memory limit (-1: none)\n  --memory-reservation SIZE  soft limit (-1: none)\n  --memory-swap SIZE      memory+swap limit (-1: none)\n  --pids-limit N          process limit (-1: none)\n  --cpu-share(s) N, --cpu-quota N (-1: none), --cpu-period N\n  --cpuset-cpus LIST, --cpuset-mems LIST, --blkio-weight N\n",
        )),
        #[cfg(feature = "oci")]
        "events" => Some((
            "events [--stats] [--interval DURATION] ID",
            "print the container's stats and OOM events as JSON",
            "  --stats                 one stats record, then exit\n  --interval DURATION     between stats records (default 5s)\n",
        )),
        #[cfg(feature = "oci")]
        "spec" => Some((
            "spec [--bundle DIR] [--rootless]",
            "write runc's example config.json",
            "  -b, --bundle DIR        where (default: the current directory)\n  --rootless              for an unprivileged user\n",
        )),
        #[cfg(feature = "oci")]
        "features" => Some(("features", "print what this runtime supports as JSON", "")),
        _ => None,
    }
}

/// `cella init --help`: how it is started, and the configuration's keys.
pub const INIT: &str = "\
usage: cella init [--config FILE]

Start and supervise the containers of FILE (default /etc/cella/init.conf,
or cella.conf=PATH on the kernel command line), in order. As PID 1 (an
initramfs's /init) it also mounts /proc, /sys, /dev and /run, reaps
orphans, stops everything on SIGTERM (reboot: SIGINT, power off: SIGPWR)
and powers the machine off or reboots once every container has ended.

The file: one `key value` per line; `#` starts a comment at the start of
a word outside quotes.

Global keys (before the first section; cella.KEY=VALUE on the kernel
command line overrides them):
  hostname NAME           the machine's hostname
  on-exit poweroff|reboot once every container has ended for good
  grace SECS              between SIGTERM and SIGKILL when stopping (5)
  emergency /bin/sh       a shell on the console when something is wrong
  address IFACE ADDR/LEN  a static IPv4 address, the interface brought up
  address IFACE dhcp      only brought up: a container's DHCP client addresses it
  gateway ADDR            the default route (both before any container)
  nameserver ADDR         the containers' resolv.conf (not the machine's)

[container NAME], then its keys:
  command CMD ARG...      what it runs ('...' and \"...\" group words)
  restart no|on-failure|always   restarted with backoff (1s doubling to 30s)
  log console|/PATH       its output: on the console as \"[NAME] line\", or a file
  needs-network IFACE     started once IFACE has an IPv4 address (at most 60 s late)
  rootfs, hostname, net, pid, memory, memory-swap, pids, cpus, cpu-weight,
  cpu-shares, cpuset-cpus, io-weight, env, env-file, workdir, user, bind,
  volume, mount, tmpfs, device, cap-add, cap-drop, security-opt, ulimit,
  oom-score-adj, init, read-only, privileged, overlay, overlay-upper
                          as `cella run`'s options of the same name
";

/// Whether `args` (after the verb) ask for help: `--help` or `-h` before
/// the container id (what follows an exec's id is the command's).
pub fn asks_help(args: &[std::ffi::OsString]) -> bool {
    for a in args {
        match a.to_str() {
            Some("--help" | "-h") => return true,
            Some("--") => return false,
            Some(s) if s.starts_with('-') => {}
            // An option's value or the id: runc's ids never start with '-'.
            _ if a.as_encoded_bytes().first() == Some(&b'/') => {}
            _ => return false,
        }
    }
    false
}

/// The help of `verb`; `None` for a verb cella does not have.
pub fn help(verb: &str) -> Option<String> {
    if verb == "init" {
        return Some(INIT.to_owned());
    }
    let (usage, what, options) = entry(verb)?;
    let mut s = format!("usage: cella {usage}\n\n{what}\n");
    if !options.is_empty() {
        s.push('\n');
        s.push_str(options);
    }
    Some(s)
}

/// The known name closest to `given` (at most two edits, fewer for short
/// names), for "did you mean".
pub fn did_you_mean<'a>(given: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = if given.len() <= 4 { 1 } else { 2 };
    known
        .map(|k| (distance(given, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edits (insert, delete, replace, swap of neighbours) from `a` to `b`.
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(Into::into).collect()
    }

    #[test]
    fn help_before_the_id_only() {
        assert!(asks_help(&args(&["--help"])));
        assert!(asks_help(&args(&["--bundle", "/b", "-h"])));
        assert!(!asks_help(&args(&["c1", "sh", "--help"])));
        assert!(!asks_help(&args(&["--", "--help"])));
        // Every command `cella --help` lists has its own help (where every
        // front end is built; a smaller build has fewer).
        let built = cfg!(all(feature = "oci", feature = "manage"));
        for verb in super::super::COMMANDS.split(' ').filter(|_| built) {
            assert!(help(verb).unwrap().contains(verb), "{verb}");
        }
        assert!(help("checkpoint").is_none());
        assert!(help("init").unwrap().contains("[container NAME]"));
    }

    #[test]
    fn close_misspellings_get_a_suggestion() {
        let known = ["memory", "hostname", "rootfs", "detach", "volume"];
        assert_eq!(did_you_mean("memroy", known.into_iter()), Some("memory"));
        assert_eq!(did_you_mean("rotfs", known.into_iter()), Some("rootfs"));
        assert_eq!(did_you_mean("hostnme", known.into_iter()), Some("hostname"));
        assert_eq!(did_you_mean("frobnicate", known.into_iter()), None);
        assert_eq!(did_you_mean("m", known.into_iter()), None);
    }
}
