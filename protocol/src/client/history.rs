//! Where an agent program finds the switchboard's history API
//! (`/v1/history/…`: search, resolved conversations, a customer's past
//! conversations): beside the agent socket, on the same host and path
//! prefix, over HTTP(S) with the same Basic credentials. The agent UI
//! forwards the console's history calls there; the terminal agent calls it
//! for `/search` and `/history`.

/// The history API's base (`http(s)://host[:port]/…/v1/history`, no
/// trailing slash) for the agent socket at `ws_url`
/// (`ws(s)://host[:port]/…/v1/agent`): `ws` becomes `http`, `wss` `https`,
/// the final `/agent` becomes `/history`, a query or fragment is dropped.
/// `Err` says why `ws_url` is not a WebSocket URL.
pub fn history_base(ws_url: &str) -> Result<String, String> {
    let (scheme, rest) = ws_url
        .split_once("://")
        .ok_or_else(|| format!("{ws_url}: not a URL"))?;
    let scheme = match scheme {
        "ws" => "http",
        "wss" => "https",
        other => return Err(format!("{ws_url}: not a WebSocket URL ({other})")),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if host.is_empty() {
        return Err(format!("{ws_url}: no host"));
    }
    let path = path.trim_end_matches('/');
    let prefix = path.strip_suffix("/agent").unwrap_or(path);
    Ok(format!("{scheme}://{host}{prefix}/history"))
}

#[cfg(test)]
mod tests {
    use super::history_base;

    #[test]
    fn the_history_api_sits_beside_the_agent_socket() {
        assert_eq!(
            history_base("ws://localhost:3000/v1/agent").as_deref(),
            Ok("http://localhost:3000/v1/history")
        );
        assert_eq!(
            history_base("wss://proxy.example/sb/v1/agent/?x=1").as_deref(),
            Ok("https://proxy.example/sb/v1/history")
        );
        assert_eq!(
            history_base("ws://host:1").as_deref(),
            Ok("http://host:1/history")
        );
        assert!(history_base("http://x/v1/agent").is_err());
        assert!(history_base("ws:///v1/agent").is_err());
        assert!(history_base("localhost").is_err());
    }
}
