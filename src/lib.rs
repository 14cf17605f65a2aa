//! cella: a small Linux container runtime in one static binary.
//!
//! `main` parses with [`cli`], validates into a [`spec::Spec`], and hands it
//! to [`container::run`], which forks straight into new namespaces and
//! execs the payload: cella itself never runs inside a container. Raw
//! syscalls and every `unsafe` block live in [`sys`].

pub mod caps;
pub mod cgroup;
pub mod child;
pub mod cli;
pub mod config;
pub mod console;
pub mod container;
#[cfg(feature = "manage")]
pub mod detach;
pub mod engine;
pub mod error;
pub mod init;
pub mod input;
#[cfg(feature = "oci")]
pub mod json;
#[cfg(feature = "manage")]
pub mod manage;
pub mod mount;
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
