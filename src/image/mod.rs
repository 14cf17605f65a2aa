//! Images (the `image` feature): image files as container roots, and
//! imported docker and OCI images.
//!
//! - [`file`]: a squashfs or erofs file as `--rootfs`, and the overlay's
//!   layers the parent prepares before the fork (an image's detached
//!   mount, directories, `--overlay-upper`'s locked directory);
//! - [`store`]: the image store imported images are unpacked into, and
//!   what `cella run NAME` finds there;
//! - [`archive`]: the archives and layouts `cella image import` reads;
//! - [`stream`], [`tar`], [`inflate`], [`sha256`], [`unpack`]: reading
//!   archives (by offset, gunzipped, hashed), tar and gzip, naming layers
//!   by digest, and unpacking a layer safely;
//! - [`commands`]: `cella images`, `cella rmi`, `cella image ...`.
//!
//! A few functions that run once per archive, layer, block or container
//! are marked `#[inline(never)]`: inlined into their one caller (a large
//! function then) they made the binary larger, each by 0.4 to 0.6 KB
//! (measured one by one with symbol sizes, x86_64 release).

pub mod archive;
pub mod commands;
mod file;
pub mod inflate;
pub mod sha256;
pub mod store;
pub mod stream;
pub mod tar;
pub mod unpack;

pub use file::{Format, HEAD, Layers, Lower, Upper, format, mount, persistent_upper};
