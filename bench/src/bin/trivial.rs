//! `trivial`: the benchmark's baseline server. It answers the same webhook
//! POST as the switchboard with `200 <Response/>` without reading the body,
//! so the load generator's figures against it show what this machine, HTTP
//! stack and load tool can do at all.

use axum::http::header::CONTENT_TYPE;
use axum::routing::{get, post};
use axum::Router;
use clap::Parser;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[derive(Debug, Parser)]
#[command(about = "Trivial axum handler used as the benchmark's baseline")]
struct Cli {
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3900)]
    port: u16,
    /// Address to bind; loopback, since only the local bench should reach it.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let app = Router::new()
        .route(
            "/twilio/sms",
            post(|| async { ([(CONTENT_TYPE, "text/xml")], "<Response/>") }),
        )
        // Same readiness probe as the switchboard, so the bench waits alike.
        .route("/readyz", get(|| async { "ready" }));
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(cli.bind, cli.port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
