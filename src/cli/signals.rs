//! SIGINT and SIGTERM for the long-running commands (`serve`, `get --seed`, `sync --watch`).
//!
//! The handlers are registered before a server says it listens: a supervisor that sends
//! SIGTERM as soon as it reads `LISTENING` must get a clean stop, not a process killed by the
//! signal's default action because nothing was listening for it yet.

/// SIGINT and SIGTERM, registered.
pub(crate) struct Interrupts {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Registers the handlers now (call it inside the runtime).
    pub(crate) fn register() -> anyhow::Result<Interrupts> {
        #[cfg(unix)]
        {
            use anyhow::Context as _;
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Interrupts {
                interrupt: signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupts {})
        }
    }

    /// Resolves on the next SIGINT or SIGTERM (Ctrl-C elsewhere).
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
