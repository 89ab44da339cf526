//! The cluster's secret: every connection, on both planes, carries it, and a connection without
//! it is refused and logged with its address. The secret itself is never logged.

use std::sync::Arc;

use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

use crate::error::{Error, Result};

/// The header that carries the secret.
const HEADER: &str = "authorization";

/// The cluster's shared secret.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A secret given in full. It must be at least 16 characters.
    ///
    /// # Errors
    /// [`Error::Config`] for a shorter one.
    ///
    /// ```
    /// let s = partita_cluster::Secret::new("0123456789abcdef0123")?;
    /// assert_eq!(format!("{s:?}"), "Secret(..)");
    /// assert!(partita_cluster::Secret::new("short").is_err());
    /// # Ok::<(), partita_cluster::Error>(())
    /// ```
    pub fn new(secret: impl Into<String>) -> Result<Secret> {
        let s = secret.into().trim().to_string();
        if s.len() < 16 {
            return Err(Error::Config {
                message: "the cluster secret must be at least 16 characters".into(),
            });
        }
        Ok(Secret(s.into()))
    }

    /// A fresh random secret (32 bytes, as hex), for a cluster of one's own.
    ///
    /// # Errors
    /// [`Error::Config`] if the OS has no randomness to give.
    pub fn random() -> Result<Secret> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| Error::Config {
            message: format!("no randomness for a cluster secret: {e}"),
        })?;
        Secret::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    /// The secret of `PARTITA_SECRET`, or of the file named by `PARTITA_SECRET_FILE`.
    ///
    /// # Errors
    /// [`Error::Config`] if neither is set, or the file cannot be read.
    pub fn from_env() -> Result<Secret> {
        if let Ok(s) = std::env::var("PARTITA_SECRET") {
            return Secret::new(s);
        }
        if let Ok(path) = std::env::var("PARTITA_SECRET_FILE") {
            return Secret::from_file(&path);
        }
        Err(Error::Config {
            message: "no cluster secret: set PARTITA_SECRET, or PARTITA_SECRET_FILE to a file \
                      that holds it"
                .into(),
        })
    }

    /// The secret held in the file at `path` (surrounding whitespace ignored).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn from_file(path: &str) -> Result<Secret> {
        let s = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_string(),
            source,
        })?;
        Secret::new(s)
    }

    /// Whether `given` is this secret, compared in time that does not depend on where they
    /// differ.
    fn matches(&self, given: &[u8]) -> bool {
        let ours = self.0.as_bytes();
        if ours.len() != given.len() {
            return false;
        }
        ours.iter()
            .zip(given)
            .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// The secret's text, to hand to a process one starts (its environment, a file only its
    /// user can read); never for a log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

/// Checks every incoming request for the secret; a request without it is refused and logged with
/// its peer's address.
#[derive(Clone, Debug)]
pub(crate) struct CheckSecret {
    pub(crate) secret: Secret,
    /// The plane it guards, for the log.
    pub(crate) plane: &'static str,
}

impl tonic::service::Interceptor for CheckSecret {
    fn call(&mut self, request: Request<()>) -> std::result::Result<Request<()>, Status> {
        let given = request
            .metadata()
            .get(HEADER)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
        match given {
            Some(g) if self.secret.matches(g) => Ok(request),
            _ => {
                let peer = request
                    .remote_addr()
                    .map_or_else(|| "an unknown address".to_string(), |a| a.to_string());
                tracing::warn!(plane = self.plane, %peer, "refused a connection without the cluster secret");
                eprintln!(
                    "partita {}: refused a connection from {peer}: wrong or missing cluster secret",
                    self.plane
                );
                Err(Status::unauthenticated("wrong or missing cluster secret"))
            }
        }
    }
}

/// Adds the secret to every outgoing request.
#[derive(Clone, Debug)]
pub(crate) struct AddSecret(pub(crate) Secret);

impl tonic::service::Interceptor for AddSecret {
    fn call(&mut self, mut request: Request<()>) -> std::result::Result<Request<()>, Status> {
        let value: MetadataValue<_> = self
            .0
            .bearer()
            .parse()
            .map_err(|_| Status::internal("the cluster secret is not a valid header value"))?;
        request.metadata_mut().insert(HEADER, value);
        Ok(request)
    }
}
