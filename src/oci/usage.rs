//! `cella VERB --help` for the OCI verbs: what each takes, as runc's
//! help lists it (the options cella honours, not runc's full text).

/// (verb, usage, what it does, options).
const VERBS: &[(&str, &str, &str, &str)] = &[
    (
        "create",
        "create [OPTIONS] ID",
        "create a container from a bundle; `start` runs its process",
        "  -b, --bundle DIR        the bundle (default: the current directory)\n  --console-socket SOCK   send the pty master there (process.terminal)\n  --pid-file FILE         write the container's pid there\n  --preserve-fds N        pass N more fds after stdio\n",
    ),
    (
        "run",
        "run [OPTIONS] ID",
        "create and start a container; in the foreground, wait and delete it",
        "  -b, --bundle DIR        the bundle (default: the current directory)\n  -d, --detach            do not wait for the container\n  --keep                  keep the stopped container (delete removes it)\n  --console-socket SOCK   send the pty master there (else cella relays the terminal)\n  --pid-file FILE         write the container's pid there\n  --preserve-fds N        pass N more fds after stdio\n",
    ),
    (
        "start",
        "start ID",
        "run the process of a created container",
        "",
    ),
    (
        "state",
        "state ID",
        "print the container's state as JSON",
        "",
    ),
    (
        "kill",
        "kill [--all] ID [SIGNAL]",
        "send a signal (default TERM; 0: is it alive?)",
        "  -a, --all               every process of the container\n  -s, --signal SIG        the signal, by name or number\n",
    ),
    (
        "delete",
        "delete [--force] ID",
        "delete a stopped container",
        "  -f, --force             kill a running one first; a missing one is no error\n",
    ),
    (
        "exec",
        "exec [OPTIONS] ID [COMMAND [ARG...]]",
        "run a new process in a running container",
        "  -p, --process FILE      the process as config.json's process object\n  -t, --tty               a terminal (relayed by cella without --console-socket)\n  --console-socket SOCK   send the pty master there\n  -d, --detach            do not wait for the process\n  --pid-file FILE         write its pid there\n  --cwd DIR               its working directory\n  -e, --env KEY=VALUE     add to its environment\n  -u, --user UID[:GID]    run as this user\n  -g, --additional-gids G add a group\n  -c, --cap CAP           add a capability\n  --no-new-privs          set no_new_privs\n  --preserve-fds N        pass N more fds after stdio\n  --cgroup [CTRL:]PATH    join this cgroup below the container's\n  --ignore-paused         exec into a paused container (it starts on resume)\n",
    ),
    (
        "list",
        "list [--format table|json] [--quiet]",
        "list the containers",
        "  -f, --format FMT        table or json\n  -q, --quiet             ids only\n",
    ),
    (
        "ps",
        "ps [--format table|json] ID [PS-ARGS...]",
        "list the container's processes (ps -ef by default)",
        "  -f, --format FMT        table or json (pids)\n",
    ),
    (
        "pause",
        "pause ID",
        "freeze every process of the container",
        "",
    ),
    ("resume", "resume ID", "thaw a paused container", ""),
    (
        "update",
        "update [OPTIONS] ID",
        "change the container's limits",
        "  -r, --resources FILE    linux.resources as JSON (- for stdin)\n  --memory SIZE           memory limit (-1: none)\n  --memory-reservation SIZE  soft limit (-1: none)\n  --memory-swap SIZE      memory+swap limit (-1: none)\n  --pids-limit N          process limit (-1: none)\n  --cpu-share(s) N, --cpu-quota N (-1: none), --cpu-period N\n  --cpuset-cpus LIST, --cpuset-mems LIST, --blkio-weight N\n",
    ),
    (
        "events",
        "events [--stats] [--interval DURATION] ID",
        "print the container's stats and OOM events as JSON",
        "  --stats                 one stats record, then exit\n  --interval DURATION     between stats records (default 5s)\n",
    ),
    (
        "spec",
        "spec [--bundle DIR] [--rootless]",
        "write runc's example config.json",
        "  -b, --bundle DIR        where (default: the current directory)\n  --rootless              for an unprivileged user\n",
    ),
    (
        "features",
        "features",
        "print what this runtime supports as JSON",
        "",
    ),
];

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
    let (_, usage, what, options) = VERBS.iter().find(|(v, ..)| *v == verb)?;
    let mut s = format!("usage: cella {usage}\n\n{what}\n");
    if !options.is_empty() {
        s.push('\n');
        s.push_str(options);
    }
    Some(s)
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
        for (verb, ..) in VERBS {
            assert!(help(verb).unwrap().contains(verb));
        }
        assert!(help("checkpoint").is_none());
    }
}
