//! Flags → the library's [`Options`] (the library resolves them against the environment, the
//! config file and the defaults: see [`crate::client::settings`]).

use super::args::{FetchArgs, RegistryArgs};
use crate::client::Options;

/// The options the fetch flags (and, when given, the registry flags) set.
pub(crate) fn fetch_options(
    base: Options,
    fetch: &FetchArgs,
    registry: Option<&RegistryArgs>,
) -> anyhow::Result<Options> {
    let mut options = base;
    options.sources = crate::config::parse_sources("--source", &fetch.sources)?;
    options.offline = fetch.offline.then_some(true);
    options.gateways = fetch.gateways.clone();
    options.mirrors = fetch.mirrors.clone();
    options.mirror_profile = fetch.mirror_profile;
    options.endpoint = fetch.endpoint.clone();
    options.kubo_api = fetch.kubo_api.clone();
    options.allow_insecure = fetch.allow_insecure;
    options.peers = fetch.peers.clone();
    options.bootstrap = (!fetch.bootstrap.is_empty()).then(|| fetch.bootstrap.clone());
    options.routers = (!fetch.routers.is_empty()).then(|| fetch.routers.clone());
    options.timeout = fetch.timeout;
    options.idle_timeout = fetch.idle_timeout;
    if let Some(registry) = registry {
        options = registry_options(options, registry);
    }
    Ok(options)
}

/// The options the registry flags set.
pub(crate) fn registry_options(base: Options, registry: &RegistryArgs) -> Options {
    Options {
        registries: registry.registries.clone(),
        refresh_registries: registry.refresh,
        ..base
    }
}
