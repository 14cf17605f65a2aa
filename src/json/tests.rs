//! Unit tests of the parent module.
use super::*;

fn ok(s: &str) -> Value {
    match parse(s.as_bytes()) {
        Ok(v) => v,
        Err(e) => panic!("{s:?}: {e}"),
    }
}

fn fails(s: &[u8]) -> (usize, &'static str) {
    match parse(s) {
        Ok(v) => panic!("{s:?} parsed as {v:?}"),
        Err(e) => (e.offset, e.what),
    }
}

fn written(v: &Value) -> String {
    let mut s = String::new();
    v.write(&mut s);
    s
}

#[test]
fn scalars() {
    assert_eq!(ok("null"), Value::Null);
    assert_eq!(ok(" true "), Value::Bool(true));
    assert_eq!(ok("\t\r\nfalse\n"), Value::Bool(false));
    assert_eq!(ok("\"hi\""), Value::String("hi".into()));
    assert_eq!(ok("0").as_u64(), Some(0));
    assert_eq!(ok("-0").as_i64(), Some(0));
    assert!(ok("null").is_null());
}

#[test]
fn integers_are_exact() {
    let max = ok("18446744073709551615");
    assert_eq!(max.as_u64(), Some(u64::MAX));
    assert_eq!(max.as_i64(), None);
    let m1 = ok("-1");
    assert_eq!(m1.as_i64(), Some(-1));
    assert_eq!(m1.as_u64(), None);
    assert_eq!(ok("-9223372036854775808").as_i64(), Some(i64::MIN));
    assert_eq!(ok("9223372036854775807").as_i64(), Some(i64::MAX));
    assert_eq!(ok("9223372036854775808").as_u64(), Some(1 << 63));
    // Out of every integer type: kept, but only as a float.
    let big = ok("18446744073709551616");
    assert_eq!(big.as_u64(), None);
    assert_eq!(big.as_f64(), Some(18446744073709551616.0));
    assert_eq!(ok("-9223372036854775809").as_i64(), None);
}

#[test]
fn floats() {
    assert_eq!(ok("1.5").as_f64(), Some(1.5));
    assert_eq!(ok("-0.25e2").as_f64(), Some(-25.0));
    assert_eq!(ok("1E+2").as_f64(), Some(100.0));
    assert_eq!(ok("1e-400").as_f64(), Some(0.0));
    // A fraction or exponent makes it a float, never an integer.
    assert_eq!(ok("1.0").as_u64(), None);
    assert_eq!(ok("1e2").as_i64(), None);
    assert_eq!(ok("7").as_f64(), Some(7.0));
    // Valid JSON, just not an f64.
    assert_eq!(ok("-1e400").as_f64(), None);
    // The literal is kept as written.
    assert_eq!(
        ok("[1.50]"),
        Value::Array(vec![Value::Number(Number::Float("1.50".into()))])
    );
}

#[test]
fn containers_keep_order() {
    let v = ok(r#"{"b": [1, {"c": null}], "a": {}, "e": []}"#);
    let keys: Vec<&str> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, ["b", "a", "e"]);
    let b = v.get("b").unwrap().as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert!(b[1].get("c").unwrap().is_null());
    assert_eq!(v.get("a").unwrap().as_object().unwrap().len(), 0);
    assert_eq!(v.get("missing"), None);
    assert_eq!(b[0].get("x"), None);
    assert_eq!(ok("[ ]"), Value::Array(vec![]));
    assert_eq!(ok("{ }"), Value::Object(vec![]));
}

#[test]
fn kinds() {
    let v = ok(r#"[null, true, 1, "s", [], {}]"#);
    let kinds: Vec<&str> = v.as_array().unwrap().iter().map(Value::kind).collect();
    assert_eq!(
        kinds,
        ["null", "boolean", "number", "string", "array", "object"]
    );
    assert_eq!(v.as_str(), None);
    assert_eq!(v.as_bool(), None);
    assert_eq!(v.as_u64(), None);
    assert_eq!(v.as_object(), None);
}

#[test]
fn escapes_and_surrogates() {
    assert_eq!(
        ok(r#""\"\\\/\b\f\n\r\t""#).as_str(),
        Some("\"\\/\x08\x0c\n\r\t")
    );
    assert_eq!(ok(r#""\u0041\u00e9\u20AC""#).as_str(), Some("Aé€"));
    assert_eq!(ok(r#""\ud83d\ude00""#).as_str(), Some("😀"));
    assert_eq!(ok(r#""\uDBFF\uDFFF""#).as_str(), Some("\u{10ffff}"));
    assert_eq!(ok("\"é😀\x7f\"").as_str(), Some("é😀\x7f"));
    assert_eq!(ok(r#""\u0000""#).as_str(), Some("\0"));
    assert_eq!(fails(br#""\uD800""#), (1, "unpaired surrogate"));
    assert_eq!(fails(br#""ab\uD800x""#), (3, "unpaired surrogate"));
    assert_eq!(fails(br#""\uD800\u0041""#), (1, "unpaired surrogate"));
    assert_eq!(fails(br#""\uD800\uD800""#), (1, "unpaired surrogate"));
    assert_eq!(fails(br#""\uDC00""#), (1, "unpaired surrogate"));
    assert_eq!(fails(br#""x\u12G4""#), (2, "invalid \\u escape"));
    assert_eq!(fails(br#""\u12""#), (1, "invalid \\u escape"));
    assert_eq!(fails(br#""\x""#), (1, "invalid escape"));
    assert_eq!(fails(br#""\'""#), (1, "invalid escape"));
    assert_eq!(fails(b"\"\\"), (1, "invalid escape"));
}

#[test]
fn rejects_bad_strings() {
    assert_eq!(fails(b"\"a\nb\""), (2, "control character in string"));
    assert_eq!(fails(b"\"\t\""), (1, "control character in string"));
    assert_eq!(fails(b"  \"abc"), (2, "unterminated string"));
    assert_eq!(fails(b"\"ab\xff\""), (3, "invalid UTF-8"));
    assert_eq!(fails(b"\"\xc3\""), (1, "invalid UTF-8"));
    // Surrogate code points encoded directly are not UTF-8 either.
    assert_eq!(fails(b"\"\xed\xa0\x80\""), (1, "invalid UTF-8"));
    // The earlier fault wins over what ended the scan.
    assert_eq!(fails(b"\"\xff\n\""), (1, "invalid UTF-8"));
    assert_eq!(fails(b"\"\xff"), (1, "invalid UTF-8"));
    assert_eq!(fails(b"\"ok\\n\xe2\x82\""), (5, "invalid UTF-8"));
    // Outside strings, non-ASCII is just an unexpected byte.
    assert_eq!(fails(b"\xef\xbb\xbf{}"), (0, "expected value"));
}

#[test]
fn rejects_bad_numbers() {
    assert_eq!(fails(b"01"), (1, "leading zero in number"));
    assert_eq!(fails(b"-01"), (2, "leading zero in number"));
    assert_eq!(fails(b"[00]"), (2, "leading zero in number"));
    assert_eq!(fails(b"-"), (1, "expected digit"));
    assert_eq!(fails(b"-a"), (1, "expected digit"));
    assert_eq!(fails(b"1."), (2, "expected digit"));
    assert_eq!(fails(b"1.e5"), (2, "expected digit"));
    assert_eq!(fails(b"1e"), (2, "expected digit"));
    assert_eq!(fails(b"1e+"), (3, "expected digit"));
    assert_eq!(fails(b"+1"), (0, "expected value"));
    assert_eq!(fails(b".5"), (0, "expected value"));
    assert_eq!(fails(b"1.5.2"), (3, "trailing characters"));
    assert_eq!(fails(b"0x10"), (1, "trailing characters"));
}

#[test]
fn rejects_bad_structure() {
    assert_eq!(fails(b""), (0, "expected value"));
    assert_eq!(fails(b"   "), (3, "expected value"));
    assert_eq!(fails(b"[1,]"), (3, "expected value"));
    assert_eq!(fails(b"[1 2]"), (3, "expected ',' or ']'"));
    assert_eq!(fails(b"[1"), (2, "expected ',' or ']'"));
    assert_eq!(fails(b"[,1]"), (1, "expected value"));
    assert_eq!(fails(br#"{"a":1,}"#), (7, "expected string key"));
    assert_eq!(fails(br#"{"a" 1}"#), (5, "expected ':'"));
    assert_eq!(fails(br#"{"a":1 "b":2}"#), (7, "expected ',' or '}'"));
    assert_eq!(fails(br#"{"a":}"#), (5, "expected value"));
    assert_eq!(fails(b"{a:1}"), (1, "expected string key"));
    assert_eq!(fails(b"{1:1}"), (1, "expected string key"));
    assert_eq!(fails(b"[}"), (1, "expected value"));
    assert_eq!(fails(b"tru"), (0, "invalid literal"));
    assert_eq!(fails(b"[nul]"), (1, "invalid literal"));
    assert_eq!(fails(b"True"), (0, "expected value"));
    assert_eq!(fails(b"{} {}"), (3, "trailing characters"));
    assert_eq!(fails(b"null\0"), (4, "trailing characters"));
    assert_eq!(fails(b"1 // c"), (2, "trailing characters"));
}

#[test]
fn rejects_duplicate_keys() {
    assert_eq!(
        fails(br#"{"process":{},"process":{}}"#),
        (14, "duplicate key")
    );
    // The first repeat in document order, whichever key it is.
    assert_eq!(
        fails(br#"{"b":1,"a":2,"a":3,"b":4}"#),
        (13, "duplicate key")
    );
    // Escapes are compared decoded.
    assert_eq!(fails(br#"{"a":1, "\u0061":2}"#), (8, "duplicate key"));
    assert_eq!(fails(br#"[{"x":{"y":1,"y":2}}]"#), (13, "duplicate key"));
    // Same key in different objects is fine.
    ok(r#"[{"a":1},{"a":2,"b":{"a":3}}]"#);
    // Many keys stay fast (sorting, not pairwise comparison).
    let mut doc = String::from("{");
    for i in 0..50_000 {
        let _ = write!(doc, "\"k{i}\":{i},");
    }
    doc.push_str("\"k49999\":0}");
    let at = doc.rfind("\"k49999\"").unwrap();
    assert_eq!(fails(doc.as_bytes()), (at, "duplicate key"));
}

#[test]
fn depth_limit() {
    let nest = |n: usize| "[".repeat(n) + &"]".repeat(n);
    assert_eq!(ok(&nest(MAX_DEPTH)).kind(), "array");
    assert_eq!(
        fails(nest(MAX_DEPTH + 1).as_bytes()),
        (MAX_DEPTH, "nesting too deep")
    );
    let objs = "{\"a\":".repeat(MAX_DEPTH + 1);
    assert_eq!(fails(objs.as_bytes()), (MAX_DEPTH * 5, "nesting too deep"));
    // Siblings do not add up to depth.
    let wide = "[".to_string() + &vec![nest(MAX_DEPTH - 1); 3].join(",") + "]";
    ok(&wide);
}

#[test]
fn size_limit() {
    let mut big = vec![b' '; MAX_INPUT + 1];
    big[0] = b'0';
    assert_eq!(fails(&big), (MAX_INPUT, "input too large"));
    big.pop();
    assert_eq!(parse(&big), Ok(Value::Number(Number::Int(0))));
}

#[test]
fn error_display() {
    let e = parse(br#"{"a" 1}"#).unwrap_err();
    assert_eq!(e.to_string(), "invalid JSON at byte 5: expected ':'");
}

#[test]
fn write_str_escapes() {
    let mut s = String::new();
    write_str(&mut s, "a\"b\\c\n\t\r\x08\x0c\x01\x1f\x7fé/😀");
    assert_eq!(
        s,
        r#""a\"b\\c\n\t\r\b\f\u0001\u001f"#.to_string() + "\x7fé/😀\""
    );
    assert_eq!(
        ok(&s).as_str(),
        Some("a\"b\\c\n\t\r\x08\x0c\x01\x1f\x7fé/😀")
    );
}

#[test]
fn write_values() {
    let v = ok(r#" { "a" : [ 1 , -1 , 18446744073709551615 , 1.5 , true , null ] , "b" : "x" } "#);
    assert_eq!(
        written(&v),
        r#"{"a":[1,-1,18446744073709551615,1.5,true,null],"b":"x"}"#
    );
    // Non-integers come back exactly as written.
    assert_eq!(
        written(&ok("[1.0,-0.0,1E+400,0.10e-7,-0]")),
        "[1.0,-0.0,1E+400,0.10e-7,0]"
    );
}

#[test]
fn round_trip() {
    for doc in [
        r#"{"ociVersion":"1.0.2","process":{"args":["sh","-c","echo \"hi\"\n"],"rlimits":[{"hard":18446744073709551615,"soft":-1}]},"f":[0.1,1e-7,1.0,-2.5e300,5e-324]}"#,
        r#"["\u0000\u001f\ud83d\ude00\/", {}, [], [[{}]], 0, -0, 1E3]"#,
        "\"\u{7f}\u{10ffff}\"",
    ] {
        let v = ok(doc);
        let text = written(&v);
        assert_eq!(ok(&text), v, "{text}");
        // Compact output is a fixed point.
        assert_eq!(written(&ok(&text)), text);
    }
}
