//! Where the registry repository is: `owner/repo` on the forge, an https or ssh URL, another
//! git URL or a local path; which git URLs are acceptable; the forge's web URLs.

use super::error::PrError;
use super::git;
use super::PrOptions;
use crate::http::{is_local_host, is_local_ip};
use std::path::Path;
use url::Url;

/// `{html}/compare/{base}...{owner}:{branch}?expand=1`.
pub(super) fn compare_url(html: &str, base: &str, head_owner: &str, branch: &str) -> String {
    format!("{html}/compare/{base}...{head_owner}:{branch}?expand=1")
}

/// The forge's web site: `web_url`, else derived from the API URL (`api.HOST` → `HOST`, a
/// `/api/v3` suffix removed).
pub(super) fn web_base(api_url: &str, web_url: Option<&str>) -> String {
    if let Some(web) = web_url.filter(|w| !w.trim().is_empty()) {
        return web.trim().trim_end_matches('/').to_string();
    }
    match Url::parse(api_url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("github.com");
            let host = host.strip_prefix("api.").unwrap_or(host);
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{host}{port}", u.scheme())
        }
        Err(_) => "https://github.com".into(),
    }
}

/// How the repository was given.
pub(super) enum Target {
    /// A git URL or path without a forge API: pushed to directly.
    Plain(String),
    /// A repository on the forge.
    Forge {
        owner: String,
        name: String,
        /// The clone URL as given (`None` for `owner/repo`: asked from the API).
        url: Option<String>,
    },
}

pub(super) fn parse_repository(
    options: &PrOptions,
    forge_host: Option<&str>,
) -> Result<Target, PrError> {
    let text = options.repository.trim();
    let invalid = |reason: &str| PrError::InvalidRepository {
        repository: git::redact_url(text),
        reason: reason.to_string(),
    };
    if text.is_empty() {
        return Err(invalid("it is empty"));
    }
    let on_forge = |host: &str, path: &str| -> Option<(String, String)> {
        if Some(host.to_ascii_lowercase().as_str()) != forge_host {
            return None;
        }
        owner_name(path)
    };
    if text.contains("://") {
        check_git_url(text, options.allow_insecure, true).map_err(|r| invalid(&r))?;
        let url = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        if matches!(url.scheme(), "https" | "http" | "ssh") {
            if let Some((owner, name)) = on_forge(url.host_str().unwrap_or(""), url.path()) {
                return Ok(Target::Forge {
                    owner,
                    name,
                    url: Some(text.to_string()),
                });
            }
        }
        return Ok(Target::Plain(text.to_string()));
    }
    if is_scp_like(text) {
        let (host, path) = text.split_once(':').unwrap_or((text, ""));
        let host = host.rsplit('@').next().unwrap_or(host);
        if let Some((owner, name)) = on_forge(host, path) {
            return Ok(Target::Forge {
                owner,
                name,
                url: Some(text.to_string()),
            });
        }
        return Ok(Target::Plain(text.to_string()));
    }
    let path = Path::new(text);
    if path.exists() {
        let absolute = std::path::absolute(path).map_err(|e| invalid(&e.to_string()))?;
        return Ok(Target::Plain(absolute.to_string_lossy().into_owned()));
    }
    if let Some((owner, name)) = text.split_once('/') {
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if plain(owner) && plain(name) && !name.contains('/') {
            return Ok(Target::Forge {
                owner: owner.to_string(),
                name: name.trim_end_matches(".git").to_string(),
                url: None,
            });
        }
    }
    Err(invalid("no such local path, and not `owner/repo`"))
}

/// `owner/name` from the last two segments of a URL path (`.git` removed).
pub(super) fn owner_name(path: &str) -> Option<(String, String)> {
    let mut segs = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .rev();
    let name = segs.next()?.trim_end_matches(".git").to_string();
    let owner = segs.next()?.to_string();
    (!name.is_empty()).then_some((owner, name))
}

/// `user@host:path` (scp-like ssh).
pub(super) fn is_scp_like(text: &str) -> bool {
    if text.contains("://") {
        return false;
    }
    match text.split_once(':') {
        Some((left, right)) => {
            left.contains('@') && !left.contains('/') && !right.is_empty() && !left.is_empty()
        }
        None => false,
    }
}

/// The URL policy for git remotes: `https://` and ssh always; `http://` and `git://` to loopback
/// and private hosts, elsewhere only with `allow_insecure`; local paths and `file://` only when
/// `allow_local`.
pub(super) fn check_git_url(
    text: &str,
    allow_insecure: bool,
    allow_local: bool,
) -> Result<(), String> {
    if is_scp_like(text) {
        return Ok(());
    }
    let Ok(url) = Url::parse(text) else {
        return if allow_local {
            Ok(())
        } else {
            Err("a local path is only accepted as the repository itself".into())
        };
    };
    // Non-special schemes (`git://`) keep IP addresses as opaque host names: parse them here.
    let local_host = match url.host_str() {
        Some(h) => match h.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
            Ok(ip) => is_local_ip(ip),
            Err(_) => url.host().is_some_and(|h| is_local_host(&h)),
        },
        None => false,
    };
    match url.scheme() {
        "https" | "ssh" | "git+ssh" => Ok(()),
        "http" | "git" if allow_insecure || local_host => Ok(()),
        "http" | "git" => Err(format!(
            "`{}://` is unencrypted and unauthenticated: use https:// or ssh (or allow it with allow_insecure)",
            url.scheme()
        )),
        "file" if allow_local => Ok(()),
        "file" => Err("a file:// URL is only accepted as the repository itself".into()),
        other => Err(format!("unsupported scheme `{other}`")),
    }
}
