//! Agent credentials: the `AGENTS` setting, its parsing, and the password
//! check behind every agent sign-in (the agent WebSocket, `/files`, and so the
//! agent UI's sign-in form, which signs in through the WebSocket).
//!
//! A password is either written as is (local demos) or as an Argon2 hash in
//! PHC form, `$argon2id$v=19$m=19456,t=2,p=1$salt$hash`, made by
//! `switchboard hash-password`. Such a hash contains commas, so the list is
//! parsed as follows: entries are separated by commas, semicolons or new
//! lines, and a comma-separated piece without a `:` continues the Argon2 hash
//! before it (an agent entry always has `name:`; a hash's parameters never
//! contain a colon). Both `alice:pw,bob:pw` and
//! `alice:$argon2id$v=19$m=19456,t=2,p=1$…;bob:pw` parse.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

/// How an agent's password is kept in `AGENTS`.
#[derive(Clone)]
pub enum Secret {
    /// The password itself (local demos; a warning at start-up otherwise).
    Plain(String),
    /// An Argon2 hash in PHC string form (validated when parsed).
    Argon2(String),
}

impl std::fmt::Debug for Secret {
    // Never print a password or a hash into a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Plain(_) => f.write_str("Plain(…)"),
            Secret::Argon2(_) => f.write_str("Argon2(…)"),
        }
    }
}

impl Secret {
    /// Whether `password` is this secret. Plain passwords are compared in
    /// constant time (`subtle`); an Argon2 hash is verified by the `argon2`
    /// crate, which compares the derived hash in constant time too. Argon2 is
    /// deliberately slow (tens of ms): call this off the async runtime's
    /// threads ([`AgentCredentials::verify`] does).
    pub fn matches(&self, password: &str) -> bool {
        match self {
            Secret::Plain(expected) => expected.as_bytes().ct_eq(password.as_bytes()).into(),
            Secret::Argon2(phc) => match PasswordHash::new(phc) {
                Ok(hash) => Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok(),
                Err(_) => false,
            },
        }
    }
}

/// Agent name → password or password hash.
#[derive(Debug, Clone, Default)]
pub struct AgentCredentials(pub BTreeMap<String, Secret>);

impl AgentCredentials {
    /// Checks a name and password (blocking: may run Argon2).
    pub fn check(&self, name: &str, password: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|secret| secret.matches(password))
    }

    /// [`check`](Self::check) on tokio's blocking pool, so an Argon2
    /// verification never stalls the runtime's threads.
    pub async fn verify(&self, name: &str, password: &str) -> bool {
        let Some(secret) = self.0.get(name).cloned() else {
            return false;
        };
        let password = password.to_string();
        tokio::task::spawn_blocking(move || secret.matches(&password))
            .await
            .unwrap_or(false)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Agents whose password is written in plain text.
    pub fn plain_text_names(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(_, s)| matches!(s, Secret::Plain(_)))
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

/// Hashes a password for `AGENTS` (Argon2id, the crate's default
/// parameters, a random salt).
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| format!("could not hash the password: {e}"))
}

/// Parses `AGENTS` (see the module docs for the format).
pub fn parse_agents(text: &str) -> Result<AgentCredentials, String> {
    let mut entries: Vec<String> = Vec::new();
    for chunk in text.split([';', '\n']) {
        for piece in chunk.split(',') {
            let piece = piece.trim();
            if piece.is_empty() {
                continue;
            }
            let continues_hash = !piece.contains(':')
                && entries
                    .last()
                    .is_some_and(|e| e.split_once(':').is_some_and(|(_, s)| is_argon2(s)));
            match entries.last_mut() {
                Some(last) if continues_hash => {
                    last.push(',');
                    last.push_str(piece);
                }
                _ => entries.push(piece.to_string()),
            }
        }
    }
    let mut agents = BTreeMap::new();
    for entry in &entries {
        let (name, password) = entry
            .split_once(':')
            .ok_or_else(|| format!("`{entry}` is not `name:password`"))?;
        if name.is_empty() || password.is_empty() {
            return Err(format!(
                "agent `{name}`: name and password must both be non-empty"
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "agent name `{name}` may only use letters, digits, `-`, `_` and `.`"
            ));
        }
        if name.eq_ignore_ascii_case(crate::conversation::notice::AUTHOR) {
            return Err(format!(
                "agent name `{name}` is reserved: automatic texts to customers are stored under it"
            ));
        }
        let secret = if is_argon2(password) {
            PasswordHash::new(password).map_err(|e| {
                format!("agent `{name}`: `$argon2…` is not a valid Argon2 PHC hash ({e})")
            })?;
            Secret::Argon2(password.to_string())
        } else {
            Secret::Plain(password.to_string())
        };
        if agents.insert(name.to_string(), secret).is_some() {
            return Err(format!("agent `{name}` is listed twice"));
        }
    }
    if agents.is_empty() {
        return Err("at least one `name:password` pair is required".into());
    }
    Ok(AgentCredentials(agents))
}

fn is_argon2(secret: &str) -> bool {
    secret.starts_with("$argon2")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_texts_author_is_no_agent() {
        let err = parse_agents("alice:pw, Switchboard:pw").expect_err("reserved");
        assert!(err.contains("reserved"), "{err}");
    }

    #[test]
    fn plain_passwords_parse_and_check() {
        let agents = parse_agents("alice:s3cret, bob:pw").unwrap();
        assert!(agents.check("alice", "s3cret"));
        assert!(!agents.check("alice", "pw"));
        assert!(!agents.check("alice", "s3cre"));
        assert!(!agents.check("carol", "pw"));
        assert!(parse_agents("alice").is_err());
        assert!(parse_agents("alice:a,alice:b").is_err());
        assert!(parse_agents("").is_err());
        assert!(parse_agents("al ice:x").is_err());
        assert_eq!(agents.plain_text_names(), vec!["alice", "bob"]);
    }

    #[test]
    fn argon2_hashes_with_commas_parse_beside_plain_passwords() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            hash.contains(','),
            "the case this format exists for: {hash}"
        );
        for text in [
            format!("alice:{hash},bob:pw"),
            format!("bob:pw,alice:{hash}"),
            format!("alice:{hash};bob:pw"),
            format!("alice:{hash}\nbob:pw\n"),
        ] {
            let agents = parse_agents(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(agents.check("alice", "correct horse"), "{text}");
            assert!(!agents.check("alice", "correct hors"), "{text}");
            assert!(
                !agents.check("alice", &hash),
                "the hash is not the password"
            );
            assert!(agents.check("bob", "pw"), "{text}");
            assert_eq!(agents.plain_text_names(), vec!["bob"]);
        }
        // A damaged hash is a start-up error, not an agent who can never sign in.
        assert!(parse_agents("alice:$argon2id$v=19$garbage").is_err());
    }

    #[tokio::test]
    async fn verify_runs_argon2_off_the_runtime() {
        let hash = hash_password("pw").unwrap();
        let agents = parse_agents(&format!("alice:{hash}")).unwrap();
        assert!(agents.verify("alice", "pw").await);
        assert!(!agents.verify("alice", "nope").await);
        assert!(!agents.verify("mallory", "pw").await);
    }

    #[test]
    fn secrets_are_not_printed() {
        let agents = parse_agents("alice:hunter2").unwrap();
        assert!(!format!("{agents:?}").contains("hunter2"));
    }
}
