//! Calling user code safely: a callback that panics (credentials, signing, WebSocket headers,
//! reconnect delays, and any handler added later) fails that call with
//! [`ErrorKind::Callback`](crate::ErrorKind::Callback), and the panic is logged. It never
//! unwinds through a connection's threads.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, ErrorKind, Result};

/// Runs `f`, turning a panic into an error naming `what`.
pub(crate) fn contain<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let text = panic_text(&*payload);
            log::error!("the {what} callback panicked: {text}");
            Err(Error::new(
                ErrorKind::Callback,
                format!("the {what} callback panicked: {text}"),
            ))
        }
    }
}

/// The message of a panic payload, when it has one.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_callback_error() {
        let e = contain::<()>("test", || panic!("boom {}", 7)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Callback);
        assert!(e.to_string().contains("boom 7"), "{e}");
        assert_eq!(contain("test", || Ok(5)).unwrap(), 5);
    }
}
