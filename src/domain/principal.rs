//! Who asks and who acts: users by immutable platform id (`telegram:123`), API clients (`api:name`), and Aura itself.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The namespace part of a user address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    Telegram,
    Discord,
    Matrix,
    Api,
}

impl Namespace {
    /// The prefix written before the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Telegram => "telegram",
            Namespace::Discord => "discord",
            Namespace::Matrix => "matrix",
            Namespace::Api => "api",
        }
    }
}

/// A user by immutable id: `telegram:123`, `discord:80351110224678912`, `matrix:@alice:example.org`, `api:ci`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserRef {
    namespace: Namespace,
    id: String,
}

/// Why a string is not a user address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a user address: {reason}")]
pub struct BadUserRef {
    pub input: String,
    pub reason: &'static str,
}

impl UserRef {
    /// Builds a user address, checking the id's form for its platform.
    pub fn new(namespace: Namespace, id: &str) -> Result<Self, BadUserRef> {
        let bad = |reason| BadUserRef {
            input: format!("{}:{id}", namespace.as_str()),
            reason,
        };
        let ok = match namespace {
            Namespace::Telegram => id.parse::<i64>().is_ok_and(|n| n != 0),
            Namespace::Discord => {
                !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
            }
            Namespace::Matrix => is_mxid(id),
            Namespace::Api => {
                !id.is_empty()
                    && id.len() <= 64
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            }
        };
        if !ok {
            return Err(bad(match namespace {
                Namespace::Telegram => "a Telegram user is its numeric id, e.g. telegram:123456",
                Namespace::Discord => {
                    "a Discord user is its numeric snowflake id, e.g. discord:80351110224678912"
                }
                Namespace::Matrix => {
                    "a Matrix user is its full MXID, e.g. matrix:@alice:example.org"
                }
                Namespace::Api => "an API client name is 1-64 letters, digits, '-', '_' or '.'",
            }));
        }
        Ok(UserRef {
            namespace,
            id: id.to_owned(),
        })
    }

    /// An API client by name (`api:<name>`).
    pub fn api(name: &str) -> Result<Self, BadUserRef> {
        UserRef::new(Namespace::Api, name)
    }

    /// The platform or API namespace.
    pub fn namespace(&self) -> Namespace {
        self.namespace
    }

    /// The id within the namespace (without the prefix).
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn is_mxid(id: &str) -> bool {
    let Some(rest) = id.strip_prefix('@') else {
        return false;
    };
    match rest.split_once(':') {
        Some((local, server)) => {
            !local.is_empty() && !server.is_empty() && !id.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

impl FromStr for UserRef {
    type Err = BadUserRef;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| BadUserRef {
            input: s.chars().take(80).collect(),
            reason,
        };
        let (ns, id) = s
            .split_once(':')
            .ok_or_else(|| bad("expected <platform>:<id>, e.g. telegram:123456"))?;
        let namespace = match ns {
            "telegram" => Namespace::Telegram,
            "discord" => Namespace::Discord,
            "matrix" => Namespace::Matrix,
            "api" => Namespace::Api,
            _ => return Err(bad("the prefix must be telegram, discord, matrix or api")),
        };
        UserRef::new(namespace, id)
    }
}

impl TryFrom<String> for UserRef {
    type Error = BadUserRef;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<UserRef> for String {
    fn from(value: UserRef) -> Self {
        value.to_string()
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace.as_str(), self.id)
    }
}

/// Who caused an audited event: a user or API client, or Aura on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(UserRef),
    Aura,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(u) => u.fmt(f),
            Actor::Aura => f.write_str("aura"),
        }
    }
}

impl From<UserRef> for Actor {
    fn from(value: UserRef) -> Self {
        Actor::User(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_addresses_parse_by_platform_rules() {
        for ok in [
            "telegram:123",
            "telegram:-1001234",
            "discord:80351110224678912",
            "matrix:@alice:example.org",
            "api:ci-bot",
        ] {
            let u: UserRef = ok.parse().expect(ok);
            assert_eq!(u.to_string(), ok);
        }
        for bad in [
            "telegram:alice",
            "discord:@bob",
            "matrix:alice",
            "slack:U123",
            "telegram",
            "api:",
            "api:has space",
        ] {
            assert!(bad.parse::<UserRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_address_says_what_is_expected() {
        let err = "telegram:@alice"
            .parse::<UserRef>()
            .expect_err("display names are not ids");
        assert!(err.to_string().contains("numeric id"));
    }

    #[test]
    fn actors_render_as_their_address() {
        let u: UserRef = "matrix:@a:b".parse().expect("valid");
        assert_eq!(Actor::from(u).to_string(), "matrix:@a:b");
        assert_eq!(Actor::Aura.to_string(), "aura");
    }
}
