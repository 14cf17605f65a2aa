//! Users as a passwd file names them: the container's own (`/etc/passwd`
//! inside its root, for the `HOME` a process gets when its environment
//! has none) and the host's (the caller's name, for its subordinate ids).

use std::path::Path;

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

/// `HOME` for `uid` as runc gives it when a process's environment has
/// none: the first entry of the container's `/etc/passwd` (read inside
/// `root`) with that uid, else `/`.
pub fn home(root: &Path, uid: u32) -> String {
    crate::input::text_inside(root, "etc/passwd")
        .and_then(|text| {
            entries(&text)
                .find(|u| u.uid == uid && !u.home.is_empty())
                .map(|u| u.home.to_owned())
        })
        .unwrap_or_else(|| "/".into())
}

/// `env` with `HOME=` added from [`home`] unless it has one.
pub fn with_home(env: &mut Vec<String>, root: &Path, uid: u32) {
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home(root, uid)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
