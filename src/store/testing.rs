//! Throw-away databases for tests, on every backend that is available.
//!
//! The store's own tests and the integration tests in `tests/` share these helpers, so the
//! module is compiled always, not only under `cfg(test)`; nothing calls it outside tests.
//!
//! Every test gets a database of its own, so tests run in parallel without seeing each other's
//! rows: a new SQLite file in a new temporary directory, or — when [`POSTGRES_URL_VAR`] names a
//! server — a new PostgreSQL database `lp_test_<uuid>` created through that URL.
//!
//! # Teardown
//!
//! `Drop` cannot be async, so the pattern is: end each test with `db.cleanup().await`, which
//! closes the pool and then removes the database. If the test panics before that, `Drop` removes
//! the database anyway, synchronously (deleting the SQLite directory, or running
//! `DROP DATABASE … WITH (FORCE)` on a helper thread with its own runtime), so a failing test
//! leaks nothing either.
//!
//! ```no_run
//! # async fn example() {
//! use livepage::store::testing::{Backend, fresh_store};
//! for backend in Backend::available() {
//!     let db = fresh_store(&backend).await;
//!     db.store.ping().await.unwrap();
//!     db.cleanup().await;
//! }
//! # }
//! ```
//! or, equivalently, `for_each_backend(async |db| { … }).await`.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Once;

use sqlx::{Connection, PgConnection, SqliteConnection};
use uuid::Uuid;

use super::{Store, StoreOptions};

/// The environment variable naming a PostgreSQL server for tests, as a URL of a database on it
/// that may create and drop databases (e.g. `postgres://postgres@127.0.0.1:5432/postgres`).
pub const POSTGRES_URL_VAR: &str = "LIVEPAGE_TEST_POSTGRES_URL";

/// A database server that tests can run against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A file in a temporary directory; always available.
    Sqlite,
    /// A server reached through `admin_url`, where each test creates a database of its own.
    Postgres { admin_url: String },
}

impl Backend {
    /// SQLite always, and PostgreSQL when [`POSTGRES_URL_VAR`] is set. When it is not, says so
    /// once on stderr (past the test harness's capture), so a green run cannot hide that the
    /// PostgreSQL cases never ran.
    pub fn available() -> Vec<Backend> {
        let mut backends = vec![Backend::Sqlite];
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(admin_url) if !admin_url.trim().is_empty() => {
                backends.push(Backend::Postgres { admin_url });
            }
            _ => warn_postgres_skipped(),
        }
        backends
    }

    /// PostgreSQL when [`POSTGRES_URL_VAR`] is set (see [`Backend::available`]).
    pub fn postgres() -> Option<Backend> {
        Self::available()
            .into_iter()
            .find(|backend| matches!(backend, Backend::Postgres { .. }))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn warn_postgres_skipped() {
    // In CI a missing PostgreSQL is a failure: a green run must have run every case.
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{POSTGRES_URL_VAR} must be set in CI: the PostgreSQL cases may not be skipped");
    }
    static WARNED: Once = Once::new();
    WARNED.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "note: {POSTGRES_URL_VAR} is not set: PostgreSQL store cases were SKIPPED \
             (set it to e.g. postgres://postgres@127.0.0.1:5432/postgres to run them)"
        );
    });
}

/// An empty database of its own, removed by [`FreshDatabase::cleanup`] (or, failing that, on drop).
#[derive(Debug)]
pub struct FreshDatabase {
    backend: Backend,
    url: String,
    /// What to remove; `None` once removed, so `Drop` does nothing after `cleanup`.
    location: Option<Location>,
}

/// Where a test database lives, i.e. what teardown removes.
#[derive(Debug)]
enum Location {
    SqliteDir(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl FreshDatabase {
    /// Creates an empty, uniquely named database on `backend`. Panics when it cannot: a test
    /// without its database has nothing to run against.
    pub async fn create(backend: &Backend) -> Self {
        let unique = Uuid::new_v4().simple();
        let (url, location) = match backend {
            Backend::Sqlite => create_sqlite_dir(&unique.to_string()),
            Backend::Postgres { admin_url } => {
                create_postgres_database(admin_url, &format!("lp_test_{unique}")).await
            }
        };
        Self {
            backend: backend.clone(),
            url,
            location: Some(location),
        }
    }

    /// The `DATABASE_URL` of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Connects (and so migrates) a [`Store`] to this database.
    pub async fn connect(&self, options: &StoreOptions) -> Store {
        Store::connect(&self.url, options)
            .await
            .unwrap_or_else(|err| panic!("connecting to the {} test database: {err}", self.backend))
    }

    /// Runs raw SQL against the database, for states the store's interface cannot create
    /// (an unpublished page, an old row). Use SQL both backends accept.
    pub async fn execute(&self, sql: &str) {
        let result = match self.backend {
            Backend::Sqlite => raw_execute::<SqliteConnection>(&self.url, sql).await,
            Backend::Postgres { .. } => raw_execute::<PgConnection>(&self.url, sql).await,
        };
        if let Err(err) = result {
            panic!(
                "executing {sql:?} on the {} test database: {err}",
                self.backend
            );
        }
    }

    /// The one text value (or `NULL`) that raw SQL selects, to look at what the store's
    /// interface does not show (a blanked document, a stored digest). Use SQL both backends
    /// accept.
    pub async fn query_text(&self, sql: &str) -> Option<String> {
        let result = match self.backend {
            Backend::Sqlite => match SqliteConnection::connect(&self.url).await {
                Ok(mut conn) => sqlx::query_scalar(sql).fetch_one(&mut conn).await,
                Err(err) => Err(err),
            },
            Backend::Postgres { .. } => match PgConnection::connect(&self.url).await {
                Ok(mut conn) => sqlx::query_scalar(sql).fetch_one(&mut conn).await,
                Err(err) => Err(err),
            },
        };
        result.unwrap_or_else(|err| {
            panic!(
                "querying {sql:?} on the {} test database: {err}",
                self.backend
            )
        })
    }

    /// Removes the database. Close every pool on it first (SQLite does not care; PostgreSQL's
    /// `WITH (FORCE)` would end their sessions anyway).
    pub async fn cleanup(mut self) {
        if let Some(location) = self.location.take() {
            location.remove().await;
        }
    }
}

impl Drop for FreshDatabase {
    /// The fallback when a test ended without `cleanup` (typically: it panicked).
    fn drop(&mut self) {
        if let Some(location) = self.location.take() {
            location.remove_blocking();
        }
    }
}

impl Location {
    async fn remove(self) {
        match self {
            Location::SqliteDir(dir) => remove_sqlite_dir(&dir),
            Location::Postgres { admin_url, name } => {
                drop_postgres_database(&admin_url, &name).await
            }
        }
    }

    /// Removes the database without an async context: PostgreSQL's `DROP DATABASE` runs on a
    /// helper thread with a runtime of its own, since the caller may be inside (and blocking) a
    /// runtime already.
    fn remove_blocking(self) {
        match self {
            Location::SqliteDir(dir) => remove_sqlite_dir(&dir),
            Location::Postgres { .. } => {
                let removal =
                    std::thread::spawn(move || match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime.block_on(self.remove()),
                        Err(err) => eprintln!("cannot drop a test database: no runtime: {err}"),
                    });
                let _ = removal.join();
            }
        }
    }
}

/// A test database with a [`Store`] connected to it.
#[derive(Debug)]
pub struct TestDatabase {
    pub store: Store,
    pub database: FreshDatabase,
}

impl TestDatabase {
    pub fn url(&self) -> &str {
        self.database.url()
    }

    pub fn backend(&self) -> &Backend {
        self.database.backend()
    }

    /// Closes the store, then removes its database.
    pub async fn cleanup(self) {
        self.store.close().await;
        self.database.cleanup().await;
    }
}

/// A fresh, migrated database on `backend`, with default [`StoreOptions`].
pub async fn fresh_store(backend: &Backend) -> TestDatabase {
    fresh_store_with(backend, &StoreOptions::default()).await
}

/// A fresh, migrated database on `backend`, with the given pool options.
pub async fn fresh_store_with(backend: &Backend, options: &StoreOptions) -> TestDatabase {
    let database = FreshDatabase::create(backend).await;
    let store = database.connect(options).await;
    TestDatabase { store, database }
}

/// Runs `test` once per available backend, each time on a fresh database, and cleans up after.
/// The backend's name is printed first, so a failure's captured output says which one failed.
pub async fn for_each_backend(test: impl AsyncFn(&TestDatabase)) {
    for backend in Backend::available() {
        println!("--- on {backend}");
        let db = fresh_store(&backend).await;
        test(&db).await;
        db.cleanup().await;
    }
}

fn create_sqlite_dir(unique: &str) -> (String, Location) {
    let dir = std::env::temp_dir().join(format!("livepage-test-{unique}"));
    std::fs::create_dir(&dir)
        .unwrap_or_else(|err| panic!("creating test directory {}: {err}", dir.display()));
    let url = format!("sqlite://{}", dir.join("livepage.db").display());
    (url, Location::SqliteDir(dir))
}

fn remove_sqlite_dir(dir: &std::path::Path) {
    if let Err(err) = std::fs::remove_dir_all(dir) {
        eprintln!("cannot remove test directory {}: {err}", dir.display());
    }
}

async fn create_postgres_database(admin_url: &str, name: &str) -> (String, Location) {
    let mut url = url::Url::parse(admin_url)
        .unwrap_or_else(|err| panic!("{POSTGRES_URL_VAR} is not a URL: {err}"));
    url.set_path(&format!("/{name}"));
    // The name is ours (`lp_test_` and hex digits): quoting is for form, not safety.
    if let Err(err) =
        raw_execute::<PgConnection>(admin_url, &format!("CREATE DATABASE \"{name}\"")).await
    {
        panic!("creating test database {name} through {POSTGRES_URL_VAR}: {err}");
    }
    let location = Location::Postgres {
        admin_url: admin_url.to_owned(),
        name: name.to_owned(),
    };
    (url.to_string(), location)
}

async fn drop_postgres_database(admin_url: &str, name: &str) {
    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    if let Err(err) = raw_execute::<PgConnection>(admin_url, &sql).await {
        eprintln!("cannot drop test database {name}: {err}");
    }
}

/// Runs `sql` on a connection of its own, outside any pool.
async fn raw_execute<C>(url: &str, sql: &str) -> Result<(), sqlx::Error>
where
    C: Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    let mut connection = C::connect(url).await?;
    sqlx::raw_sql(sql).execute(&mut connection).await?;
    connection.close().await
}
