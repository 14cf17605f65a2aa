//! `cella image import FILE|DIR [NAME]`, `cella images` (`image ls`),
//! `cella rmi NAME...` (`image rm`), `cella image inspect NAME`.

use super::store::{self, Image};
use crate::error::{Error, Result};
use std::ffi::OsString;
use std::path::Path;

pub const USAGE: &str = "\
Usage: cella image import FILE|DIR [NAME]
       cella images                (cella image ls)
       cella rmi NAME...           (cella image rm NAME...)
       cella image inspect NAME

Imports a `docker save` archive, an OCI image layout (a directory, or a tar
of one: `podman save --format oci-archive`, `skopeo copy ... oci:DIR`) or a
plain root file system tar, each uncompressed or gzip, into the image store
(/var/lib/cella; CELLA_IMAGES names another). `cella run NAME` then runs it.
Pulling from a registry is not done here: bring an image over as a file
(docker save IMAGE > f.tar, podman save, skopeo copy docker://... oci-archive:f.tar).
";

/// Whether `args` is one of these commands.
pub fn is_image_command(args: &[OsString]) -> bool {
    matches!(
        args.first().and_then(|a| a.to_str()),
        Some("image" | "images" | "rmi")
    )
}

fn text(a: &OsString) -> Result<&str> {
    a.to_str()
        .ok_or_else(|| Error::usage("image names and paths must be valid UTF-8"))
}

/// Run the command, handing its output to `emit`; the exit status.
pub fn main(args: Vec<OsString>, emit: &mut dyn FnMut(&[u8]) -> bool) -> Result<u8> {
    let root = store::root();
    let mut words: Vec<&str> = Vec::with_capacity(args.len());
    for a in &args {
        words.push(text(a)?);
    }
    if words.iter().any(|w| *w == "--help" || *w == "-h") {
        emit(USAGE.as_bytes());
        return Ok(0);
    }
    match words.as_slice() {
        ["images"] | ["image", "ls"] => {
            emit(table(&store::list(&root)).as_bytes());
        }
        ["rmi", names @ ..] | ["image", "rm", names @ ..] if !names.is_empty() => {
            for name in names {
                store::remove(&root, name)?;
                emit(format!("{name}\n").as_bytes());
            }
        }
        ["image", "inspect", name] => {
            let (image, _) = store::find(&root, name)
                .ok_or_else(|| Error::usage(format!("image inspect {name}: no such image")))?;
            emit(&terminal_safe(&image.record));
        }
        ["image", "import", source] | ["image", "import", source, _] => {
            let name = words.get(3).copied();
            let imported = store::import(&root, Path::new(source), name)?;
            emit(format!("{imported}\n").as_bytes());
        }
        _ => {
            return Err(Error::usage(format!(
                "{}\n(see 'cella image --help')",
                USAGE.lines().next().unwrap_or("")
            )));
        }
    }
    Ok(0)
}

/// An image's record as `image inspect` prints it: the same JSON, with
/// nothing a hostile image could use to drive the terminal. The record is
/// valid JSON (checked at import), so a raw control character can only be
/// whitespace between tokens (a CR, which could hide a line, becomes a
/// space), and DEL and the C1 controls (U+0080 to U+009F: some terminals
/// obey U+009B as CSI) only stand in strings, where `\u00XX` means the same.
fn terminal_safe(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let mut bytes = json.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        let c1 = match b {
            0xc2 => bytes.next_if(|n| (0x80..0xa0).contains(n)),
            0x7f => Some(b),
            _ => None,
        };
        match (b, c1) {
            (_, Some(c)) => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            (b'\r', _) => out.push(b' '),
            _ => out.push(b),
        }
    }
    out
}

/// `cella images`: by name (cella's one sort: heapsort, not std's).
fn table(images: &[Image]) -> String {
    let mut by_name: Vec<(&str, usize)> = images
        .iter()
        .enumerate()
        .map(|(i, im)| (im.name.as_str(), i))
        .collect();
    crate::heapsort::sort(&mut by_name);
    let width = images
        .iter()
        .map(|i| i.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut out = format!("{:<width$}  LAYERS  COMMAND\n", "NAME");
    for (_, i) in by_name {
        let i = &images[i];
        let mut command = i.strings("Entrypoint");
        command.extend(i.strings("Cmd"));
        out.push_str(&format!(
            "{:<width$}  {:>6}  {}\n",
            i.name,
            i.layers.len(),
            crate::error::escaped(&command.join(" "))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_prints_no_terminal_control() {
        let record = "{\"Name\":\"x\",\r\"Config\":{\"Cmd\":[\"a\u{9b}2J\u{7f}\u{85}é\u{a0}\"]}}\n";
        let shown = String::from_utf8(terminal_safe(record.as_bytes())).unwrap();
        assert_eq!(
            shown,
            "{\"Name\":\"x\", \"Config\":{\"Cmd\":[\"a\\u009b2J\\u007f\\u0085é\u{a0}\"]}}\n"
        );
        // Still the same JSON.
        let (a, b) = (
            crate::json::parse(record.as_bytes()),
            crate::json::parse(shown.as_bytes()),
        );
        assert!(a.is_ok());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(!shown.chars().any(|c| c.is_control() && c != '\n'));
    }
}
