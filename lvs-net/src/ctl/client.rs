//! The client side: one request, one response.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::proto::{MAX_RESPONSE, Request, Response, read_frame, write_frame};

/// Why a call failed before a response arrived.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtlClientError {
    /// No router listens there, or the socket's permissions refuse us.
    #[error("connect to the control socket {path}: {source}")]
    Connect {
        /// The socket path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The exchange broke off (the server refused our credentials, or died).
    #[error("exchange on the control socket {path}: {source}")]
    Exchange {
        /// The socket path.
        path: String,
        /// The OS or decoding error.
        source: std::io::Error,
    },
}

/// Sends `request` to the router listening on `path` and waits up to `timeout` for the answer.
pub fn call(path: &Path, request: &Request, timeout: Duration) -> Result<Response, CtlClientError> {
    let shown = path.display().to_string();
    let mut stream = UnixStream::connect(path).map_err(|source| CtlClientError::Connect {
        path: shown.clone(),
        source,
    })?;
    let exchange = |source| CtlClientError::Exchange {
        path: shown.clone(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(exchange)?;
    stream.set_write_timeout(Some(timeout)).map_err(exchange)?;
    // A server refusing our credentials answers without reading and closes: the write may
    // fail with EPIPE while the refusal already waits to be read.
    let written = write_frame(&mut stream, request);
    match read_frame(&mut stream, MAX_RESPONSE) {
        Ok(response) => Ok(response),
        Err(e) => Err(exchange(written.err().unwrap_or(e))),
    }
}
