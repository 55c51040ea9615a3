//! Minimal, strict DAG-CBOR / DAG-JSON reading: enough to find links (CBOR tag 42) and to parse
//! and write CAR headers. No IO.
//!
//! The CBOR reader follows the DAG-CBOR rules that matter for safety and determinism:
//! - exactly one top-level item and no trailing bytes;
//! - integers, lengths and tags use the shortest encoding; no indefinite lengths;
//! - the only tag is 42 (a CID: a byte string holding `0x00` then the binary CID);
//! - map keys are text strings (UTF-8 is only checked in the CAR header: chain data in the wild
//!   has invalid UTF-8 in strings, and links do not depend on it);
//! - floats are 64-bit and finite; the only simple values are `false`, `true` and `null`.
//!
//! Map key order and key uniqueness are not checked in [`links`] (the block's hash was already
//! verified, and the links are the same whatever the order); the CAR header decoder does reject
//! duplicate keys. Nesting is bounded by [`MAX_DEPTH`], and no allocation is sized from a length
//! read from the input: every declared length is checked against the bytes that remain first.

use crate::content::{cid_from_bytes, Cid};

/// The deepest nesting of arrays, maps and tags accepted.
pub const MAX_DEPTH: usize = 256;

/// The CBOR tag DAG-CBOR uses for links.
pub const CID_TAG: u64 = 42;

const MAJOR_UINT: u8 = 0;
const MAJOR_NEGINT: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const MAJOR_SIMPLE: u8 = 7;

/// The CIDs linked from a dag-cbor block, in the order they appear (duplicates kept).
pub fn links(data: &[u8]) -> Result<Vec<Cid>, String> {
    let mut dec = Decoder::new(data);
    let mut out = Vec::new();
    dec.item(0, &mut |cid| out.push(cid))?;
    dec.finish()?;
    Ok(out)
}

/// The CIDs linked from a dag-json block (`{"/": "bafy…"}` objects), in document order.
///
/// An object whose only key is `"/"` with a string value is a link, and the string must be a
/// valid CID. `{"/": {"bytes": …}}` (DAG-JSON bytes) is not a link. Nesting is bounded by
/// serde_json's recursion limit (128).
pub fn json_links(data: &[u8]) -> Result<Vec<Cid>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| format!("invalid JSON: {e}"))?;
    let mut out = Vec::new();
    json_walk(&value, &mut out)?;
    Ok(out)
}

fn json_walk(value: &serde_json::Value, out: &mut Vec<Cid>) -> Result<(), String> {
    use serde_json::Value;
    match value {
        Value::Array(items) => {
            for item in items {
                json_walk(item, out)?;
            }
        }
        Value::Object(map) => {
            if map.len() == 1 {
                if let Some(Value::String(text)) = map.get("/") {
                    let cid = crate::content::parse_cid(text).map_err(|e| e.to_string())?;
                    out.push(cid);
                    return Ok(());
                }
            }
            for item in map.values() {
                json_walk(item, out)?;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
    Ok(())
}

/// The fields of a CAR (v1) header, or of the CARv2 pragma, as decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarHeaderFields {
    /// The `version` field.
    pub version: u64,
    /// The `roots` field; `None` when the key is absent (as in the CARv2 pragma).
    pub roots: Option<Vec<Cid>>,
}

/// Decodes a CAR header strictly, as go-car does: the item must be a map with only the keys
/// `version` (an unsigned integer, required) and `roots` (an array of tag-42 CIDs), each at
/// most once, and nothing may follow the map. Whether `roots` is required depends on the
/// version and is left to the caller.
pub fn decode_car_header(data: &[u8]) -> Result<CarHeaderFields, String> {
    let mut dec = Decoder::new(data);
    let (major, count) = dec.head()?;
    if major != MAJOR_MAP {
        return Err(format!(
            "the header is {}, not a map",
            kind_name(major, count)
        ));
    }
    let mut version = None;
    let mut roots = None;
    for _ in 0..count {
        let key = dec.key()?;
        match key {
            "version" => {
                if version.is_some() {
                    return Err("duplicate key `version`".into());
                }
                let (major, value) = dec.head()?;
                if major != MAJOR_UINT {
                    return Err(format!(
                        "`version` must be an unsigned integer, not {}",
                        kind_name(major, value)
                    ));
                }
                version = Some(value);
            }
            "roots" => {
                if roots.is_some() {
                    return Err("duplicate key `roots`".into());
                }
                let (major, n) = dec.head()?;
                if major != MAJOR_ARRAY {
                    return Err(format!(
                        "`roots` must be an array, not {}",
                        kind_name(major, n)
                    ));
                }
                dec.check_count(n, 1)?;
                let mut list = Vec::new();
                for i in 0..n {
                    let (major, tag) = dec.head()?;
                    if major != MAJOR_TAG || tag != CID_TAG {
                        return Err(format!(
                            "root {i} must be a CID (tag 42), not {}",
                            kind_name(major, tag)
                        ));
                    }
                    list.push(dec.cid_body()?);
                }
                roots = Some(list);
            }
            other => return Err(format!("unknown key `{}`", other.escape_debug())),
        }
    }
    dec.finish()?;
    let version = version.ok_or("missing `version`")?;
    Ok(CarHeaderFields { version, roots })
}

/// Encodes a CARv1 header `{"roots": [...], "version": 1}` in canonical DAG-CBOR (the bytes
/// Kubo and go-car write).
pub fn encode_car_header(roots: &[Cid]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + roots.len() * 40);
    write_head(MAJOR_MAP, 2, &mut out);
    write_text("roots", &mut out);
    write_head(MAJOR_ARRAY, roots.len() as u64, &mut out);
    for root in roots {
        write_cid(root, &mut out);
    }
    write_text("version", &mut out);
    write_head(MAJOR_UINT, 1, &mut out);
    out
}

/// Appends a CBOR head (major type and argument) in its shortest form.
pub fn write_head(major: u8, arg: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= u64::from(u8::MAX) {
        out.extend_from_slice(&[m | 24, arg as u8]);
    } else if arg <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// Appends a text string.
pub fn write_text(text: &str, out: &mut Vec<u8>) {
    write_head(MAJOR_TEXT, text.len() as u64, out);
    out.extend_from_slice(text.as_bytes());
}

/// Appends a link: tag 42 around a byte string holding `0x00` and the binary CID.
pub fn write_cid(cid: &Cid, out: &mut Vec<u8>) {
    let bytes = cid.to_bytes();
    write_head(MAJOR_TAG, CID_TAG, out);
    write_head(MAJOR_BYTES, bytes.len() as u64 + 1, out);
    out.push(0);
    out.extend_from_slice(&bytes);
}

fn kind_name(major: u8, arg: u64) -> String {
    match major {
        MAJOR_UINT => "an unsigned integer".into(),
        MAJOR_NEGINT => "a negative integer".into(),
        MAJOR_BYTES => "a byte string".into(),
        MAJOR_TEXT => "a text string".into(),
        MAJOR_ARRAY => "an array".into(),
        MAJOR_MAP => "a map".into(),
        MAJOR_TAG => format!("tag {arg}"),
        _ => match arg {
            20 | 21 => "a boolean".into(),
            22 => "null".into(),
            _ => "a float".into(),
        },
    }
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn finish(&self) -> Result<(), String> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(format!(
                "{n} trailing byte(s) after the item at offset {}",
                self.pos
            )),
        }
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let remaining = self.remaining();
        if n > remaining as u64 {
            return Err(format!(
                "item at offset {} claims {n} bytes but only {remaining} remain",
                self.pos
            ));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| format!("unexpected end of data at offset {}", self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    /// Every item takes at least one byte, so a container cannot hold more items than bytes
    /// remain: reject absurd counts before looping.
    fn check_count(&self, count: u64, per_item: u64) -> Result<(), String> {
        match count.checked_mul(per_item) {
            Some(min) if min <= self.remaining() as u64 => Ok(()),
            _ => Err(format!(
                "container before offset {} claims {count} items but only {} bytes remain",
                self.pos,
                self.remaining()
            )),
        }
    }

    /// Reads a head: the major type and its argument (for major 7: the simple value or float
    /// marker, with the float's 8 bytes consumed and checked).
    fn head(&mut self) -> Result<(u8, u64), String> {
        let at = self.pos;
        let initial = self.byte()?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        if major == MAJOR_SIMPLE {
            return match info {
                20..=22 => Ok((major, u64::from(info))),
                27 => {
                    let bytes = self.take(8)?;
                    let value = f64::from_be_bytes(bytes.try_into().expect("8 bytes"));
                    if !value.is_finite() {
                        return Err(format!("non-finite float at offset {at}"));
                    }
                    Ok((major, 27))
                }
                25 | 26 => Err(format!(
                    "float at offset {at} is not 64-bit (DAG-CBOR allows only 64-bit floats)"
                )),
                31 => Err(format!("unexpected break at offset {at}")),
                _ => Err(format!(
                    "simple value at offset {at} is not allowed in DAG-CBOR (only false, true, null)"
                )),
            };
        }
        let arg = match info {
            0..=23 => u64::from(info),
            24 => {
                let v = u64::from(self.byte()?);
                if v < 24 {
                    return Err(format!("non-minimal integer encoding at offset {at}"));
                }
                v
            }
            25 => {
                let v = u64::from(u16::from_be_bytes(
                    self.take(2)?.try_into().expect("2 bytes"),
                ));
                if v <= u64::from(u8::MAX) {
                    return Err(format!("non-minimal integer encoding at offset {at}"));
                }
                v
            }
            26 => {
                let v = u64::from(u32::from_be_bytes(
                    self.take(4)?.try_into().expect("4 bytes"),
                ));
                if v <= u64::from(u16::MAX) {
                    return Err(format!("non-minimal integer encoding at offset {at}"));
                }
                v
            }
            27 => {
                let v = u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                if v <= u64::from(u32::MAX) {
                    return Err(format!("non-minimal integer encoding at offset {at}"));
                }
                v
            }
            31 => {
                return Err(format!(
                    "indefinite-length item at offset {at} (not allowed in DAG-CBOR)"
                ))
            }
            _ => return Err(format!("reserved additional info {info} at offset {at}")),
        };
        Ok((major, arg))
    }

    /// Reads a map key, which must be a text string (its bytes, not checked for UTF-8).
    fn key_bytes(&mut self) -> Result<&'a [u8], String> {
        let at = self.pos;
        let (major, len) = self.head()?;
        if major != MAJOR_TEXT {
            return Err(format!(
                "map key at offset {at} is {}, not a text string",
                kind_name(major, len)
            ));
        }
        self.take(len)
    }

    /// Reads a map key, which must be a UTF-8 text string.
    fn key(&mut self) -> Result<&'a str, String> {
        let at = self.pos;
        let bytes = self.key_bytes()?;
        std::str::from_utf8(bytes).map_err(|_| format!("map key at offset {at} is not UTF-8"))
    }

    /// After a tag-42 head: reads the byte string and the CID in it.
    fn cid_body(&mut self) -> Result<Cid, String> {
        let at = self.pos;
        let (major, len) = self.head()?;
        if major != MAJOR_BYTES {
            return Err(format!(
                "tag 42 at offset {at} wraps {}, not a byte string",
                kind_name(major, len)
            ));
        }
        let bytes = self.take(len)?;
        match bytes.split_first() {
            Some((0, cid)) => cid_from_bytes(cid).map_err(|e| format!("link at offset {at}: {e}")),
            Some(_) => Err(format!(
                "link at offset {at} does not start with the 0x00 multibase prefix"
            )),
            None => Err(format!("link at offset {at} is empty")),
        }
    }

    /// Reads one complete item, calling `on_link` for every CID in it.
    fn item(&mut self, depth: usize, on_link: &mut dyn FnMut(Cid)) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "nesting deeper than {MAX_DEPTH} levels at offset {}",
                self.pos
            ));
        }
        let at = self.pos;
        let (major, arg) = self.head()?;
        match major {
            MAJOR_UINT | MAJOR_NEGINT | MAJOR_SIMPLE => {}
            MAJOR_BYTES | MAJOR_TEXT => {
                // Text is not checked for UTF-8: real chain data (Filecoin genesis blocks) has
                // invalid UTF-8 in strings, and links do not depend on it.
                self.take(arg)?;
            }
            MAJOR_ARRAY => {
                self.check_count(arg, 1)?;
                for _ in 0..arg {
                    self.item(depth + 1, on_link)?;
                }
            }
            MAJOR_MAP => {
                self.check_count(arg, 2)?;
                for _ in 0..arg {
                    self.key_bytes()?;
                    self.item(depth + 1, on_link)?;
                }
            }
            MAJOR_TAG => {
                if arg != CID_TAG {
                    return Err(format!(
                        "tag {arg} at offset {at} is not allowed in DAG-CBOR (only tag 42)"
                    ));
                }
                on_link(self.cid_body()?);
            }
            _ => unreachable!("major type is 3 bits"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const DOG_CID: &str = "bafyreiavd7u6opdcm6tqmddpnrgmvfb4enxuwglhenejmchnwqvixd5ibm";

    #[test]
    fn cbor_header_of_go_car_clean_eof_case() {
        // car_test.go TestEOFHandling: {roots: [bafyrei…], version: 1}
        let bytes = hex("a265726f6f747381d82a58250001711220151fe9e73c6267a7060c6f6c4cca943c236f4b196723489608edb42a8b8fa80b6776657273696f6e01");
        let h = decode_car_header(&bytes).unwrap();
        assert_eq!(h.version, 1);
        let roots = h.roots.unwrap();
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].to_string(), DOG_CID);
        assert_eq!(encode_car_header(&roots), bytes);
        assert_eq!(links(&bytes).unwrap(), roots);
    }

    #[test]
    fn cbor_header_rejects_go_car_bad_headers() {
        for (name, h) in [
            ("missing version", "a165726f6f747381d82a480001000003616263"),
            ("version string", "a265726f6f747381d82a4800010000036162636776657273696f6e6131"),
            ("roots is map", "a265726f6f7473a163636964d82a4800010000036162636776657273696f6e01"),
            ("extra key", "a364626c6970f565726f6f747381d82a4800010000036162636776657273696f6e01"),
            ("array", "820180"),
            ("null", "f6"),
            ("roots null", "a265726f6f7473f66776657273696f6e01"),
            ("tag 48 root", "a265726f6f747381d8305825000130302030303030303030303030303030303030303030303030303030303030303030306776657273696f6e01"),
            ("duplicate version", "a26776657273696f6e016776657273696f6e01"),
            ("trailing byte", "a16776657273696f6e0100"),
            ("empty", ""),
        ] {
            assert!(decode_car_header(&hex(h)).is_err(), "{name} should be rejected");
        }
    }

    #[test]
    fn cbor_header_pragma_and_sanity_case() {
        let p = decode_car_header(&hex("a16776657273696f6e02")).unwrap();
        assert_eq!((p.version, p.roots), (2, None));
        let ok = decode_car_header(&hex(
            "a265726f6f747381d82a4800010000036162636776657273696f6e01",
        ))
        .unwrap();
        assert_eq!(ok.roots.unwrap()[0].to_string(), "baeaaaa3bmjrq");
    }

    #[test]
    fn cbor_links_finds_nested_links_and_rejects_bad_forms() {
        let dog: Cid = DOG_CID.parse().unwrap();
        let mut doc = Vec::new();
        write_head(MAJOR_MAP, 2, &mut doc);
        write_text("a", &mut doc);
        write_head(MAJOR_ARRAY, 3, &mut doc);
        write_cid(&dog, &mut doc);
        write_head(MAJOR_NEGINT, 500, &mut doc);
        doc.extend_from_slice(&[0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]); // 1.0
        write_text("b", &mut doc);
        write_head(MAJOR_MAP, 1, &mut doc);
        write_text("c", &mut doc);
        write_cid(&dog, &mut doc);
        assert_eq!(links(&doc).unwrap(), vec![dog, dog]);

        for (name, bad) in [
            ("indefinite array", vec![0x9f, 0xff]),
            ("non-minimal int", vec![0x18, 0x01]),
            ("float32", vec![0xfa, 0, 0, 0, 0]),
            ("undefined", vec![0xf7]),
            ("tag 1", vec![0xc1, 0x00]),
            ("int map key", vec![0xa1, 0x01, 0x01]),
            (
                "huge array",
                vec![0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
            (
                "huge bytes",
                vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
            ("truncated", vec![0x82, 0x01]),
            ("two items", vec![0x01, 0x01]),
            ("nan", vec![0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]),
            ("link without 0x00", vec![0xd8, 0x2a, 0x41, 0x01]),
            ("empty", vec![]),
        ] {
            assert!(links(&bad).is_err(), "{name} should be rejected");
        }
    }

    #[test]
    fn cbor_links_bounds_depth() {
        let ok = [vec![0x81; MAX_DEPTH], vec![0x00]].concat();
        assert!(links(&ok).is_ok());
        let deep = [vec![0x81; MAX_DEPTH + 1], vec![0x00]].concat();
        assert!(links(&deep).unwrap_err().contains("nesting"));
        let very_deep = vec![0x81; 1_000_000];
        assert!(links(&very_deep).is_err());
    }

    #[test]
    fn cbor_json_links() {
        let doc = format!(
            r#"{{"a": {{"/": "{DOG_CID}"}}, "b": [{{"/": {{"bytes": "AAEC"}}}}, {{"x": {{"/": "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"}}}}]}}"#
        );
        let found = json_links(doc.as_bytes()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].to_string(), DOG_CID);
        assert!(json_links(br#"{"/": "not a cid"}"#).is_err());
        assert!(json_links(b"{").is_err());
        assert_eq!(json_links(b"[1, \"x\", null]").unwrap(), vec![]);
    }
}
