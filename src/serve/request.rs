//! A trustless-gateway request, parsed and checked before any block is read (no IO): the CID
//! and path, the response format from `?format=` or `Accept`, `dag-scope`, `entity-bytes`,
//! duplicates, `filename`; and the headers that follow from it alone (media type, ETag,
//! `Content-Disposition`).

use crate::content::Cid;
use crate::unixfs::{DagScope, EntityBytes};
use sha2::{Digest, Sha256};

pub const RAW_TYPE: &str = "application/vnd.ipld.raw";
pub const CAR_TYPE: &str = "application/vnd.ipld.car";
/// Content-addressed answers never change.
pub const IMMUTABLE: &str = "public, max-age=29030400, immutable";

/// The response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One block, `application/vnd.ipld.raw`.
    Raw,
    /// A CARv1 stream, `application/vnd.ipld.car`.
    Car,
}

/// A request the gateway refuses, with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

impl Refused {
    fn bad(message: impl Into<String>) -> Self {
        Refused {
            status: 400,
            message: message.into(),
        }
    }
}

/// `GET /ipfs/{cid}[/{path}]`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRequest {
    pub root: Cid,
    /// The path inside the root, segments joined by `/` (empty for the root itself).
    pub path: String,
    pub format: Format,
    pub scope: DagScope,
    pub range: Option<EntityBytes>,
    /// Whether a block is sent again each time the DAG links it (`dups=y`).
    pub dups: bool,
    /// `?filename=`: the name `Content-Disposition` suggests.
    pub filename: Option<String>,
}

impl GatewayRequest {
    /// Parses `rest` (what follows `/ipfs/`, already percent-decoded), the query string and
    /// the `Accept` header.
    pub fn parse(rest: &str, query: Option<&str>, accept: Option<&str>) -> Result<Self, Refused> {
        let mut segments = rest.split('/');
        let cid_text = segments.next().unwrap_or_default();
        if cid_text.is_empty() {
            return Err(Refused::bad("no CID: ask for /ipfs/{cid}"));
        }
        let root = Cid::try_from(cid_text)
            .map_err(|e| Refused::bad(format!("`{cid_text}` is not a valid CID: {e}")))?;
        let mut path = Vec::new();
        for segment in segments.filter(|s| !s.is_empty()) {
            if segment == "." || segment == ".." || segment.contains('\0') {
                return Err(Refused::bad(format!(
                    "path segment `{}` is not allowed",
                    segment.escape_debug()
                )));
            }
            path.push(segment);
        }
        let mut format = None;
        let mut scope = None;
        let mut range = None;
        let mut dups = None;
        let mut filename = None;
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*key {
                "format" => {
                    format = Some(match &*value {
                        "raw" => Format::Raw,
                        "car" => Format::Car,
                        other => {
                            return Err(Refused::bad(format!(
                                "format `{other}` is not served here: this is a trustless gateway (format=raw or format=car)"
                            )))
                        }
                    })
                }
                "dag-scope" => scope = Some(value.parse::<DagScope>().map_err(Refused::bad)?),
                "entity-bytes" => range = Some(value.parse::<EntityBytes>().map_err(Refused::bad)?),
                "car-dups" | "dups" => dups = Some(yes_no("dups", &value)?),
                "filename" => filename = Some(value.into_owned()),
                _ => {}
            }
        }
        let (accepted, accept_dups) = negotiate(accept.unwrap_or_default())?;
        let format = format.or(accepted).ok_or_else(|| Refused {
            status: 406,
            message: "this is a trustless gateway: ask for ?format=raw or ?format=car (or Accept: application/vnd.ipld.raw or application/vnd.ipld.car)".into(),
        })?;
        if format == Format::Raw && (scope.is_some() || range.is_some()) {
            return Err(Refused::bad(
                "dag-scope and entity-bytes apply to CAR answers (format=car), not to raw blocks",
            ));
        }
        Ok(GatewayRequest {
            root,
            path: path.join("/"),
            format,
            scope: if range.is_some() {
                DagScope::Entity
            } else {
                scope.unwrap_or_default()
            },
            range,
            dups: dups.or(accept_dups).unwrap_or(false),
            filename,
        })
    }

    /// `/ipfs/{root}[/{path}]`.
    pub fn content_path(&self) -> String {
        if self.path.is_empty() {
            format!("/ipfs/{}", self.root)
        } else {
            format!("/ipfs/{}/{}", self.root, self.path)
        }
    }

    /// The media type of the answer.
    pub fn content_type(&self) -> String {
        match self.format {
            Format::Raw => RAW_TYPE.to_string(),
            Format::Car => format!(
                "{CAR_TYPE}; version=1; order=dfs; dups={}",
                if self.dups { "y" } else { "n" }
            ),
        }
    }

    /// The strong ETag of the answer: a raw block is named by its CID (`terminal`, the CID at
    /// the end of the path); a CAR by the root and a digest of everything that shapes it
    /// (trove's CARs are deterministic, so equal requests give equal bytes).
    pub fn etag(&self, terminal: &Cid) -> String {
        match self.format {
            Format::Raw => format!("\"{terminal}.raw\""),
            Format::Car => {
                let shape = format!(
                    "{}\n{}\n{}\n{}",
                    self.path,
                    self.scope.as_str(),
                    self.range.map(|r| r.to_string()).unwrap_or_default(),
                    self.dups
                );
                let digest = Sha256::digest(shape.as_bytes());
                let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{}.car.{short}\"", self.root)
            }
        }
    }

    /// `attachment; filename="…"`: `?filename=` (quotes and control characters replaced),
    /// else `{cid}.bin` / `{cid}.car`.
    pub fn disposition(&self, terminal: &Cid) -> String {
        let name = match (&self.filename, self.format) {
            (Some(name), _) => name
                .chars()
                .map(|c| {
                    if c == '"' || c == '\\' || c.is_control() {
                        '_'
                    } else {
                        c
                    }
                })
                .collect(),
            (None, Format::Raw) => format!("{terminal}.bin"),
            (None, Format::Car) => format!("{}.car", self.root),
        };
        if name.is_ascii() {
            format!("attachment; filename=\"{name}\"")
        } else {
            let ascii: String = name
                .chars()
                .map(|c| if c.is_ascii() { c } else { '_' })
                .collect();
            let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes())
                .collect::<String>()
                .replace('+', "%20");
            format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
        }
    }
}

/// The format an `Accept` header asks for (the first trustless type it lists) and the CAR
/// type's `dups` parameter. A CAR version other than 1 or an order other than `dfs`/`unk` is
/// refused (406).
fn negotiate(accept: &str) -> Result<(Option<Format>, Option<bool>), Refused> {
    for item in accept.split(',') {
        let mut fields = item.split(';').map(str::trim);
        let media = fields.next().unwrap_or_default().to_ascii_lowercase();
        if media == RAW_TYPE {
            return Ok((Some(Format::Raw), None));
        }
        if media != CAR_TYPE {
            continue;
        }
        let mut dups = None;
        for field in fields {
            let (key, value) = field.split_once('=').unwrap_or((field, ""));
            let value = value.trim().trim_matches('"').to_ascii_lowercase();
            match key.trim().to_ascii_lowercase().as_str() {
                "version" if value != "1" => {
                    return Err(Refused {
                        status: 406,
                        message: format!("CAR version {value} is not served here (version=1 is)"),
                    })
                }
                "order" if value != "dfs" && value != "unk" => {
                    return Err(Refused {
                        status: 406,
                        message: format!("CAR order `{value}` is not served here (order=dfs is)"),
                    })
                }
                "dups" => dups = Some(yes_no("dups", &value)?),
                _ => {}
            }
        }
        return Ok((Some(Format::Car), dups));
    }
    Ok((None, None))
}

fn yes_no(name: &str, value: &str) -> Result<bool, Refused> {
    match value {
        "y" => Ok(true),
        "n" => Ok(false),
        other => Err(Refused::bad(format!("{name}=`{other}`: use `y` or `n`"))),
    }
}

/// Whether an `If-None-Match` header names `etag` (or is `*`); weak tags compare by value.
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|tag| {
        tag == "*"
            || tag.strip_prefix("W/").unwrap_or(tag) == etag.strip_prefix("W/").unwrap_or(etag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: &str = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

    #[test]
    fn format_from_query_or_accept() {
        let r = GatewayRequest::parse(CID, Some("format=raw"), None).unwrap();
        assert_eq!(r.format, Format::Raw);
        let r = GatewayRequest::parse(
            &format!("{CID}/a/b%20c"),
            None,
            Some("application/vnd.ipld.car; version=1; order=dfs; dups=y"),
        )
        .unwrap();
        assert_eq!(
            (r.format, r.dups, r.path.as_str()),
            (Format::Car, true, "a/b%20c")
        );
        assert_eq!(
            r.content_type(),
            "application/vnd.ipld.car; version=1; order=dfs; dups=y"
        );
        assert_eq!(
            GatewayRequest::parse(CID, None, Some("text/html"))
                .unwrap_err()
                .status,
            406
        );
        assert_eq!(
            GatewayRequest::parse(CID, None, Some("application/vnd.ipld.car; version=2"))
                .unwrap_err()
                .status,
            406
        );
        assert_eq!(
            GatewayRequest::parse(CID, Some("format=tar"), None)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn scope_range_and_refusals() {
        let r = GatewayRequest::parse(CID, Some("format=car&entity-bytes=-10:*"), None).unwrap();
        assert_eq!(r.scope, DagScope::Entity);
        assert_eq!(
            r.range,
            Some(EntityBytes {
                from: -10,
                to: None
            })
        );
        for (rest, query) in [
            ("", "format=raw"),
            ("not-a-cid", "format=raw"),
            (CID, "format=car&dag-scope=most"),
            (CID, "format=car&entity-bytes=9:1"),
            (CID, "format=raw&dag-scope=entity"),
            (&format!("{CID}/../x"), "format=car"),
            (CID, "format=car&car-dups=maybe"),
        ] {
            let refused = GatewayRequest::parse(rest, Some(query), None).unwrap_err();
            assert_eq!(refused.status, 400, "{rest}?{query}: {refused:?}");
        }
    }

    #[test]
    fn etags_and_dispositions() {
        let cid = Cid::try_from(CID).unwrap();
        let a = GatewayRequest::parse(CID, Some("format=car"), None).unwrap();
        let b = GatewayRequest::parse(CID, Some("format=car&dag-scope=entity"), None).unwrap();
        assert_ne!(a.etag(&cid), b.etag(&cid));
        assert_eq!(a.etag(&cid), a.clone().etag(&cid));
        assert!(etag_matches(
            &format!("\"x\", W/{}", a.etag(&cid)),
            &a.etag(&cid)
        ));
        assert!(!etag_matches("\"x\"", &a.etag(&cid)));
        assert_eq!(
            a.disposition(&cid),
            format!("attachment; filename=\"{CID}.car\"")
        );
        let named = GatewayRequest::parse(
            CID,
            Some("format=raw&filename=r%C3%A9sum%C3%A9%22.bin"),
            None,
        )
        .unwrap();
        assert_eq!(
            named.disposition(&cid),
            "attachment; filename=\"r_sum__.bin\"; filename*=UTF-8''r%C3%A9sum%C3%A9_.bin"
        );
    }
}
