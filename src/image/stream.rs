//! The bytes an import reads: a range of a file read by offset (an
//! archive's member, a layout's blob, a whole file), gunzipped when it is
//! gzip, hashed when asked. One concrete reader for every input, not
//! `std::io`'s traits: archives, layers and manifests all come this way.

use super::inflate::Gunzip;
use super::sha256::Sha256;
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;

/// An import's failures are messages (what was wrong with the archive).
pub type Res<T> = std::result::Result<T, String>;

/// A failed call's errno as an import's message.
pub fn errno(e: Errno) -> String {
    crate::error::strerror(e).to_owned()
}

pub const CUT_SHORT: &str = "the archive is cut short";
const GZIP: [u8; 2] = [0x1f, 0x8b];
const ZSTD: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// A gzip stream may grow this many times over, and at least to
/// [`MIN_LIMIT`], at most to [`MAX_LIMIT`]: past that it is a bomb.
const RATIO: u64 = 100;
const MIN_LIMIT: u64 = 256 << 20;
const MAX_LIMIT: u64 = 64 << 30;

/// `len` bytes of a file from `offset`.
pub struct Range {
    fd: OwnedFd,
    offset: u64,
    left: u64,
}

impl Range {
    pub fn new(fd: OwnedFd, offset: u64, len: u64) -> Range {
        Range {
            fd,
            offset,
            left: len,
        }
    }

    /// Bytes not read yet.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// At most `buf.len()` bytes, 0 at the range's end; a file shorter
    /// than the range is an archive cut short.
    pub fn read(&mut self, buf: &mut [u8]) -> Res<usize> {
        let n = self.peek(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(CUT_SHORT.into());
        }
        self.offset += n as u64;
        self.left -= n as u64;
        Ok(n)
    }

    /// What [`Range::read`] would read, left to be read again.
    fn peek(&self, buf: &mut [u8]) -> Res<usize> {
        let take = self.left.min(buf.len() as u64) as usize;
        loop {
            match rustix::io::pread(self.fd.as_fd(), &mut buf[..take], self.offset) {
                Err(Errno::INTR) => {}
                other => return other.map_err(errno),
            }
        }
    }
}

/// A range's bytes, gunzipped if they are gzip (zstd is refused), and
/// hashed as they are read once [`Stream::hash`] is set.
pub struct Stream {
    source: Source,
    pub hash: Option<Sha256>,
}

enum Source {
    Plain(Range),
    Gzip(Box<Gunzip>),
}

impl Stream {
    /// `range` as it is.
    pub fn plain(range: Range) -> Stream {
        Stream {
            source: Source::Plain(range),
            hash: None,
        }
    }

    /// `range`, decompressed if it is gzip.
    pub fn open(range: Range) -> Res<Stream> {
        let mut head = [0u8; 4];
        let n = range.peek(&mut head)?;
        if n == 4 && head == ZSTD {
            return Err(
                "zstd-compressed: not supported (decompress it first: zstd -d, or save the image uncompressed or with gzip)"
                    .into(),
            );
        }
        if n < 2 || head[..2] != GZIP {
            return Ok(Stream::plain(range));
        }
        // The limit on what `compressed` bytes of gzip may become.
        let limit = range.left.saturating_mul(RATIO).clamp(MIN_LIMIT, MAX_LIMIT);
        Ok(Stream {
            source: Source::Gzip(Box::new(Gunzip::new(range, limit))),
            hash: None,
        })
    }

    pub fn is_gzip(&self) -> bool {
        matches!(self.source, Source::Gzip(_))
    }

    /// At most `buf.len()` bytes, 0 at the end.
    pub fn read(&mut self, buf: &mut [u8]) -> Res<usize> {
        let n = match &mut self.source {
            Source::Gzip(g) => g.read(buf)?,
            Source::Plain(r) => r.read(buf)?,
        };
        if let Some(h) = &mut self.hash {
            h.update(&buf[..n]);
        }
        Ok(n)
    }

    /// Exactly `buf.len()` bytes, or the archive is cut short.
    pub fn read_exact(&mut self, mut buf: &mut [u8]) -> Res<()> {
        while !buf.is_empty() {
            match self.read(buf)? {
                0 => return Err(CUT_SHORT.into()),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Past `n` bytes: by offset where nothing needs to see them.
    pub fn skip(&mut self, mut n: u64) -> Res<()> {
        if let (Source::Plain(r), None) = (&mut self.source, &self.hash) {
            if n > r.left {
                return Err(CUT_SHORT.into());
            }
            r.offset += n;
            r.left -= n;
            return Ok(());
        }
        let mut buf = [0u8; 8192];
        while n > 0 {
            let take = n.min(buf.len() as u64) as usize;
            self.read_exact(&mut buf[..take])?;
            n -= take as u64;
        }
        Ok(())
    }

    /// Read to the end (what follows a layer's end blocks is part of its
    /// digest).
    pub fn drain(&mut self) -> Res<()> {
        let mut buf = vec![0u8; 64 * 1024];
        while self.read(&mut buf)? > 0 {}
        Ok(())
    }
}

/// Unit tests' inputs: `bytes` as a file (a memfd).
#[cfg(test)]
pub fn range_of(bytes: &[u8]) -> Range {
    let fd = rustix::fs::memfd_create("cella-test", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    crate::input::write_all(fd.as_fd(), bytes).unwrap();
    Range::new(fd, 0, bytes.len() as u64)
}
