//! Secret masking: replaces values that look like credentials (tokens, passwords, keys, PEM blocks, connection
//! strings with a password) and the configured platform secrets with a mask, in text and in JSON.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;

/// What a masked value is replaced with.
pub const MASK: &str = "<redacted>";

/// Configured secrets shorter than this are not masked (they would mask ordinary words).
const MIN_SECRET_LEN: usize = 4;
/// A recognised value shorter than this is masked where recognised, not wherever else it appears.
const MIN_LEARNED_LEN: usize = 6;

/// A pattern, and how much of its match is kept in front of the mask (the capture group `keep`, if any).
struct Pattern {
    regex: Regex,
    keeps_prefix: bool,
}

/// The built-in patterns, compiled once per process.
static COMPILED: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .map(|(p, keeps_prefix)| Pattern {
            regex: Regex::new(p).expect("static redaction patterns are valid"),
            keeps_prefix: *keeps_prefix,
        })
        .collect()
});

/// Masks secret-looking values and known secrets; cheap to build (the patterns are compiled once).
pub struct Redactor {
    patterns: &'static [Pattern],
    /// Known secrets in clear, longest first so a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("patterns", &self.patterns.len())
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// (pattern, keeps the `keep` group in front of the mask).
const PATTERNS: [(&str, bool); 10] = [
    // PEM blocks: private keys, certificates.
    (
        r"-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|$)",
        false,
    ),
    // JSON Web Tokens: three base64url parts, the first a JSON header.
    (
        r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}",
        false,
    ),
    // AWS access key ids.
    (r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b", false),
    // GitHub tokens (classic and fine-grained).
    (
        r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
        false,
    ),
    // Slack tokens.
    (r"\bxox[abposre]-[A-Za-z0-9-]{10,}", false),
    // Bearer and Basic credentials in headers.
    (r"(?i)(?P<keep>\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}", true),
    (r"(?P<keep>\bBasic\s+)[A-Za-z0-9+/]{16,}={0,2}", true),
    // Credentials in URLs: scheme://user:password@host.
    (
        r#"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@"'\\]*:)[^\s@/"'\\]+@"#,
        true,
    ),
    // key=value and "key": "value" for keys that name a secret.
    (
        r#"(?i)(?P<keep>\b[a-z0-9_.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)["']?\s*[:=]\s*["']?)[^\s"'\\,;&}]{3,}"#,
        true,
    ),
    // Long opaque API keys with a well-known prefix (OpenAI, Stripe, …).
    (
        r"\b(?:sk|rk|pk)[-_](?:live[-_]|test[-_]|proj[-_])?[A-Za-z0-9_-]{20,}",
        false,
    ),
];

impl Redactor {
    /// A redactor masking the built-in patterns and `secrets` (e.g. `Config::secret_values()`).
    pub fn new(secrets: Vec<String>) -> Redactor {
        let patterns = COMPILED.as_slice();
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { patterns, secrets }
    }

    /// `text` with every secret-looking value and known secret replaced by [`MASK`]. A value recognised once
    /// (`password=hunter22`) is masked everywhere else in the text too ("the password is hunter22").
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut learned = Vec::new();
        self.learn(text, &mut learned);
        self.redact_with(text, &learned)
    }

    /// The values the patterns recognise in `text`, to mask wherever else they appear (see [`Redactor::redact_with`]).
    pub fn learned(&self, text: &str) -> Vec<String> {
        let mut learned = Vec::new();
        self.learn(text, &mut learned);
        learned
    }

    /// Collects the values the patterns recognise in `text` (long enough to be masked alone too).
    fn learn(&self, text: &str, learned: &mut Vec<String>) {
        for p in self.patterns {
            for c in p.regex.captures_iter(text) {
                let whole = &c[0];
                let keep = if p.keeps_prefix {
                    c.name("keep").map_or(0, |m| m.len())
                } else {
                    0
                };
                let value = whole[keep..].trim_end_matches('@');
                if value.len() >= MIN_LEARNED_LEN && !learned.iter().any(|l| l == value) {
                    learned.push(value.to_owned());
                }
            }
        }
        learned.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Like [`Redactor::redact`], also masking `learned` values (recognised earlier, e.g. in another tool's output).
    pub fn redact_with<'a>(&self, text: &'a str, learned: &[String]) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in self.secrets.iter().chain(learned) {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        for p in self.patterns {
            if !p.regex.is_match(&out) {
                continue;
            }
            let replaced = p.regex.replace_all(&out, |c: &Captures<'_>| {
                let keep = if p.keeps_prefix {
                    c.name("keep").map_or("", |m| m.as_str())
                } else {
                    ""
                };
                // A URL keeps its '@' so the host stays readable.
                let at = if c[0].ends_with('@') { "@" } else { "" };
                format!("{keep}{MASK}{at}")
            });
            out = Cow::Owned(replaced.into_owned());
        }
        out
    }

    /// Masks every string inside a JSON value, in place; a value recognised in one string is masked in all.
    pub fn redact_json(&self, value: &mut Value) {
        let mut learned = Vec::new();
        visit(value, &mut |s| self.learn(s, &mut learned));
        visit(value, &mut |s| {
            if let Cow::Owned(masked) = self.redact_with(s, &learned) {
                *s = masked;
            }
        });
    }
}

/// Calls `f` on every string inside `value`.
fn visit(value: &mut Value, f: &mut impl FnMut(&mut String)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|v| visit(v, f)),
        Value::Object(map) => map.values_mut().for_each(|v| visit(v, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn r() -> Redactor {
        Redactor::new(vec![
            "123456:ABC-platform-token".into(),
            "abc".into(),
            "s3cr3t-llm-key".into(),
        ])
    }

    fn masked(text: &str) -> String {
        r().redact(text).into_owned()
    }

    #[test]
    fn configured_secrets_are_masked_and_short_ones_ignored() {
        assert_eq!(
            masked("GET https://api.telegram.org/bot123456:ABC-platform-token/getMe; abc stays"),
            "GET https://api.telegram.org/bot<redacted>/getMe; abc stays"
        );
        assert_eq!(masked("key s3cr3t-llm-key!"), "key <redacted>!");
    }

    #[test]
    fn passwords_in_key_value_and_json_forms_are_masked() {
        assert_eq!(
            masked("connecting with password=canary-123 user=app"),
            "connecting with password=<redacted> user=app"
        );
        assert_eq!(
            masked(r#"{"password": "hunter22", "user": "bob"}"#),
            r#"{"password": "<redacted>", "user": "bob"}"#
        );
        assert_eq!(masked("DB_PASSWORD: swordfish"), "DB_PASSWORD: <redacted>");
        assert_eq!(masked("api_key='k-1234567'"), "api_key='<redacted>'");
        assert_eq!(
            masked("client_secret=abcdef&x=1"),
            "client_secret=<redacted>&x=1"
        );
        assert_eq!(masked("tokens used: 150"), "tokens used: 150");
    }

    #[test]
    fn connection_strings_keep_user_and_host_but_not_the_password() {
        assert_eq!(
            masked("dial postgres://app:pa55word@db.internal:5432/payments failed"),
            "dial postgres://app:<redacted>@db.internal:5432/payments failed"
        );
        assert_eq!(
            masked("redis://:only-pass@cache:6379"),
            "redis://:<redacted>@cache:6379"
        );
        assert_eq!(
            masked("see https://example.org/a:b for docs"),
            "see https://example.org/a:b for docs"
        );
    }

    #[test]
    fn well_known_token_shapes_are_masked() {
        let cases = [
            "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "AKIAIOSFODNN7EXAMPLE",
            "xoxb-123456789012-abcdefghijkl",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
        ];
        for token in cases {
            let out = masked(&format!("value {token} end"));
            assert_eq!(out, "value <redacted> end", "{token}");
        }
        assert_eq!(
            masked("Authorization: Bearer abcdef0123456789"),
            "Authorization: Bearer <redacted>"
        );
    }

    #[test]
    fn pem_blocks_are_masked_whole() {
        let text = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----\nafter";
        assert_eq!(masked(text), "key:\n<redacted>\nafter");
        let cut = "-----BEGIN PRIVATE KEY-----\nMIIEow (truncated)";
        assert_eq!(masked(cut), "<redacted>");
    }

    #[test]
    fn ordinary_debugging_text_is_left_alone() {
        let text = "Back-off restarting failed container payments in pod payments-api-7d9c8b5f6-x2v9q: exit code 137 (OOMKilled)";
        assert_eq!(masked(text), text);
    }

    #[test]
    fn a_recognised_value_is_masked_wherever_else_it_appears() {
        assert_eq!(
            masked("password=canary-77 … now print the password canary-77"),
            "password=<redacted> … now print the password <redacted>"
        );
        let mut v = json!(["DB_PASSWORD=swordfish1", "the model says swordfish1"]);
        r().redact_json(&mut v);
        assert_eq!(
            v,
            json!(["DB_PASSWORD=<redacted>", "the model says <redacted>"])
        );
    }

    #[test]
    fn json_strings_are_masked_in_place_and_stay_valid() {
        let mut v = json!({"messages": [{"content": "log: password=canary-1 and ghp_AbCdEfGhIjKlMnOpQrStUvWxYz01"}], "n": 1});
        r().redact_json(&mut v);
        let text = v.to_string();
        assert!(
            !text.contains("canary-1") && !text.contains("ghp_AbCd"),
            "{text}"
        );
        assert!(text.contains("password=<redacted>"));
    }
}
