//! The database a benchmark server runs on: a fresh SQLite file in a scratch directory, a
//! scratch PostgreSQL database created for the run and dropped after it, or a URL the user gave.

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};
use url::Url;

use crate::process::TempDir;

pub enum Database {
    /// `sqlite://{dir}/bench.db`, removed with the directory.
    Sqlite { dir: TempDir, url: String },
    /// A database created on the server at `admin_url`, dropped by [`Database::cleanup`].
    ScratchPostgres {
        admin_url: String,
        name: String,
        url: String,
    },
    /// Used as given, left as found.
    Given(String),
}

impl Database {
    pub fn sqlite(label: &str) -> anyhow::Result<Self> {
        let dir = TempDir::new(label)?;
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        Ok(Self::Sqlite { dir, url })
    }

    /// Creates `livepage_bench_{pid}_{label}` on the PostgreSQL server of `admin_url`.
    pub async fn scratch_postgres(admin_url: &str, label: &str) -> anyhow::Result<Self> {
        let name = format!("livepage_bench_{}_{label}", std::process::id());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .context("connecting to --postgres")?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
            .await?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .context("creating the scratch database")?;
        admin.close().await?;
        let mut url = Url::parse(admin_url).context("--postgres is not a URL")?;
        url.set_path(&format!("/{name}"));
        Ok(Self::ScratchPostgres {
            admin_url: admin_url.to_owned(),
            name,
            url: url.into(),
        })
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::ScratchPostgres { url, .. } | Self::Given(url) => url,
        }
    }

    /// What to call it in a table.
    pub fn backend(&self) -> &'static str {
        if self.url().starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    }

    /// Drops a scratch database (the server using it must have stopped).
    pub async fn cleanup(self) -> anyhow::Result<()> {
        match self {
            Self::ScratchPostgres {
                admin_url, name, ..
            } => {
                let mut admin = PgConnection::connect(&admin_url).await?;
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                admin.close().await?;
                Ok(())
            }
            Self::Sqlite { dir, .. } => {
                drop(dir);
                Ok(())
            }
            Self::Given(_) => Ok(()),
        }
    }
}
