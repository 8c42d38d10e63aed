//! `LISTEN`/`NOTIFY` between the instances on one database: cancel requests for the instance
//! that runs the generation, and page changes for every instance's page cache
//! (docs/ARCHITECTURE.md, "Several instances").

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use uuid::Uuid;

use super::{ListenOptions, PgStore, Transaction};
use crate::store::StoreError;

/// The channel on which instances ask each other to cancel a generation; the payload is its id.
const CANCEL_CHANNEL: &str = "livepage_cancel";
/// The channel on which every change to a page (published, unpublished, deleted, taken down)
/// is announced, in the transaction that makes it; the payload is the page's id. Each instance
/// drops its cached copy (docs/ARCHITECTURE.md, "Owners and moderation").
const PAGE_CHANNEL: &str = "livepage_page";

/// After this long without a cancel request, the connection is asked whether it is still
/// there: one dropped without a reset (a NAT or proxy timing it out, a failover) would
/// otherwise wait for notifications forever.
const LISTEN_QUIET_CHECK: Duration = Duration::from_secs(60);
const LISTEN_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

impl PgStore {
    /// Tells every instance listening (see [`Self::notices`]) to cancel generation `id`
    /// if it runs it.
    pub async fn request_cancel(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CANCEL_CHANNEL)
            .bind(id.hyphenated().to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Page changes, and with `cancels` the cancel requests, of all instances, from a
    /// connection of its own. Fails when the first `LISTEN` does.
    pub async fn notices(&self, cancels: bool) -> Result<Notices, StoreError> {
        let channels: &'static [&'static str] = if cancels {
            &[CANCEL_CHANNEL, PAGE_CHANNEL]
        } else {
            &[PAGE_CHANNEL]
        };
        Ok(Notices {
            listener: Some(listen(&self.listen, channels).await?),
            channels,
            options: Arc::clone(&self.listen),
            quiet_check: LISTEN_QUIET_CHECK,
            check_timeout: LISTEN_CHECK_TIMEOUT,
            lost: false,
        })
    }
}

/// What another instance (or this one) announced on the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A client asked some instance to cancel this generation (`NOTIFY livepage_cancel`).
    Cancel(Uuid),
    /// This page changed (`NOTIFY livepage_page`).
    PageChanged(Uuid),
    /// Listening again after the connection was lost: whatever was announced meanwhile was
    /// missed.
    Resumed,
}

/// The announcements of all instances on the database, for each to act on: cancel requests for
/// the one running the generation, page changes for every page cache. Dropping it closes its
/// connection.
#[derive(Debug)]
pub struct Notices {
    /// `None` after a failure: listened on afresh, on a new connection, by the next call.
    listener: Option<PgListener>,
    channels: &'static [&'static str],
    options: Arc<ListenOptions>,
    quiet_check: Duration,
    check_timeout: Duration,
    /// Whether the connection was lost since the last [`Notice`], so that the next one is
    /// [`Notice::Resumed`] once listening again.
    lost: bool,
}

impl Notices {
    /// Checks the connection after `quiet` without a notice, giving it `timeout` to answer.
    pub fn check_after(mut self, quiet: Duration, timeout: Duration) -> Self {
        (self.quiet_check, self.check_timeout) = (quiet, timeout);
        self
    }

    /// The next notice.
    ///
    /// After an error the next call listens again on a new connection and, once it does,
    /// answers [`Notice::Resumed`]: a cancel request made while no connection listened is lost
    /// (the instance that made it answers its client with a `409` when no instance acts on it),
    /// and a page cache that may have missed a change should forget what it holds.
    pub async fn next(&mut self) -> Result<Notice, StoreError> {
        loop {
            let listener = match &mut self.listener {
                Some(listener) => listener,
                None => {
                    let listener = listen(&self.options, self.channels).await?;
                    self.listener = Some(listener);
                    if std::mem::take(&mut self.lost) {
                        return Ok(Notice::Resumed);
                    }
                    continue;
                }
            };
            // `try_recv`, not `recv`: it says when the connection was lost, where `recv` would
            // reconnect without a word and the notices missed meanwhile would go unnoticed.
            match tokio::time::timeout(self.quiet_check, listener.try_recv()).await {
                Ok(Ok(Some(notification))) => {
                    match decode_notice(notification.channel(), notification.payload()) {
                        Some(notice) => return Ok(notice),
                        None => tracing::warn!(
                            channel = notification.channel(),
                            payload = notification.payload(),
                            "ignoring a notice that names nothing"
                        ),
                    }
                }
                Ok(Ok(None)) => {
                    return Err(self.lose(StoreError::Unavailable(sqlx::Error::Io(
                        std::io::ErrorKind::ConnectionReset.into(),
                    ))));
                }
                Ok(Err(err)) => return Err(self.lose(err.into())),
                Err(_quiet) => {
                    let ping = sqlx::query("SELECT 1").execute(&mut *listener);
                    if !matches!(
                        tokio::time::timeout(self.check_timeout, ping).await,
                        Ok(Ok(_))
                    ) {
                        return Err(self.lose(StoreError::Unavailable(sqlx::Error::Io(
                            std::io::ErrorKind::TimedOut.into(),
                        ))));
                    }
                }
            }
        }
    }

    /// Gives the connection up after `err`; the next call listens on a new one.
    fn lose(&mut self, err: StoreError) -> StoreError {
        self.listener = None;
        self.lost = true;
        err
    }
}

fn decode_notice(channel: &str, payload: &str) -> Option<Notice> {
    let id = Uuid::try_parse(payload).ok()?;
    match channel {
        CANCEL_CHANNEL => Some(Notice::Cancel(id)),
        PAGE_CHANNEL => Some(Notice::PageChanged(id)),
        _ => None,
    }
}

/// A connection `LISTEN`ing on `channels`, in a pool of its own: a connection given up on may
/// hold its slot until TCP gives up on it too (dropping a listener sends `UNLISTEN` on it
/// first), so a new one never waits for the old one's place.
async fn listen(options: &ListenOptions, channels: &[&str]) -> Result<PgListener, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .connect_lazy_with(options.connect.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen_all(channels.iter().copied()).await?;
    Ok(listener)
}

/// Tells every instance listening (see [`Notices`]) that page `id` changed, when (and only if)
/// the transaction commits.
pub(super) async fn announce_page(tx: &mut Transaction, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(PAGE_CHANNEL)
        .bind(id.hyphenated().to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;

    use super::*;
    use crate::store::StoreOptions;
    use crate::store::testing::{Backend, FreshDatabase};

    /// A TCP proxy whose connections can be frozen: nothing forwarded any more, nothing closed,
    /// as when a NAT or a proxy forgets a connection. Connections made afterwards work.
    struct StallingProxy {
        address: SocketAddr,
        epoch: watch::Sender<u64>,
    }

    impl StallingProxy {
        async fn start(target: SocketAddr) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let (epoch, _) = watch::channel(0);
            let connections = epoch.clone();
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let mut stall = connections.subscribe();
                    let born = *stall.borrow_and_update();
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(target).await else {
                            return;
                        };
                        let stalled = async {
                            while stall.changed().await.is_ok() {
                                if *stall.borrow() != born {
                                    return;
                                }
                            }
                            std::future::pending::<()>().await;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            () = stalled => {
                                // Both sockets stay open and silent.
                                std::future::pending::<()>().await;
                            }
                        }
                    });
                }
            });
            Self { address, epoch }
        }

        /// Freezes every connection made so far.
        fn stall(&self) {
            self.epoch.send_modify(|epoch| *epoch += 1);
        }
    }
    /// A listening connection that goes silent without closing is noticed after a quiet spell
    /// and replaced by a new one, which gets the requests made after it.
    #[tokio::test]
    async fn a_silent_listening_connection_is_replaced() {
        let Some(backend) = Backend::postgres() else {
            return;
        };
        let database = FreshDatabase::create(&backend).await;
        let mut url = url::Url::parse(database.url()).unwrap();
        let target = (url.host_str().unwrap(), url.port().unwrap_or(5432));
        let target = tokio::net::lookup_host(target)
            .await
            .unwrap()
            .next()
            .unwrap();
        let proxy = StallingProxy::start(target).await;
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(proxy.address.port())).unwrap();
        let options = StoreOptions {
            acquire_timeout: Duration::from_secs(2),
            ..StoreOptions::default()
        };
        let store = PgStore::connect(url.as_str(), &options).await.unwrap();
        let direct = PgStore::connect(database.url(), &options).await.unwrap();
        let mut requests = store
            .notices(true)
            .await
            .unwrap()
            .check_after(Duration::from_millis(300), Duration::from_millis(300));

        let first = Uuid::now_v7();
        direct.request_cancel(first).await.unwrap();
        assert_eq!(requests.next().await.unwrap(), Notice::Cancel(first));

        proxy.stall();
        let noticed = tokio::time::timeout(Duration::from_secs(10), requests.next()).await;
        assert!(
            matches!(noticed, Ok(Err(StoreError::Unavailable(_)))),
            "the silent connection is given up: {noticed:?}"
        );
        // The next call listens on a new connection and says that notices may have been
        // missed; a request made once it listens arrives.
        let second = Uuid::now_v7();
        let next = tokio::spawn(async move {
            assert_eq!(requests.next().await.unwrap(), Notice::Resumed);
            requests.next().await
        });
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let listening: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND state = 'idle'
                       AND query LIKE 'LISTEN%'",
                )
                .fetch_one(&direct.pool)
                .await
                .unwrap();
                if listening == 2 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("a second connection listens");
        direct.request_cancel(second).await.unwrap();
        let received = tokio::time::timeout(Duration::from_secs(10), next).await;
        assert_eq!(received.unwrap().unwrap().unwrap(), Notice::Cancel(second));

        direct.close().await;
        database.cleanup().await;
    }
}
