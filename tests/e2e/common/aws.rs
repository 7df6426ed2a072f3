//! The AWS emulator the tests talk to, reached only through
//! `AWS_ENDPOINT_URL`, so the same tests run against moto and LocalStack.
//!
//! [`Moto::shared`] is the instance the test command started: moto
//! (`MOTO_URL`), or LocalStack (`LOCALSTACK_URL` without `MOTO_URL`, the test
//! command's LocalStack pass). Tests that take AWS away start a private moto
//! with [`Moto::spawn`] and pause, resume or kill it; LocalStack is one
//! instance per run (a JVM and a Python server, too heavy per test), so such
//! tests skip there with [`skip_on_localstack`]. Reading sent mail is the one
//! emulator-specific helper ([`Moto::sent_mail`]), and LocalStack's free
//! edition has no SES v2 ([`Moto::mail_supported`]).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";

/// One reachable emulator.
pub struct Moto {
    pub endpoint: String,
    child: Option<Child>,
    /// Which emulator answers: sent mail is read differently.
    flavour: Flavour,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Moto,
    LocalStack,
}

/// An email the emulator says was sent.
#[derive(Debug, Clone)]
pub struct SentMail {
    pub source: String,
    pub destinations: Vec<String>,
    /// The whole MIME message for raw sends; subject and body otherwise.
    pub raw: String,
}

impl Moto {
    /// The emulator started by the test command (`MOTO_URL`; or
    /// `AWS_ENDPOINT_URL` when running against LocalStack).
    pub fn shared() -> Moto {
        if let Some(url) = env_non_empty("MOTO_URL") {
            return Moto {
                endpoint: url,
                child: None,
                flavour: Flavour::Moto,
            };
        }
        if let Some(url) = env_non_empty("LOCALSTACK_URL") {
            return Moto {
                endpoint: url,
                child: None,
                flavour: Flavour::LocalStack,
            };
        }
        panic!(
            "MOTO_URL is not set: run the project's test command (scripts/test.sh), which installs and \
             starts the AWS emulator (moto), or set LOCALSTACK_URL to run against LocalStack"
        );
    }

    /// A private moto process on a free port, killed when dropped. On
    /// LocalStack the shared instance instead (tests there use unique table,
    /// bucket and address names); a test that pauses or kills its emulator
    /// calls [`skip_on_localstack`] first.
    pub async fn spawn() -> Moto {
        if on_localstack() {
            return Moto::shared();
        }
        let server = env_non_empty("MOTO_SERVER").expect(
            "MOTO_SERVER is not set: run the project's test command (scripts/test.sh), which installs moto",
        );
        let port = super::free_port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Some(child),
            flavour: Flavour::Moto,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http
                .get(format!("{}/moto-api/", moto.endpoint))
                .send()
                .await
            {
                if r.status().is_success() {
                    return moto;
                }
            }
            assert!(Instant::now() < deadline, "moto not ready in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn signal(&self, signal: &str) {
        let child = self
            .child
            .as_ref()
            .expect("only a private moto (Moto::spawn, not on LocalStack) can be paused");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// SIGSTOP: connections are accepted by the kernel but never answered,
    /// as when AWS is unreachable. State survives.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// Stops a private emulator for good (connections are refused).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The environment a process needs to use this emulator through the
    /// standard AWS configuration chain.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), "test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ]
    }

    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load()
            .await
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let conf = self.sdk_config().await;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        )
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    pub async fn sesv2(&self) -> aws_sdk_sesv2::Client {
        aws_sdk_sesv2::Client::new(&self.sdk_config().await)
    }

    pub async fn create_bucket(&self, name: &str) {
        self.s3()
            .await
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
    }

    /// Whether this emulator accepts mail through SES v2, as the switchboard
    /// sends it. LocalStack's free edition answers every SES v2 call with
    /// 501; then the test says so (see [`skip_on_localstack`]) and leaves
    /// its mail assertions out.
    pub async fn mail_supported(&self) -> bool {
        if self.flavour == Flavour::Moto {
            return true;
        }
        // The call the tests need first (an unused address: no side effect
        // on any mail a test expects).
        let probe = format!("{}@example.com", unique_name("probe"));
        match self
            .sesv2()
            .await
            .create_email_identity()
            .email_identity(probe)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 501) => {
                report_skip("mail assertions: this LocalStack edition answers SES v2 with 501");
                false
            }
            Err(e) => panic!("SES v2 CreateEmailIdentity: {e:?}"),
        }
    }

    /// Verifies a sender address (the emulators, like SES, reject mail
    /// from unverified senders). Nothing to verify where SES v2 is missing
    /// ([`Moto::mail_supported`]).
    pub async fn verify_sender(&self, address: &str) {
        if !self.mail_supported().await {
            return;
        }
        self.sesv2()
            .await
            .create_email_identity()
            .email_identity(address)
            .send()
            .await
            .unwrap_or_else(|e| panic!("verify {address}: {e:?}"));
    }

    /// The body of an object, or None when it does not exist.
    pub async fn s3_object(&self, bucket: &str, key: &str) -> Option<(Vec<u8>, Option<String>)> {
        match self
            .s3()
            .await
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => {
                let content_type = object.content_type().map(str::to_string);
                let bytes = object.body.collect().await.expect("object body");
                Some((bytes.to_vec(), content_type))
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => None,
            Err(e) => panic!("get s3://{bucket}/{key}: {e:?}"),
        }
    }

    /// Every key in `bucket` under `prefix`.
    pub async fn s3_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let s3 = self.s3().await;
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap_or_else(|e| panic!("list s3://{bucket}/{prefix}: {e:?}"));
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match page.next_continuation_token() {
                Some(next) => token = Some(next.to_string()),
                None => return keys,
            }
        }
    }

    /// Every email the emulator accepted, oldest first.
    pub async fn sent_mail(&self) -> Vec<SentMail> {
        let http = reqwest::Client::new();
        match self.flavour {
            Flavour::Moto => {
                let data: serde_json::Value = http
                    .get(format!("{}/moto-api/data.json", self.endpoint))
                    .send()
                    .await
                    .expect("moto data.json")
                    .json()
                    .await
                    .expect("moto data.json is JSON");
                let ses = &data["ses"];
                let mut mail = Vec::new();
                for m in ses["RawMessage"].as_array().into_iter().flatten() {
                    mail.push(SentMail {
                        source: m["source"].as_str().unwrap_or_default().to_string(),
                        destinations: strings(&m["destinations"]),
                        raw: m["raw_data"].as_str().unwrap_or_default().to_string(),
                    });
                }
                for m in ses["Message"].as_array().into_iter().flatten() {
                    mail.push(SentMail {
                        source: m["source"].as_str().unwrap_or_default().to_string(),
                        destinations: strings(&m["destinations"]),
                        raw: format!(
                            "Subject: {}\n\n{}",
                            m["subject"].as_str().unwrap_or_default(),
                            m["body"].as_str().unwrap_or_default()
                        ),
                    });
                }
                mail
            }
            Flavour::LocalStack => {
                let data: serde_json::Value = http
                    .get(format!("{}/_aws/ses", self.endpoint))
                    .send()
                    .await
                    .expect("localstack /_aws/ses")
                    .json()
                    .await
                    .expect("localstack /_aws/ses is JSON");
                data["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| SentMail {
                        source: m["Source"].as_str().unwrap_or_default().to_string(),
                        destinations: strings(&m["Destination"]["ToAddresses"]),
                        raw: m["RawData"]
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| m.to_string()),
                    })
                    .collect()
            }
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A paused process ignores SIGKILL until continued on some
            // kernels' process accounting; resume first to be sure.
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(self.child.as_ref().map(|c| c.id()).unwrap_or(0).to_string())
                .status();
        }
        self.kill();
    }
}

/// True when the tests run against LocalStack: the test command's LocalStack
/// pass sets `LOCALSTACK_URL` and no `MOTO_URL`.
pub fn on_localstack() -> bool {
    env_non_empty("MOTO_URL").is_none() && env_non_empty("LOCALSTACK_URL").is_some()
}

/// Says why a test does not apply to LocalStack and whether to skip it.
pub fn skip_on_localstack(reason: &str) -> bool {
    if on_localstack() {
        report_skip(reason);
    }
    on_localstack()
}

/// Makes a skip visible: on stderr, and as a line `test: reason` in the file
/// named by `SWITCHBOARD_SKIPPED_LOG`, which the test command prints after
/// the pass (cargo shows a passing test's stderr only with --nocapture).
fn report_skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    eprintln!("skipped on LocalStack: {test}: {reason}");
    if let Some(path) = env_non_empty("SWITCHBOARD_SKIPPED_LOG") {
        use std::io::Write;
        let line = format!("{test}: {reason}\n");
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            panic!("append to SWITCHBOARD_SKIPPED_LOG {path}: {e}");
        }
    }
}

fn env_non_empty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

static NAME_COUNTER: AtomicU64 = AtomicU64::new(1);

/// A bucket- and table-safe name, unique per call (lowercase, digits, `-`).
pub fn unique_name(prefix: &str) -> String {
    let n = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
    let salt: u32 = rand::random();
    format!("{prefix}-{:x}-{salt:08x}-{n}", std::process::id())
}
