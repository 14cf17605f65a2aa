//! Users as a passwd file names them: the container's own (`/etc/passwd`
//! and `/etc/group` inside its root: `-u NAME[:GROUP]` resolved as docker
//! resolves it, and the `HOME` a process gets when its environment has
//! none) and the host's (the caller's name, for its subordinate ids).

use crate::input::RootView;

/// One line of a passwd file.
#[derive(Debug, PartialEq)]
pub struct User<'a> {
    pub name: &'a str,
    pub uid: u32,
    pub gid: u32,
    pub home: &'a str,
}

/// The entries of passwd `text` that parse (`name:x:uid:gid:gecos:home:shell`),
/// in order; a malformed line is skipped, as libc's getpwent does.
pub fn entries(text: &str) -> impl Iterator<Item = User<'_>> {
    text.lines().filter_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let uid = f.nth(1)?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        let home = f.nth(1)?;
        Some(User {
            name,
            uid,
            gid,
            home,
        })
    })
}

/// One line of a group file (`name:x:gid:member,member`).
#[derive(Debug, PartialEq)]
pub struct Group<'a> {
    pub name: &'a str,
    pub gid: u32,
    pub members: &'a str,
}

/// The entries of group `text` that parse, in order.
pub fn groups(text: &str) -> impl Iterator<Item = Group<'_>> {
    text.lines().filter_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let gid = f.nth(1)?.parse().ok()?;
        let members = f.next().unwrap_or("");
        Some(Group { name, gid, members })
    })
}

/// Who a process runs as: ids, supplementary groups and home.
#[derive(Debug, PartialEq, Eq, Default)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// From passwd; `/` without an entry.
    pub home: String,
}

/// `USER[:GROUP]` (names or numbers) as docker resolves it against the
/// container's own passwd and group files (`None`: the file is missing):
/// a name must have an entry; a number need not (then its group is 0, its
/// home `/`); the group is the passwd entry's unless given; the
/// supplementary groups are those that list the user by name.
pub fn identify(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<Identity, String> {
    let (user, wanted_group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    // (uid_t)-1 means "leave unchanged" to setresuid: never an id.
    let number = |t: &str| -> Option<u32> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok().filter(|&n| n < u32::MAX))
            .flatten()
    };
    let by_uid = number(user);
    let entry = passwd.and_then(|text| {
        entries(text).find(|e| match by_uid {
            Some(uid) => e.uid == uid,
            None => e.name == user,
        })
    });
    let (uid, mut gid, name, home) = match (by_uid, entry) {
        (_, Some(e)) => (e.uid, e.gid, Some(e.name), e.home),
        (Some(uid), None) => (uid, 0, None, ""),
        (None, None) => {
            return Err(format!(
                "unable to find user {user}: no matching entries in passwd file"
            ));
        }
    };
    if let Some(g) = wanted_group {
        gid = match number(g) {
            Some(n) => n,
            None => group
                .and_then(|text| groups(text).find(|e| e.name == g))
                .map(|e| e.gid)
                .ok_or_else(|| {
                    format!("unable to find group {g}: no matching entries in group file")
                })?,
        };
    }
    let mut supplementary = Vec::new();
    if let (Some(name), Some(text)) = (name, group) {
        for g in groups(text) {
            if g.members.split(',').any(|m| m == name) && !supplementary.contains(&g.gid) {
                supplementary.push(g.gid);
            }
        }
    }
    Ok(Identity {
        uid,
        gid,
        groups: supplementary,
        home: if home.is_empty() { "/" } else { home }.to_owned(),
    })
}

/// [`identify`] in the container whose root is `root` (its files read
/// inside it: their symlinks cannot lead to the host's).
pub fn identify_in(root: &RootView, spec: &str) -> Result<Identity, String> {
    let passwd = crate::input::text_inside(root, "etc/passwd");
    let group = crate::input::text_inside(root, "etc/group");
    identify(spec, passwd.as_deref(), group.as_deref())
}

/// `HOME` for `uid` as runc gives it when a process's environment has
/// none: the first entry of the container's `/etc/passwd` (read inside
/// `root`) with that uid, else `/`.
pub fn home(root: &RootView, uid: u32) -> String {
    crate::input::text_inside(root, "etc/passwd")
        .and_then(|text| {
            entries(&text)
                .find(|u| u.uid == uid && !u.home.is_empty())
                .map(|u| u.home.to_owned())
        })
        .unwrap_or_else(|| "/".into())
}

/// `env` with `HOME=` added from [`home`] unless it has one.
pub fn with_home(env: &mut Vec<String>, root: &RootView, uid: u32) {
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home(root, uid)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          app:x:1000:1001:App:/home/app:/bin/sh\n\
                          nohome:x:1002:1002::: \n\
                          shadow:x:42:42::/nonexistent:/bin/false\n";
    const GROUP: &str = "root:x:0:\n\
                         shadow:x:42:\n\
                         app:x:1001:\n\
                         audio:x:29:app,other\n\
                         video:x:44:other,app\n\
                         staff:x:50:\n";

    fn who(spec: &str) -> Result<Identity, String> {
        identify(spec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn users_resolve_as_docker_resolves_them() {
        let id = |uid, gid, groups: &[u32], home: &str| Identity {
            uid,
            gid,
            groups: groups.to_vec(),
            home: home.into(),
        };
        // By name or number: passwd's group and home, /etc/group's members.
        assert_eq!(who("app"), Ok(id(1000, 1001, &[29, 44], "/home/app")));
        assert_eq!(who("1000"), Ok(id(1000, 1001, &[29, 44], "/home/app")));
        // A number without an entry: group 0, home /, never group = uid.
        assert_eq!(who("42000"), Ok(id(42000, 0, &[], "/")));
        assert_eq!(who("42"), Ok(id(42, 42, &[], "/nonexistent")));
        // The group given, by name or number.
        assert_eq!(who("app:staff"), Ok(id(1000, 50, &[29, 44], "/home/app")));
        assert_eq!(who("app:7"), Ok(id(1000, 7, &[29, 44], "/home/app")));
        assert_eq!(who("42000:42000"), Ok(id(42000, 42000, &[], "/")));
        assert_eq!(who("root"), Ok(id(0, 0, &[], "/root")));
        // Names that are not there.
        assert_eq!(
            who("nobody"),
            Err("unable to find user nobody: no matching entries in passwd file".into())
        );
        assert_eq!(
            who("app:wheel"),
            Err("unable to find group wheel: no matching entries in group file".into())
        );
        // No passwd at all: numbers only.
        assert_eq!(identify("0", None, None), Ok(id(0, 0, &[], "/")));
        assert!(identify("app", None, None).is_err());
    }

    #[test]
    fn entries_skip_what_does_not_parse() {
        let text = "root:x:0:0:root:/root:/bin/sh\n\
                    # comment\n\
                    broken:x:notanumber:0::/x:/bin/sh\n\
                    short:x:5\n\
                    app:x:1000:1001:App,,,:/home/app:/bin/bash\n\
                    nohome:x:7:7:::\n";
        let all: Vec<_> = entries(text).collect();
        assert_eq!(
            all,
            [
                User {
                    name: "root",
                    uid: 0,
                    gid: 0,
                    home: "/root"
                },
                User {
                    name: "app",
                    uid: 1000,
                    gid: 1001,
                    home: "/home/app"
                },
                User {
                    name: "nohome",
                    uid: 7,
                    gid: 7,
                    home: ""
                },
            ]
        );
    }
}
