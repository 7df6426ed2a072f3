//! The Procfile, run the way a Heroku-style PaaS runs it: no Docker engine
//! here, so the platform's contract is played out with real processes.
//!
//! The commands come from the repository's `Procfile` (what users deploy),
//! each through `bash -c` (as Heroku runs them) in a fresh app directory (the slug: the
//! Procfile and `deploy/`, as the Docker image lays them out under /app),
//! with configuration only from the environment, `PORT` chosen by the
//! platform, an empty `DATA_DIR` on every boot, and, when the tests run as
//! root, as the unprivileged user `nobody` (through util-linux's `setpriv`;
//! as any other user the tests' user already is unprivileged). The release
//! command runs first; then `web` must serve, take a webhook to an agent, and
//! on SIGTERM — sent, as a platform does, to every process of the dyno (its
//! process group) — exit 0 before the platform's SIGKILL (30 s).

use crate::common::{self, binary, free_port, number, Switchboard};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where the repository's deploy files are.
const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// A PaaS sends SIGKILL this long after SIGTERM.
const PLATFORM_KILL_AFTER: Duration = Duration::from_secs(30);
/// Generous bound for a boot: only a broken process takes it.
const BOOT: Duration = Duration::from_secs(30);
/// `nobody` / `nogroup` on Debian.
const NOBODY: (u32, u32) = (65534, 65534);

/// The process types of the repository's `Procfile`, by name.
fn procfile() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(Path::new(REPO).join("Procfile")).expect("read Procfile");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, command) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("Procfile line without `name:`: {line}"));
            (name.trim().to_string(), command.trim().to_string())
        })
        .collect()
}

/// The user processes run as: `nobody` when the tests run as root, else
/// the tests' own (unprivileged) user.
fn dyno_user() -> Option<(u32, u32)> {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    root.then_some(NOBODY)
}

/// One dyno's boot: a fresh app directory with an empty data directory.
struct Dyno {
    _tmp: tempfile::TempDir,
    app: PathBuf,
    data: PathBuf,
    /// The web process's stdout and stderr (the platform's log stream).
    log: PathBuf,
    user: Option<(u32, u32)>,
}

impl Dyno {
    fn boot() -> Dyno {
        let tmp = tempfile::tempdir().expect("temp dir");
        let app = tmp.path().join("app");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(app.join("deploy")).expect("app dir");
        std::fs::create_dir_all(&data).expect("data dir");
        for file in ["Procfile", "deploy/entrypoint.sh"] {
            std::fs::copy(Path::new(REPO).join(file), app.join(file)).expect("copy the slug");
        }
        // The binaries go into the slug, as in the image: the build directory
        // may be where `nobody` cannot reach (under root's home in CI).
        let bin = app.join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        for name in ["switchboard", "agent-ui"] {
            let (from, to) = (binary(name), bin.join(name));
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).expect("copy a binary into the slug");
            }
        }
        let user = dyno_user();
        if let Some((uid, gid)) = user {
            for path in [tmp.path(), &app, &app.join("deploy"), &data] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to nobody");
            }
        }
        Dyno {
            log: tmp.path().join("web.log"),
            _tmp: tmp,
            app,
            data,
            user,
        }
    }

    /// `command` as the platform runs a Procfile entry (`bash -c`, its own
    /// process group), with only `env`.
    fn command(&self, command: &str, env: &[(String, String)]) -> Command {
        let mut cmd = match self.user {
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg("/bin/bash");
                c
            }
            None => Command::new("/bin/bash"),
        };
        // The dyno's processes: one group, signalled together.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        // The slug's binaries on PATH, as they are in the image.
        let bin_dir = self.app.join("bin").display().to_string();
        cmd.arg("-c")
            .arg(command)
            .current_dir(&self.app)
            .env_clear()
            .env("PATH", format!("{bin_dir}:/usr/bin:/bin"))
            .env("HOME", &self.app)
            .env("DATA_DIR", &self.data)
            .envs(env.iter().cloned());
        cmd
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn run(&self, command: &str, env: &[(String, String)]) -> Output {
        self.command(command, env)
            .output()
            .unwrap_or_else(|e| panic!("run `{command}`: {e}"))
    }

    fn spawn(&self, command: &str, env: &[(String, String)]) -> Child {
        let log = std::fs::File::create(&self.log).expect("log file");
        self.command(command, env)
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("start `{command}`: {e}"))
    }
}

/// Waits until `url` answers 200; panics (with the process's log) if the
/// process exits first or the boot bound passes.
async fn until_serving(dyno: &Dyno, child: &mut Child, url: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + BOOT;
    loop {
        if let Ok(r) = http.get(url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the web process exited while booting ({status}): {}",
                dyno.log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer while booting: {}",
            dyno.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The uid the process `pid` runs as.
fn uid_of(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .expect("Uid line")
}

/// SIGTERM as the platform sends it, to every process of the dyno; the exit
/// status of the web process (bash runs a single command in its own place,
/// so that is the service itself), waited for until the platform would
/// SIGKILL.
fn sigterm(dyno: &Dyno, child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg("--")
        .arg(format!("-{}", child.id()))
        .status();
    let deadline = Instant::now() + PLATFORM_KILL_AFTER;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running {PLATFORM_KILL_AFTER:?} after SIGTERM (the platform would SIGKILL it): {}",
                dyno.log()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The switchboard's config vars, as a user sets them on the platform
/// (`STORE` is left at its default, sled).
fn switchboard_env(port: u16) -> Vec<(String, String)> {
    let agents = common::AGENTS
        .iter()
        .map(|a| format!("{a}:{a}-pw"))
        .collect::<Vec<_>>()
        .join(",");
    [
        ("PORT", port.to_string()),
        ("PUBLIC_URL", format!("http://127.0.0.1:{port}")),
        ("TWILIO_ACCOUNT_SID", common::ACCOUNT_SID.to_string()),
        ("TWILIO_AUTH_TOKEN", common::AUTH_TOKEN.to_string()),
        ("TWILIO_FROM", common::TWILIO_NUMBER.to_string()),
        // Nothing listens here: no reply is sent in this test.
        ("TWILIO_API_BASE", "http://127.0.0.1:9".to_string()),
        ("AGENTS", agents),
        ("RUST_LOG", "info".to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .to_vec()
}

#[tokio::test]
async fn procfile_release_then_web_on_an_empty_disk_as_a_non_root_user_and_sigterm_exits_cleanly() {
    let procfile = procfile();
    let release = procfile.get("release").expect("Procfile has `release`");
    let web = procfile.get("web").expect("Procfile has `web`");
    assert!(
        release.contains("switchboard migrate"),
        "release phase: {release}"
    );

    // Two boots, each on a new dyno with an empty DATA_DIR and a new PORT, as
    // after a deploy or the platform's daily restart.
    for boot in 1..=2 {
        let dyno = Dyno::boot();
        let port = free_port();
        let env = switchboard_env(port);

        let out = dyno.run(release, &env);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "release phase failed: {said}");
        assert!(said.contains("nothing to do"), "{said}");

        let mut child = dyno.spawn(web, &env);
        until_serving(
            &dyno,
            &mut child,
            &format!("http://127.0.0.1:{port}/readyz"),
        )
        .await;
        if let Some((uid, _)) = dyno.user {
            assert_eq!(uid_of(child.id()), uid, "the web process runs as nobody");
        }

        // It does its job: a signed webhook reaches a connected agent.
        let sb = Switchboard::reached_at(port);
        let mut alice = sb.agent("alice").await;
        let customer = number(boot);
        let body = format!("hello on boot {boot}");
        let (status, answer) = sb.text(&customer, &body).await;
        assert_eq!(status, 200, "{answer}");
        alice
            .until(Duration::from_secs(30), "the customer's text", |a| {
                a.bodies(&customer).contains(&body)
            })
            .await;
        // What it keeps, it keeps in DATA_DIR, which the unprivileged user can write.
        let written = std::fs::read_dir(&dyno.data).expect("data dir").count();
        assert!(written > 0, "nothing written to DATA_DIR");

        let status = sigterm(&dyno, &mut child);
        assert!(
            status.success(),
            "exit after SIGTERM: {status}; {}",
            dyno.log()
        );
    }
}

#[tokio::test]
async fn role_agent_ui_makes_web_the_agent_console_and_a_wrong_role_is_refused() {
    let web = procfile().get("web").cloned().expect("Procfile has `web`");
    let dyno = Dyno::boot();
    let port = free_port();
    let env: Vec<(String, String)> = [
        ("ROLE", "agent-ui".to_string()),
        ("PORT", port.to_string()),
        ("SESSION_SECRET", "0123456789abcdef".repeat(4)),
        (
            "SWITCHBOARD_WS_URL",
            format!("ws://127.0.0.1:{}/v1/agent", free_port()),
        ),
        ("RUST_LOG", "info".to_string()),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .to_vec();
    let mut child = dyno.spawn(&web, &env);
    until_serving(&dyno, &mut child, &format!("http://127.0.0.1:{port}/login")).await;
    if let Some((uid, _)) = dyno.user {
        assert_eq!(uid_of(child.id()), uid, "the web process runs as nobody");
    }
    let status = sigterm(&dyno, &mut child);
    assert!(
        status.success(),
        "exit after SIGTERM: {status}; {}",
        dyno.log()
    );

    let out = dyno.run(&web, &[("ROLE".into(), "router".into())]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ROLE must be switchboard or agent-ui"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With `STORE=dynamodb` (in the emulator) the release phase creates the
/// tables, and what customers and agents did survives a dyno replaced by
/// one with an empty disk: the agent resumes, the earlier message is not
/// delivered again, and the next one arrives.
#[tokio::test]
async fn with_dynamodb_the_release_phase_creates_the_tables_and_a_new_dyno_resumes() {
    let moto = common::aws::Moto::shared();
    let procfile = procfile();
    let (release, web) = (&procfile["release"], &procfile["web"]);
    let store_env = common::dynamodb_env(&moto);
    let customer = number(7);
    let mut resume = BTreeMap::new();
    let mut seen: Vec<String> = Vec::new();
    for (boot, text) in [(1, "before the restart"), (2, "after the restart")] {
        let dyno = Dyno::boot();
        let port = free_port();
        let mut env = switchboard_env(port);
        env.extend(store_env.iter().cloned());

        let out = dyno.run(release, &env);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "release phase failed: {said}");
        if boot == 1 {
            assert!(said.contains("created table"), "{said}");
        } else {
            assert!(said.contains("nothing to do"), "{said}");
        }

        let mut child = dyno.spawn(web, &env);
        until_serving(
            &dyno,
            &mut child,
            &format!("http://127.0.0.1:{port}/readyz"),
        )
        .await;
        let sb = Switchboard::reached_at(port);
        let mut alice =
            common::Agent::connect(&sb, "alice", resume.clone(), Some(true), Some(10)).await;
        let (status, answer) = sb.text(&customer, text).await;
        assert_eq!(status, 200, "{answer}; {}", dyno.log());
        alice
            .until(Duration::from_secs(30), text, |a| {
                a.bodies(&customer).iter().any(|b| b == text)
            })
            .await;
        // In order per conversation: whatever the new dyno could deliver again
        // of the earlier message would have arrived before this one.
        seen.extend(alice.bodies(&customer));
        resume = alice.last_seen();
        alice.close().await;

        let status = sigterm(&dyno, &mut child);
        assert!(
            status.success(),
            "exit after SIGTERM: {status}; {}",
            dyno.log()
        );
    }
    assert_eq!(seen, ["before the restart", "after the restart"]);
}
