//! Rate limits on starting generations, per client IP and per email (GCRA, via `governor`).
//!
//! The client IP is the peer address, unless the peer is a configured trusted proxy: then it is
//! the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Trusting the
//! header from anyone else would let every client pick its own IP and dodge the limit.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

/// Generation start limits; each `None` limit is off.
#[derive(Debug)]
pub struct RateLimits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_email: Option<DefaultKeyedRateLimiter<String>>,
    trusted_proxies: Vec<IpNet>,
}

fn per_minute(limit: u32) -> Option<Quota> {
    NonZeroU32::new(limit).map(Quota::per_minute)
}

impl RateLimits {
    /// `per_ip` and `per_email` are generations per minute (bursts up to that many); 0 turns a
    /// limit off.
    pub fn new(per_ip: u32, per_email: u32, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            per_ip: per_minute(per_ip).map(RateLimiter::keyed),
            per_email: per_minute(per_email).map(RateLimiter::keyed),
            trusted_proxies,
        }
    }

    /// Takes one generation from both budgets, or says how long to wait. The email's budget is
    /// checked first, so a person retrying too fast does not also spend the budget of everyone
    /// else behind the same IP.
    pub fn check(&self, ip: IpAddr, email: &str) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        if let Some(limiter) = &self.per_email {
            limiter
                .check_key(&email.to_owned())
                .map_err(|denied| denied.wait_time_from(now))?;
        }
        if let Some(limiter) = &self.per_ip {
            limiter
                .check_key(&ip)
                .map_err(|denied| denied.wait_time_from(now))?;
        }
        Ok(())
    }

    /// Forgets clients whose budget is full again, so memory stays bounded.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.per_ip {
            limiter.retain_recent();
        }
        if let Some(limiter) = &self.per_email {
            limiter.retain_recent();
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The address of the client behind any trusted proxies.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.ip().to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .map(|ip| ip.to_canonical())
            .collect::<Vec<_>>();
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !self.is_trusted(*ip))
            .unwrap_or(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().unwrap());
        headers
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let limits = RateLimits::new(0, 0, vec!["10.0.0.0/8".parse().unwrap()]);
        let proxy: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        assert_eq!(
            limits.client_ip(proxy, &headers("203.0.113.9, 10.0.0.2")),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            limits.client_ip(stranger, &headers("203.0.113.9")),
            stranger.ip()
        );
        assert_eq!(limits.client_ip(proxy, &HeaderMap::new()), proxy.ip());
        // A client cannot hide behind a spoofed left-most entry.
        assert_eq!(
            limits.client_ip(proxy, &headers("1.1.1.1, 203.0.113.9")),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn each_budget_is_separate_and_says_when_to_come_back() {
        let limits = RateLimits::new(2, 1, vec![]);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(limits.check(ip, "a@example.com").is_ok());
        let wait = limits.check(ip, "a@example.com").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(
            limits.check(ip, "b@example.com").is_ok(),
            "another email, same IP"
        );
        assert!(
            limits.check(ip, "c@example.com").is_err(),
            "the IP's budget of 2 is spent"
        );
        assert!(
            RateLimits::new(0, 0, vec![])
                .check(ip, "a@example.com")
                .is_ok()
        );
    }
}
