//! Rate limits on starting generations, per client IP and per email, and on reporting pages,
//! per client IP (GCRA, via `governor`).
//!
//! The client IP is the peer address, unless the peer is a configured trusted proxy: then it is
//! the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Trusting the
//! header from anyone else would let every client pick its own IP and dodge the limit.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use crate::store::SharedBudgets;

/// Generation start and report limits; each `None` limit is off.
#[derive(Debug)]
pub struct RateLimits {
    per_ip: Option<NonZeroU32>,
    per_email: Option<NonZeroU32>,
    reports_per_ip: Option<NonZeroU32>,
    budgets: Budgets,
    /// Reports per IP, when kept in this process (see [`Budgets`]).
    local_reports: Option<DefaultKeyedRateLimiter<IpAddr>>,
    trusted_proxies: Vec<IpNet>,
}

/// Where the budgets are kept.
#[derive(Debug)]
enum Budgets {
    /// In this process: the one instance of a SQLite database.
    Local {
        per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
        per_email: Option<DefaultKeyedRateLimiter<String>>,
    },
    /// In the database, so that every instance on it spends from the same budgets.
    Shared(SharedBudgets),
}

impl RateLimits {
    /// `per_ip` and `per_email` are generations per minute (bursts up to that many); 0 turns a
    /// limit off. With `shared` budgets (PostgreSQL) the limits hold across instances.
    pub fn new(
        per_ip: u32,
        per_email: u32,
        trusted_proxies: Vec<IpNet>,
        shared: Option<SharedBudgets>,
    ) -> Self {
        let (per_ip, per_email) = (NonZeroU32::new(per_ip), NonZeroU32::new(per_email));
        let budgets = match shared {
            Some(shared) => Budgets::Shared(shared),
            None => Budgets::Local {
                per_ip: per_ip.map(|n| RateLimiter::keyed(Quota::per_minute(n))),
                per_email: per_email.map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            },
        };
        Self {
            per_ip,
            per_email,
            reports_per_ip: None,
            budgets,
            local_reports: None,
            trusted_proxies,
        }
    }

    /// Limits reports to `per_minute` per client IP (bursts up to that many); 0 is no limit.
    pub fn with_reports_per_ip(mut self, per_minute: u32) -> Self {
        self.reports_per_ip = NonZeroU32::new(per_minute);
        self.local_reports = match (&self.budgets, self.reports_per_ip) {
            (Budgets::Local { .. }, Some(n)) => Some(RateLimiter::keyed(Quota::per_minute(n))),
            _ => None,
        };
        self
    }

    /// Takes one report from the client's budget, or says how long to wait.
    pub async fn check_report(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some(limit) = self.reports_per_ip else {
            return Ok(());
        };
        match &self.budgets {
            Budgets::Local { .. } => {
                if let Some(limiter) = &self.local_reports {
                    limiter
                        .check_key(&ip)
                        .map_err(|denied| denied.wait_time_from(limiter.clock().now()))?;
                }
            }
            Budgets::Shared(budgets) => {
                take_shared(budgets, &format!("report-ip:{ip}"), limit).await?;
            }
        }
        Ok(())
    }

    /// Takes one generation from both budgets, or says how long to wait. The email's budget is
    /// checked first, so a person retrying too fast does not also spend the budget of everyone
    /// else behind the same IP.
    pub async fn check(&self, ip: IpAddr, email: &str) -> Result<(), Duration> {
        match &self.budgets {
            // The limiter's own clock, read only for a refusal: making a clock
            // (`DefaultClock::default()`) runs CPUID, which a virtual machine traps.
            Budgets::Local { per_ip, per_email } => {
                if let Some(limiter) = per_email {
                    limiter
                        .check_key(&email.to_owned())
                        .map_err(|denied| denied.wait_time_from(limiter.clock().now()))?;
                }
                if let Some(limiter) = per_ip {
                    limiter
                        .check_key(&ip)
                        .map_err(|denied| denied.wait_time_from(limiter.clock().now()))?;
                }
            }
            Budgets::Shared(budgets) => {
                if let Some(limit) = self.per_email
                    && !take_shared(budgets, &format!("email:{email}"), limit).await?
                {
                    return Ok(());
                }
                if let Some(limit) = self.per_ip {
                    take_shared(budgets, &format!("ip:{ip}"), limit).await?;
                }
            }
        }
        Ok(())
    }

    /// Forgets clients whose budget is full again, so memory (or the table) stays bounded.
    pub async fn forget_idle(&self) {
        match &self.budgets {
            Budgets::Local { per_ip, per_email } => {
                for limiter in [per_ip.as_ref(), self.local_reports.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    limiter.retain_recent();
                }
                if let Some(limiter) = per_email {
                    limiter.retain_recent();
                }
            }
            Budgets::Shared(budgets) => {
                if let Err(err) = budgets.forget_full().await {
                    tracing::warn!(error = %err, "could not delete full rate-limit budgets");
                }
            }
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

/// How long a budget in the database may take to answer before the request goes ahead
/// unchecked.
const SHARED_CHECK_TIMEOUT: Duration = Duration::from_millis(250);

/// Takes from a budget in the database; `Ok(false)` when it was not checked. When the database
/// does not answer in time, the generation goes ahead: it needs the database too and says so
/// itself, whereas a limiter that refused everyone while the database was away would turn an
/// outage into a `429` for all.
async fn take_shared(
    budgets: &SharedBudgets,
    key: &str,
    limit: NonZeroU32,
) -> Result<bool, Duration> {
    match tokio::time::timeout(SHARED_CHECK_TIMEOUT, budgets.take(key, limit)).await {
        Ok(Ok(taken)) => taken.map(|()| true),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "rate limit not checked: the database did not answer");
            Ok(false)
        }
        Err(_) => {
            tracing::warn!("rate limit not checked: the database was too slow to answer");
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;
    use crate::store::testing::{Backend, FreshDatabase, for_each_backend};

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().unwrap());
        headers
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let limits = RateLimits::new(0, 0, vec!["10.0.0.0/8".parse().unwrap()], None);
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

    #[tokio::test]
    async fn each_budget_is_separate_and_says_when_to_come_back() {
        for_each_backend(async |database| {
            let limits = RateLimits::new(2, 1, vec![], database.store.shared_budgets());
            each_budget_is_separate(&limits).await;
        })
        .await;
    }

    async fn each_budget_is_separate(limits: &RateLimits) {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(limits.check(ip, "a@example.com").await.is_ok());
        let wait = limits.check(ip, "a@example.com").await.unwrap_err();
        assert!(
            wait > Duration::from_secs(58) && wait <= Duration::from_secs(60),
            "one a minute, just taken: {wait:?}"
        );
        assert!(
            limits.check(ip, "b@example.com").await.is_ok(),
            "another email, same IP"
        );
        let wait = limits.check(ip, "c@example.com").await.unwrap_err();
        assert!(
            wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
            "the IP's budget of 2 a minute is spent: {wait:?}"
        );
        limits.forget_idle().await;
        assert!(
            limits.check(ip, "a@example.com").await.is_err(),
            "forgetting keeps the budgets that are not full"
        );
        assert!(
            RateLimits::new(0, 0, vec![], None)
                .check(ip, "a@example.com")
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn reports_have_a_budget_of_their_own_per_ip() {
        for_each_backend(async |database| {
            let limits = RateLimits::new(1, 1, vec![], database.store.shared_budgets())
                .with_reports_per_ip(2);
            let (ip, other): (IpAddr, IpAddr) =
                ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
            assert!(limits.check(ip, "a@example.com").await.is_ok());
            assert!(
                limits.check_report(ip).await.is_ok(),
                "generations spend another budget"
            );
            assert!(limits.check_report(ip).await.is_ok());
            let wait = limits.check_report(ip).await.unwrap_err();
            assert!(
                wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
                "two a minute, both spent: {wait:?}"
            );
            assert!(limits.check_report(other).await.is_ok(), "another IP");
            let unlimited = RateLimits::new(0, 0, vec![], None);
            for _ in 0..10 {
                assert!(unlimited.check_report(ip).await.is_ok());
            }
        })
        .await;
    }

    /// Two instances on one PostgreSQL database spend from the same budgets.
    #[tokio::test]
    async fn shared_budgets_hold_across_instances() {
        let Some(backend) = Backend::postgres() else {
            return;
        };
        let database = FreshDatabase::create(&backend).await;
        let options = StoreOptions::default();
        let (one, two) = (
            database.connect(&options).await,
            database.connect(&options).await,
        );
        let first = RateLimits::new(0, 2, vec![], one.shared_budgets());
        let second = RateLimits::new(0, 2, vec![], two.shared_budgets());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(first.check(ip, "a@example.com").await.is_ok());
        assert!(second.check(ip, "a@example.com").await.is_ok());
        assert!(first.check(ip, "a@example.com").await.is_err());
        assert!(second.check(ip, "a@example.com").await.is_err());
        one.close().await;
        two.close().await;
        database.cleanup().await;
    }
}
