//! Logging setup: human-readable or JSON lines on stderr, filtered by `log.level` or `RUST_LOG`, with every
//! configured secret masked on the way out.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogConfig;

/// What a secret is replaced with in log output.
pub const MASK: &str = "<redacted>";

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

/// A log writer that masks known secrets (a Bot API URL carries the token; a library may log one).
#[derive(Clone)]
pub struct Redacting<W> {
    secrets: Arc<Vec<String>>,
    inner: W,
}

impl<W> Redacting<W> {
    /// Masks every secret of at least 4 characters (shorter ones would mask ordinary words).
    pub fn new(secrets: Vec<String>, inner: W) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redacting {
            secrets: Arc::new(secrets),
            inner,
        }
    }
}

/// One write of a formatted event, masked.
pub struct RedactingWriter<W> {
    secrets: Arc<Vec<String>>,
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
        let mut text = String::from_utf8_lossy(buf).into_owned();
        for secret in self.secrets.iter() {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), MASK);
            }
        }
        self.inner.write_all(text.as_bytes())?;
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
}
