//! The name resolution files of a `cella run` container, as docker gives
//! them: `/etc/hosts`, `/etc/hostname` and (with a network) `/etc/resolv.conf`,
//! seen from inside, with the image's own files left as they were, the
//! files read-only, and nothing of them left after the container.

mod support;

use std::path::Path;
use support::*;

/// A rootfs with its own hosts and resolv.conf, to see that they are
/// shadowed inside and untouched outside.
fn image(tag: &str) -> std::path::PathBuf {
    let root = rootfs(tag);
    std::fs::write(root.join("etc/hosts"), "10.9.9.9 from-the-image\n").unwrap();
    std::fs::write(root.join("etc/resolv.conf"), "nameserver 10.9.9.8\n").unwrap();
    root
}

fn image_untouched(root: &Path) {
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hosts")).unwrap(),
        "10.9.9.9 from-the-image\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/resolv.conf")).unwrap(),
        "nameserver 10.9.9.8\n"
    );
}

#[test]
fn without_a_network_hosts_and_hostname_are_cellas_and_resolv_conf_the_images() {
    let _g = serial();
    let root = image("netfiles-none");
    let name = format!("netfiles-none-{}", std::process::id());
    let out = ok(sh(
        &root,
        &["--name", &name, "--add-host", "db:10.0.0.9"],
        "cat /etc/hosts; echo ---; cat /etc/hostname; echo ---; cat /etc/resolv.conf",
    ));
    let parts: Vec<&str> = out.split("---\n").collect();
    assert!(parts[0].starts_with("127.0.0.1\tlocalhost\n"), "{out}");
    assert!(parts[0].ends_with("10.0.0.9\tdb\n"), "{out}");
    assert!(!parts[0].contains("from-the-image"), "{out}");
    assert_eq!(parts[1], format!("{name}\n"));
    assert_eq!(parts[2], "nameserver 10.9.9.8\n", "the image's own");
    image_untouched(&root);
    assert!(!Path::new("/run/cella").join(&name).exists());
}

#[test]
fn the_hosts_network_gets_the_hosts_files_as_they_are() {
    let _g = serial();
    let root = image("netfiles-host");
    let out = ok(sh(
        &root,
        &["--net", "host", "-h", "box"],
        "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; cat /etc/hostname",
    ));
    let parts: Vec<&str> = out.split("---\n").collect();
    let mut resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if !resolv.is_empty() && !resolv.ends_with('\n') {
        resolv.push('\n');
    }
    let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    if !hosts.is_empty() && !hosts.ends_with('\n') {
        hosts.push('\n');
    }
    assert_eq!(parts[0], resolv);
    assert_eq!(parts[1], hosts);
    assert_eq!(parts[2], "box\n");
    // Without -h, the host's name, as docker gives it on the host's network.
    let out = ok(sh(
        &root,
        &["--net", "host", "--name", "not-the-hostname"],
        "hostname; echo $HOSTNAME; cat /etc/hostname",
    ));
    let host = host_hostname();
    let host = host.trim();
    assert_eq!(out, format!("{host}\n{host}\n{host}\n"));
    image_untouched(&root);
}

#[test]
fn dns_options_replace_the_hosts_lines() {
    let _g = serial();
    let root = image("netfiles-dns");
    let out = ok(sh(
        &root,
        &[
            "--net",
            "host",
            "--dns",
            "9.9.9.9",
            "--dns",
            "fd00::53",
            "--dns-search",
            "example.org",
            "--dns-option",
            "ndots:2",
            "--add-host",
            "v6:[fd00::1]",
            "--add-host",
            "gw:host-gateway",
        ],
        "cat /etc/resolv.conf; grep -e v6 -e gw /etc/hosts",
    ));
    assert_eq!(
        out,
        "search example.org\nnameserver 9.9.9.9\nnameserver fd00::53\noptions ndots:2\nfd00::1\tv6\n127.0.0.1\tgw\n"
    );
}

#[test]
fn the_files_are_read_only_and_readable_by_any_user() {
    let _g = serial();
    let root = image("netfiles-ro");
    let out = sh(
        &root,
        &[],
        "echo 6.6.6.6 evil >> /etc/hosts; echo $?; echo x > /etc/hostname; echo $?; \
         grep -c localhost /etc/hosts",
    );
    assert_eq!(stdout(&out), "1\n1\n2\n", "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    let out = sh(
        &root,
        &["-u", "1000"],
        "cat /etc/hosts /etc/hostname >/dev/null && echo read",
    );
    assert_eq!(stdout(&out), "read\n", "{}", stderr(&out));
    image_untouched(&root);
}

#[test]
fn bad_values_and_dns_without_a_network_are_refused_leaving_nothing() {
    let _g = serial();
    let root = image("netfiles-bad");
    let name = format!("netfiles-bad-{}", std::process::id());
    let cgroups = cella_cgroups();
    for (args, expected) in [
        (vec!["--dns", "1.2.3"], "invalid value '1.2.3' for --dns"),
        (
            vec!["--dns-search", "a b"],
            "for --dns-search: expected one word",
        ),
        (
            vec!["--add-host", "db"],
            "for --add-host: expected NAME:ADDRESS",
        ),
        (vec!["--add-host", "d b:1.2.3.4"], "for --add-host"),
        (
            vec!["--add-host", "db:1.2.3.4\n5.6.7.8 x"],
            "for --add-host",
        ),
        (
            vec!["--dns", "1.1.1.1"],
            "need a network: this container has none (--net none)",
        ),
        (vec!["--dns-search", "example.org"], "need a network"),
        (
            vec!["--add-host", "gw:host-gateway"],
            "--add-host NAME:host-gateway needs a network: this container has none",
        ),
        // A hostname is a word: it goes into /etc/hosts, where a newline,
        // a space or `#` would add lines or names of its own.
        (
            vec!["--hostname", "h\n6.6.6.6 evil"],
            "for --hostname: use 1-64 letters",
        ),
        (vec!["--hostname", "h alias"], "for --hostname"),
        (vec!["--hostname", "h#x"], "for --hostname"),
        (vec!["--hostname", "-h"], "for --hostname"),
    ] {
        let mut all = vec!["--name", name.as_str()];
        all.extend(args.iter().copied());
        let out = run_in(&root, &all, &["true"]);
        assert_eq!(code(&out), 125, "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!Path::new("/run/cella").join(&name).exists());
    }
    assert_no_new_cgroups(&cgroups);
    image_untouched(&root);
}

#[test]
fn a_bind_of_the_users_over_etc_hosts_wins() {
    let _g = serial();
    let root = image("netfiles-bind");
    let mine = root.parent().unwrap().join("netfiles-my-hosts");
    std::fs::write(&mine, "1.2.3.4 mine\n").unwrap();
    let out = ok(run_in(
        &root,
        &["-v", &format!("{}:/etc/hosts:ro", mine.display())],
        &["cat", "/etc/hosts"],
    ));
    assert_eq!(out, "1.2.3.4 mine\n");
}

#[test]
fn init_containers_take_the_same_keys() {
    let _g = serial();
    let root = image("netfiles-init");
    let r = root.display();
    let config = root.parent().unwrap().join("netfiles-init.conf");
    std::fs::write(
        &config,
        format!(
            "on-exit poweroff\n[container web]\nrootfs {r}\nnet host\ndns 9.9.9.9\n\
             add-host db:10.0.0.9\ncommand sh -c 'cat /etc/resolv.conf; grep db /etc/hosts'\n"
        ),
    )
    .unwrap();
    let out = wait_output(
        init_command(&config)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
        std::time::Duration::from_secs(30),
    );
    let text = stdout(&out);
    assert!(
        text.contains("nameserver 9.9.9.9\n"),
        "{text}{}",
        stderr(&out)
    );
    assert!(text.contains("10.0.0.9\tdb\n"), "{text}");
}
