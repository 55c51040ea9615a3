//! `trove serve`: the local cache served until the process is interrupted, over HTTP
//! (`--http`: a trustless gateway and the registry page, see [`crate::serve`]), over bitswap
//! (`--p2p`, see `serve_p2p.rs`), or both from one process.
//!
//! Once the HTTP server listens, `LISTENING http://HOST:PORT` goes to standard output (with
//! `--json`: `{"event":"listening","url":…}`), so scripts can wait for it and read the port
//! when they asked for port 0. SIGINT or SIGTERM stop both servers; answers in flight get a
//! few seconds to finish.

use super::args::ServeArgs;
use super::Context;
#[cfg(feature = "server")]
use anyhow::Context as _;
#[cfg(feature = "server")]
use std::io::Write as _;
#[cfg(feature = "server")]
use std::sync::Arc;

pub(crate) fn run(ctx: &Context, args: ServeArgs) -> anyhow::Result<i32> {
    #[cfg(not(feature = "server"))]
    if args.http.is_some() {
        return Err(super::not_built("serve --http", "server"));
    }
    #[cfg(not(feature = "p2p"))]
    if args.p2p {
        return Err(super::not_built("serve --p2p", "p2p"));
    }
    #[cfg(feature = "server")]
    {
        run_servers(ctx, args)
    }
    #[cfg(all(not(feature = "server"), feature = "p2p"))]
    {
        run_p2p_only(ctx, args)
    }
    #[cfg(all(not(feature = "server"), not(feature = "p2p")))]
    {
        let _ = (ctx, args);
        unreachable!("one of --http and --p2p is required, and neither is built")
    }
}

#[cfg(all(not(feature = "server"), feature = "p2p"))]
fn run_p2p_only(ctx: &Context, args: ServeArgs) -> anyhow::Result<i32> {
    use anyhow::Context as _;
    use std::sync::Arc;
    let store = Arc::new(ctx.store()?);
    let (store, config, roots) = super::serve_p2p::prepare(ctx, &args, store)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let say = if args.json {
        super::serve_p2p::Say::Json
    } else {
        super::serve_p2p::Say::Text
    };
    runtime.block_on(super::serve_p2p::serve_until_interrupted(
        store, config, roots, say,
    ))?;
    Ok(0)
}

#[cfg(feature = "server")]
fn run_servers(ctx: &Context, args: ServeArgs) -> anyhow::Result<i32> {
    let mut options = super::settings::registry_options(ctx.options(), &args.registry);
    if !args.gateways.is_empty() {
        options.gateways = args.gateways.clone();
    }
    // `--peer`s are dialled by the serving node and asked by `--fetch`'s p2p tier alike.
    options.peers = args.peers.clone();
    let reporter = Arc::new(super::progress::CliReporter::new(args.json, false, true));
    let client = Arc::new(ctx.client(&options, reporter)?);
    let http = match &args.http {
        Some(addr) => Some((listen_address(addr)?, http_server(&client, &args)?)),
        None => None,
    };
    #[cfg(feature = "p2p")]
    let p2p = if args.p2p {
        Some(super::serve_p2p::prepare(
            ctx,
            &args,
            client.store().clone(),
        )?)
    } else {
        None
    };
    let json = args.json;
    let store_dir = client.store().root().to_path_buf();
    client.block_on(async move {
        let http = async move {
            let Some((addr, server)) = http else {
                return anyhow::Ok(());
            };
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("cannot listen on `{addr}` (is the port in use? pick another with --http HOST:PORT, or port 0 for any free one)"))?;
            let mut interrupts = super::signals::Interrupts::register()?;
            let url = format!("http://{}", listener.local_addr().context("no local address")?);
            {
                let mut out = std::io::stdout().lock();
                let line = if json {
                    serde_json::json!({"event": "listening", "url": url}).to_string()
                } else {
                    format!("LISTENING {url}")
                };
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            if !json {
                eprintln!(
                    "serving {} over HTTP: trustless gateway at {url}/ipfs/{{cid}}, registry at {url}/; press Ctrl-C to stop",
                    store_dir.display()
                );
            }
            server
                .run(listener, async move { interrupts.recv().await })
                .await?;
            if !json {
                eprintln!("HTTP server stopped");
            }
            Ok(())
        };
        #[cfg(feature = "p2p")]
        let p2p = async move {
            let Some((store, config, roots)) = p2p else {
                return anyhow::Ok(());
            };
            let say = if json { super::serve_p2p::Say::Json } else { super::serve_p2p::Say::Text };
            super::serve_p2p::serve_until_interrupted(store, config, roots, say).await
        };
        #[cfg(not(feature = "p2p"))]
        let p2p = async { anyhow::Ok(()) };
        tokio::try_join!(http, p2p).map(|_| ())
    })?;
    Ok(0)
}

/// The HTTP server with the registry page (unless `--no-page`): when the registries cannot
/// be read the page is left out with a warning, unless `--registry` named them.
#[cfg(feature = "server")]
fn http_server(
    client: &Arc<crate::client::Client>,
    args: &ServeArgs,
) -> anyhow::Result<crate::serve::HttpServer> {
    let server = client.http_server(args.fetch);
    if args.no_page {
        return Ok(server);
    }
    match client.registry_page() {
        Ok(page) => Ok(server.with_page(page)),
        Err(e) if args.registry.registries.is_empty() => {
            eprintln!("warning: no registry page at / ({e}); the gateway is served all the same");
            Ok(server)
        }
        Err(e) => Err(anyhow::Error::from(e).context("cannot read the registries for the page")),
    }
}

/// `--http ADDR`: `HOST:PORT`, a bare port (on 127.0.0.1), or an `http://` URL.
#[cfg(feature = "server")]
fn listen_address(text: &str) -> anyhow::Result<String> {
    let addr = text
        .strip_prefix("http://")
        .unwrap_or(text)
        .trim_end_matches('/');
    if addr.parse::<u16>().is_ok() {
        return Ok(format!("127.0.0.1:{addr}"));
    }
    let valid = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !valid {
        return Err(crate::Error::with_hint(
            crate::ErrorKind::Usage,
            format!("`--http {text}` is not an address to listen on"),
            "give HOST:PORT (127.0.0.1:8080, 0.0.0.0:80, [::1]:8080) or a port".to_string(),
        )
        .into());
    }
    Ok(addr.to_string())
}
