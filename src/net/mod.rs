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

/// Remove what killed cellas left in the state store at `store`
/// ([`crate::store::sweep`]), and a killed bridge container's rules with
/// its record: its published ports led to an address nobody has. Returns
/// the names of the containers removed.
pub fn sweep(store: &std::path::Path) -> Vec<String> {
    let (removed, bridged) = crate::store::sweep(store);
    #[cfg(feature = "net")]
    if bridged {
        let _ = bridge::forget_the_gone(store);
    }
    #[cfg(not(feature = "net"))]
    let _ = bridged;
    removed
}
