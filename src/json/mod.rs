//! JSON for the OCI interface: a strict RFC 8259 parser for `config.json`,
//! `process.json` and seccomp profiles, and the small writer behind
//! `state.json` and runc-style log lines.
//!
//! Hand-written rather than serde because the binary is size-sensitive and the
//! OCI code walks a [`Value`] tree anyway to give path-precise errors.
//! Parsing is hostile-input safe: input over [`MAX_INPUT`] bytes or nesting
//! over [`MAX_DEPTH`] is an error, nothing panics, and the work is
//! O(n log n). The tree costs at worst about 32 bytes per input byte.
//!
//! Anything that a lenient parser would have to guess about is an error:
//! trailing commas, leading zeros, invalid UTF-8, lone surrogates, and
//! duplicate object keys (two `"process"` keys in a config would otherwise
//! silently pick one).

use std::fmt::{self, Write as _};

/// Inputs larger than this are rejected before parsing. Real configs are a
/// few tens of KiB; the cap keeps the tree's memory bounded.
pub const MAX_INPUT: usize = 4 << 20;

/// Arrays and objects may nest this deep. The parser recurses two frames
/// per level, so this also bounds its stack use.
pub const MAX_DEPTH: usize = 128;

/// A JSON number. Integers stay exact because OCI has both `u64::MAX`
/// (unlimited) and `-1` (memory swap). The parser's canonical form, which
/// `==` relies on: `Int` for every integer that fits `i64`, `UInt` for larger
/// ones, `Float` for everything else.
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    Int(i64),
    UInt(u64),
    /// The number's literal exactly as written (so it must be valid JSON if
    /// built by hand). Nothing in OCI is fractional, and keeping the text
    /// spares the binary Rust's float parser and printer (about 35 KB)
    /// while writing back exactly; [`Value::as_f64`] converts on demand.
    Float(Box<str>),
}

/// A parsed JSON document. Objects keep their keys in document order (there
/// are no duplicates in a parsed one), so errors and rewrites follow the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// Where and why parsing stopped. `offset` is a byte offset into the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub what: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.what)
    }
}

impl std::error::Error for ParseError {}

fn err(offset: usize, what: &'static str) -> ParseError {
    ParseError { offset, what }
}

/// Parse one JSON value; only whitespace may follow it.
pub fn parse(input: &[u8]) -> Result<Value, ParseError> {
    if input.len() > MAX_INPUT {
        return Err(err(MAX_INPUT, "input too large"));
    }
    let mut p = Parser {
        s: input,
        i: 0,
        depth: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.i < input.len() {
        return Err(err(p.i, "trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        self.ws();
        Ok(match self.peek() {
            Some(b'[') => self.array()?,
            Some(b'{') => self.object()?,
            Some(b'"') => Value::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            _ => return Err(err(self.i, "expected value")),
        })
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, ParseError> {
        let end = self.i + word.len();
        if self.s.get(self.i..end) != Some(word.as_bytes()) {
            return Err(err(self.i, "invalid literal"));
        }
        self.i = end;
        Ok(v)
    }

    /// Consume the opening bracket, counting depth. Callers never undo the
    /// count on error: the whole parse is abandoned then.
    fn open(&mut self, close: u8) -> Result<bool, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(err(self.i, "nesting too deep"));
        }
        self.depth += 1;
        self.i += 1;
        self.ws();
        let empty = self.peek() == Some(close);
        if empty {
            self.close();
        }
        Ok(empty)
    }

    fn close(&mut self) {
        self.i += 1;
        self.depth -= 1;
    }

    /// After an element: true at the closing bracket, false after a comma.
    fn next(&mut self, close: u8, what: &'static str) -> Result<bool, ParseError> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(false)
            }
            Some(b) if b == close => {
                self.close();
                Ok(true)
            }
            _ => Err(err(self.i, what)),
        }
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        let mut items = Vec::new();
        if !self.open(b']')? {
            loop {
                items.push(self.value()?);
                if self.next(b']', "expected ',' or ']'")? {
                    break;
                }
            }
        }
        Ok(Value::Array(items))
    }

    fn object(&mut self) -> Result<Value, ParseError> {
        let mut pairs = Vec::new();
        let mut offsets = Vec::new();
        if !self.open(b'}')? {
            loop {
                self.ws();
                if self.peek() != Some(b'"') {
                    return Err(err(self.i, "expected string key"));
                }
                offsets.push(self.i);
                let key = self.string()?;
                self.ws();
                if self.peek() != Some(b':') {
                    return Err(err(self.i, "expected ':'"));
                }
                self.i += 1;
                pairs.push((key, self.value()?));
                if self.next(b'}', "expected ',' or '}'")? {
                    break;
                }
            }
        }
        if let Some(at) = first_duplicate(&pairs, &offsets) {
            return Err(err(at, "duplicate key"));
        }
        Ok(Value::Object(pairs))
    }

    fn number(&mut self) -> Result<Number, ParseError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(err(self.i, "leading zero in number"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(err(self.i, "expected digit")),
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            float = true;
            self.digits1()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            float = true;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.digits1()?;
        }
        // The grammar above admitted only ASCII, so this never fails.
        let text = self
            .s
            .get(start..self.i)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default();
        if !float {
            if let Ok(n) = text.parse() {
                return Ok(Number::Int(n));
            }
            if let Ok(n) = text.parse() {
                return Ok(Number::UInt(n));
            }
        }
        Ok(Number::Float(text.into()))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn digits1(&mut self) -> Result<(), ParseError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(err(self.i, "expected digit"));
        }
        self.digits();
        Ok(())
    }

    /// Raw runs between escapes are UTF-8-checked and copied whole, so long
    /// strings cost one pass.
    fn string(&mut self) -> Result<String, ParseError> {
        let open = self.i;
        self.i += 1;
        let mut out = String::new();
        let mut run = self.i;
        loop {
            // A bad byte earlier in the run outranks what stopped the scan.
            let what = match self.peek() {
                Some(b'"') => {
                    self.push_run(&mut out, run)?;
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.push_run(&mut out, run)?;
                    self.escape(&mut out)?;
                    run = self.i;
                    continue;
                }
                Some(0..=0x1f) => "control character in string",
                Some(_) => {
                    self.i += 1;
                    continue;
                }
                None => "unterminated string",
            };
            self.push_run(&mut out, run)?;
            let at = if self.i < self.s.len() { self.i } else { open };
            return Err(err(at, what));
        }
    }

    fn push_run(&self, out: &mut String, run: usize) -> Result<(), ParseError> {
        let bytes = self.s.get(run..self.i).unwrap_or_default();
        match std::str::from_utf8(bytes) {
            Ok(t) => {
                out.push_str(t);
                Ok(())
            }
            Err(e) => Err(err(run + e.valid_up_to(), "invalid UTF-8")),
        }
    }

    /// Escape errors point at the backslash that starts the bad escape.
    fn escape(&mut self, out: &mut String) -> Result<(), ParseError> {
        let at = self.i;
        let c = match self.s.get(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\x08',
            Some(b'f') => '\x0c',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => return self.unicode(out),
            _ => return Err(err(at, "invalid escape")),
        };
        out.push(c);
        self.i = at + 2;
        Ok(())
    }

    fn unicode(&mut self, out: &mut String) -> Result<(), ParseError> {
        let at = self.i;
        let hi = self.hex4(at).ok_or(err(at, "invalid \\u escape"))?;
        self.i = at + 6;
        let c = match hi {
            0xd800..=0xdbff => match self.hex4(self.i) {
                Some(lo @ 0xdc00..=0xdfff) => {
                    self.i += 6;
                    0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                }
                _ => return Err(err(at, "unpaired surrogate")),
            },
            0xdc00..=0xdfff => return Err(err(at, "unpaired surrogate")),
            c => c,
        };
        out.push(char::from_u32(c).ok_or(err(at, "unpaired surrogate"))?);
        Ok(())
    }

    /// The four hex digits of a `\uXXXX` starting at `at`, if that is one.
    fn hex4(&self, at: usize) -> Option<u32> {
        match self.s.get(at..at + 6)? {
            [b'\\', b'u', hex @ ..] => hex
                .iter()
                .try_fold(0, |n, &b| Some(n << 4 | char::from(b).to_digit(16)?)),
            _ => None,
        }
    }
}

/// Offset of the first key (in document order) that repeats an earlier one.
/// Heapsorting (key, position) keeps a hostile object with many keys at
/// O(n log n); std's sort would do too, but costs about 4 KB more code.
fn first_duplicate(pairs: &[(String, Value)], offsets: &[usize]) -> Option<usize> {
    if pairs.len() < 2 {
        return None;
    }
    let mut v: Vec<(&str, usize)> = pairs
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.as_str(), i))
        .collect();
    let n = v.len();
    for root in (0..n / 2).rev() {
        sift_down(&mut v, root, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(&mut v, 0, end);
    }
    let later = v
        .windows(2)
        .filter_map(|w| match w {
            [(a, _), (b, i)] if a == b => Some(*i),
            _ => None,
        })
        .min()?;
    offsets.get(later).copied()
}

/// Restore the max-heap property of `v[..end]` below `root` (`end <= v.len()`).
fn sift_down(v: &mut [(&str, usize)], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child + 1 < end && v.get(child) < v.get(child + 1) {
            child += 1;
        }
        if child >= end || v.get(root) >= v.get(child) {
            return;
        }
        v.swap(root, child);
        root = child;
    }
}

impl Value {
    /// The member `key` of an object; `None` for a non-object or a missing key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Non-negative integers only: `1.0` and `-1` are not a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(Number::Int(n)) => u64::try_from(*n).ok(),
            Value::Number(Number::UInt(n)) => Some(*n),
            _ => None,
        }
    }

    /// Integers that fit `i64`; never a float.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(Number::Int(n)) => Some(*n),
            Value::Number(Number::UInt(n)) => i64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// Any number within `f64` range, rounded to the nearest `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(Number::Int(n)) => Some(*n as f64),
            Value::Number(Number::UInt(n)) => Some(*n as f64),
            Value::Number(Number::Float(t)) => t.parse().ok().filter(|f: &f64| f.is_finite()),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The JSON type name, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Append compact JSON (no whitespace) to `out`.
    pub fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(Number::Int(n)) => {
                let _ = write!(out, "{n}");
            }
            Value::Number(Number::UInt(n)) => {
                let _ = write!(out, "{n}");
            }
            Value::Number(Number::Float(t)) => out.push_str(t),
            Value::String(s) => write_str(out, s),
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Value::Object(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// An array of strings as owned strings; `None` if `v` is not one.
pub fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    // (Loops, here and in the decoders: each `collect` into an `Option`
    // or a `Result` brings its own kilobyte or two of iterator code.)
    let mut out = Vec::new();
    for s in v?.as_array()? {
        out.push(s.as_str()?.to_owned());
    }
    Some(out)
}

/// Append `s` as a quoted JSON string. Only what JSON requires is escaped;
/// other UTF-8 passes through so paths and messages stay readable.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\0'..='\x1f' => {
                out.push_str(if c < '\x10' { "\\u000" } else { "\\u001" });
                out.push(char::from_digit(c as u32 & 15, 16).unwrap_or('0'));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests;
