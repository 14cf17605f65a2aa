//! cella: a small Linux container runtime in one static binary.
//!
//! Three front ends, one engine: `cella run` ([`cli`] parses, [`spec`]
//! validates, [`container`] waits), `cella init` ([`system`]) and the OCI
//! verbs (`oci`) each translate what they were given into one
//! [`engine::Container`]: its mounts planned by [`mount::plan`] from one
//! [`mount::Filesystem`], its payload a [`process::Payload`], its cgroup a
//! [`cgroup::Plan`]. [`engine::create`] forks straight into the new
//! namespaces, where [`child`] runs the one setup sequence and execs the
//! payload: cella itself never runs inside a container. Raw syscalls and
//! every `unsafe` block live in [`sys`].

pub mod attach;
pub mod caps;
pub mod cgroup;
pub mod child;
pub mod cli;
pub mod config;
pub mod console;
pub mod container;
#[cfg(feature = "manage")]
pub mod detach;
pub mod dirs;
pub mod engine;
pub mod error;
pub mod fdpass;
pub mod heapsort;
#[cfg(feature = "image")]
pub mod image;
pub mod init;
pub mod input;
#[cfg(any(feature = "oci", feature = "image"))]
pub mod json;
#[cfg(feature = "manage")]
pub mod logs;
#[cfg(feature = "manage")]
pub mod manage;
pub mod mount;
pub mod net;
#[cfg(feature = "oci")]
pub mod oci;
pub mod privileges;
pub mod process;
pub mod rootless;
pub mod seccomp;
pub mod spec;
pub mod store;
pub mod sync;
pub mod sys;
pub mod system;
pub mod users;
