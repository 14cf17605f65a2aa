//! A static helper the tests copy into a container's root file system, to
//! try things from inside that busybox cannot express.
//!
//! - `probe escape MARKER`: the classic chroot escape (chroot into a
//!   subdirectory while keeping the working directory outside it, walk up
//!   with `..`, chroot to where we got). Prints `ESCAPED` if MARKER (a host
//!   path) is then visible, else `CONTAINED` and what `/` holds.
//! - `probe hog MIB`: allocate and touch MIB mebibytes, then print `SURVIVED`.
//! - `probe fds`: list this process's open descriptors.

use std::os::unix::fs::chroot;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("escape") => escape(&args[2]),
        Some("hog") => hog(args[2].parse().expect("MIB")),
        Some("fds") => {
            let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
                .expect("/proc/self/fd")
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            fds.sort();
            println!("{}", fds.join(" "));
        }
        _ => {
            eprintln!("usage: probe escape MARKER | hog MIB | fds");
            std::process::exit(2);
        }
    }
}

fn escape(marker: &str) {
    let _ = std::fs::create_dir_all("/.escape");
    std::env::set_current_dir("/").unwrap();
    chroot("/.escape").expect("chroot into subdir");
    // The working directory is now outside our root: `..` is not stopped there.
    for _ in 0..256 {
        let _ = std::env::set_current_dir("..");
    }
    chroot(".").expect("chroot to the top");
    let _ = std::env::set_current_dir("/");
    if Path::new(marker).exists() {
        println!("ESCAPED");
    } else {
        let mut names: Vec<String> = std::fs::read_dir("/")
            .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        names.sort();
        println!("CONTAINED {}", names.join(","));
    }
}

fn hog(mib: usize) {
    let mut chunks = Vec::new();
    for _ in 0..mib {
        let mut v = vec![0u8; 1 << 20];
        for i in (0..v.len()).step_by(4096) {
            v[i] = 1;
        }
        chunks.push(v);
    }
    println!("SURVIVED {}", chunks.len());
}
