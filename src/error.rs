//! One error type for the library's front door ([`crate::Client`]), one taxonomy for every
//! front end, and one [`Hint`] trait for every error.
//!
//! Each module keeps its own `thiserror` enum, naming the CID, path or URL involved; [`Error`]
//! wraps them (or says something of its own, with a hint) and adds what the callers need to
//! decide without parsing messages:
//! - [`Error::kind`]: not found, offline miss, integrity, registry, usage, network, other. The
//!   CLI's exit code and the Python exception class both come from it, so a script and a
//!   notebook see the same distinctions.
//! - [`Hint::hint`]: the advice line the CLI prints after `hint:` and the Python exceptions
//!   carry as `.hint`.

use crate::car::CarError;
use crate::config::ConfigError;
use crate::content::CidError;
use crate::extract::ExtractError;
use crate::fetch::{FetchError, HttpError, KuboError};
use crate::import::ImportError;
use crate::registry::RegistryError;
use crate::store::StoreError;
use crate::unixfs::ReadError;

/// A line of advice for the user: what to do about an error.
pub trait Hint {
    /// The advice, when there is one worth giving.
    fn hint(&self) -> Option<String>;
}

/// What kind of failure an error is: what a caller branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No such ID (or version, alias, file), or content no source has.
    NotFound,
    /// Offline (`--offline`, `TROVE_OFFLINE`, `offline=True`) and not in the cache.
    Offline,
    /// Bytes that do not match what names them: a block against its CID, a file against a
    /// recorded sha256, a corrupt cache entry.
    Integrity,
    /// A registry that cannot be read, parsed or trusted.
    Registry,
    /// Bad input: a malformed CID, target or setting, an output already there.
    Usage,
    /// Sources failed (unreachable, timed out, broke the protocol) rather than lacked the
    /// content.
    Network,
    /// Anything else (a disk error, say).
    Other,
}

impl ErrorKind {
    /// A short name (`not-found`, `offline`, …) for JSON output and logs.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not-found",
            ErrorKind::Offline => "offline",
            ErrorKind::Integrity => "integrity",
            ErrorKind::Registry => "registry",
            ErrorKind::Usage => "usage",
            ErrorKind::Network => "network",
            ErrorKind::Other => "other",
        }
    }
}

/// The library's error: a module's own error, or one with its message, kind and hint.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Loading or resolving registries.
    #[error(transparent)]
    Registry(Box<RegistryError>),
    /// Fetching from the sources.
    #[error(transparent)]
    Fetch(Box<FetchError>),
    /// The local cache.
    #[error(transparent)]
    Store(Box<StoreError>),
    /// Writing content out.
    #[error(transparent)]
    Extract(Box<ExtractError>),
    /// Reading UnixFS content.
    #[error(transparent)]
    Read(Box<ReadError>),
    /// Settings.
    #[error(transparent)]
    Config(Box<ConfigError>),
    /// The HTTP client or a URL.
    #[error(transparent)]
    Http(Box<HttpError>),
    /// The local daemon.
    #[error(transparent)]
    Kubo(Box<KuboError>),
    /// Importing files.
    #[error(transparent)]
    Import(Box<ImportError>),
    /// CAR data.
    #[error(transparent)]
    Car(Box<CarError>),
    /// A CID that does not parse.
    #[error(transparent)]
    Cid(Box<CidError>),
    /// Setting up the p2p node.
    #[cfg(feature = "p2p")]
    #[error(transparent)]
    P2p(Box<crate::fetch::p2p::P2pError>),
    /// Publishing.
    #[cfg(feature = "publish")]
    #[error(transparent)]
    Publish(Box<crate::publish::PublishError>),
    /// Importing or exporting a bundle (an archive or folder).
    #[error(transparent)]
    Bundle(Box<crate::bundle::BundleError>),
    /// Object storage (S3, GCS, Azure).
    #[error(transparent)]
    Objects(Box<crate::objects::ObjectError>),
    /// Comparing tables.
    #[error(transparent)]
    Table(Box<crate::diff::table::TableError>),
    /// What was being done when `source` happened (`cannot get `ID``).
    #[error("{context}")]
    Context {
        /// What was being done.
        context: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// A failure described here, with its kind and hint.
    #[error(transparent)]
    Message(Box<Described>),
    /// A filesystem operation outside the cache.
    #[error(transparent)]
    Io(Box<IoError>),
    /// The operation was cancelled (Ctrl-C in Python, a dropped token).
    #[error("cancelled")]
    Cancelled,
}

/// A failure described where it happened: its message, kind and hint.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Described {
    /// What went wrong, naming the thing.
    pub message: String,
    /// Its kind.
    pub kind: ErrorKind,
    /// What to do about it.
    pub hint: Option<String>,
}

/// A filesystem operation outside the cache that failed, naming the path.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} `{}`: {source}", path.display())]
pub struct IoError {
    /// What was being done.
    pub action: &'static str,
    /// The path.
    pub path: std::path::PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

impl Error {
    /// An error described here.
    pub fn msg(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error::Message(Box::new(Described {
            message: message.into(),
            kind,
            hint: None,
        }))
    }

    /// An error described here, with a hint.
    pub fn with_hint(kind: ErrorKind, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Message(Box::new(Described {
            message: message.into(),
            kind,
            hint: Some(hint.into()),
        }))
    }

    /// A filesystem error naming the path.
    pub fn io(
        action: &'static str,
        path: impl Into<std::path::PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io(Box::new(IoError {
            action,
            path: path.into(),
            source,
        }))
    }

    /// This error as the cause of `context` (what was being done).
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// The innermost error this one wraps with context.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            other => other,
        }
    }

    /// Whether the operation was cancelled ([`crate::Client::cancel`]) rather than failed.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.root(), Error::Cancelled)
            || matches!(self.root(), Error::Fetch(e) if matches!(**e, FetchError::Cancelled))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Context { source, .. } => source.kind(),
            Error::Message(m) => m.kind,
            Error::Registry(e) => registry_kind(e),
            Error::Fetch(e) => fetch_kind(e),
            Error::Store(e) => store_kind(e),
            Error::Read(e) => read_kind(e),
            Error::Extract(e) => extract_kind(e),
            Error::Config(_) | Error::Cid(_) | Error::Http(_) => ErrorKind::Usage,
            Error::Kubo(_) => ErrorKind::Network,
            Error::Import(_) | Error::Io(_) => ErrorKind::Other,
            Error::Bundle(e) => e.kind(),
            Error::Objects(e) => e.kind(),
            Error::Table(e) => match **e {
                crate::diff::table::TableError::Io { .. } => ErrorKind::Other,
                _ => ErrorKind::Usage,
            },
            Error::Car(_) => ErrorKind::Integrity,
            #[cfg(feature = "p2p")]
            Error::P2p(_) => ErrorKind::Network,
            #[cfg(feature = "publish")]
            Error::Publish(e) => e.kind(),
            Error::Cancelled => ErrorKind::Other,
        }
    }
}

/// The kind of `err` when it is one of trove's errors (the library's [`Error`] or a module's
/// own), else `None`. Front ends that wrap errors in their own types (the CLI's `anyhow`) ask
/// this of each cause in turn, outermost first.
pub fn kind_of(err: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    macro_rules! kind_by {
        ($($ty:ty => $kind:expr),* $(,)?) => {
            $(
                if let Some(e) = err.downcast_ref::<$ty>() {
                    #[allow(clippy::redundant_closure_call)]
                    return Some(($kind)(e));
                }
            )*
        };
    }
    kind_by!(
        Error => Error::kind,
        RegistryError => registry_kind,
        FetchError => fetch_kind,
        StoreError => store_kind,
        ReadError => read_kind,
        ExtractError => extract_kind,
        ConfigError => |_| ErrorKind::Usage,
        CidError => |_| ErrorKind::Usage,
        HttpError => |_| ErrorKind::Usage,
        crate::output::OutputError => |_| ErrorKind::Usage,
        KuboError => |_| ErrorKind::Network,
        CarError => |_| ErrorKind::Integrity,
        ImportError => |_| ErrorKind::Other,
        crate::bundle::BundleError => crate::bundle::BundleError::kind,
        crate::objects::ObjectError => crate::objects::ObjectError::kind,
        crate::diff::table::TableError => |e: &crate::diff::table::TableError| match e {
            crate::diff::table::TableError::Io { .. } => ErrorKind::Other,
            _ => ErrorKind::Usage,
        },
    );
    #[cfg(feature = "p2p")]
    kind_by!(crate::fetch::p2p::P2pError => |_| ErrorKind::Network);
    #[cfg(feature = "publish")]
    kind_by!(
        crate::publish::PublishError => crate::publish::PublishError::kind,
        crate::publish::pr::PrError => |_| ErrorKind::Network,
        crate::publish::pin::PinError => |_| ErrorKind::Network,
        crate::publish::forge::ForgeError => |_| ErrorKind::Network,
        crate::publish::release::ReleaseError => |e: &crate::publish::release::ReleaseError| {
            crate::publish::PublishError::kind_of_release(e)
        },
        crate::publish::edit::EditError => |_| ErrorKind::Usage,
        crate::publish::entry::EntryError => |_| ErrorKind::Usage,
    );
    None
}

/// The first hint any cause in `err`'s chain offers, outermost first (every error type trove
/// has implements [`Hint`]); for front ends that wrap trove's errors in their own types.
pub fn hint_of(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    macro_rules! hint_by {
        ($cause:expr, $($ty:ty),* $(,)?) => {
            $(
                if let Some(hint) = $cause.downcast_ref::<$ty>().and_then(Hint::hint) {
                    return Some(hint);
                }
            )*
        };
    }
    let mut next = Some(err);
    while let Some(cause) = next {
        hint_by!(
            cause,
            Error,
            RegistryError,
            FetchError,
            HttpError,
            KuboError,
            StoreError,
            ExtractError,
            crate::output::OutputError,
            ReadError,
            ImportError,
            CarError,
            CidError,
            ConfigError,
            crate::bundle::BundleError,
            crate::objects::ObjectError,
            crate::diff::table::TableError,
        );
        #[cfg(feature = "p2p")]
        hint_by!(cause, crate::fetch::p2p::P2pError);
        #[cfg(feature = "publish")]
        hint_by!(
            cause,
            crate::publish::PublishError,
            crate::publish::pr::PrError,
            crate::publish::pin::PinError,
            crate::publish::forge::ForgeError,
            crate::publish::release::ReleaseError,
            crate::publish::edit::EditError,
            crate::publish::entry::EntryError,
        );
        next = cause.source();
    }
    None
}

fn registry_kind(e: &RegistryError) -> ErrorKind {
    match e {
        RegistryError::UnknownId { .. }
        | RegistryError::UnknownVersion { .. }
        | RegistryError::UnknownFile { .. }
        | RegistryError::UnknownCollection { .. } => ErrorKind::NotFound,
        RegistryError::NotCached { .. } | RegistryError::Offline { .. } => ErrorKind::Offline,
        RegistryError::Artifact { .. } => ErrorKind::Integrity,
        RegistryError::BadSelector { .. } => ErrorKind::Usage,
        _ => ErrorKind::Registry,
    }
}

fn fetch_kind(e: &FetchError) -> ErrorKind {
    match e {
        FetchError::Offline { .. } => ErrorKind::Offline,
        FetchError::Incomplete {
            only_not_found: true,
            ..
        } => ErrorKind::NotFound,
        FetchError::Incomplete {
            only_bad_bytes: true,
            ..
        } => ErrorKind::Integrity,
        FetchError::Incomplete { .. }
        | FetchError::TimedOut { .. }
        | FetchError::NoSources { .. } => ErrorKind::Network,
        FetchError::BadContent { .. } => ErrorKind::Integrity,
        FetchError::Store(e) => store_kind(e),
        FetchError::Cancelled => ErrorKind::Other,
    }
}

fn extract_kind(e: &ExtractError) -> ErrorKind {
    match e {
        ExtractError::Read(e) => read_kind(e),
        ExtractError::Output(_) | ExtractError::SymlinkRoot { .. } => ErrorKind::Usage,
        ExtractError::UnsafeName { .. } | ExtractError::UnsafeSymlink { .. } => {
            ErrorKind::Integrity
        }
        _ => ErrorKind::Other,
    }
}

fn store_kind(e: &StoreError) -> ErrorKind {
    match e {
        StoreError::Corrupt { .. } => ErrorKind::Integrity,
        _ => ErrorKind::Other,
    }
}

fn read_kind(e: &ReadError) -> ErrorKind {
    match e {
        ReadError::NotFound { .. } => ErrorKind::NotFound,
        ReadError::Invalid { .. } => ErrorKind::Integrity,
        ReadError::NotAFile { .. } | ReadError::NotADirectory { .. } => ErrorKind::Usage,
        ReadError::Store(e) => store_kind(e),
        _ => ErrorKind::Other,
    }
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::Context { source, .. } => source.hint(),
            Error::Message(m) => m.hint.clone(),
            Error::Registry(e) => e.hint(),
            Error::Fetch(e) => e.hint(),
            Error::Store(e) => e.hint(),
            Error::Extract(e) => e.hint(),
            Error::Read(e) => e.hint(),
            Error::Config(e) => e.hint(),
            Error::Http(e) => e.hint(),
            Error::Kubo(e) => e.hint(),
            Error::Import(e) => e.hint(),
            Error::Car(e) => e.hint(),
            Error::Cid(e) => e.hint(),
            #[cfg(feature = "p2p")]
            Error::P2p(e) => e.hint(),
            #[cfg(feature = "publish")]
            Error::Publish(e) => e.hint(),
            Error::Bundle(e) => e.hint(),
            Error::Objects(e) => e.hint(),
            Error::Table(e) => e.hint(),
            Error::Io(_) | Error::Cancelled => None,
        }
    }
}

/// An error and its sources as one line, joined with `: `, each message once (an `io::Error`
/// wrapping another displays the same text as what it wraps).
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// `From` for each wrapped error type (boxed: an `Error` stays two words wide).
macro_rules! boxed_from {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(
            impl From<$ty> for Error {
                fn from(e: $ty) -> Self {
                    Error::$variant(Box::new(e))
                }
            }
        )*
    };
}

boxed_from!(
    Bundle(crate::bundle::BundleError),
    Objects(crate::objects::ObjectError),
    Table(crate::diff::table::TableError),
    Registry(RegistryError),
    Fetch(FetchError),
    Store(StoreError),
    Extract(ExtractError),
    Read(ReadError),
    Config(ConfigError),
    Http(HttpError),
    Kubo(KuboError),
    Import(ImportError),
    Car(CarError),
    Cid(CidError),
);
#[cfg(feature = "p2p")]
boxed_from!(P2p(crate::fetch::p2p::P2pError));

impl From<crate::output::OutputError> for Error {
    fn from(e: crate::output::OutputError) -> Self {
        ExtractError::Output(e).into()
    }
}
#[cfg(feature = "publish")]
boxed_from!(Publish(crate::publish::PublishError));

/// `result` with `context` (what was being done) around its error.
pub trait ResultExt<T> {
    /// Wraps the error with what was being done.
    fn context(self, context: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T, E: Into<Error>> ResultExt<T> for Result<T, E> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| e.into().context(context()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_stays_small() {
        // Results of `Error` are returned everywhere; the wrapped errors are boxed.
        assert!(
            std::mem::size_of::<Error>() <= 32,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
