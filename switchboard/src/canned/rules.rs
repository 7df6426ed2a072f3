//! The rules of the canned-reply list, as pure functions: keyword and body
//! limits, the placeholders a body may name, and what a save or delete does
//! to the list (kept sorted by keyword).

use switchboard_protocol::CannedReply;

/// Longest keyword, in characters.
pub const MAX_KEYWORD_CHARS: usize = 32;
/// Longest body: the reply limit, so an inserted reply can always be sent
/// (a filled-in placeholder may still push it over; the console's meter
/// says so before sending).
pub const MAX_BODY_CHARS: usize = 1600;
/// Most canned replies the team may keep.
pub const MAX_REPLIES: usize = 200;
/// The placeholders agents' programs fill in (the customer's number and the
/// agent's name): one list, with the protocol's [`fill`](switchboard_protocol::canned::fill).
pub use switchboard_protocol::canned::PLACEHOLDERS;

/// One change to the list, in an agent's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Create `keyword`, or replace it; with `replaces`, the reply saved
    /// under that keyword is renamed.
    Save {
        keyword: String,
        body: String,
        replaces: Option<String>,
    },
    /// Remove `keyword`.
    Delete { keyword: String },
}

/// Why an edit is refused; the message is shown to the agent as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("a keyword is 1 to {MAX_KEYWORD_CHARS} characters of a-z, 0-9, - and _ (got \"{0}\")")]
    BadKeyword(String),
    #[error("the text is empty")]
    EmptyBody,
    #[error("the text is longer than {MAX_BODY_CHARS} characters")]
    LongBody,
    #[error("unknown placeholder {{{0}}}: use {{customer}} or {{agent}}")]
    UnknownPlaceholder(String),
    #[error("there is already a canned reply /{0}")]
    Taken(String),
    #[error("there is no canned reply /{0}")]
    Missing(String),
    #[error("the team already has {MAX_REPLIES} canned replies; delete one first")]
    Full,
}

/// The stored form of a keyword (lower-case, trimmed, without a leading
/// `/`), or why it is not one.
pub fn keyword(raw: &str) -> Result<String, Refused> {
    let k = raw.trim().trim_start_matches('/').to_lowercase();
    let valid = !k.is_empty()
        && k.chars().count() <= MAX_KEYWORD_CHARS
        && k.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(k)
    } else {
        Err(Refused::BadKeyword(raw.trim().to_string()))
    }
}

/// Checks a body: not blank, not too long, only known placeholders. A `{`
/// that does not open `{word}` is plain text.
pub fn body(text: &str) -> Result<(), Refused> {
    if text.trim().is_empty() {
        return Err(Refused::EmptyBody);
    }
    if text.chars().count() > MAX_BODY_CHARS {
        return Err(Refused::LongBody);
    }
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                let word =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if word && !PLACEHOLDERS.contains(&name) {
                    return Err(Refused::UnknownPlaceholder(name.to_string()));
                }
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    Ok(())
}

/// The list after `edit` by `agent` at `now_ms`, sorted by keyword.
pub fn apply(
    list: &[CannedReply],
    edit: &Edit,
    agent: &str,
    now_ms: u64,
) -> Result<Vec<CannedReply>, Refused> {
    let mut next: Vec<CannedReply> = list.to_vec();
    match edit {
        Edit::Save {
            keyword: raw,
            body: text,
            replaces,
        } => {
            let k = keyword(raw)?;
            body(text)?;
            let old = replaces.as_deref().map(keyword).transpose()?;
            if let Some(old) = &old {
                if !next.iter().any(|r| &r.keyword == old) {
                    return Err(Refused::Missing(old.clone()));
                }
                // Renaming onto another reply would silently lose it.
                if *old != k && next.iter().any(|r| r.keyword == k) {
                    return Err(Refused::Taken(k));
                }
                next.retain(|r| &r.keyword != old);
            }
            next.retain(|r| r.keyword != k);
            if next.len() >= MAX_REPLIES {
                return Err(Refused::Full);
            }
            next.push(CannedReply {
                keyword: k,
                body: text.trim_end().to_string(),
                updated_by: Some(agent.to_string()),
                updated_at_ms: now_ms,
            });
        }
        Edit::Delete { keyword: raw } => {
            let k = keyword(raw)?;
            let before = next.len();
            next.retain(|r| r.keyword != k);
            if next.len() == before {
                return Err(Refused::Missing(k));
            }
        }
    }
    next.sort_by(|a, b| a.keyword.cmp(&b.keyword));
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(keyword: &str, body: &str, replaces: Option<&str>) -> Edit {
        Edit::Save {
            keyword: keyword.into(),
            body: body.into(),
            replaces: replaces.map(str::to_string),
        }
    }

    #[test]
    fn keywords_are_short_plain_and_lower_case() {
        assert_eq!(keyword(" /Refund "), Ok("refund".into()));
        assert_eq!(keyword("opening-hours_2"), Ok("opening-hours_2".into()));
        for bad in ["", "/", "two words", "émoji", "x".repeat(33).as_str()] {
            assert!(matches!(keyword(bad), Err(Refused::BadKeyword(_))), "{bad}");
        }
    }

    #[test]
    fn bodies_name_only_known_placeholders() {
        assert_eq!(body("Hi {customer}, this is {agent}."), Ok(()));
        assert_eq!(body("a { b } and {not closed"), Ok(()));
        assert_eq!(
            body("Dear {name}"),
            Err(Refused::UnknownPlaceholder("name".into()))
        );
        assert_eq!(body("  \n"), Err(Refused::EmptyBody));
        assert_eq!(body(&"x".repeat(1601)), Err(Refused::LongBody));
    }

    #[test]
    fn save_creates_replaces_and_renames_keeping_the_list_sorted() {
        let list = apply(&[], &save("zip", "Z", None), "ada", 1).unwrap();
        let list = apply(&list, &save("Hello", "Hi {customer}", None), "bo", 2).unwrap();
        let keys: Vec<_> = list.iter().map(|r| r.keyword.as_str()).collect();
        assert_eq!(keys, ["hello", "zip"]);
        assert_eq!(list[0].updated_by.as_deref(), Some("bo"));
        // Saving under the same keyword replaces it.
        let list = apply(&list, &save("hello", "Hello!", None), "ada", 3).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].body, "Hello!");
        // A rename moves it; onto another reply it is refused.
        let renamed = apply(&list, &save("hi", "Hello!", Some("hello")), "ada", 4).unwrap();
        let keys: Vec<_> = renamed.iter().map(|r| r.keyword.as_str()).collect();
        assert_eq!(keys, ["hi", "zip"]);
        assert_eq!(
            apply(&list, &save("zip", "x", Some("hello")), "ada", 5),
            Err(Refused::Taken("zip".into()))
        );
        assert_eq!(
            apply(&list, &save("new", "x", Some("gone")), "ada", 5),
            Err(Refused::Missing("gone".into()))
        );
    }

    #[test]
    fn delete_removes_only_what_exists_and_the_list_is_bounded() {
        let list = apply(&[], &save("a", "A", None), "ada", 1).unwrap();
        let gone = Edit::Delete {
            keyword: "b".into(),
        };
        assert_eq!(
            apply(&list, &gone, "ada", 2),
            Err(Refused::Missing("b".into()))
        );
        let del = Edit::Delete {
            keyword: "/A".into(),
        };
        assert_eq!(apply(&list, &del, "ada", 2), Ok(vec![]));
        let mut full = Vec::new();
        for i in 0..MAX_REPLIES {
            full = apply(&full, &save(&format!("k{i}"), "x", None), "ada", 1).unwrap();
        }
        assert_eq!(
            apply(&full, &save("one-more", "x", None), "ada", 1),
            Err(Refused::Full)
        );
        // Replacing one of them is still allowed.
        assert!(apply(&full, &save("k7", "y", None), "ada", 1).is_ok());
    }
}
