//! A container's network beyond its own `lo`: the name resolution files
//! every `cella run` and `cella init` container gets ([`files`]), and with
//! the `net` feature, a place on a bridge of the host ([`bridge`]) made
//! over rtnetlink ([`netlink`]).

#[cfg(feature = "net")]
pub mod bridge;
pub mod files;
#[cfg(feature = "net")]
pub mod host;
#[cfg(feature = "net")]
pub mod link;
#[cfg(feature = "net")]
pub mod netlink;
#[cfg(feature = "net")]
pub mod nft;

/// A container's place on the host's network (a bridge container's),
/// given up when this is dropped, once its processes are gone: its rules
/// leave cella's table (its veth pair goes with its network namespace).
/// Empty for other containers (and in builds without the `net` feature).
#[derive(Default)]
pub struct Links {
    #[cfg(feature = "net")]
    pub bridge: Option<bridge::Link>,
}
