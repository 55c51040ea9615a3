//! The registry's web page: `/` lists every entry (search and filter by domain, model type and
//! tag), `/entry/{id}` shows one (description, metadata, versions and aliases, files with
//! sizes, the `trove get` command and the Python snippet to copy, and whether this server
//! holds each version).
//!
//! Plain HTML rendered here, a small script (`assets/app.js`) and a style sheet
//! (`assets/style.css`) compiled into the binary: no CDN, no network, and readable without
//! JavaScript — the filter form is a GET form the server answers itself (rows that do not
//! match carry `hidden`); the script filters the same rows as one types. The matching rule is
//! the same on both sides: every word of the query must occur in the entry's ID, description,
//! tags, domain, model type, variant or author (case-insensitive). Every registry string is
//! HTML-escaped, and pages carry a `Content-Security-Policy` that allows only this server's
//! own script and style.

use super::gateway::{text, Gateway};
use crate::client::Listed;
use crate::content::Cid;
use crate::progress::human_size;
use crate::registry::Entry;
use crate::unixfs::{NodeKind, Reader};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeSet;
use std::fmt::Write as _;

const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'";

/// The entries a server shows, read once when it starts.
pub struct RegistryPage {
    title: String,
    entries: Vec<Listed>,
    /// Each entry's [`search_text`], made once (every list request matches against it).
    texts: Vec<String>,
}

/// The filters of the list page (`?q=&domain=&model_type=&tag=`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filters {
    pub q: String,
    pub domain: String,
    pub model_type: String,
    pub tag: String,
}

impl Filters {
    pub fn parse(query: Option<&str>) -> Self {
        let mut f = Filters::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let value = value.trim().to_string();
            match &*key {
                "q" => f.q = value,
                "domain" => f.domain = value,
                "model_type" => f.model_type = value,
                "tag" => f.tag = value,
                _ => {}
            }
        }
        f
    }

    /// Whether `entry`, whose [`search_text`] is `text`, passes (the rule `app.js` applies
    /// too).
    pub fn matches(&self, entry: &Entry, text: &str) -> bool {
        let m = &entry.metadata;
        self.q
            .to_lowercase()
            .split_whitespace()
            .all(|word| text.contains(word))
            && (self.domain.is_empty() || m.domain.as_deref() == Some(&*self.domain))
            && (self.model_type.is_empty() || m.model_type.as_deref() == Some(&*self.model_type))
            && (self.tag.is_empty() || m.tags.contains(&self.tag))
    }
}

/// What a query's words are looked for in, lowercased.
pub fn search_text(entry: &Entry) -> String {
    let m = &entry.metadata;
    let mut parts = vec![entry.id.as_str(), entry.description.as_str()];
    parts.extend(m.tags.iter().map(String::as_str));
    parts.extend(
        [&m.domain, &m.model_type, &m.variant, &m.author]
            .into_iter()
            .flatten()
            .map(String::as_str),
    );
    parts.join(" ").to_lowercase()
}

impl RegistryPage {
    /// A page over `entries` (retracted ones are left out), titled `title`.
    pub fn new(title: impl Into<String>, entries: Vec<Listed>) -> Self {
        let entries: Vec<Listed> = entries.into_iter().filter(|l| !l.entry.retracted).collect();
        RegistryPage {
            title: title.into(),
            texts: entries.iter().map(|l| search_text(&l.entry)).collect(),
            entries,
        }
    }

    /// The list page.
    pub fn index(&self, query: Option<&str>) -> Response {
        let filters = Filters::parse(query);
        let mut body = String::new();
        let title = esc(&self.title);
        let _ = writeln!(
            body,
            "<header><h1>{title}</h1><p>{} artifacts. Every download is checked against its CID.</p></header>",
            self.entries.len()
        );
        let options = |values: BTreeSet<&str>, chosen: &str, all: &str| {
            let mut out = format!("<option value=\"\">{all}</option>");
            for v in values {
                let selected = if v == chosen { " selected" } else { "" };
                let _ = write!(out, "<option value=\"{0}\"{selected}>{0}</option>", esc(v));
            }
            out
        };
        let meta = |f: fn(&Entry) -> Vec<&str>| -> BTreeSet<&str> {
            self.entries.iter().flat_map(|l| f(&l.entry)).collect()
        };
        let domains = meta(|e| e.metadata.domain.as_deref().into_iter().collect());
        let models = meta(|e| e.metadata.model_type.as_deref().into_iter().collect());
        let tags = meta(|e| e.metadata.tags.iter().map(String::as_str).collect());
        let _ = writeln!(
            body,
            "<form id=\"filters\" method=\"get\" action=\"/\" role=\"search\">\
<label>Search <input type=\"search\" id=\"q\" name=\"q\" value=\"{}\" placeholder=\"ID, description, tag…\" autocomplete=\"off\"></label>\
<label>Domain <select id=\"domain\" name=\"domain\">{}</select></label>\
<label>Model type <select id=\"model_type\" name=\"model_type\">{}</select></label>\
<label>Tag <select id=\"tag\" name=\"tag\">{}</select></label>\
<button type=\"submit\">Filter</button></form>",
            esc(&filters.q),
            options(domains, &filters.domain, "all domains"),
            options(models, &filters.model_type, "all model types"),
            options(tags, &filters.tag, "all tags"),
        );
        let passes: Vec<bool> = self
            .entries
            .iter()
            .zip(&self.texts)
            .map(|(l, text)| filters.matches(&l.entry, text))
            .collect();
        let shown = passes.iter().filter(|p| **p).count();
        let _ = write!(
            body,
            "<p id=\"count\" aria-live=\"polite\">{shown} of {} shown</p>\n\
<table id=\"entries\"><thead><tr><th>ID</th><th>Description</th><th>Domain</th><th>Model type</th><th>Tags</th><th>Latest</th><th>Size</th></tr></thead><tbody>\n",
            self.entries.len()
        );
        for ((listed, text), passes) in self.entries.iter().zip(&self.texts).zip(passes) {
            let e = &listed.entry;
            let m = &e.metadata;
            let hidden = if passes { "" } else { " hidden" };
            let latest = e.latest();
            let _ = writeln!(
                body,
                "<tr class=\"entry\" data-id=\"{id}\" data-text=\"{text}\" data-domain=\"{domain}\" data-model-type=\"{model}\" data-tags=\"{tags_data}\"{hidden}>\
<td><a href=\"/entry/{href}\">{id}</a></td><td>{desc}</td><td>{domain}</td><td>{model}</td><td>{tags}</td><td>{version}</td><td>{size}</td></tr>",
                id = esc(&e.id),
                href = path_escape(&e.id),
                text = esc(text),
                domain = esc(m.domain.as_deref().unwrap_or("")),
                model = esc(m.model_type.as_deref().unwrap_or("")),
                tags_data = esc(&m.tags.join("\u{1f}")),
                tags = m.tags.iter().map(|t| format!("<span class=\"tag\">{}</span>", esc(t))).collect::<Vec<_>>().join(" "),
                desc = esc(&e.description),
                version = esc(latest.map(|v| v.version.as_str()).unwrap_or("")),
                size = latest.and_then(|v| v.size).map(human_size).unwrap_or_default(),
            );
        }
        body.push_str("</tbody></table>\n<p id=\"none\"");
        if shown > 0 {
            body.push_str(" hidden");
        }
        body.push_str(">No artifact matches. Clear the search or pick another filter.</p>\n");
        html_page(&self.title, &body)
    }

    /// The page of entry `id` (404 when there is none).
    pub fn entry(&self, id: &str, gateway: &Gateway) -> Response {
        let Some(listed) = self.entries.iter().find(|l| l.entry.id == id) else {
            let body = format!(
                "<p class=\"error\">No entry <code>{}</code> in this registry. <a href=\"/\">Back to the list</a></p>",
                esc(id)
            );
            let mut response = html_page("not found", &body);
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        };
        let e = &listed.entry;
        let m = &e.metadata;
        let mut body = String::new();
        let _ = writeln!(
            body,
            "<nav><a href=\"/\">← all artifacts</a></nav><h1 id=\"entry-id\">{}</h1><p class=\"description\">{}</p>",
            esc(&e.id),
            esc(&e.description)
        );
        body.push_str("<h2>Get it</h2>\n");
        let command = format!("trove get {}", e.id);
        let python = format!("import trove\n\npath = trove.get(\"{}\")", e.id);
        let _ = write!(
            body,
            "<div class=\"copy\"><pre><code id=\"get-command\">{}</code></pre><button type=\"button\" data-copy=\"get-command\">Copy</button></div>\n\
<div class=\"copy\"><pre><code id=\"python-snippet\">{}</code></pre><button type=\"button\" data-copy=\"python-snippet\">Copy</button></div>\n",
            esc(&command),
            esc(&python)
        );
        body.push_str("<h2>About</h2>\n<dl class=\"meta\">");
        let mut item = |name: &str, value: Option<String>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                let _ = write!(body, "<dt>{name}</dt><dd>{}</dd>", esc(&v));
            }
        };
        item("Registry", Some(listed.registry.clone()));
        item("Domain", m.domain.clone());
        item("Model type", m.model_type.clone());
        item("Variant", m.variant.clone());
        item("Tags", Some(m.tags.join(", ")));
        item("Author", m.author.clone());
        item("Created", m.created.clone());
        item("License", e.license.clone().or_else(|| m.license.clone()));
        item("Parameters", m.param_length.map(|n| n.to_string()));
        item("Vertices", m.vertices.map(|n| n.to_string()));
        if let Some(c) = &m.citation {
            item("Citation", Some(c.to_string()));
        }
        body.push_str("</dl>\n");
        body.push_str("<h2>Versions</h2>\n<table id=\"versions\"><thead><tr><th>Version</th><th>Aliases</th><th>CID</th><th>Size</th><th>Published</th><th>On this server</th></tr></thead><tbody>\n");
        for v in e.versions.iter().rev() {
            let aliases: Vec<&str> = e
                .aliases
                .iter()
                .filter(|(_, target)| **target == v.version)
                .map(|(alias, _)| alias.as_str())
                .collect();
            let cid = v.cid.as_deref().and_then(|c| Cid::try_from(c).ok());
            let held = match &cid {
                Some(cid) => match gateway.holds(cid) {
                    Ok(true) => format!(
                        "<span class=\"held\">yes</span> · <a href=\"/ipfs/{cid}?format=car\">CAR</a>"
                    ),
                    Ok(false) => "<span class=\"not-held\">no</span>".into(),
                    Err(err) => format!("<span class=\"not-held\">unknown: {}</span>", esc(&err.to_string())),
                },
                None => "—".into(),
            };
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"held-cell\">{held}</td></tr>",
                esc(&v.version),
                esc(&aliases.join(", ")),
                esc(v.cid.as_deref().unwrap_or("")),
                v.size.map(human_size).unwrap_or_default(),
                esc(v.published.as_deref().unwrap_or("")),
            );
        }
        body.push_str("</tbody></table>\n");
        let files = self.files(e, gateway);
        if !files.is_empty() {
            body.push_str("<h2>Files (latest)</h2>\n<table id=\"files\"><thead><tr><th>Name</th><th>Size</th><th>SHA-256</th></tr></thead><tbody>\n");
            for (name, size, sha) in files {
                let _ = writeln!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    esc(&name),
                    size.map(human_size).unwrap_or_default(),
                    esc(sha.as_deref().unwrap_or(""))
                );
            }
            body.push_str("</tbody></table>\n");
        }
        html_page(&e.id, &body)
    }

    /// The latest version's files: as the registry lists them, else (when this server holds
    /// the content and it is a directory) read from the content itself.
    fn files(&self, e: &Entry, gateway: &Gateway) -> Vec<(String, Option<u64>, Option<String>)> {
        let Some(latest) = e.latest() else {
            return Vec::new();
        };
        if !latest.files.is_empty() {
            return latest
                .files
                .iter()
                .map(|(name, f)| (name.clone(), f.size, f.sha256.clone()))
                .collect();
        }
        if !latest.artifacts.is_empty() {
            return latest
                .artifacts
                .iter()
                .map(|a| (a.name.clone(), a.size, a.sha256.clone()))
                .collect();
        }
        let Some(cid) = latest.cid.as_deref().and_then(|c| Cid::try_from(c).ok()) else {
            return Vec::new();
        };
        if !gateway.holds(&cid).unwrap_or(false) {
            return Vec::new();
        }
        let reader = Reader::new(&**gateway.store());
        match reader.kind(&cid) {
            Ok(NodeKind::File { size }) => vec![(e.id.clone(), Some(size), latest.sha256.clone())],
            Ok(NodeKind::Directory | NodeKind::ShardedDirectory) => reader
                .list(&cid)
                .unwrap_or_default()
                .into_iter()
                .take(1000)
                .map(|entry| {
                    let size = match reader.kind(&entry.cid) {
                        Ok(NodeKind::File { size }) => Some(size),
                        _ => None,
                    };
                    (entry.name, size, None)
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// `/` of a server started without a registry.
pub fn bare_index() -> Response {
    html_page(
        "trove gateway",
        "<h1>trove gateway</h1><p>A trustless IPFS gateway over a trove cache: ask for \
<code>/ipfs/{cid}?format=car</code> or <code>/ipfs/{cid}?format=raw</code>. Start the server \
with <code>--registry</code> to list a registry here.</p>",
    )
}

/// `/assets/{name}`.
pub fn asset(name: &str) -> Response {
    let (body, kind) = match name {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE_CSS, "text/css; charset=utf-8"),
        "favicon.svg" => (FAVICON_SVG, "image/svg+xml"),
        _ => return text(StatusCode::NOT_FOUND, format!("no asset `{name}`")),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

fn html_page(title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><link rel=\"icon\" href=\"/assets/favicon.svg\" type=\"image/svg+xml\"><link rel=\"stylesheet\" href=\"/assets/style.css\">\
<script defer src=\"/assets/app.js\"></script></head>\n<body>\n<main>\n{body}</main>\n\
<footer>Served by trove · <a href=\"/\">registry</a></footer>\n</body></html>\n",
        esc(title)
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        page,
    )
        .into_response()
}

/// HTML-escapes text for element content and quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-escapes an ID for a path segment.
fn path_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_filters() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let f = Filters::parse(Some("q=Kingman+n%3D5&domain=population-genetics"));
        assert_eq!(f.q, "Kingman n=5");
        assert_eq!(f.domain, "population-genetics");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(12), "12 B");
    }
}
