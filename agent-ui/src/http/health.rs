//! `GET /healthz`: the process is up and serving HTTP. It deliberately does not
//! depend on the switchboard, so a switchboard outage does not get every agent UI
//! instance restarted by the platform.

pub async fn healthz() -> &'static str {
    "ok"
}
