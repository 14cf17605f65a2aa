//! Build script: one link argument for the `cella` binary of musl builds,
//! the linker script `src/sys/no_unwind_tables.ld`, which drops the unwind
//! tables. Those builds abort on panic and link cella's do-nothing unwinder
//! (`src/sys/unwind.rs`), so nothing ever reads them. Only the binary gets
//! it: the test harnesses unwind and keep their tables, and a glibc build's
//! start files refer to theirs.

fn main() {
    println!("cargo:rerun-if-changed=src/sys/no_unwind_tables.ld");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("musl") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
        println!("cargo:rustc-link-arg-bins=-T{dir}/src/sys/no_unwind_tables.ld");
    }
}
