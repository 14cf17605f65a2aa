//! gzip (RFC 1952) around DEFLATE (RFC 1951), decoded as a stream: a
//! compressed layer is read once, front to back, and never held whole.
//!
//! Hostile input is expected: every malformed stream is an error (never a
//! panic or an endless loop), and the output is capped by the caller
//! ([`Gunzip::new`]'s `limit`: a gzip bomb stops there).

use super::stream::{Range, Res};

const WINDOW: usize = 32 * 1024;
/// Codes this long or shorter decode with one table lookup; longer ones
/// (rare: the literal/length code's tail) bit by bit.
const FAST_BITS: u32 = 9;

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

fn bad(why: &str) -> String {
    format!("gzip: {why}")
}

/// A canonical Huffman code: symbols by code length, counts per length,
/// and a table of the codes up to [`FAST_BITS`] long, indexed by the next
/// bits of the stream: `symbol << 4 | length`, 0 for a longer code.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
    fast: Box<[u16; 1 << FAST_BITS]>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Res<Huffman> {
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
                return Err(bad("over-subscribed Huffman code"));
            }
        }
        let mut offsets = [0u16; 16];
        // The first code of each length (RFC 1951, 3.2.2).
        let mut next_code = [0u32; 16];
        for len in 1..16 {
            if len < 15 {
                offsets[len + 1] = offsets[len] + counts[len];
            }
            next_code[len] = (next_code[len - 1] + u32::from(counts[len - 1])) << 1;
        }
        let mut symbols = vec![0u16; lengths.len()];
        let mut fast = Box::new([0u16; 1 << FAST_BITS]);
        for (symbol, &l) in lengths.iter().enumerate() {
            let len = usize::from(l);
            if len == 0 {
                continue;
            }
            symbols[usize::from(offsets[len])] = symbol as u16;
            offsets[len] += 1;
            let code = next_code[len];
            next_code[len] += 1;
            if len as u32 <= FAST_BITS {
                // The stream gives a code's bits first bit lowest.
                let reversed = code.reverse_bits() >> (32 - len);
                let mut i = reversed as usize;
                while i < fast.len() {
                    fast[i] = (symbol as u16) << 4 | len as u16;
                    i += 1 << len;
                }
            }
        }
        Ok(Huffman {
            counts,
            symbols,
            fast,
        })
    }
}

/// Bits of the compressed input, least significant first.
struct Bits {
    input: Range,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    bit_buf: u64,
    bit_count: u32,
}

impl Bits {
    /// Whether input is left, reading more if the buffer is empty.
    fn more(&mut self) -> Res<bool> {
        if self.pos == self.end {
            self.end = self.input.read(&mut self.buf)?;
            self.pos = 0;
        }
        Ok(self.pos < self.end)
    }

    /// As many bits as fit, fewer only at the input's end.
    fn fill(&mut self) -> Res<()> {
        while self.bit_count <= 56 && self.more()? {
            self.bit_buf |= u64::from(self.buf[self.pos]) << self.bit_count;
            self.pos += 1;
            self.bit_count += 8;
        }
        Ok(())
    }

    fn bits(&mut self, n: u32) -> Res<u32> {
        if self.bit_count < n {
            self.fill()?;
            if self.bit_count < n {
                return Err(bad("the stream is cut short"));
            }
        }
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
    fn aligned_byte(&mut self) -> Res<u8> {
        Ok(self.bits(8)? as u8)
    }

    /// Whole bytes into `out` (a stored block's), after [`Bits::align`]:
    /// at least one, as many as are at hand.
    fn aligned_bytes(&mut self, out: &mut [u8]) -> Res<usize> {
        if self.bit_count >= 8 || out.len() < 2 {
            out[0] = self.aligned_byte()?;
            return Ok(1);
        }
        if !self.more()? {
            return Err(bad("the stream is cut short"));
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    fn decode(&mut self, h: &Huffman) -> Res<u16> {
        if self.bit_count < FAST_BITS {
            self.fill()?;
        }
        let entry = h.fast[(self.bit_buf & ((1 << FAST_BITS) - 1)) as usize];
        let len = u32::from(entry & 15);
        if len != 0 && len <= self.bit_count {
            self.bit_buf >>= len;
            self.bit_count -= len;
            return Ok(entry >> 4);
        }
        // A long code (or the stream's last bits): bit by bit.
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
        Err(bad("invalid Huffman code"))
    }
}

enum State {
    /// Between blocks.
    Header,
    /// A stored block: bytes left.
    Stored(u16),
    Coded,
    /// A match being copied out: bytes left, distance.
    Copy(u16, u16),
    Done,
}

/// The decompressed stream of a gzip file (one or more members).
pub struct Gunzip {
    bits: Bits,
    window: Box<[u8]>,
    wpos: usize,
    /// Bytes written into the window ever (distances cannot reach before).
    total: u64,
    limit: u64,
    /// The member's header is still to be read.
    at_start: bool,
    state: State,
    /// The member's final block has begun.
    last: bool,
    lit: Huffman,
    dist: Huffman,
    crc: u32,
    crc_tables: Box<[[u32; 256]; 8]>,
    member_out: u32,
}

impl Gunzip {
    /// Decompress `input`, refusing to produce more than `limit` bytes.
    pub fn new(input: Range, limit: u64) -> Gunzip {
        let none = || Huffman {
            counts: [0; 16],
            symbols: Vec::new(),
            fast: Box::new([0; 1 << FAST_BITS]),
        };
        Gunzip {
            bits: Bits {
                input,
                buf: vec![0u8; 64 * 1024].into_boxed_slice(),
                pos: 0,
                end: 0,
                bit_buf: 0,
                bit_count: 0,
            },
            window: vec![0u8; WINDOW].into_boxed_slice(),
            wpos: 0,
            total: 0,
            limit,
            at_start: true,
            state: State::Header,
            last: false,
            lit: none(),
            dist: none(),
            crc: !0,
            crc_tables: crc_tables(),
            member_out: 0,
        }
    }

    fn member_header(&mut self) -> Res<()> {
        let b = &mut self.bits;
        let mut head = [0u8; 10];
        for h in &mut head {
            *h = b.aligned_byte()?;
        }
        if head[0] != 0x1f || head[1] != 0x8b || head[2] != 8 {
            return Err(bad("not a gzip (deflate) stream"));
        }
        let flags = head[3];
        if flags & 0xe0 != 0 {
            return Err(bad("reserved header flags set"));
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
        self.state = State::Header;
        self.last = false;
        Ok(())
    }

    fn member_trailer(&mut self) -> Res<()> {
        self.bits.align();
        let mut t = [0u8; 8];
        for x in &mut t {
            *x = self.bits.aligned_byte()?;
        }
        let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let size = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        if crc != !self.crc || size != self.member_out {
            return Err(bad("checksum mismatch (a damaged stream)"));
        }
        Ok(())
    }

    /// Whether another member follows (docker's and pigz's output can be
    /// several members, concatenated).
    fn another_member(&mut self) -> Res<bool> {
        Ok(self.bits.bit_count >= 8 || self.bits.more()?)
    }

    /// One byte of output, into `out` and the window.
    fn emit(&mut self, byte: u8, out: &mut [u8], n: &mut usize) -> Res<()> {
        if self.total >= self.limit {
            return Err(bad("decompresses past the size limit (a gzip bomb?)"));
        }
        self.total += 1;
        out[*n] = byte;
        *n += 1;
        self.window[self.wpos] = byte;
        self.wpos = (self.wpos + 1) % WINDOW;
        Ok(())
    }

    /// A stored block's bytes, already in `out`: into the window (its
    /// last WINDOW bytes, in two pieces at most).
    fn stored(&mut self, made: &[u8]) -> Res<()> {
        self.total += made.len() as u64;
        if self.total > self.limit {
            return Err(bad("decompresses past the size limit (a gzip bomb?)"));
        }
        let made = &made[made.len().saturating_sub(WINDOW)..];
        let first = made.len().min(WINDOW - self.wpos);
        self.window[self.wpos..self.wpos + first].copy_from_slice(&made[..first]);
        self.window[..made.len() - first].copy_from_slice(&made[first..]);
        self.wpos = (self.wpos + made.len()) % WINDOW;
        Ok(())
    }

    /// Output of the current member, into its checksum and length.
    fn checksum(&mut self, made: &[u8]) {
        self.member_out = self.member_out.wrapping_add(made.len() as u32);
        // Eight bytes a step ("slicing by 8"), then byte by byte.
        let t = &self.crc_tables;
        let mut crc = self.crc;
        let mut words = made.chunks_exact(8);
        for w in &mut words {
            let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
                ^ u64::from(crc);
            crc = (0..8).fold(0, |c, i| c ^ t[7 - i][(x >> (8 * i) & 0xff) as usize]);
        }
        for &byte in words.remainder() {
            crc = t[0][((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
        }
        self.crc = crc;
    }

    #[inline(never)] // see the module docs of crate::image
    fn block_header(&mut self) -> Res<()> {
        if self.last {
            self.member_trailer()?;
            self.state = State::Done;
            if self.another_member()? {
                self.member_header()?;
            }
            return Ok(());
        }
        self.last = self.bits.bits(1)? == 1;
        match self.bits.bits(2)? {
            0 => {
                self.bits.align();
                let len = self.bits.bits(16)? as u16;
                let nlen = self.bits.bits(16)? as u16;
                if len != !nlen {
                    return Err(bad("stored block length check fails"));
                }
                self.state = State::Stored(len);
            }
            1 => {
                let mut l = [0u8; 288];
                l[..144].fill(8);
                l[144..256].fill(9);
                l[256..280].fill(7);
                l[280..].fill(8);
                self.lit = Huffman::new(&l)?;
                self.dist = Huffman::new(&[5u8; 30])?;
                self.state = State::Coded;
            }
            2 => {
                self.dynamic_tables()?;
                self.state = State::Coded;
            }
            _ => return Err(bad("invalid block type")),
        }
        Ok(())
    }

    fn dynamic_tables(&mut self) -> Res<()> {
        let b = &mut self.bits;
        let hlit = b.bits(5)? as usize + 257;
        let hdist = b.bits(5)? as usize + 1;
        let hclen = b.bits(4)? as usize + 4;
        if hlit > 286 || hdist > 30 {
            return Err(bad("too many length or distance codes"));
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
                        return Err(bad("a repeat with nothing before it"));
                    }
                    (lengths[i - 1], 3 + b.bits(2)? as usize)
                }
                17 => (0, 3 + b.bits(3)? as usize),
                _ => (0, 11 + b.bits(7)? as usize),
            };
            if i + repeat > hlit + hdist {
                return Err(bad("code lengths overrun"));
            }
            lengths[i..i + repeat].fill(value);
            i += repeat;
        }
        if lengths[256] == 0 {
            return Err(bad("no end-of-block code"));
        }
        self.lit = Huffman::new(&lengths[..hlit])?;
        self.dist = Huffman::new(&lengths[hlit..hlit + hdist])?;
        Ok(())
    }

    /// At most `out.len()` decompressed bytes, 0 at the end.
    pub fn read(&mut self, out: &mut [u8]) -> Res<usize> {
        if self.at_start {
            self.at_start = false;
            self.member_header()?;
        }
        let mut n = 0;
        // Where the output not yet in the member's checksum begins.
        let mut mark = 0;
        while n < out.len() {
            match self.state {
                State::Done => break,
                State::Header => {
                    if self.last {
                        // The member's trailer is next: its checksum due.
                        self.checksum(&out[mark..n]);
                        mark = n;
                    }
                    self.block_header()?
                }
                State::Stored(0) => self.state = State::Header,
                State::Stored(left) => {
                    let want = usize::from(left).min(out.len() - n);
                    let got = self.bits.aligned_bytes(&mut out[n..n + want])?;
                    self.stored(&out[n..n + got])?;
                    n += got;
                    self.state = State::Stored(left - got as u16);
                }
                State::Copy(left, dist) => {
                    // As much of the match as fits, in one go.
                    let take = usize::from(left).min(out.len() - n);
                    for _ in 0..take {
                        let byte = self.window[(self.wpos + WINDOW - usize::from(dist)) % WINDOW];
                        self.emit(byte, out, &mut n)?;
                    }
                    let left = left - take as u16;
                    self.state = if left == 0 {
                        State::Coded
                    } else {
                        State::Copy(left, dist)
                    };
                }
                State::Coded => {
                    let sym = self.bits.decode(&self.lit)?;
                    match sym {
                        0..=255 => self.emit(sym as u8, out, &mut n)?,
                        256 => self.state = State::Header,
                        257..=285 => {
                            let i = usize::from(sym - 257);
                            let len = LEN_BASE[i] + self.bits.bits(u32::from(LEN_EXTRA[i]))? as u16;
                            let d = usize::from(self.bits.decode(&self.dist)?);
                            if d >= 30 {
                                return Err(bad("invalid distance code"));
                            }
                            let dist =
                                DIST_BASE[d] + self.bits.bits(u32::from(DIST_EXTRA[d]))? as u16;
                            if u64::from(dist) > self.total {
                                return Err(bad("a distance before the stream's start"));
                            }
                            self.state = State::Copy(len, dist);
                        }
                        _ => return Err(bad("invalid literal/length code")),
                    }
                }
            }
        }
        self.checksum(&out[mark..n]);
        Ok(n)
    }
}

/// CRC-32's tables for slicing by 8, made per stream (8 KiB of heap, not
/// of binary): `[0]` is the bytewise table, `[k]` a byte followed by k
/// zero bytes.
fn crc_tables() -> Box<[[u32; 256]; 8]> {
    let mut t = Box::new([[0u32; 256]; 8]);
    for i in 0..256 {
        t[0][i] = crc32_byte(i as u32, 0);
    }
    for k in 1..8 {
        for i in 0..256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
        }
    }
    t
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

    fn gunzip(data: &[u8], limit: u64) -> Res<Vec<u8>> {
        let mut g = Gunzip::new(crate::image::stream::range_of(data), limit);
        let mut out = Vec::new();
        let mut buf = [0u8; 7]; // small reads: matches span them
        loop {
            match g.read(&mut buf)? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
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

    /// What gzip(1) makes of varied data (dynamic tables, codes longer
    /// than the fast table's, stored blocks at -1 for noise, long and
    /// overlapping matches) comes back byte for byte.
    #[test]
    fn gzips_own_output_round_trips() {
        use std::io::Write;
        // Skewed bytes (literal codes up to 15 bits), repeats near and
        // far, and a stretch of noise.
        let mut data = Vec::new();
        let mut x: u32 = 12345;
        let mut next = || {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            x >> 8
        };
        while data.len() < 600_000 {
            match next() % 8 {
                0 if data.len() > 40_000 => {
                    let from = data.len() - 1 - (next() as usize % 32_000);
                    for k in 0..(next() as usize % 300) {
                        data.push(data[from + k % (data.len() - from)]);
                    }
                }
                1 => data.extend((0..200).map(|_| next() as u8)),
                _ => {
                    let r = next() % 1000;
                    data.push((r * r / 4000) as u8);
                }
            }
        }
        // Noise gzip stores as it is (stored blocks).
        data.extend((0..150_000).map(|_| next() as u8));
        for level in ["-1", "-9"] {
            let mut child = std::process::Command::new("gzip")
                .args([level, "-c", "-n"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("gzip(1)");
            let mut stdin = child.stdin.take().unwrap();
            let input = data.clone();
            let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
            let out = child.wait_with_output().unwrap();
            writer.join().unwrap();
            let back = gunzip(&out.stdout, 1 << 30).unwrap();
            assert!(back == data, "gzip {level}: {} bytes back", back.len());
        }
    }

    #[test]
    fn crc32_of_a_known_string() {
        let crc = !b"123456789".iter().fold(!0, |c, b| crc32_byte(c, *b));
        assert_eq!(crc, 0xCBF4_3926);
    }
}
