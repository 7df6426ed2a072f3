//! Who a request comes from, and whether it came over HTTPS: the TCP peer,
//! or what a configured trusted proxy says in `X-Forwarded-For` /
//! `X-Forwarded-Proto`. Those headers from anyone else are ignored: a client
//! could otherwise pick a fresh address for every sign-in attempt.

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpAddr>>);

/// The client as far as we can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The address rate limits are counted against.
    pub addr: IpAddr,
    /// The browser's connection was HTTPS (said by a trusted proxy).
    pub https: bool,
}

impl TrustedProxies {
    pub fn new(addrs: Vec<IpAddr>) -> TrustedProxies {
        TrustedProxies(Arc::new(addrs))
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|p| same_ip(*p, addr))
    }

    /// The client of a request whose TCP peer is `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Client {
        if !self.trusts(peer) {
            return Client {
                addr: peer,
                https: false,
            };
        }
        // X-Forwarded-For grows to the right, one hop each: the rightmost
        // address not of a trusted proxy is the one the nearest trusted
        // proxy saw. Anything left of it the client could have written.
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        let addr = forwarded
            .iter()
            .rev()
            .copied()
            .find(|a| !self.trusts(*a))
            .unwrap_or(peer);
        let https = headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Client { addr, https }
    }

    /// [`client`](Self::client) of an axum request (served with connect
    /// info; without it the peer counts as `0.0.0.0`, never trusted unless
    /// configured).
    pub fn client_of<B>(&self, request: &Request<B>) -> Client {
        self.client(peer_of(request), request.headers())
    }
}

/// The TCP peer's address from axum's connect info.
pub fn peer_of<B>(request: &Request<B>) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// IPv4 and its IPv4-mapped IPv6 form are the same address.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn forwarding_headers_count_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let trusted = TrustedProxies::new(vec![proxy]);
        let forged = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(
            trusted.client(stranger, &forged),
            Client {
                addr: stranger,
                https: false
            }
        );
        assert_eq!(
            trusted.client(proxy, &forged),
            Client {
                addr: "198.51.100.1".parse().unwrap(),
                https: true
            }
        );
        // A client-written entry left of the proxy's is not believed.
        let chained = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7")]);
        assert_eq!(
            trusted.client(proxy, &chained).addr,
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // Nothing to believe: the proxy itself is the client, over HTTP.
        assert_eq!(
            trusted.client(proxy, &HeaderMap::new()),
            Client {
                addr: proxy,
                https: false
            }
        );
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        assert!(trusted.client(mapped, &forged).https);
    }
}
