//! `Client::http_server`: the HTTP server (`trove serve --http`) over this client's cache, with
//! the registry page and, when asked, fetching through this client's tiers what a request
//! lacks.

use super::Client;
use crate::content::Cid;
use crate::error::Error;
use crate::registry::Filter;
use crate::serve::{FetchMissing, HttpServer, RegistryPage};
use std::sync::Arc;

/// Fetches missing content with a client (`serve --http --fetch`).
struct ClientFetch(Arc<Client>);

impl FetchMissing for ClientFetch {
    fn fetch(&self, root: &Cid, path: &str) -> Result<(), Error> {
        let text = if path.is_empty() {
            root.to_string()
        } else {
            format!("{root}/{path}")
        };
        // The server calls this on one of the runtime's blocking threads, where the client
        // cannot start its own `block_on`: the fetch runs on a plain thread of its own.
        let client = self.0.clone();
        std::thread::scope(|scope| {
            scope
                .spawn(move || client.pin(&text).map(|_| ()))
                .join()
                .unwrap_or_else(|_| {
                    Err(Error::msg(
                        crate::error::ErrorKind::Other,
                        format!("the fetch of `{root}` panicked"),
                    ))
                })
        })
    }
}

impl Client {
    /// An HTTP server over this client's cache; with `fetch`, content a request asks for that
    /// the cache lacks is fetched through the client's sources first (and kept).
    pub fn http_server(self: &Arc<Self>, fetch: bool) -> HttpServer {
        let fetcher: Option<Arc<dyn FetchMissing>> = if fetch {
            Some(Arc::new(ClientFetch(self.clone())))
        } else {
            None
        };
        HttpServer::new(self.store.clone(), fetcher)
    }

    /// The registry page over this client's registries (every entry that is not retracted).
    pub fn registry_page(&self) -> Result<RegistryPage, Error> {
        let set = self.registries()?;
        let names: Vec<String> = set
            .registries
            .iter()
            .map(|r| public_name(&r.name))
            .collect();
        let entries = set
            .list(&Filter::default())
            .into_iter()
            .map(|(r, e)| {
                let mut listed = super::Listed::of(r, e);
                listed.registry = public_name(&listed.registry);
                listed
            })
            .collect();
        let title = if names.is_empty() {
            "trove registry".to_string()
        } else {
            format!("trove registry · {}", names.join(", "))
        };
        Ok(RegistryPage::new(title, entries))
    }
}

/// A registry's name as a page shows it: a local file by its file name (the server's
/// directories are nobody's business), anything else (`owner/repo`, a URL) as it is.
fn public_name(name: &str) -> String {
    let path = std::path::Path::new(name);
    if path.is_absolute() || name.starts_with('.') || name.contains('\\') {
        if let Some(file) = path.file_name() {
            return file.to_string_lossy().into_owned();
        }
    }
    name.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn local_registry_paths_are_not_shown() {
        assert_eq!(
            super::public_name("/srv/lab/registry.json"),
            "registry.json"
        );
        assert_eq!(
            super::public_name("./registry/registry.json"),
            "registry.json"
        );
        assert_eq!(super::public_name("lab/registry"), "lab/registry");
        assert_eq!(
            super::public_name("https://example.org/registry.json"),
            "https://example.org/registry.json"
        );
    }
}
