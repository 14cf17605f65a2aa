//! A container's network beyond its own `lo`: the name resolution files
//! every `cella run` and `cella init` container gets ([`files`]).

pub mod files;
