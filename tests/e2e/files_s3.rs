//! The file server ("mount S3 as a file system") end to end: the real
//! `switchboard` and `agent-ui` binaries against the AWS emulator.
//!
//! Covers what a client of `/files/` sees: bodies and headers of objects put
//! into S3, `HEAD`, `Range` (206 / 416), `If-None-Match` (304), 404, 401;
//! the fallback both ways with the emulator paused and then killed mid-test;
//! path traversal attempts against a secret file next to `FILES_DIR`; and the
//! agent UI's `/files/` (sign-in required) and `/static/` from S3 with the
//! local static directory as fallback.

use crate::common;

use common::aws::{unique_name, Moto};
use common::{binary, free_port, Options, Switchboard};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AGENT: &str = "alice";
const PASSWORD: &str = "alice-pw";
/// The conversation alice holds: the files of these tests are its media.
const HELD: &str = "+15550001111";

/// A client that bounds every request: a request that hangs fails the test
/// instead of hanging it (the bound is far above any healthy answer).
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

async fn put_s3(moto: &Moto, bucket: &str, key: &str, body: &[u8], content_type: &str) {
    moto.s3()
        .await
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
}

fn write_local(root: &Path, key: &str, body: &[u8]) {
    let path = root.join(key);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, body).expect("write local file");
}

/// A switchboard with S3 (bucket on `moto`, keys under `prefix`) and its
/// local copy in `files_dir`.
async fn switchboard_with_s3(
    moto: &Moto,
    bucket: &str,
    prefix: &str,
    files_dir: &Path,
) -> Switchboard {
    let mut extra_env = moto.env();
    extra_env.push(("S3_BUCKET".into(), bucket.into()));
    extra_env.push(("S3_PREFIX".into(), prefix.into()));
    extra_env.push(("FILES_DIR".into(), files_dir.display().to_string()));
    let sb = Switchboard::start(Options {
        extra_env,
        // alice keeps HELD after her socket closes, for the whole test.
        grace_secs: 3600.0,
        ..Options::default()
    })
    .await;
    // /files serves agents only the media of conversations they hold.
    let mut alice = sb.agent(AGENT).await;
    assert_eq!(sb.text(HELD, "a picture for alice").await.0, 200);
    alice
        .until(Duration::from_secs(10), "alice holds HELD", |a| {
            a.received_count() >= 1
        })
        .await;
    sb
}

/// `GET /files/<key>` as agent alice, with extra request headers.
async fn get_file(sb: &Switchboard, key: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = http()
        .get(sb.url(&format!("/files/{key}")))
        .basic_auth(AGENT, Some(PASSWORD));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("GET /files")
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// 0..len as bytes, so every range has distinct, checkable content.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn s3_objects_are_served_with_ranges_and_conditionals() {
    let moto = Moto::shared();
    let bucket = unique_name("files");
    moto.create_bucket(&bucket).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let body = pattern(100);
    put_s3(
        &moto,
        &bucket,
        "sb/media/+15550001111/docs/hello.bin",
        &body,
        "application/x-test",
    )
    .await;
    let big = pattern(3 * 1024 * 1024 + 17);
    put_s3(
        &moto,
        &bucket,
        "sb/media/+15550001111/big.bin",
        &big,
        "application/octet-stream",
    )
    .await;
    let sb = switchboard_with_s3(&moto, &bucket, "sb/", &tmp.path().join("files")).await;
    let s3_etag = moto
        .s3()
        .await
        .head_object()
        .bucket(&bucket)
        .key("sb/media/+15550001111/docs/hello.bin")
        .send()
        .await
        .expect("head object")
        .e_tag()
        .expect("etag")
        .to_string();

    // GET: the object, with its metadata.
    let response = get_file(&sb, "media/+15550001111/docs/hello.bin", &[]).await;
    assert_eq!(response.status(), 200, "log:\n{}", sb.log());
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/x-test")
    );
    assert_eq!(header(&response, "content-length").as_deref(), Some("100"));
    assert_eq!(header(&response, "etag"), Some(s3_etag.clone()));
    assert_eq!(header(&response, "accept-ranges").as_deref(), Some("bytes"));
    let last_modified = header(&response, "last-modified").expect("last-modified");
    assert!(
        last_modified.ends_with(" GMT"),
        "an HTTP date: {last_modified}"
    );
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        body.as_slice()
    );

    // A multi-megabyte object arrives whole and intact.
    let response = get_file(&sb, "media/+15550001111/big.bin", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-length"),
        Some(big.len().to_string())
    );
    assert!(response.bytes().await.expect("body").as_ref() == big.as_slice());

    // HEAD: the same headers, no body.
    let response = http()
        .head(sb.url("/files/media/+15550001111/docs/hello.bin"))
        .basic_auth(AGENT, Some(PASSWORD))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-length").as_deref(), Some("100"));
    assert_eq!(header(&response, "etag"), Some(s3_etag.clone()));
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/x-test")
    );
    assert!(response.bytes().await.expect("body").is_empty());

    // Range: 206 with the part and where it lies.
    let response = get_file(
        &sb,
        "media/+15550001111/docs/hello.bin",
        &[("range", "bytes=10-19")],
    )
    .await;
    assert_eq!(response.status(), 206);
    assert_eq!(
        header(&response, "content-range").as_deref(),
        Some("bytes 10-19/100")
    );
    assert_eq!(header(&response, "content-length").as_deref(), Some("10"));
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        &body[10..20]
    );

    let response = get_file(
        &sb,
        "media/+15550001111/docs/hello.bin",
        &[("range", "bytes=-5")],
    )
    .await;
    assert_eq!(response.status(), 206);
    assert_eq!(
        header(&response, "content-range").as_deref(),
        Some("bytes 95-99/100")
    );
    assert_eq!(response.bytes().await.expect("body").as_ref(), &body[95..]);

    let response = get_file(
        &sb,
        "media/+15550001111/big.bin",
        &[("range", "bytes=3145728-")],
    )
    .await;
    assert_eq!(response.status(), 206);
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        &big[3145728..]
    );

    // A range past the end: 416, saying how long the object is.
    let response = get_file(
        &sb,
        "media/+15550001111/docs/hello.bin",
        &[("range", "bytes=100-200")],
    )
    .await;
    assert_eq!(response.status(), 416);
    assert_eq!(
        header(&response, "content-range").as_deref(),
        Some("bytes */100")
    );

    // If-None-Match with the current ETag: 304, nothing re-sent.
    let response = get_file(
        &sb,
        "media/+15550001111/docs/hello.bin",
        &[("if-none-match", &s3_etag)],
    )
    .await;
    assert_eq!(response.status(), 304);
    assert_eq!(header(&response, "etag"), Some(s3_etag.clone()));
    assert!(response.bytes().await.expect("body").is_empty());
    // ... and with another tag, the object.
    let response = get_file(
        &sb,
        "media/+15550001111/docs/hello.bin",
        &[("if-none-match", "\"not-it\"")],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        body.as_slice()
    );

    // Missing in S3 and locally: 404.
    assert_eq!(
        get_file(&sb, "media/+15550001111/docs/nope.bin", &[])
            .await
            .status(),
        404
    );
    // Keys are relative to S3_PREFIX: the prefix cannot be stepped out of.
    assert_eq!(
        get_file(&sb, "sb/media/+15550001111/docs/hello.bin", &[])
            .await
            .status(),
        403
    );

    // Only agents: no credentials or a wrong password is 401.
    let response = http()
        .get(sb.url("/files/media/+15550001111/docs/hello.bin"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 401);
    assert!(header(&response, "www-authenticate").is_some());
    let response = http()
        .get(sb.url("/files/media/+15550001111/docs/hello.bin"))
        .basic_auth(AGENT, Some("wrong"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 401);

    // Read-only.
    let response = http()
        .put(sb.url("/files/media/+15550001111/docs/hello.bin"))
        .basic_auth(AGENT, Some(PASSWORD))
        .body("overwrite")
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 405);
    assert_eq!(
        moto.s3_object(&bucket, "sb/media/+15550001111/docs/hello.bin")
            .await
            .map(|(b, _)| b),
        Some(body)
    );
}

#[tokio::test]
async fn files_survive_the_emulator_going_away_both_ways() {
    if common::aws::skip_on_localstack(
        "pauses or kills its emulator: one private moto per test, not LocalStack",
    ) {
        return;
    }
    let mut moto = Moto::spawn().await;
    let bucket = unique_name("fallback");
    moto.create_bucket(&bucket).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let files_dir = tmp.path().join("files");
    put_s3(
        &moto,
        &bucket,
        "media/+15550001111/only-s3.txt",
        b"from S3 only",
        "text/plain",
    )
    .await;
    put_s3(
        &moto,
        &bucket,
        "media/+15550001111/both.txt",
        b"S3 copy",
        "text/plain",
    )
    .await;
    write_local(&files_dir, "media/+15550001111/both.txt", b"local copy");
    write_local(
        &files_dir,
        "media/+15550001111/local-only.txt",
        b"written while S3 was down",
    );
    let sb = switchboard_with_s3(&moto, &bucket, "", &files_dir).await;

    let body = |r: reqwest::Response| async move { r.text().await.expect("body") };
    // S3 up: S3 is the source; what S3 lacks comes from the local directory.
    let response = get_file(&sb, "media/+15550001111/only-s3.txt", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(body(response).await, "from S3 only");
    assert_eq!(
        body(get_file(&sb, "media/+15550001111/both.txt", &[]).await).await,
        "S3 copy"
    );
    let response = get_file(&sb, "media/+15550001111/local-only.txt", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/plain")
    );
    assert_eq!(body(response).await, "written while S3 was down");

    // S3 hangs (connections accepted, never answered): the local copy is
    // served, not an error and not a hang.
    moto.pause();
    let response = get_file(&sb, "media/+15550001111/both.txt", &[]).await;
    assert_eq!(response.status(), 200, "log:\n{}", sb.log());
    assert_eq!(body(response).await, "local copy");
    let response = get_file(&sb, "media/+15550001111/only-s3.txt", &[]).await;
    assert_eq!(response.status(), 503, "only S3 has it and S3 is away");
    moto.resume();
    // Back: an S3-only file is served from S3 again.
    let response = get_file(&sb, "media/+15550001111/only-s3.txt", &[]).await;
    assert_eq!(response.status(), 200, "log:\n{}", sb.log());
    assert_eq!(body(response).await, "from S3 only");

    // S3 gone for good (connection refused).
    moto.kill();
    let response = get_file(&sb, "media/+15550001111/both.txt", &[]).await;
    assert_eq!(response.status(), 200, "log:\n{}", sb.log());
    let etag = header(&response, "etag").expect("local etag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong etag: {etag}"
    );
    assert!(header(&response, "last-modified").is_some());
    assert_eq!(header(&response, "content-length").as_deref(), Some("10"));
    assert_eq!(body(response).await, "local copy");
    // The local copy honours ranges and conditionals like S3 does.
    let response = get_file(&sb, "media/+15550001111/both.txt", &[("range", "bytes=6-")]).await;
    assert_eq!(response.status(), 206);
    assert_eq!(
        header(&response, "content-range").as_deref(),
        Some("bytes 6-9/10")
    );
    assert_eq!(body(response).await, "copy");
    let response = get_file(
        &sb,
        "media/+15550001111/both.txt",
        &[("range", "bytes=10-")],
    )
    .await;
    assert_eq!(response.status(), 416);
    assert_eq!(
        header(&response, "content-range").as_deref(),
        Some("bytes */10")
    );
    assert_eq!(
        get_file(
            &sb,
            "media/+15550001111/both.txt",
            &[("if-none-match", &etag)]
        )
        .await
        .status(),
        304
    );
    let response = http()
        .head(sb.url("/files/media/+15550001111/local-only.txt"))
        .basic_auth(AGENT, Some(PASSWORD))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-length").as_deref(), Some("25"));
    assert_eq!(
        body(get_file(&sb, "media/+15550001111/local-only.txt", &[]).await).await,
        "written while S3 was down"
    );
    // Only in S3, S3 unreachable: "try again", never a 500.
    assert_eq!(
        get_file(&sb, "media/+15550001111/only-s3.txt", &[])
            .await
            .status(),
        503
    );

    // The failures were logged with service, operation and error.
    let log = sb.log();
    assert!(
        log.contains("S3") && log.contains("GetObject") && log.contains("serving the local copy"),
        "log:\n{log}"
    );
}

/// Raw `GET <target>` (no client-side path normalisation), as alice.
async fn raw_get(port: u16, target: &str) -> (u16, String) {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{AGENT}:{PASSWORD}"));
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

#[tokio::test]
async fn path_traversal_never_leaves_the_files_directory() {
    let moto = Moto::shared();
    let bucket = unique_name("traversal");
    moto.create_bucket(&bucket).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let files_dir = tmp.path().join("files");
    const SECRET: &str = "TOP-SECRET-5d1f";
    std::fs::write(tmp.path().join("secret.txt"), SECRET).expect("secret");
    write_local(&files_dir, "media/+15550001111/visible.txt", b"visible");
    // A symlink inside the root that points outside it.
    std::os::unix::fs::symlink(
        tmp.path().join("secret.txt"),
        files_dir.join("media/+15550001111/link.txt"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink(tmp.path(), files_dir.join("media/+15550001111/up"))
        .expect("dir symlink");
    let sb = switchboard_with_s3(&moto, &bucket, "", &files_dir).await;

    let (status, _) = raw_get(sb.port, "/files/media/+15550001111/visible.txt").await;
    assert_eq!(status, 200, "control: a normal file is served");

    let attempts = [
        "/files/../secret.txt",
        "/files/media/+15550001111/../../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/%2E%2E%2Fsecret.txt",
        "/files/media/+15550001111/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/files/media/+15550001111%2F..%2F..%2Fsecret.txt",
        "/files/%2F..%2Fsecret.txt",
        "/files//etc/passwd",
        "/files/%2Fetc%2Fpasswd",
        "/files/..%5Csecret.txt",
        "/files/media/+15550001111%5C..%5C..%5Csecret.txt",
        "/files/media/+15550001111/%00/../../secret.txt",
        "/files/./media/+15550001111/visible.txt",
        "/files/media/+15550001111/link.txt",
        "/files/media/+15550001111/up/secret.txt",
        "/files/.secret.txt",
    ];
    for target in attempts {
        let (status, text) = raw_get(sb.port, target).await;
        assert!(
            status == 400 || status == 403 || status == 404,
            "{target} answered {status}:\n{text}"
        );
        assert!(
            !text.contains(SECRET),
            "{target} leaked the secret:\n{text}"
        );
    }
    // The reason is said plainly.
    let (status, text) = raw_get(sb.port, "/files/%2e%2e/secret.txt").await;
    assert_eq!(status, 400);
    assert!(text.contains("invalid file key"), "{text}");
}

/// One running `agent-ui serve` process.
struct AgentUi {
    port: u16,
    child: Child,
    log: PathBuf,
}

impl AgentUi {
    async fn start(switchboard: &Switchboard, env: &[(String, String)], dir: &Path) -> AgentUi {
        let port = free_port();
        let log = dir.join("agent-ui.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(binary("agent-ui"))
            .arg("serve")
            .env_clear()
            .env("PORT", port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("SWITCHBOARD_WS_URL", switchboard.ws_url())
            .env("RUST_LOG", "info,tower_http=warn")
            .envs(env.iter().cloned())
            .stdout(Stdio::from(log_file.try_clone().expect("log")))
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start agent-ui");
        let mut ui = AgentUi { port, child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http().get(ui.url("/healthz")).send().await {
                if r.status().is_success() {
                    return ui;
                }
            }
            if let Ok(Some(status)) = ui.child.try_wait() {
                panic!("agent-ui exited early ({status}); log:\n{}", ui.log());
            }
            assert!(
                Instant::now() < deadline,
                "agent-ui not ready; log:\n{}",
                ui.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Signs alice in; the `sb_session=…` pair to send as `Cookie`.
    async fn sign_in(&self) -> String {
        let response = common::login::post(&http(), &self.url(""), AGENT, PASSWORD).await;
        assert_eq!(response.status(), 303, "sign-in; log:\n{}", self.log());
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("sb_session="))
            .and_then(|v| v.split(';').next())
            .expect("session cookie")
            .to_string()
    }

    /// Opens the console's socket, as the page does after sign-in: the agent's
    /// session (and its upstream) is started when a tab attaches.
    async fn open_console(
        &self,
        cookie: &str,
    ) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>
    {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://127.0.0.1:{}/ws", self.port)
            .into_client_request()
            .expect("ws request");
        request
            .headers_mut()
            .insert("cookie", cookie.parse().expect("cookie header"));
        tokio_tungstenite::connect_async(request)
            .await
            .expect("open the console's socket")
            .0
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut request = http().get(self.url(path));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.expect("GET")
    }
}

impl Drop for AgentUi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn agent_ui_serves_files_to_signed_in_agents_and_static_from_s3() {
    let moto = Moto::shared();
    let bucket = unique_name("agentui");
    moto.create_bucket(&bucket).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let files_dir = tmp.path().join("files");
    let png = pattern(2048);
    put_s3(
        &moto,
        &bucket,
        "media/media/+15550001111/pic.png",
        &png,
        "image/png",
    )
    .await;
    write_local(&files_dir, "media/+15550001111/local.txt", b"local media");
    put_s3(
        &moto,
        &bucket,
        "static-v1/only-in-s3.js",
        b"console.log('from S3');",
        "text/javascript",
    )
    .await;
    let sb = Switchboard::start(Options::default()).await;
    let static_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("static");
    let mut env = moto.env();
    env.extend([
        ("S3_BUCKET".to_string(), bucket.clone()),
        ("S3_PREFIX".to_string(), "media/".to_string()),
        ("FILES_DIR".to_string(), files_dir.display().to_string()),
        ("STATIC_DIR".to_string(), static_dir.display().to_string()),
        ("STATIC_S3_PREFIX".to_string(), "static-v1/".to_string()),
    ]);
    let ui = AgentUi::start(&sb, &env, tmp.path()).await;

    // /files needs a signed-in agent.
    let response = ui.get("/files/media/+15550001111/pic.png", None).await;
    assert_eq!(response.status(), 401);
    let response = ui
        .get(
            "/files/media/+15550001111/pic.png",
            Some("sb_session=forged"),
        )
        .await;
    assert_eq!(response.status(), 401);
    let cookie = ui.sign_in().await;
    let _console = ui.open_console(&cookie).await;
    // Not before alice holds the conversation…
    let response = ui
        .get("/files/media/+15550001111/pic.png", Some(&cookie))
        .await;
    assert_eq!(response.status(), 403);
    // …which she does once it is assigned to her session (the only agent).
    assert_eq!(sb.text(HELD, "a picture").await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = loop {
        let response = ui
            .get("/files/media/+15550001111/pic.png", Some(&cookie))
            .await;
        if response.status() != 403 || Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(response.status(), 200, "log:\n{}", ui.log());
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("image/png")
    );
    assert!(header(&response, "cache-control").is_some_and(|c| c.contains("private")));
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        png.as_slice()
    );
    let response = ui
        .get("/files/media/+15550001111/local.txt", Some(&cookie))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "local media");
    let response = ui.get("/files/..%5Csecret", Some(&cookie)).await;
    assert_eq!(response.status(), 400);

    // /static: S3 first (no sign-in needed for assets), the local directory
    // for what S3 lacks.
    let response = ui.get("/static/only-in-s3.js", None).await;
    assert_eq!(response.status(), 200, "log:\n{}", ui.log());
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("public, max-age=3600")
    );
    assert_eq!(
        response.text().await.expect("body"),
        "console.log('from S3');"
    );
    let response = ui.get("/static/app.css", None).await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").is_some_and(|t| t.starts_with("text/css")));
    let local_css = std::fs::read_to_string(static_dir.join("app.css")).expect("app.css");
    assert_eq!(response.text().await.expect("body"), local_css);
    let response = ui.get("/static/no-such-file.css", None).await;
    assert_eq!(response.status(), 404);
    assert!(
        header(&response, "cache-control").is_none(),
        "a 404 is not cacheable"
    );
    // The console page still loads its assets from /static.
    let response = ui.get("/", Some(&cookie)).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn put_keeps_a_local_copy_and_uploads_and_says_when_s3_failed() {
    use switchboard_cloud::files::{FileError, FileKey, FileStore, S3Location};
    if common::aws::skip_on_localstack(
        "pauses or kills its emulator: one private moto per test, not LocalStack",
    ) {
        return;
    }
    let mut moto = Moto::spawn().await;
    let bucket = unique_name("put");
    moto.create_bucket(&bucket).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let files_dir = tmp.path().join("files");
    let store = FileStore::new(
        files_dir.clone(),
        Some(S3Location {
            client: switchboard_cloud::aws::s3_client(&moto.sdk_config().await),
            bucket: bucket.clone(),
            prefix: "p/".into(),
        }),
    );
    let picture = pattern(5000);
    let key = FileKey::parse("media/+15550001111/a.jpg").expect("key");
    store
        .put(&key, picture.clone().into(), "image/jpeg")
        .await
        .expect("put with S3 up");
    assert_eq!(
        moto.s3_object(&bucket, "p/media/+15550001111/a.jpg").await,
        Some((picture.clone(), Some("image/jpeg".to_string())))
    );
    assert_eq!(
        std::fs::read(files_dir.join("media/+15550001111/a.jpg")).expect("local copy"),
        picture
    );

    // S3 gone: the local copy is still written, and the caller is told the
    // upload failed (so it can retry), naming the operation.
    moto.kill();
    let key = FileKey::parse("media/+15550001111/b.dat").expect("key");
    let err = store
        .put(&key, b"late".to_vec().into(), "image/gif")
        .await
        .expect_err("S3 is down");
    assert!(
        matches!(
            &err,
            FileError::S3 {
                operation: "PutObject",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        std::fs::read(files_dir.join("media/+15550001111/b.dat")).expect("local copy"),
        b"late"
    );
    // Served from the local copy with the type it was written with (not a
    // guess from the name), while S3 is away.
    let sb = switchboard_with_s3(&moto, &bucket, "p/", &files_dir).await;
    let response = get_file(&sb, "media/+15550001111/b.dat", &[]).await;
    assert_eq!(response.status(), 200, "log:\n{}", sb.log());
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("image/gif")
    );
    assert_eq!(response.text().await.expect("body"), "late");
}
