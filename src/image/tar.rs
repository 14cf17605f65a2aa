//! A tar reader (POSIX ustar, pax extended headers, GNU long names): the
//! format of image layers and of `docker save` archives.
//!
//! Headers are checked (checksum, octal or base-256 numbers) and every
//! length is bounded; what it cannot represent faithfully (sparse files,
//! volume labels) is refused rather than guessed.

use super::stream::{CUT_SHORT, Res, Stream};

const BLOCK: usize = 512;
/// pax records and GNU long names are metadata: at most this much.
const MAX_META: u64 = 1 << 20;

fn bad(why: &str) -> String {
    format!("tar: {why}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// As the archive names it (see [`components`] for its safe form).
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    /// A symlink's target or a hard link's source.
    pub link: String,
    pub dev: (u32, u32),
    /// pax `SCHILY.xattr.*` records: name, value.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// The entries of a tar stream, one after another; [`Reader::data`] reads
/// the current one's contents (what is not read is skipped).
pub struct Reader {
    stream: Stream,
    /// The current entry's unread bytes, then its padding.
    left: u64,
    pad: u64,
    /// Bytes consumed so far (for archives indexed by offset).
    offset: u64,
}

/// An entry's path as components, without `.` and empty ones; `None` if
/// it is absolute or has a `..` (either would name something outside the
/// root: tar itself strips a leading `/` when writing, so only a crafted
/// archive has one).
pub fn components(path: &str) -> Option<Vec<&str>> {
    if path.starts_with('/') {
        return None;
    }
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn field(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    &b[..end]
}

fn text(b: &[u8]) -> Res<String> {
    String::from_utf8(field(b).to_vec()).map_err(|_| bad("a name is not UTF-8"))
}

/// An octal field (spaces around, NUL after), or GNU's base-256 (high
/// bit set) for large values.
fn number(b: &[u8]) -> Res<u64> {
    let wrong = || bad("a bad number");
    if b[0] & 0x80 != 0 {
        if b[0] & 0x40 != 0 {
            return Err(wrong()); // negative
        }
        return b[1..]
            .iter()
            .try_fold(u64::from(b[0] & 0x3f), |v, &c| {
                v.checked_mul(256)?.checked_add(u64::from(c))
            })
            .ok_or_else(wrong);
    }
    let digits = field(b).trim_ascii();
    digits.iter().try_fold(0u64, |v, &c| match c {
        b'0'..=b'7' => v
            .checked_mul(8)
            .map(|v| v + u64::from(c - b'0'))
            .ok_or_else(wrong),
        _ => Err(wrong()),
    })
}

/// An id (or a device number): the extended header's, else the field's.
fn id(extended: Option<u64>, field: &[u8]) -> Res<u32> {
    let n = match extended {
        Some(n) => n,
        None => number(field)?,
    };
    u32::try_from(n).map_err(|_| bad("an id out of range"))
}

/// What extended headers (pax records, GNU long names) say of the entry
/// that follows them.
#[derive(Default)]
struct Extended {
    path: Option<String>,
    link: Option<String>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Decimal digits, and nothing else.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |v, &c| {
        c.is_ascii_digit()
            .then(|| v.checked_mul(10)?.checked_add(u64::from(c - b'0')))?
    })
}

impl Extended {
    /// pax records: `LENGTH KEY=VALUE\n`, LENGTH counting the whole record.
    fn pax(&mut self, mut rest: &[u8]) -> Res<()> {
        let wrong = || bad("a bad pax record");
        let text = |v: &[u8]| String::from_utf8(v.to_vec()).map_err(|_| wrong());
        while !rest.is_empty() {
            let space = rest.iter().position(|c| *c == b' ').ok_or_else(wrong)?;
            let len = decimal(&rest[..space])
                .filter(|l| *l > space as u64 + 1 && *l <= rest.len() as u64)
                .ok_or_else(wrong)? as usize;
            let record = &rest[space + 1..len - 1];
            rest = &rest[len..];
            let eq = record.iter().position(|c| *c == b'=').ok_or_else(wrong)?;
            let (key, value) = (&record[..eq], &record[eq + 1..]);
            // Numbers may have a fraction (times): its whole part.
            let number = || {
                decimal(value.split(|c| *c == b'.').next().unwrap_or_default()).ok_or_else(wrong)
            };
            match key {
                b"path" => self.path = Some(text(value)?),
                b"linkpath" => self.link = Some(text(value)?),
                b"size" => self.size = Some(number()?),
                b"uid" => self.uid = Some(number()?),
                b"gid" => self.gid = Some(number()?),
                _ => {
                    if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                        self.xattrs.push((text(name)?, value.to_vec()));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Reader {
    pub fn new(stream: Stream) -> Self {
        Reader {
            stream,
            left: 0,
            pad: 0,
            offset: 0,
        }
    }

    /// Bytes of the archive consumed so far: after [`Reader::next_entry`],
    /// where the entry's data begins.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The stream, to read what follows the archive's end.
    pub fn into_stream(self) -> Stream {
        self.stream
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Res<()> {
        self.stream.read_exact(buf)?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn skip(&mut self, n: u64) -> Res<()> {
        self.stream.skip(n)?;
        self.offset += n;
        Ok(())
    }

    /// The next entry; `None` at the end of the archive.
    pub fn next_entry(&mut self) -> Res<Option<Entry>> {
        self.skip(self.left + self.pad)?;
        (self.left, self.pad) = (0, 0);
        let mut ext = Extended::default();
        loop {
            let mut h = [0u8; BLOCK];
            if self.stream.read(&mut h[..1])? == 0 {
                return Ok(None); // an archive without its end blocks
            }
            self.offset += 1;
            self.read_exact(&mut h[1..])?;
            if h.iter().all(|c| *c == 0) {
                return Ok(None);
            }
            // The checksum counts its own field as spaces.
            let sum = |b: &[u8]| b.iter().map(|c| u64::from(*c)).sum::<u64>();
            if number(&h[148..156]).ok() != Some(sum(&h) - sum(&h[148..156]) + 8 * 32) {
                return Err(bad("a header's checksum is wrong (not a tar archive?)"));
            }
            let size = number(&h[124..136])?;
            let kind = match h[156] {
                t @ (b'x' | b'g' | b'L' | b'K') => {
                    if size > MAX_META {
                        return Err(bad("an oversized extended header"));
                    }
                    let mut data = vec![0u8; size as usize];
                    self.read_exact(&mut data)?;
                    self.skip(padding(size))?;
                    match t {
                        b'x' => ext.pax(&data)?,
                        b'L' => ext.path = Some(text(&data)?),
                        b'K' => ext.link = Some(text(&data)?),
                        _ => {} // global pax records: nothing cella uses
                    }
                    continue;
                }
                b'0' | 0 | b'7' => Kind::File,
                b'1' => Kind::Hardlink,
                b'2' => Kind::Symlink,
                b'3' => Kind::Char,
                b'4' => Kind::Block,
                b'5' => Kind::Dir,
                b'6' => Kind::Fifo,
                t => {
                    return Err(format!("tar: entry type {t:#04x} is not supported"));
                }
            };
            let path = match ext.path.take() {
                Some(p) => p,
                None if &h[257..262] == b"ustar" && h[345] != 0 => {
                    format!("{}/{}", text(&h[345..500])?, text(&h[..100])?)
                }
                None => text(&h[..100])?,
            };
            let size = ext.size.unwrap_or(size);
            // No archive holds more; larger would wrap the skips below.
            if size >= 1 << 62 {
                return Err(bad("an entry's size is out of range"));
            }
            let e = Entry {
                path,
                kind,
                mode: number(&h[100..108])? as u32 & 0o7777,
                uid: id(ext.uid, &h[108..116])?,
                gid: id(ext.gid, &h[116..124])?,
                size,
                mtime: number(&h[136..148])? as i64,
                link: ext.link.take().map_or_else(|| text(&h[157..257]), Ok)?,
                dev: (id(None, &h[329..337])?, id(None, &h[337..345])?),
                xattrs: ext.xattrs,
            };
            // Links and directories carry no data, whatever the size says.
            if e.kind == Kind::File {
                self.left = size;
                self.pad = padding(size);
            } else {
                self.skip(size + padding(size))?;
            }
            return Ok(Some(e));
        }
    }

    /// The current entry's contents: at most `buf.len()` bytes, 0 at
    /// their end.
    pub fn data(&mut self, buf: &mut [u8]) -> Res<usize> {
        let take = self.left.min(buf.len() as u64) as usize;
        if take == 0 {
            return Ok(0);
        }
        let n = self.stream.read(&mut buf[..take])?;
        if n == 0 {
            return Err(CUT_SHORT.into());
        }
        self.left -= n as u64;
        self.offset += n as u64;
        Ok(n)
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// Archives for the unit tests (this module's and the unpacker's).
#[cfg(test)]
pub(crate) mod build {
    use super::BLOCK;

    /// A ustar header block for `name` of `kind` with `size` bytes.
    pub fn header(name: &str, kind: u8, size: u64, link: &str) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|c| u32::from(*c)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    /// The parts, then the two zero blocks that end an archive.
    pub fn archive(parts: &[Vec<u8>]) -> Vec<u8> {
        let mut a = parts.concat();
        a.extend_from_slice(&[0u8; 1024]);
        a
    }

    /// `bytes` padded to whole blocks.
    pub fn data(bytes: &[u8]) -> Vec<u8> {
        let mut d = bytes.to_vec();
        d.resize(bytes.len().div_ceil(BLOCK) * BLOCK, 0);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::build::{archive, data, header};
    use super::*;

    fn reader(bytes: &[u8]) -> Reader {
        Reader::new(Stream::plain(crate::image::stream::range_of(bytes)))
    }

    #[test]
    fn entries_and_their_data() {
        let pax = b"30 path=a/very/long/name/here\n";
        let a = archive(&[
            header("dir/", b'5', 0, ""),
            header("dir/file", b'0', 5, ""),
            data(b"hello"),
            header("link", b'2', 0, "dir/file"),
            header("PaxHeaders/x", b'x', pax.len() as u64, ""),
            data(pax),
            header("short", b'0', 2, ""),
            data(b"hi"),
        ]);
        let mut r = reader(&a);
        let e = r.next_entry().unwrap().unwrap();
        assert_eq!((e.path.as_str(), e.kind), ("dir/", Kind::Dir));
        let e = r.next_entry().unwrap().unwrap();
        assert_eq!((e.path.as_str(), e.size, e.mode), ("dir/file", 5, 0o644));
        let mut buf = [0u8; 16];
        assert_eq!(r.data(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(r.data(&mut buf).unwrap(), 0);
        let e = r.next_entry().unwrap().unwrap();
        assert_eq!((e.kind, e.link.as_str()), (Kind::Symlink, "dir/file"));
        // Unread data is skipped.
        let e = r.next_entry().unwrap().unwrap();
        assert_eq!(e.path, "a/very/long/name/here");
        assert!(r.next_entry().unwrap().is_none());
    }

    #[test]
    fn damage_is_an_error() {
        let mut a = archive(&[header("f", b'0', 5, ""), data(b"hello")]);
        a[10] ^= 1;
        assert!(reader(&a).next_entry().is_err(), "checksum");
        let a = archive(&[header("f", b'0', 5000, "")]);
        let mut r = reader(&a[..1024]);
        r.next_entry().unwrap();
        let mut buf = [0u8; 8192];
        assert!(
            r.data(&mut buf).is_err() || r.data(&mut buf).is_err(),
            "cut short"
        );
        let a = archive(&[header("f", b'S', 0, "")]);
        assert!(reader(&a).next_entry().is_err(), "sparse");
    }

    #[test]
    fn pax_records_override_the_header() {
        let mut ext = Extended::default();
        let records =
            b"12 size=300\n12 uid=4321\n15 gid=99.5000\n26 SCHILY.xattr.user.k=\x00\x01\n";
        ext.pax(records).unwrap();
        assert_eq!(
            (ext.size, ext.uid, ext.gid),
            (Some(300), Some(4321), Some(99))
        );
        assert_eq!(ext.xattrs, vec![("user.k".to_owned(), vec![0, 1])]);
        assert_eq!(id(ext.uid, b"0000000\0"), Ok(4321));
        assert!(id(Some(1 << 40), b"").is_err(), "an id over 32 bits");
        for bad in [
            &b"8 size=1\n"[..],
            b"x size=1\n",
            b"12 size=3x0\n",
            b"10 size1\n",
            b"99 path=a\n",
        ] {
            assert!(
                Extended::default().pax(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn numbers_octal_or_base_256() {
        assert_eq!(number(b"0000644\0"), Ok(0o644));
        assert_eq!(number(b"  1234 \0"), Ok(0o1234));
        assert_eq!(number(b"\0\0\0\0"), Ok(0));
        assert_eq!(number(&[0x80, 0, 0, 1, 0]), Ok(256));
        assert!(number(b"0000648\0").is_err());
        assert!(number(&[0xc0, 0, 0, 1]).is_err(), "negative");
        assert!(
            number(&[[0x81].as_slice(), &[0; 8]].concat()).is_err(),
            "over 64 bits"
        );
    }

    #[test]
    fn paths_with_dot_dot_have_no_components() {
        assert_eq!(components("a/./b//c"), Some(vec!["a", "b", "c"]));
        assert_eq!(components("/etc/passwd"), None);
        assert_eq!(components("a/../../etc"), None);
        assert_eq!(components("./"), Some(vec![]));
    }
}
