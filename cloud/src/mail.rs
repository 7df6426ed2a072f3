//! Outgoing email: one MIME message built with lettre, sent through SES v2
//! (`SendEmail` with raw content) or, without AWS, written to a local outbox
//! directory as an `.eml` file.

use std::path::{Path, PathBuf};

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use crate::aws::{describe_error, error_code, is_unavailable};

/// One email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    /// When present, the message is `multipart/alternative` (text + HTML).
    pub html: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("email has no recipients")]
    NoRecipients,
    #[error("invalid email address {address:?}: {source}")]
    Address {
        address: String,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error("building the email: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("SES {operation} failed: {detail}")]
    Ses {
        operation: &'static str,
        /// The AWS error code, when AWS answered with one.
        code: Option<String>,
        detail: String,
        /// SES did not answer or asked us to slow down: worth retrying.
        retryable: bool,
    },
    #[error("mail outbox {}: {source}", path.display())]
    Outbox {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MailError {
    /// Whether sending the same email again later may succeed. Address and
    /// message errors will fail the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            MailError::Ses { retryable, .. } => *retryable,
            MailError::Outbox { .. } => true,
            MailError::NoRecipients | MailError::Address { .. } | MailError::Build(_) => false,
        }
    }
}

/// Where email goes.
#[derive(Debug, Clone)]
pub enum Mailer {
    Ses {
        client: aws_sdk_sesv2::Client,
        from: String,
    },
    Outbox {
        dir: PathBuf,
        from: String,
    },
}

impl Mailer {
    pub fn ses(client: aws_sdk_sesv2::Client, from: String) -> Mailer {
        Mailer::Ses { client, from }
    }

    pub fn outbox(dir: PathBuf, from: String) -> Mailer {
        Mailer::Outbox { dir, from }
    }

    pub fn from(&self) -> &str {
        match self {
            Mailer::Ses { from, .. } | Mailer::Outbox { from, .. } => from,
        }
    }

    /// Sends `email`; returns where it went (the SES MessageId or the `.eml`
    /// path). `idempotency_key` names the message (its Message-ID, and the
    /// outbox file name), so a retry after a crash is recognisable as the
    /// same message and, in the outbox, replaces the file instead of adding one.
    pub async fn send(&self, email: &Email, idempotency_key: &str) -> Result<String, MailError> {
        let raw = build_message(self.from(), email, idempotency_key)?;
        match self {
            Mailer::Ses { client, from } => {
                let content = EmailContent::builder()
                    .raw(
                        RawMessage::builder()
                            .data(Blob::new(raw))
                            .build()
                            .map_err(|e| MailError::Ses {
                                operation: "SendEmail",
                                code: None,
                                detail: format!("request not built: {e}"),
                                retryable: false,
                            })?,
                    )
                    .build();
                let out = client
                    .send_email()
                    .from_email_address(from)
                    .destination(
                        Destination::builder()
                            .set_to_addresses(Some(email.to.clone()))
                            .build(),
                    )
                    .content(content)
                    .send()
                    .await
                    .map_err(|err| {
                        let code = error_code(&err);
                        let throttled = matches!(
                            code.as_deref(),
                            Some("TooManyRequestsException" | "LimitExceededException")
                        );
                        MailError::Ses {
                            operation: "SendEmail",
                            retryable: throttled || is_unavailable(&err),
                            detail: describe_error(&err),
                            code,
                        }
                    })?;
                let id = out.message_id().unwrap_or_default().to_string();
                tracing::info!(service = "SES", message_id = %id, to = ?email.to, subject = %email.subject, "email sent");
                Ok(id)
            }
            Mailer::Outbox { dir, .. } => {
                let path = dir.join(format!("{}.eml", file_stem(idempotency_key)));
                write_atomic(dir, &path, &raw).await?;
                tracing::info!(path = %path.display(), to = ?email.to, subject = %email.subject, "email written to the local outbox (SES not configured)");
                Ok(path.display().to_string())
            }
        }
    }
}

fn mailbox(address: &str) -> Result<Mailbox, MailError> {
    address.parse().map_err(|source| MailError::Address {
        address: address.to_string(),
        source,
    })
}

/// The full MIME message (RFC 5322) for `email`.
pub fn build_message(
    from: &str,
    email: &Email,
    idempotency_key: &str,
) -> Result<Vec<u8>, MailError> {
    if email.to.is_empty() {
        return Err(MailError::NoRecipients);
    }
    let from = mailbox(from)?;
    let message_id = format!("<{}@{}>", file_stem(idempotency_key), from.email.domain());
    let mut builder = Message::builder()
        .from(from)
        .subject(email.subject.as_str())
        .message_id(Some(message_id));
    for to in &email.to {
        builder = builder.to(mailbox(to)?);
    }
    let message = match &email.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            html.clone(),
        ))?,
        None => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        )?,
    };
    Ok(message.formatted())
}

/// `key` reduced to a safe file name / Message-ID local part. When anything
/// had to be replaced, a hash of the original keeps distinct keys distinct.
fn file_stem(key: &str) -> String {
    let mut changed = false;
    let mut stem: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                changed = true;
                '_'
            }
        })
        .take(150)
        .collect();
    if stem.starts_with('.') || stem.is_empty() || key.chars().count() > 150 {
        changed = true;
    }
    if changed {
        stem = format!("{}-{:016x}", stem.trim_start_matches('.'), fnv1a(key));
    }
    stem
}

/// A stable hash (FNV-1a): the same key must map to the same file in every run.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

async fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), MailError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MailError::Outbox { path, source }
    };
    tokio::fs::create_dir_all(dir).await.map_err(err(dir))?;
    crate::atomic_file::write(path, bytes)
        .await
        .map_err(err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(html: Option<&str>) -> Email {
        Email {
            to: vec!["ops@example.com".into()],
            subject: "Transcript #7".into(),
            text: "hello in text".into(),
            html: html.map(str::to_string),
        }
    }

    #[test]
    fn builds_multipart_alternative_with_both_parts() {
        let raw = build_message(
            "Switchboard <sb@example.com>",
            &email(Some("<p>hello in html</p>")),
            "transcript/7",
        )
        .unwrap();
        let raw = String::from_utf8(raw).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("hello in text"));
        assert!(raw.contains("<p>hello in html</p>"));
        assert!(raw.contains("Subject: Transcript #7"));
        assert!(raw.contains("To: ops@example.com"));
    }

    #[test]
    fn builds_plain_text_only_without_html() {
        let raw =
            String::from_utf8(build_message("sb@example.com", &email(None), "k").unwrap()).unwrap();
        assert!(!raw.contains("multipart"));
        assert!(raw.contains("text/plain"));
    }

    #[test]
    fn rejects_bad_addresses_and_no_recipients() {
        assert!(matches!(
            build_message("not an address", &email(None), "k"),
            Err(MailError::Address { .. })
        ));
        let mut e = email(None);
        e.to.clear();
        assert!(matches!(
            build_message("sb@example.com", &e, "k"),
            Err(MailError::NoRecipients)
        ));
    }

    #[test]
    fn file_stems_are_safe_stable_and_distinct() {
        assert_eq!(file_stem("transcript-7"), "transcript-7");
        let a = file_stem("a/b");
        let b = file_stem("a_b");
        assert_ne!(a, b);
        assert_eq!(a, file_stem("a/b"));
        assert!(!file_stem("../../etc").contains('/'));
        assert!(!file_stem("..").starts_with('.'));
    }

    #[tokio::test]
    async fn outbox_retry_overwrites_instead_of_duplicating() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::outbox(dir.path().join("outbox"), "sb@example.com".into());
        let first = mailer.send(&email(None), "alert/42").await.unwrap();
        let second = mailer.send(&email(None), "alert/42").await.unwrap();
        assert_eq!(first, second);
        let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1);
        let raw = std::fs::read_to_string(&first).unwrap();
        assert!(raw.contains("hello in text"));
    }
}
