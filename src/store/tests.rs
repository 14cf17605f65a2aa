use super::*;
use crate::cgroup::Cgroup;

#[test]
fn ids_that_could_escape_are_refused() {
    for bad in [
        "",
        ".",
        "..",
        "a/b",
        "../x",
        "a b",
        "x\0",
        "a\nb",
        ".x",
        ".x.4000000",
    ] {
        assert!(check_id(bad).is_err(), "{bad:?}");
    }
    for good in ["c1", "628ceaf5094f", "a.b_c-d+e"] {
        assert!(check_id(good).is_ok());
    }
}

#[test]
fn a_directory_being_made_or_removed_is_not_listed() {
    let root = std::env::temp_dir().join(format!("cella-store-ids-{}", std::process::id()));
    for d in ["web", ".web.123", "db"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
        std::fs::write(root.join(d).join(STATE), "x").unwrap();
    }
    std::fs::create_dir_all(root.join("no-record")).unwrap();
    assert_eq!(ids(&root), ["db", "web"]);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn published_ports_as_docker_writes_them() {
    let p = Port::parse("127.0.0.1:8080:80/udp").unwrap();
    assert_eq!(p.shown(), "127.0.0.1:8080->80/udp");
    assert_eq!(
        Port::parse("8080:80").unwrap().shown(),
        "0.0.0.0:8080->80/tcp"
    );
    assert_eq!(Port::parse("0.0.0.0:8080:80"), Port::parse("8080:80"));
    for bad in [
        "80",
        "0:80",
        "8080:0",
        "8080:80/sctp",
        "x:1:2",
        "1:2:3:4",
        "70000:80",
        "",
    ] {
        assert_eq!(Port::parse(bad), None, "{bad}");
    }
    let any = Port::parse("8080:80").unwrap();
    let local = Port::parse("127.0.0.1:8080:81").unwrap();
    let other = Port::parse("127.0.0.2:8080:81").unwrap();
    assert!(any.clashes(&local) && local.clashes(&any));
    assert!(!local.clashes(&other));
    assert!(!any.clashes(&Port::parse("8080:80/udp").unwrap()));
}

#[test]
fn dates() {
    assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
    assert_eq!(rfc3339(1_795_910_400, 5), "2026-11-29T00:00:00.000000005Z");
    assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
}

#[test]
fn records_round_trip_and_refuse_other_formats() {
    let r = Record {
        id: "c1".into(),
        kind: Kind::Run,
        pid: 42,
        pid_start: 7,
        bundle: "/b b".into(),
        rootfs: "/b/root\nfs".into(),
        created: rfc3339(0, 0),
        annotations: vec![("k \\x".into(), "v\"\n".into())],
        cgroup: Cgroup {
            v2: false,
            dirs: vec![
                ("memory".into(), "/sys/fs/cgroup/memory/x y".into()),
                ("pids".into(), "/sys/fs/cgroup/pids/x y".into()),
            ],
            existing: vec!["/sys/fs/cgroup/pids/x y".into()],
        },
        own_pid_ns: true,
        keep: true,
        exit_code: Some(137),
        finished: rfc3339(1, 0),
        command: "sh -c 'echo\nx'".into(),
        options: vec!["--name".into(), "a b\\c".into()],
        network: Some(Network {
            bridge: "cella0".into(),
            address: "10.88.0.5".parse().unwrap(),
            prefix: 16,
            veth: "veth0abcdef".into(),
            netns: 4026531840,
            ports: vec![
                Port::parse("8080:80").unwrap(),
                Port::parse("127.0.0.1:53:5353/udp").unwrap(),
            ],
        }),
    };
    let text = r.to_text();
    assert!(text.contains(
        "\nnetwork cella0 10.88.0.5/16 veth0abcdef 4026531840\n\
         port 0.0.0.0:8080->80/tcp\nport 127.0.0.1:53->5353/udp\n"
    ));
    assert_eq!(text.lines().next(), Some("cella-state 1"));
    assert_eq!(Record::from_text(&text), Ok(r.clone()));
    let later = text.replace("cella-state 1", "cella-state 2");
    assert_eq!(
        Record::from_text(&later),
        Err("written by another version of cella")
    );
    assert!(Record::from_text("{\"id\":\"c1\"}").is_err());
    // Keys a later revision may add are skipped.
    let more = format!("{text}future-key value\n");
    assert_eq!(Record::from_text(&more), Ok(r));
}

#[test]
fn our_own_start_time_is_readable() {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    assert!(start_time(me).is_some());
    assert_eq!(start_time(i32::MAX), None);
}

#[test]
fn a_kept_record_has_room_for_its_exit_status_from_the_start() {
    let root = std::env::temp_dir().join(format!("cella-store-room-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let kept = Record::from_text("cella-state 1\nkind oci\nid kept1\nkeep yes\n").unwrap();
    let held = Held::take(&root, &kept, &[]).unwrap();
    let room = root.join("kept1").join(EXIT_STATE);
    let state_len = std::fs::metadata(root.join("kept1").join(STATE))
        .unwrap()
        .len();
    assert!(std::fs::metadata(&room).unwrap().len() >= state_len + 512);
    held.exited(7);
    // Written through the room, which is now the record; kept.
    assert!(!room.exists());
    let r = Record::load(&root, "kept1").unwrap();
    assert_eq!(
        (r.exit_code, r.id.as_str(), r.keep),
        (Some(7), "kept1", true)
    );
    // A record not kept gets no room; one whose room is gone is saved as
    // any other.
    let gone = Record::from_text("cella-state 1\nkind oci\nid gone1\n").unwrap();
    let held = Held::take(&root, &gone, &[]).unwrap();
    assert!(!root.join("gone1").join(EXIT_STATE).exists());
    held.keep();
    let mut r = Record::load(&root, "gone1").unwrap();
    r.exit_code = Some(1);
    r.save_into(&root, EXIT_STATE).unwrap();
    assert_eq!(Record::load(&root, "gone1").unwrap().exit_code, Some(1));
    std::fs::remove_dir_all(&root).unwrap();
}
