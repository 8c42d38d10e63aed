//! `livepage pages`, `publish`, `unpublish`, `delete` and `versions`: what an owner may do with
//! the pages made with their owner key (see `owner`), one request each.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;

use super::Outcome;
use super::args::{ClientCommand, PageArgs, PagesArgs, VersionsArgs};
use super::follow::Rejected;
use super::owner;
use crate::domain::OwnerKey;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Pages asked for per request of `livepage pages`.
const BATCH: u32 = 100;

/// Runs a page command (`generate` and `follow` are not: they get [`Outcome::Refused`]).
pub async fn run(command: ClientCommand) -> Outcome {
    let key = match owner::key_path().and_then(|path| owner::load_or_create(&path)) {
        Ok(key) => key,
        Err(err) => {
            eprintln!("error: {err}");
            return Outcome::Failed;
        }
    };
    let result = match command {
        ClientCommand::Pages(args) => list(&args, &key).await,
        ClientCommand::Publish(args) => set_public(&args, &key, true).await,
        ClientCommand::Unpublish(args) => set_public(&args, &key, false).await,
        ClientCommand::Delete(args) => delete(&args, &key).await,
        ClientCommand::Versions(args) => versions(&args, &key).await,
        ClientCommand::Generate(_) | ClientCommand::Follow(_) | ClientCommand::Refine(_) => {
            return Outcome::Refused;
        }
    };
    match result {
        Ok(()) => Outcome::Completed,
        Err(err) => {
            eprintln!("error: {err}");
            err.outcome()
        }
    }
}

/// Why a page command failed.
#[derive(Debug, thiserror::Error)]
enum PageError {
    #[error("cannot reach the server at {server}: {reason}")]
    Unreachable { server: Url, reason: String },
    #[error(transparent)]
    Rejected(#[from] Rejected),
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

impl PageError {
    fn outcome(&self) -> Outcome {
        match self {
            Self::Unreachable { .. } => Outcome::Unreachable,
            Self::Rejected(rejected)
                if rejected.status.is_client_error() && !rejected.is_transient() =>
            {
                Outcome::Refused
            }
            Self::Rejected(_) | Self::Protocol(_) => Outcome::Failed,
        }
    }
}

/// One request to `server`, with the owner key; the successful response.
async fn send(
    server: &Url,
    request: impl FnOnce(&reqwest::Client, Url) -> reqwest::RequestBuilder,
    path: &str,
    key: &OwnerKey,
) -> Result<reqwest::Response, PageError> {
    let http = reqwest::Client::builder()
        .user_agent(concat!("livepage-cli/", env!("CARGO_PKG_VERSION")))
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|err| PageError::Protocol(err.to_string()))?;
    let url = server
        .join(path)
        .expect("a relative path joins onto an http base URL");
    let response = request(&http, url)
        .bearer_auth(key.expose())
        .send()
        .await
        .map_err(|err| PageError::Unreachable {
            server: server.clone(),
            reason: err.to_string(),
        })?;
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(Rejected::from_response(response).await.into())
    }
}

#[derive(Debug, Deserialize)]
struct History {
    pages: Vec<Value>,
    next_before: Option<Uuid>,
}

/// `GET /api/history` with the key, every batch: one line per page (or one JSON object).
async fn list(args: &PagesArgs, key: &OwnerKey) -> Result<(), PageError> {
    let mut before: Option<Uuid> = None;
    let mut count = 0;
    loop {
        let mut path = format!("api/history?limit={BATCH}");
        if let Some(before) = before {
            path.push_str(&format!("&before={before}"));
        }
        let response = send(&args.server, |http, url| http.get(url), &path, key).await?;
        let history: History = response
            .json()
            .await
            .map_err(|err| PageError::Protocol(err.to_string()))?;
        for page in &history.pages {
            count += 1;
            if args.json {
                println!("{page}");
            } else {
                println!("{}", line(page));
            }
        }
        match history.next_before {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    if count == 0 && !args.json {
        eprintln!("no pages yet: the pages you generate with this owner key are listed here");
    }
    Ok(())
}

/// `<id>  <status>  <title>  <live URL>`.
fn line(page: &Value) -> String {
    let text = |name: &str| page[name].as_str().unwrap_or_default().to_owned();
    let title = text("title");
    format!(
        "{}  {:<11}  {}  {}",
        text("id"),
        text("status"),
        if title.is_empty() {
            "Untitled page".into()
        } else {
            title
        },
        text("live_url"),
    )
}

/// `PATCH /api/pages/{id}` with `{"is_public": …}`.
async fn set_public(args: &PageArgs, key: &OwnerKey, public: bool) -> Result<(), PageError> {
    let path = format!("api/pages/{}", args.page_id);
    let body = json!({ "is_public": public });
    let response = send(
        &args.server,
        |http, url| http.patch(url).json(&body),
        &path,
        key,
    )
    .await?;
    let page: Value = response
        .json()
        .await
        .map_err(|err| PageError::Protocol(err.to_string()))?;
    let live_url = page["live_url"].as_str().unwrap_or_default();
    if public {
        println!("published: {live_url}");
    } else {
        println!("unpublished: {live_url} now answers 404");
    }
    Ok(())
}

/// `DELETE /api/pages/{id}`.
async fn delete(args: &PageArgs, key: &OwnerKey) -> Result<(), PageError> {
    let path = format!("api/pages/{}", args.page_id);
    let response = send(&args.server, |http, url| http.delete(url), &path, key).await?;
    if response.status() != StatusCode::NO_CONTENT {
        return Err(PageError::Protocol(format!(
            "expected 204 No Content, got {}",
            response.status()
        )));
    }
    println!("deleted: {}", args.page_id);
    Ok(())
}

/// `GET /api/pages/{id}/versions`: one line per version, newest first (or one JSON object).
async fn versions(args: &VersionsArgs, key: &OwnerKey) -> Result<(), PageError> {
    let path = format!("api/pages/{}/versions", args.page_id);
    let response = send(&args.server, |http, url| http.get(url), &path, key).await?;
    let listed: Value = response
        .json()
        .await
        .map_err(|err| PageError::Protocol(err.to_string()))?;
    let current = listed["current"].as_i64();
    for version in listed["versions"].as_array().into_iter().flatten() {
        if args.json {
            println!("{version}");
        } else {
            println!("{}", version_line(version, current));
        }
    }
    Ok(())
}

/// `v<n>  <kind>  <created at>  <prompt or what it restored>  <URL>`, the current one marked.
fn version_line(version: &Value, current: Option<i64>) -> String {
    let n = version["version"].as_i64().unwrap_or_default();
    let text = |name: &str| version[name].as_str().unwrap_or_default().to_owned();
    let what = match version["restored_from"].as_i64() {
        Some(from) => format!("restored v{from}"),
        None => text("prompt"),
    };
    let marker = if current == Some(n) { "*" } else { " " };
    format!(
        "{marker}v{n:<4} {:<9} {}  {}  {}",
        text("kind"),
        text("created_at"),
        what,
        text("url"),
    )
}
