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
        let names: Vec<String> = set.registries.iter().map(|r| r.name.clone()).collect();
        let entries = set
            .list(&Filter::default())
            .into_iter()
            .map(|(r, e)| super::Listed::of(r, e))
            .collect();
        let title = if names.is_empty() {
            "trove registry".to_string()
        } else {
            format!("trove registry · {}", names.join(", "))
        };
        Ok(RegistryPage::new(title, entries))
    }
}
