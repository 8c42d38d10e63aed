//! The store's behaviour, written once and run against every available backend
//! (see [`testing`](super::testing)).

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use uuid::Uuid;

use super::testing::{Backend, FreshDatabase, TestDatabase, for_each_backend};
use super::{
    GenerationStatus, ModerationTotals, NewGeneration, NewPage, NewReport, Outcome, PageMeta,
    PageStatus, Resolution, Resolved, ServedPage, Store, StoreError, StoreOptions,
};
use crate::domain::{
    ErrorCode, GenerateBody, GenerationRequest, Model, OwnerHash, OwnerKey, Report, ReportReason,
    Usage,
};
use crate::sanitize::{SanitizedHtml, Sanitizer};

fn request(email: &str) -> GenerationRequest {
    let model = Model::from_config("a/b").unwrap();
    let body = GenerateBody {
        email: Some(email.to_owned()),
        prompt: Some("a page for a small bakery".to_owned()),
        page_type: Some("restaurant".to_owned()),
        theme: Some("playful".to_owned()),
        ..GenerateBody::default()
    };
    GenerationRequest::parse(&body, &model, std::slice::from_ref(&model)).unwrap()
}

fn html() -> SanitizedHtml {
    Sanitizer::new(Default::default())
        .sanitize("<html><head><title>Bakery</title></head><body><h1>Bread</h1></body></html>")
}

/// Now, at the microsecond precision both backends store.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap()
}

fn usage() -> Usage {
    Usage {
        prompt_tokens: 812,
        completion_tokens: 4_096,
        cost: Some(0.0123),
    }
}

fn success(finished_at: OffsetDateTime) -> Outcome<'static> {
    Outcome {
        status: GenerationStatus::Completed,
        error_code: None,
        error_message: None,
        usage: Some(usage()),
        first_token_ms: Some(420),
        duration_ms: 9_000,
        partial_output: None,
        finished_at,
        final_seq: None,
        segments: 2,
    }
}

async fn start_generation(store: &Store, email: &str) -> Uuid {
    let id = Uuid::now_v7();
    let request = request(email);
    let generation = NewGeneration {
        id,
        request: &request,
        created_at: now(),
        instance_id: Uuid::nil(),
    };
    store.insert_generation(&generation).await.unwrap();
    id
}

async fn save_page(store: &Store, generation_id: Uuid) -> Result<Uuid, StoreError> {
    let page_id = Uuid::now_v7();
    let html = html();
    let meta_data = PageMeta {
        model: Some("a/b".into()),
        ..PageMeta::default()
    };
    let page = NewPage {
        id: page_id,
        html: &html,
        meta_data: &meta_data,
        created_at: now(),
    };
    store
        .save_page(generation_id, &page, &success(now()))
        .await?;
    Ok(page_id)
}

/// A generation that produced a page for `email`; returns the page id.
async fn publish_page(store: &Store, email: &str) -> Uuid {
    let generation_id = start_generation(store, email).await;
    save_page(store, generation_id).await.unwrap()
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
}

#[tokio::test]
async fn generations_started_together_are_all_recorded_and_a_bad_row_fails_alone() {
    for_each_backend(async |db: &TestDatabase| {
        let store = &db.store;
        let request = request("burst@example.com");
        let taken = start_generation(store, "first@example.com").await;
        // 300 rows at once, one of them reusing a recorded id: on SQLite they are written in
        // batches, and the one row that cannot be written must not take the others with it.
        let ids: Vec<Uuid> = (0..300)
            .map(|n| if n == 150 { taken } else { Uuid::now_v7() })
            .collect();
        let rows: Vec<NewGeneration<'_>> = ids
            .iter()
            .map(|&id| NewGeneration {
                id,
                request: &request,
                created_at: now(),
                instance_id: Uuid::nil(),
            })
            .collect();
        let written =
            futures_util::future::join_all(rows.iter().map(|row| store.insert_generation(row)))
                .await;
        for (n, (id, result)) in ids.iter().zip(&written).enumerate() {
            if n == 150 {
                assert!(
                    matches!(result, Err(StoreError::Other(_))),
                    "a duplicate id is refused: {result:?}"
                );
                continue;
            }
            assert!(result.is_ok(), "row {n}: {result:?}");
            let record = store.generation(*id).await.unwrap();
            assert_eq!(record.status, GenerationStatus::Running);
            assert_eq!(record.email, "burst@example.com");
        }
    })
    .await;
}

#[tokio::test]
async fn a_saved_page_reads_back_with_its_html_and_a_completed_generation() {
    for_each_backend(async |db: &TestDatabase| {
        let store = &db.store;
        let generation_id = Uuid::now_v7();
        let request = request("Ann@Example.com");
        let started = now();
        let generation = NewGeneration {
            id: generation_id,
            request: &request,
            created_at: started,
            instance_id: Uuid::nil(),
        };
        store.insert_generation(&generation).await.unwrap();
        let running = store.generation(generation_id).await.unwrap();
        assert_eq!(running.status, GenerationStatus::Running);
        assert_eq!((running.page_id, running.finished_at), (None, None));

        let page_id = Uuid::now_v7();
        let html = html();
        let meta_data = PageMeta {
            generation_id: Some(generation_id),
            model: Some("a/b".into()),
            ..PageMeta::default()
        };
        let created_at = now();
        let page = NewPage {
            id: page_id,
            html: &html,
            meta_data: &meta_data,
            created_at,
        };
        let finished_at = now();
        store
            .save_page(generation_id, &page, &success(finished_at))
            .await
            .unwrap();

        let record = store.page(page_id).await.unwrap();
        assert_eq!(record.id, page_id);
        assert_eq!(record.email, "ann@example.com");
        assert_eq!(record.prompt, "a page for a small bakery");
        assert_eq!(
            (record.page_type.as_str(), record.theme.as_str()),
            ("restaurant", "playful")
        );
        assert_eq!(record.title, html.title());
        assert!(record.is_public);
        assert_eq!(record.view_count, 0);
        assert_eq!(record.created_at, created_at);
        assert_eq!(record.meta_data, meta_data);
        assert_eq!(record.status, PageStatus::Published);
        assert_eq!((record.owner, record.removed_at), (None, None));
        assert_eq!(
            store.served_page(page_id).await.unwrap(),
            ServedPage::Live {
                html: html.as_str().to_owned(),
                version: 1
            }
        );

        let completed = store.generation(generation_id).await.unwrap();
        assert_eq!(completed.status, GenerationStatus::Completed);
        assert_eq!(completed.page_id, Some(page_id));
        assert_eq!(completed.model, "a/b");
        assert_eq!(completed.usage, Some(usage()));
        assert_eq!(completed.segments, Some(2), "written in two segments");
        assert_eq!(
            (completed.first_token_ms, completed.duration_ms),
            (Some(420), Some(9_000))
        );
        assert_eq!(
            (completed.created_at, completed.finished_at),
            (started, Some(finished_at))
        );
        assert_eq!(
            (completed.error_code, completed.partial_output),
            (None, None)
        );
    })
    .await;
}

#[tokio::test]
async fn a_failed_generation_keeps_its_partial_output_and_error() {
    for_each_backend(async |db: &TestDatabase| {
        let generation_id = start_generation(&db.store, "ann@example.com").await;
        let finished_at = now();
        let outcome = Outcome {
            status: GenerationStatus::Failed,
            error_code: Some(ErrorCode::UpstreamError),
            error_message: Some("the provider dropped the connection"),
            usage: None,
            first_token_ms: Some(300),
            duration_ms: 1_234,
            partial_output: Some("<!DOCTYPE html><html><body><h1>Half a pa"),
            finished_at,
            final_seq: None,
            segments: 1,
        };
        db.store
            .finish_generation(generation_id, &outcome)
            .await
            .unwrap();

        let failed = db.store.generation(generation_id).await.unwrap();
        assert_eq!(failed.status, GenerationStatus::Failed);
        assert_eq!(failed.page_id, None);
        assert_eq!(failed.error_code, Some(ErrorCode::UpstreamError));
        assert_eq!(
            failed.error_message.as_deref(),
            Some("the provider dropped the connection")
        );
        assert_eq!(failed.partial_output.as_deref(), outcome.partial_output);
        assert_eq!(failed.usage, None);
        assert_eq!(failed.segments, Some(1));
        assert_eq!(
            (failed.first_token_ms, failed.duration_ms),
            (Some(300), Some(1_234))
        );
        assert_eq!(failed.finished_at, Some(finished_at));
    })
    .await;
}

#[tokio::test]
async fn history_is_newest_first_paginated_by_cursor_and_private_to_each_email() {
    for_each_backend(async |db: &TestDatabase| {
        let store = &db.store;
        let mut anns = Vec::new();
        for i in 0..7 {
            anns.push(publish_page(store, "ann@example.com").await);
            if i % 3 == 0 {
                publish_page(store, "bob@example.com").await;
            }
        }
        anns.reverse();

        let mut seen = Vec::new();
        let mut before = None;
        let mut page_sizes = Vec::new();
        loop {
            let page = store.history("ann@example.com", 3, before).await.unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.iter().all(|p| p.email == "ann@example.com"));
            page_sizes.push(page.len());
            before = page.last().map(|p| p.id);
            seen.extend(page.iter().map(|p| p.id));
        }
        assert_eq!(page_sizes, [3, 3, 1]);
        assert_eq!(seen, anns);

        let bobs = store.history("bob@example.com", 50, None).await.unwrap();
        assert_eq!(bobs.len(), 3);
        assert!(bobs.windows(2).all(|w| w[0].id > w[1].id));
        assert!(
            store
                .history("eve@example.com", 50, None)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    for_each_backend(async |db: &TestDatabase| {
        let unknown = Uuid::now_v7();
        assert_not_found(db.store.page(unknown).await);
        assert_not_found(db.store.served_page(unknown).await);
        assert_not_found(db.store.set_public(unknown, false).await);
        assert_not_found(db.store.delete_page(unknown).await);
        assert_not_found(db.store.take_down(unknown, "spam").await);
        assert_not_found(db.store.resolve_report(unknown, Resolution::Dismiss).await);
        assert_not_found(db.store.generation(unknown).await);
        assert_not_found(db.store.finish_generation(unknown, &success(now())).await);
    })
    .await;
}

#[tokio::test]
async fn the_html_of_a_page_that_is_not_public_is_not_found() {
    for_each_backend(async |db: &TestDatabase| {
        let page_id = publish_page(&db.store, "ann@example.com").await;
        db.database
            .execute(&format!(
                "UPDATE pages SET is_public = FALSE WHERE id = '{page_id}'"
            ))
            .await;

        assert_not_found(db.store.served_page(page_id).await);
        let page = db.store.page(page_id).await.unwrap();
        assert!(!page.is_public);
        assert_eq!(page.status, PageStatus::Unpublished);
    })
    .await;
}

fn owner(key: char) -> OwnerHash {
    OwnerKey::parse(&key.to_string().repeat(40)).unwrap().hash()
}

/// A page made with `owner`'s key; returns its id.
async fn publish_owned_page(store: &Store, email: &str, owner: OwnerHash) -> Uuid {
    let generation_id = Uuid::now_v7();
    let request = GenerationRequest {
        owner: Some(owner),
        ..request(email)
    };
    let generation = NewGeneration {
        id: generation_id,
        request: &request,
        created_at: now(),
        instance_id: Uuid::nil(),
    };
    store.insert_generation(&generation).await.unwrap();
    save_page(store, generation_id).await.unwrap()
}

#[tokio::test]
async fn a_page_keeps_the_digest_of_its_owner_key_and_their_history_lists_it() {
    for_each_backend(async |db: &TestDatabase| {
        let store = &db.store;
        let (ann, bob) = (owner('a'), owner('b'));
        let first = publish_owned_page(store, "ann@example.com", ann).await;
        let second = publish_owned_page(store, "ann@example.com", ann).await;
        let third = publish_owned_page(store, "ann@example.com", ann).await;
        let bobs = publish_owned_page(store, "bob@example.com", bob).await;
        let keyless = publish_page(store, "ann@example.com").await;
        assert_eq!(store.page(first).await.unwrap().owner, Some(ann));
        assert_eq!(store.page(keyless).await.unwrap().owner, None);

        store.set_public(second, false).await.unwrap();
        store.delete_page(third).await.unwrap();
        let listed: Vec<Uuid> = store
            .owner_history(&ann, 10, None)
            .await
            .unwrap()
            .iter()
            .map(|page| page.id)
            .collect();
        assert_eq!(
            listed,
            [second, first],
            "unpublished ones too, not deleted ones"
        );
        let older = store.owner_history(&ann, 1, Some(second)).await.unwrap();
        assert_eq!(older.len(), 1);
        assert_eq!(older[0].id, first);
        let bob_pages = store.owner_history(&bob, 10, None).await.unwrap();
        assert_eq!(bob_pages.iter().map(|p| p.id).collect::<Vec<_>>(), [bobs]);

        // By email, only what is published.
        let by_email: Vec<Uuid> = store
            .history("ann@example.com", 10, None)
            .await
            .unwrap()
            .iter()
            .map(|page| page.id)
            .collect();
        assert_eq!(by_email, [keyless, first]);
    })
    .await;
}

#[tokio::test]
async fn unpublishing_deleting_and_taking_down_change_what_is_served() {
    for_each_backend(async |db: &TestDatabase| {
        let store = &db.store;
        let page = publish_page(store, "ann@example.com").await;
        store.set_public(page, false).await.unwrap();
        assert_not_found(store.served_page(page).await);
        store.set_public(page, true).await.unwrap();
        assert!(matches!(
            store.served_page(page).await,
            Ok(ServedPage::Live { .. })
        ));

        let removed = publish_page(store, "ann@example.com").await;
        store
            .take_down(removed, "phishing for bank logins")
            .await
            .unwrap();
        let record = store.page(removed).await.unwrap();
        assert_eq!(record.status, PageStatus::Removed);
        assert!(record.removed_at.is_some());
        assert_eq!(
            store.served_page(removed).await.unwrap(),
            ServedPage::Gone(PageStatus::Removed)
        );
        assert_not_found(store.set_public(removed, true).await);
        store.take_down(removed, "again").await.unwrap();
        assert_eq!(
            store.page(removed).await.unwrap().removed_at,
            record.removed_at
        );

        let deleted = publish_page(store, "ann@example.com").await;
        store.delete_page(deleted).await.unwrap();
        let record = store.page(deleted).await.unwrap();
        assert_eq!(record.status, PageStatus::Deleted);
        assert_eq!((record.title.as_str(), record.prompt.as_str()), ("", ""));
        assert_eq!(
            store.served_page(deleted).await.unwrap(),
            ServedPage::Gone(PageStatus::Deleted)
        );
        let html = db
            .database
            .query_text(&format!(
                "SELECT html_content FROM pages WHERE id = '{deleted}'"
            ))
            .await;
        assert_eq!(
            html.as_deref(),
            Some(""),
            "the HTML is gone from the database"
        );
        assert_not_found(store.delete_page(deleted).await);
        assert_not_found(store.set_public(deleted, true).await);
    })
    .await;
}

#[tokio::test]
async fn reports_queue_until_resolved_and_a_takedown_resolves_them_all() {
    for_each_backend(async |db: &TestDatabase| {
        let store = &db.store;
        let page = publish_page(store, "ann@example.com").await;
        let other = publish_page(store, "bob@example.com").await;
        let file = async |page_id: Uuid, reason: ReportReason| {
            let report = Report {
                reason,
                details: Some("asks for a card number".into()),
                contact: None,
            };
            let id = Uuid::now_v7();
            let new = NewReport {
                id,
                page_id,
                report: &report,
                created_at: now(),
            };
            store.insert_report(&new).await.map(|()| id)
        };
        let first = file(page, ReportReason::Phishing).await.unwrap();
        let second = file(page, ReportReason::Spam).await.unwrap();
        let elsewhere = file(other, ReportReason::Other).await.unwrap();
        assert_not_found(file(Uuid::now_v7(), ReportReason::Spam).await);

        let open = store.reports(true, 10, None).await.unwrap();
        assert_eq!(
            open.iter().map(|r| r.id).collect::<Vec<_>>(),
            [elsewhere, second, first]
        );
        assert_eq!(open[2].reason, "phishing");
        assert_eq!(open[2].page_reports, 2);
        assert_eq!(open[2].title, "Bakery");
        assert_eq!(open[2].details.as_deref(), Some("asks for a card number"));
        assert_eq!(
            store.reports(true, 1, Some(second)).await.unwrap()[0].id,
            first
        );
        assert_eq!(
            store.moderation_totals().await.unwrap(),
            ModerationTotals {
                open_reports: 3,
                resolved_reports: 0,
                takedowns: 0
            }
        );

        assert_eq!(
            store
                .resolve_report(elsewhere, Resolution::Dismiss)
                .await
                .unwrap(),
            Resolved::Now { page_id: other }
        );
        assert_eq!(
            store
                .resolve_report(elsewhere, Resolution::Takedown)
                .await
                .unwrap(),
            Resolved::Already
        );
        assert_eq!(
            store.page(other).await.unwrap().status,
            PageStatus::Published
        );

        assert_eq!(
            store
                .resolve_report(first, Resolution::Takedown)
                .await
                .unwrap(),
            Resolved::Now { page_id: page }
        );
        assert_eq!(store.page(page).await.unwrap().status, PageStatus::Removed);
        assert!(store.reports(true, 10, None).await.unwrap().is_empty());
        let resolved = store.reports(false, 10, None).await.unwrap();
        let resolutions: Vec<_> = resolved.iter().map(|r| (r.id, r.resolution)).collect();
        assert_eq!(
            resolutions,
            [
                (elsewhere, Some(Resolution::Dismiss)),
                (second, Some(Resolution::Takedown)),
                (first, Some(Resolution::Takedown)),
            ]
        );
        assert!(resolved.iter().all(|r| r.resolved_at.is_some()));
        assert_eq!(resolved[1].page_status, PageStatus::Removed);
        assert_not_found(file(page, ReportReason::Spam).await);
        assert_eq!(
            store.moderation_totals().await.unwrap(),
            ModerationTotals {
                open_reports: 0,
                resolved_reports: 3,
                takedowns: 1
            }
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn views_added_from_50_concurrent_tasks_add_up_exactly() {
    for_each_backend(async |db: &TestDatabase| {
        let first = publish_page(&db.store, "ann@example.com").await;
        let second = publish_page(&db.store, "ann@example.com").await;

        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let store = db.store.clone();
                // A view of a page that is gone must not fail the batch.
                let views = [(first, 3), (second, 1), (Uuid::now_v7(), 5)];
                tokio::spawn(async move { store.add_views(&views).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        db.store.add_views(&[]).await.unwrap();

        assert_eq!(db.store.page(first).await.unwrap().view_count, 150);
        assert_eq!(db.store.page(second).await.unwrap().view_count, 50);
    })
    .await;
}

#[tokio::test]
async fn saving_a_page_for_a_missing_generation_fails_and_leaves_no_page() {
    for_each_backend(async |db: &TestDatabase| {
        let missing_generation = Uuid::now_v7();
        let result = save_page(&db.store, missing_generation).await;
        assert_not_found(result);
        let pages = db.store.history("ann@example.com", 50, None).await.unwrap();
        assert!(pages.is_empty(), "{pages:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_migrating_one_fresh_database_at_once_both_succeed() {
    for backend in Backend::available() {
        println!("--- on {backend}");
        let database = FreshDatabase::create(&backend).await;
        let options = StoreOptions::default();
        let (first, second) = tokio::join!(
            Store::connect(database.url(), &options),
            Store::connect(database.url(), &options),
        );
        let (first, second) = (first.unwrap(), second.unwrap());

        let page_id = publish_page(&first, "ann@example.com").await;
        assert_eq!(second.page(page_id).await.unwrap().id, page_id);

        first.close().await;
        second.close().await;
        database.cleanup().await;
    }
}

#[tokio::test]
async fn an_in_memory_sqlite_database_works() {
    let store = Store::connect("sqlite::memory:", &StoreOptions::default())
        .await
        .unwrap();
    let page_id = publish_page(&store, "ann@example.com").await;
    assert_eq!(store.page(page_id).await.unwrap().id, page_id);
    store.close().await;
}

#[tokio::test]
async fn an_unsupported_scheme_is_refused_without_echoing_the_url() {
    let err = Store::connect(
        "mysql://root:hunter2-secret@db/app",
        &StoreOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnsupportedScheme(scheme) if scheme == "mysql"),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("hunter2-secret"));
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_quickly_and_does_not_leak_the_password() {
    let options = StoreOptions {
        acquire_timeout: Duration::from_millis(300),
        ..StoreOptions::default()
    };
    let started = Instant::now();
    let err = Store::connect("postgres://postgres:hunter2-secret@127.0.0.1:1/x", &options)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        !error_chain(&err).contains("hunter2-secret"),
        "{}",
        error_chain(&err)
    );
}

/// Everything an error would print: its text, its debug form, and its sources.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{err} {err:?}");
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(" / {cause} {cause:?}"));
        source = cause.source();
    }
    text
}
