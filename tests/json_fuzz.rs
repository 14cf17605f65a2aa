//! Deterministic fuzzing of `cella::json` without external crates: random
//! JSON-ish bytes, mutations of real OCI documents, and inputs at the size
//! and depth limits. The properties: `parse` never panics (tests build with
//! panic=abort, so a panic kills this binary) and whatever parses survives
//! write→parse unchanged.
#![cfg(feature = "oci")]

use cella::json::{self, MAX_DEPTH, MAX_INPUT, Value};
use std::time::{Duration, Instant};

/// The documents runc-compatible runtimes are actually handed, as captured
/// from podman and containerd (`ctr`).
const SAMPLES: [(&str, &[u8]); 4] = [
    (
        "podman-config.json",
        include_bytes!("data/oci/podman-config.json"),
    ),
    (
        "podman-exec-process.json",
        include_bytes!("data/oci/podman-exec-process.json"),
    ),
    (
        "ctr-config.json",
        include_bytes!("data/oci/ctr-config.json"),
    ),
    (
        "ctr-exec-process.json",
        include_bytes!("data/oci/ctr-exec-process.json"),
    ),
];

/// xorshift64*: fixed seed, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a [u8]]) -> &'a [u8] {
        from[self.below(from.len())]
    }
}

fn written(v: &Value) -> String {
    let mut s = String::new();
    v.write(&mut s);
    s
}

/// Parse must not panic; success must round-trip. Returns whether it parsed.
fn check(input: &[u8]) -> bool {
    let Ok(v) = json::parse(input) else {
        return false;
    };
    let text = written(&v);
    match json::parse(text.as_bytes()) {
        Ok(again) => assert_eq!(again, v, "round trip of {input:?} via {text}"),
        Err(e) => panic!("writer output {text:?} of {input:?} does not parse: {e}"),
    }
    true
}

/// Every JSON token class, whole literals so that valid documents are not
/// vanishingly rare, and `\u` escapes around the surrogate ranges.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\"",
    b"\"",
    b"\"",
    b"\\",
    b"/",
    b" ",
    b"\n",
    b"0",
    b"1",
    b"2",
    b"9",
    b"e",
    b"E",
    b"+",
    b"-",
    b".",
    b"t",
    b"r",
    b"u",
    b"f",
    b"a",
    b"l",
    b"s",
    b"n",
    b"true",
    b"false",
    b"null",
    b"\"k\":",
    b"\\u",
    b"\\u0041",
    b"\\u00e9",
    b"\\ud83d",
    b"\\ude00",
    b"\\uDBFF",
    b"\\uDFFF",
    b"\\u0000",
    b"\\n",
    b"\\\"",
    b"\xc3\xa9",
    b"\xf0\x9f",
];

#[test]
fn random_jsonish_bytes() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = Vec::with_capacity(512);
    let mut parsed = 0;
    for _ in 0..200_000 {
        buf.clear();
        let len = rng.below(256);
        while buf.len() < len {
            if rng.below(16) == 0 {
                buf.push(rng.next() as u8);
            } else {
                buf.extend_from_slice(rng.pick(TOKENS));
            }
        }
        parsed += usize::from(check(&buf));
    }
    // Mostly scalars and short arrays; `generated_round_trip` covers the rest.
    assert!(parsed > 200, "only {parsed} random inputs parsed");
}

/// A random value in the parser's canonical form, so that it must come back
/// from write→parse exactly.
fn gen_value(rng: &mut Rng, depth: usize) -> Value {
    use cella::json::Number;
    let kind = rng.below(if depth == 0 { 6 } else { 8 });
    match kind {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => Value::Number(Number::Int(match rng.below(4) {
            0 => -1,
            1 => i64::MIN,
            _ => rng.next() as i64 >> rng.below(64),
        })),
        3 => Value::Number(Number::UInt(rng.next() | 1 << 63)),
        4 => Value::Number(Number::Float(gen_float(rng).into())),
        5 => Value::String(gen_string(rng)),
        6 => Value::Array(
            (0..rng.below(6))
                .map(|_| gen_value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(6))
                // The index prefix keeps keys unique, as parse insists.
                .map(|i| (format!("{i}{}", gen_string(rng)), gen_value(rng, depth - 1)))
                .collect(),
        ),
    }
}

/// A literal with a fraction or an exponent (else it would parse as an
/// integer), as the grammar allows: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn gen_float(rng: &mut Rng) -> String {
    fn digits(rng: &mut Rng, s: &mut String, n: usize) {
        (0..n).for_each(|_| s.push(char::from(b'0' + rng.below(10) as u8)));
    }
    let mut s = String::new();
    if rng.below(2) == 0 {
        s.push('-');
    }
    if rng.below(3) == 0 {
        s.push('0');
    } else {
        s.push('1');
        let n = rng.below(25);
        digits(rng, &mut s, n);
    }
    let form = rng.below(3);
    if form != 1 {
        s.push('.');
        let n = 1 + rng.below(20);
        digits(rng, &mut s, n);
    }
    if form != 0 {
        s.push_str(["e", "E", "e+", "E-", "e-"][rng.below(5)]);
        let n = 1 + rng.below(4);
        digits(rng, &mut s, n);
    }
    s
}

fn gen_string(rng: &mut Rng) -> String {
    (0..rng.below(12))
        .map(|_| {
            let c = match rng.below(4) {
                0 => rng.below(0x20) as u32,
                1 => b"\"\\/ az"[rng.below(6)] as u32,
                2 => rng.below(0x800) as u32,
                _ => rng.below(0x11_0000) as u32,
            };
            char::from_u32(c).unwrap_or('\u{fffd}')
        })
        .collect()
}

#[test]
fn generated_round_trip() {
    let mut rng = Rng(0xd1b5_4a32_d192_ed03);
    for _ in 0..20_000 {
        let v = gen_value(&mut rng, 6);
        let text = written(&v);
        match json::parse(text.as_bytes()) {
            Ok(back) => assert_eq!(back, v, "{text}"),
            Err(e) => panic!("{text:?}: {e}"),
        }
    }
}

#[test]
fn mutated_samples() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut parsed = 0;
    for (name, doc) in SAMPLES {
        for _ in 0..3_000 {
            let mut m = doc.to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(m.len() + 1);
                match rng.below(5) {
                    0 if at < m.len() => m[at] ^= 1 << rng.below(8),
                    1 => m.insert(at, rng.pick(TOKENS)[0]),
                    2 => {
                        let token = rng.pick(TOKENS);
                        m.splice(at..at, token.iter().copied());
                    }
                    3 if at < m.len() => {
                        m.drain(at..(at + 1 + rng.below(16)).min(m.len()));
                    }
                    _ => {
                        let end = (at + rng.below(64)).min(m.len());
                        let slice = m[at..end].to_vec();
                        let to = rng.below(m.len() + 1);
                        m.splice(to..to, slice);
                    }
                }
            }
            parsed += usize::from(check(&m));
        }
        assert!(check(doc), "{name} no longer parses");
    }
    assert!(parsed > 100, "only {parsed} mutants parsed");
}

fn expect_err(input: &[u8], offset: usize, what: &str) -> Duration {
    let t = Instant::now();
    let e = json::parse(input).expect_err("must be rejected");
    let took = t.elapsed();
    assert_eq!((e.offset, e.what), (offset, what));
    took
}

#[test]
fn limits_fail_fast() {
    let deep = vec![b'['; 1_000_000];
    expect_err(&deep, MAX_DEPTH, "nesting too deep");
    let mut deep_obj = b"{\"a\":".repeat(200_000);
    deep_obj.extend(b"}".repeat(200_000));
    expect_err(&deep_obj, MAX_DEPTH * 5, "nesting too deep");
    // Arrays and objects share one depth count: 129th container, 65th '['.
    let mixed = b"[{\"a\":".repeat(MAX_DEPTH);
    expect_err(&mixed, MAX_DEPTH / 2 * 6, "nesting too deep");

    // Too large is rejected before looking at a single byte.
    let huge = vec![b' '; 5 << 20];
    let took = expect_err(&huge, MAX_INPUT, "input too large");
    assert!(took < Duration::from_millis(100), "{took:?}");
}

/// Inputs just under the size cap must be linear: each of these would take
/// minutes if any step were quadratic.
#[test]
fn large_inputs_stay_linear() {
    let budget = Duration::from_secs(5);
    let mut zeros = b"[0".to_vec();
    while zeros.len() < MAX_INPUT - 8 {
        zeros.extend_from_slice(b",0");
    }
    zeros.push(b']');
    let t = Instant::now();
    let v = json::parse(&zeros).unwrap();
    assert_eq!(v.as_array().unwrap().len(), zeros.len() / 2);
    assert!(t.elapsed() < budget, "array: {:?}", t.elapsed());

    let mut s = b"\"".to_vec();
    while s.len() < MAX_INPUT - 32 {
        s.extend_from_slice(b"\\u00e9ab\\ud83d\\ude00c");
    }
    s.push(b'"');
    let t = Instant::now();
    assert!(
        json::parse(&s)
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("éab😀c")
    );
    assert!(t.elapsed() < budget, "string: {:?}", t.elapsed());

    // An integer far beyond u64: kept as its literal, too big for an f64.
    let digits = vec![b'7'; MAX_INPUT];
    let t = Instant::now();
    let v = json::parse(&digits).unwrap();
    assert_eq!((v.as_u64(), v.as_f64()), (None, None));
    assert!(t.elapsed() < budget, "digits: {:?}", t.elapsed());

    // Many distinct keys, the last one a repeat of the first.
    let mut obj = b"{".to_vec();
    let mut i = 0u32;
    while obj.len() < MAX_INPUT - 32 {
        obj.extend_from_slice(format!("\"{i:x}\":{i},").as_bytes());
        i += 1;
    }
    let at = obj.len();
    obj.extend_from_slice(b"\"0\":0}");
    let t = Instant::now();
    expect_err(&obj, at, "duplicate key");
    assert!(t.elapsed() < budget, "keys: {:?}", t.elapsed());
}

#[test]
fn samples_parse() {
    for (name, doc) in SAMPLES {
        let v = json::parse(doc).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.kind(), "object", "{name}");
        // The runtimes write compact JSON with nothing to escape, so the
        // writer reproduces them byte for byte.
        assert_eq!(written(&v).as_bytes(), doc.trim_ascii_end(), "{name}");
    }

    let podman = json::parse(SAMPLES[0].1).unwrap();
    let seccomp = podman.get("linux").and_then(|l| l.get("seccomp")).unwrap();
    assert!(
        seccomp
            .get("syscalls")
            .and_then(Value::as_array)
            .is_some_and(|s| s.len() > 10)
    );
    assert_eq!(
        seccomp.get("defaultErrnoRet").and_then(Value::as_u64),
        Some(38)
    );
    let process = podman.get("process").unwrap();
    let rlimits = process.get("rlimits").and_then(Value::as_array).unwrap();
    assert_eq!(rlimits[0].get("hard").and_then(Value::as_u64), Some(20000));
    assert_eq!(
        rlimits[0].get("type").and_then(Value::as_str),
        Some("RLIMIT_NOFILE")
    );
    assert_eq!(
        process
            .get("args")
            .and_then(Value::as_array)
            .map(<[Value]>::len),
        Some(2)
    );

    let ctr = json::parse(SAMPLES[3].1).unwrap();
    assert_eq!(
        ctr.get("noNewPrivileges").and_then(Value::as_bool),
        Some(true)
    );
    let gids = ctr
        .get("user")
        .and_then(|u| u.get("additionalGids"))
        .unwrap();
    assert_eq!(gids.as_array().map(|g| g[0].as_u64()), Some(Some(0)));
}
