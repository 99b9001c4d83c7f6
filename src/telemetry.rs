//! Logging setup: human-readable or JSON lines on stderr, filtered by `log.level` or `RUST_LOG`, with every
//! configured secret masked on the way out.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogConfig;
use crate::redact::Redactor;

/// What a secret is replaced with in log output.
pub const MASK: &str = crate::redact::MASK;

/// Installs the global subscriber; `secrets` are masked in everything logged. Later calls (tests) are ignored.
pub fn init(log: &LogConfig, secrets: Vec<String>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let writer = Redacting::new(secrets, std::io::stderr);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if log.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// A log writer that masks known secrets (a Bot API URL carries the token; a library may log one) and values that
/// look like credentials (see `redact`).
#[derive(Clone)]
pub struct Redacting<W> {
    secrets: Arc<Redactor>,
    inner: W,
}

impl<W> Redacting<W> {
    /// Masks every secret of at least 4 characters (shorter ones would mask ordinary words).
    pub fn new(secrets: Vec<String>, inner: W) -> Self {
        Redacting {
            secrets: Arc::new(Redactor::new(secrets)),
            inner,
        }
    }
}

/// One write of a formatted event, masked.
pub struct RedactingWriter<W> {
    secrets: Arc<Redactor>,
    inner: W,
}

impl<'a, F, W> MakeWriter<'a> for Redacting<F>
where
    F: Fn() -> W + 'a,
    W: Write,
{
    type Writer = RedactingWriter<W>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            secrets: self.secrets.clone(),
            inner: (self.inner)(),
        }
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.inner
            .write_all(self.secrets.redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn secrets_never_reach_the_log() {
        let sink = Sink::default();
        let out = sink.clone();
        let make = Redacting::new(vec!["123456:ABC-token".into(), "abc".into()], move || {
            out.clone()
        });
        let mut w = make.make_writer();
        write!(
            w,
            "GET https://api.telegram.org/bot123456:ABC-token/getMe failed; abc stays"
        )
        .expect("write");
        let logged = String::from_utf8(sink.0.lock().expect("lock").clone()).expect("utf8");
        assert_eq!(
            logged,
            "GET https://api.telegram.org/bot<redacted>/getMe failed; abc stays"
        );
    }

    #[test]
    fn credentials_from_pod_logs_never_reach_the_log() {
        let sink = Sink::default();
        let out = sink.clone();
        let make = Redacting::new(Vec::new(), move || out.clone());
        let mut w = make.make_writer();
        write!(
            w,
            "tool output: password=canary-7f3a91 token ghp_CanaryCanaryCanary0123456789ab postgres://app:canary-pw@db/x"
        )
        .expect("write");
        let logged = String::from_utf8(sink.0.lock().expect("lock").clone()).expect("utf8");
        assert!(!logged.contains("canary-7f3a91"), "{logged}");
        assert!(!logged.contains("ghp_Canary"), "{logged}");
        assert!(!logged.contains("canary-pw"), "{logged}");
        assert!(
            logged.contains("postgres://app:<redacted>@db/x"),
            "{logged}"
        );
    }
}
