//! gzip (RFC 1952) around DEFLATE (RFC 1951), decoded as a stream: a
//! compressed layer is read once, front to back, and never held whole.
//!
//! Hostile input is expected: every malformed stream is an error (never a
//! panic or an endless loop), and the output is capped by the caller
//! ([`Gunzip::new`]'s `limit`: a gzip bomb stops there).

use std::io::{self, Read};

const WINDOW: usize = 32 * 1024;

/// Length and distance bases and extra bits (RFC 1951, 3.2.5).
const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order code length code lengths come in.
const CLEN_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

fn bad(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// A canonical Huffman code: symbols by code length, counts per length.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> io::Result<Huffman> {
        let mut counts = [0u16; 16];
        for &l in lengths {
            counts[usize::from(l)] += 1;
        }
        counts[0] = 0;
        // Over-subscribed codes are invalid; incomplete ones are allowed
        // (a single distance code is common).
        let mut left: i32 = 1;
        for &c in &counts[1..] {
            left = (left << 1) - i32::from(c);
            if left < 0 {
                return Err(bad("gzip: over-subscribed Huffman code"));
            }
        }
        let mut offsets = [0u16; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + counts[len];
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (symbol, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbols[usize::from(offsets[usize::from(l)])] = symbol as u16;
                offsets[usize::from(l)] += 1;
            }
        }
        Ok(Huffman { counts, symbols })
    }
}

/// Bits from the underlying reader, least significant first.
struct Bits<'a> {
    inner: Box<dyn Read + 'a>,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    bit_buf: u64,
    bit_count: u32,
    /// Bytes taken from `inner` so far.
    consumed: u64,
}

impl Bits<'_> {
    fn byte(&mut self) -> io::Result<u8> {
        if self.pos == self.end {
            self.end = self.inner.read(&mut self.buf)?;
            self.pos = 0;
            if self.end == 0 {
                return Err(bad("gzip: the stream is cut short"));
            }
        }
        self.pos += 1;
        self.consumed += 1;
        Ok(self.buf[self.pos - 1])
    }

    fn need(&mut self, n: u32) -> io::Result<()> {
        while self.bit_count < n {
            self.bit_buf |= u64::from(self.byte()?) << self.bit_count;
            self.bit_count += 8;
        }
        Ok(())
    }

    fn bits(&mut self, n: u32) -> io::Result<u32> {
        if n == 0 {
            return Ok(0);
        }
        self.need(n)?;
        let v = (self.bit_buf & ((1u64 << n) - 1)) as u32;
        self.bit_buf >>= n;
        self.bit_count -= n;
        Ok(v)
    }

    /// Drop the bits left of the current byte (stored blocks, the trailer).
    fn align(&mut self) {
        let drop = self.bit_count % 8;
        self.bit_buf >>= drop;
        self.bit_count -= drop;
    }

    /// A whole byte, after [`Bits::align`].
    fn aligned_byte(&mut self) -> io::Result<u8> {
        Ok(self.bits(8)? as u8)
    }

    fn decode(&mut self, h: &Huffman) -> io::Result<u16> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= self.bits(1)? as i32;
            let count = i32::from(h.counts[len]);
            if code - count < first {
                return Ok(h.symbols[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(bad("gzip: invalid Huffman code"))
    }
}

enum State {
    /// Between blocks; `last` once the final block has begun.
    Header {
        last: bool,
    },
    Stored {
        left: u16,
        last: bool,
    },
    Coded {
        last: bool,
    },
    /// A match being copied out: bytes left, distance.
    Copy {
        left: u16,
        dist: u16,
        last: bool,
    },
    Done,
}

/// The decompressed stream of a gzip file (one or more members).
pub struct Gunzip<'a> {
    bits: Bits<'a>,
    window: Box<[u8]>,
    wpos: usize,
    /// Bytes written into the window ever (distances cannot reach before).
    total: u64,
    limit: u64,
    state: State,
    lit: Huffman,
    dist: Huffman,
    crc: u32,
    /// CRC-32's table, made per stream (1 KiB of heap, not of binary).
    crc_table: Box<[u32; 256]>,
    member_out: u32,
}

impl<'a> Gunzip<'a> {
    /// Decompress `inner`, refusing to produce more than `limit` bytes.
    pub fn new(inner: Box<dyn Read + 'a>, limit: u64) -> io::Result<Gunzip<'a>> {
        let mut g = Gunzip {
            bits: Bits {
                inner,
                buf: vec![0u8; 64 * 1024].into_boxed_slice(),
                pos: 0,
                end: 0,
                bit_buf: 0,
                bit_count: 0,
                consumed: 0,
            },
            window: vec![0u8; WINDOW].into_boxed_slice(),
            wpos: 0,
            total: 0,
            limit,
            state: State::Header { last: false },
            lit: Huffman::new(&[])?,
            dist: Huffman::new(&[])?,
            crc: !0,
            crc_table: Box::new(core::array::from_fn(|i| crc32_byte(i as u32, 0))),
            member_out: 0,
        };
        g.member_header()?;
        Ok(g)
    }

    /// Compressed bytes read so far.
    pub fn consumed(&self) -> u64 {
        self.bits.consumed
    }

    fn member_header(&mut self) -> io::Result<()> {
        let b = &mut self.bits;
        let mut head = [0u8; 10];
        for h in &mut head {
            *h = b.aligned_byte()?;
        }
        if head[0] != 0x1f || head[1] != 0x8b || head[2] != 8 {
            return Err(bad("gzip: not a gzip (deflate) stream"));
        }
        let flags = head[3];
        if flags & 0xe0 != 0 {
            return Err(bad("gzip: reserved header flags set"));
        }
        if flags & 4 != 0 {
            let n = u16::from(b.aligned_byte()?) | u16::from(b.aligned_byte()?) << 8;
            for _ in 0..n {
                b.aligned_byte()?;
            }
        }
        for flag in [8u8, 16] {
            if flags & flag != 0 {
                while b.aligned_byte()? != 0 {}
            }
        }
        if flags & 2 != 0 {
            b.aligned_byte()?;
            b.aligned_byte()?;
        }
        self.crc = !0;
        self.member_out = 0;
        self.state = State::Header { last: false };
        Ok(())
    }

    fn member_trailer(&mut self) -> io::Result<()> {
        self.bits.align();
        let mut t = [0u8; 8];
        for x in &mut t {
            *x = self.bits.aligned_byte()?;
        }
        let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let size = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        if crc != !self.crc || size != self.member_out {
            return Err(bad("gzip: checksum mismatch (a damaged stream)"));
        }
        Ok(())
    }

    /// Whether another member follows (docker's and pigz's output can be
    /// several members, concatenated).
    fn another_member(&mut self) -> io::Result<bool> {
        let b = &mut self.bits;
        if b.bit_count >= 8 {
            return Ok(true);
        }
        if b.pos == b.end {
            b.end = b.inner.read(&mut b.buf)?;
            b.pos = 0;
        }
        Ok(b.end != 0)
    }

    fn emit(&mut self, byte: u8, out: &mut [u8], n: &mut usize) -> io::Result<()> {
        if self.total >= self.limit {
            return Err(bad("gzip: decompresses past the size limit (a gzip bomb?)"));
        }
        self.window[self.wpos] = byte;
        self.wpos = (self.wpos + 1) % WINDOW;
        self.total += 1;
        self.member_out = self.member_out.wrapping_add(1);
        self.crc = self.crc_table[((self.crc ^ u32::from(byte)) & 0xff) as usize] ^ (self.crc >> 8);
        out[*n] = byte;
        *n += 1;
        Ok(())
    }

    fn block_header(&mut self, last_before: bool) -> io::Result<()> {
        if last_before {
            self.member_trailer()?;
            self.state = if self.another_member()? {
                self.member_header()?;
                State::Header { last: false }
            } else {
                State::Done
            };
            return Ok(());
        }
        let last = self.bits.bits(1)? == 1;
        match self.bits.bits(2)? {
            0 => {
                self.bits.align();
                let len = self.bits.bits(16)? as u16;
                let nlen = self.bits.bits(16)? as u16;
                if len != !nlen {
                    return Err(bad("gzip: stored block length check fails"));
                }
                self.state = State::Stored { left: len, last };
            }
            1 => {
                let mut l = [0u8; 288];
                l[..144].fill(8);
                l[144..256].fill(9);
                l[256..280].fill(7);
                l[280..].fill(8);
                self.lit = Huffman::new(&l)?;
                self.dist = Huffman::new(&[5u8; 30])?;
                self.state = State::Coded { last };
            }
            2 => {
                self.dynamic_tables()?;
                self.state = State::Coded { last };
            }
            _ => return Err(bad("gzip: invalid block type")),
        }
        Ok(())
    }

    fn dynamic_tables(&mut self) -> io::Result<()> {
        let b = &mut self.bits;
        let hlit = b.bits(5)? as usize + 257;
        let hdist = b.bits(5)? as usize + 1;
        let hclen = b.bits(4)? as usize + 4;
        if hlit > 286 || hdist > 30 {
            return Err(bad("gzip: too many length or distance codes"));
        }
        let mut clen = [0u8; 19];
        for &i in &CLEN_ORDER[..hclen] {
            clen[i] = b.bits(3)? as u8;
        }
        let code = Huffman::new(&clen)?;
        let mut lengths = [0u8; 286 + 30];
        let mut i = 0;
        while i < hlit + hdist {
            let sym = b.decode(&code)?;
            let (value, repeat) = match sym {
                0..=15 => (sym as u8, 1),
                16 => {
                    if i == 0 {
                        return Err(bad("gzip: a repeat with nothing before it"));
                    }
                    (lengths[i - 1], 3 + b.bits(2)? as usize)
                }
                17 => (0, 3 + b.bits(3)? as usize),
                _ => (0, 11 + b.bits(7)? as usize),
            };
            if i + repeat > hlit + hdist {
                return Err(bad("gzip: code lengths overrun"));
            }
            lengths[i..i + repeat].fill(value);
            i += repeat;
        }
        if lengths[256] == 0 {
            return Err(bad("gzip: no end-of-block code"));
        }
        self.lit = Huffman::new(&lengths[..hlit])?;
        self.dist = Huffman::new(&lengths[hlit..hlit + hdist])?;
        Ok(())
    }
}

impl Read for Gunzip<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < out.len() {
            match self.state {
                State::Done => break,
                State::Header { last } => self.block_header(last)?,
                State::Stored { left: 0, last } => self.state = State::Header { last },
                State::Stored { left, last } => {
                    let byte = self.bits.aligned_byte()?;
                    self.emit(byte, out, &mut n)?;
                    self.state = State::Stored {
                        left: left - 1,
                        last,
                    };
                }
                State::Copy { left: 0, last, .. } => self.state = State::Coded { last },
                State::Copy { left, dist, last } => {
                    let from = (self.wpos + WINDOW - usize::from(dist)) % WINDOW;
                    let byte = self.window[from];
                    self.emit(byte, out, &mut n)?;
                    self.state = State::Copy {
                        left: left - 1,
                        dist,
                        last,
                    };
                }
                State::Coded { last } => {
                    let sym = self.bits.decode(&self.lit)?;
                    match sym {
                        0..=255 => self.emit(sym as u8, out, &mut n)?,
                        256 => self.state = State::Header { last },
                        257..=285 => {
                            let i = usize::from(sym - 257);
                            let len = LEN_BASE[i] + self.bits.bits(u32::from(LEN_EXTRA[i]))? as u16;
                            let d = usize::from(self.bits.decode(&self.dist)?);
                            if d >= 30 {
                                return Err(bad("gzip: invalid distance code"));
                            }
                            let dist =
                                DIST_BASE[d] + self.bits.bits(u32::from(DIST_EXTRA[d]))? as u16;
                            if u64::from(dist) > self.total {
                                return Err(bad("gzip: a distance before the stream's start"));
                            }
                            self.state = State::Copy {
                                left: len,
                                dist,
                                last,
                            };
                        }
                        _ => return Err(bad("gzip: invalid literal/length code")),
                    }
                }
            }
        }
        Ok(n)
    }
}

/// CRC-32 (IEEE) of one more byte, bitwise: no table, a few bytes of code.
fn crc32_byte(crc: u32, byte: u8) -> u32 {
    let mut c = crc ^ u32::from(byte);
    for _ in 0..8 {
        c = (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg());
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gunzip(data: &[u8], limit: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Gunzip::new(Box::new(data), limit)?.read_to_end(&mut out)?;
        Ok(out)
    }

    /// `gzip -c` of "hello hello hello hello\n" (fixed Huffman, one match).
    const HELLO: &[u8] = &[
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9,
        0x57, 0xc8, 0x40, 0x27, 0xb9, 0x00, 0x00, 0x88, 0x59, 0x0b, 0x18, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn a_fixed_huffman_member() {
        assert_eq!(
            gunzip(HELLO, 1 << 20).unwrap(),
            b"hello hello hello hello\n"
        );
    }

    #[test]
    fn two_members_are_one_stream() {
        let two = [HELLO, HELLO].concat();
        assert_eq!(
            gunzip(&two, 1 << 20).unwrap(),
            b"hello hello hello hello\n".repeat(2)
        );
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        assert!(gunzip(&HELLO[..20], 1 << 20).is_err(), "cut short");
        let mut crc = HELLO.to_vec();
        crc[23] ^= 1;
        assert!(gunzip(&crc, 1 << 20).is_err(), "checksum");
        assert!(gunzip(b"not gzip at all", 1 << 20).is_err());
        assert!(gunzip(HELLO, 5).is_err(), "over the limit");
        // Every one-byte change and every cut of the stream: an error or
        // some output, never a panic.
        for i in 10..HELLO.len() {
            for bit in 0..8 {
                let mut d = HELLO.to_vec();
                d[i] ^= 1 << bit;
                let _ = gunzip(&d, 1 << 20);
            }
            let _ = gunzip(&HELLO[..i], 1 << 20);
        }
    }

    #[test]
    fn crc32_of_a_known_string() {
        let crc = !b"123456789".iter().fold(!0, |c, b| crc32_byte(c, *b));
        assert_eq!(crc, 0xCBF4_3926);
    }
}
