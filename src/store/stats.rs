//! Aggregates for operators (`GET /api/admin/stats`): generations by status, error code and
//! model, tokens and cost, latency percentiles, pages and views, the most viewed pages.
//!
//! Each backend computes the aggregates in SQL, one small query per kind (`generation_groups`,
//! `latency_percentiles`, `page_totals`, `most_viewed_pages` in `sqlite.rs` and
//! `postgres/stats.rs`).
//! This module defines their rows and folds the per-(model, status, error code) groups into the
//! totals and per-model breakdown the API shows — additions only, so the numbers are SQL's.
//!
//! Percentiles are continuous: linear interpolation between the two nearest ranks, exactly
//! PostgreSQL's `percentile_cont`. SQLite has no such aggregate, so its query ranks the samples
//! with `ROW_NUMBER()`/`COUNT(*)` window functions and interpolates with the same arithmetic, and
//! both backends give the same numbers for the same rows.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{GenerationStatus, Store, StoreError};

/// Generations of one model, status and error code, started in a window.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationGroup {
    pub model: String,
    pub status: GenerationStatus,
    pub error_code: Option<String>,
    /// Refines of existing pages, rather than new pages.
    pub refine: bool,
    pub generations: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost: f64,
}

/// The median and 95th percentile of a duration in milliseconds; `null` without samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

/// Latency of the completed generations of one model, or of all of them (`model: None`).
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyRow {
    pub model: Option<String>,
    /// From acceptance to the first token; fallback pages, which had none, are left out.
    pub first_token_ms: Percentiles,
    /// From acceptance to the saved page.
    pub duration_ms: Percentiles,
}

/// Pages created in a window, and how often they were viewed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PageTotals {
    pub pages: i64,
    pub views: i64,
    /// Versions made after the first (by refines and restores) in the window.
    pub versions: i64,
}

/// What refines did and cost (docs/ARCHITECTURE.md, "Refining a page"): every refine, the
/// failed ones included, and with them the answers whose edits could not be applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RefineTotals {
    pub refines: StatusCounts,
    /// Refines that ended without a version, by error code (`edit_failed`, …).
    pub error_codes: BTreeMap<String, i64>,
    pub tokens: TokenTotals,
    /// In the upstream's credits (US dollars on OpenRouter).
    pub cost: f64,
    /// Versions made after the first, by refines and restores.
    pub versions: i64,
}

impl RefineTotals {
    fn add(&mut self, group: &GenerationGroup) {
        self.refines.add(group.status, group.generations);
        if let Some(code) = &group.error_code {
            *self.error_codes.entry(code.clone()).or_default() += group.generations;
        }
        self.tokens.prompt += group.prompt_tokens;
        self.tokens.completion += group.completion_tokens;
        self.cost += group.cost;
    }
}

/// A page among the most viewed.
#[derive(Debug, Clone, PartialEq)]
pub struct TopPage {
    pub id: Uuid,
    pub title: String,
    pub views: i64,
}

/// Generations by status; every status is present, so the shape never changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatusCounts {
    pub total: i64,
    pub running: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
}

impl StatusCounts {
    fn add(&mut self, status: GenerationStatus, count: i64) {
        self.total += count;
        let slot = match status {
            GenerationStatus::Running => &mut self.running,
            GenerationStatus::Completed => &mut self.completed,
            GenerationStatus::Failed => &mut self.failed,
            GenerationStatus::Cancelled => &mut self.cancelled,
        };
        *slot += count;
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TokenTotals {
    pub prompt: i64,
    pub completion: i64,
}

/// What a set of generations did and cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GenerationTotals {
    pub generations: StatusCounts,
    /// Generations that ended without a page, by error code.
    pub error_codes: BTreeMap<String, i64>,
    pub tokens: TokenTotals,
    /// In the upstream's credits (US dollars on OpenRouter).
    pub cost: f64,
    /// Over completed generations.
    pub first_token_ms: Percentiles,
    /// Over completed generations.
    pub duration_ms: Percentiles,
}

impl GenerationTotals {
    fn add(&mut self, group: &GenerationGroup) {
        self.generations.add(group.status, group.generations);
        if let Some(code) = &group.error_code {
            *self.error_codes.entry(code.clone()).or_default() += group.generations;
        }
        self.tokens.prompt += group.prompt_tokens;
        self.tokens.completion += group.completion_tokens;
        self.cost += group.cost;
    }

    fn set_latency(&mut self, row: &LatencyRow) {
        self.first_token_ms = row.first_token_ms;
        self.duration_ms = row.duration_ms;
    }
}

/// One model's share of a window.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ModelStats {
    pub model: String,
    #[serde(flatten)]
    pub totals: GenerationTotals,
}

/// Everything about the generations and pages created in one window of time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WindowStats {
    #[serde(flatten)]
    pub totals: GenerationTotals,
    /// Pages created in the window.
    pub pages: i64,
    /// Views of those pages (views carry no time of their own).
    pub views: i64,
    /// By model, busiest first.
    pub models: Vec<ModelStats>,
    /// The refines among the generations (which the totals above include).
    pub refines: RefineTotals,
}

impl WindowStats {
    /// Folds the rows of one window into totals and a per-model breakdown.
    pub fn fold(groups: &[GenerationGroup], latency: &[LatencyRow], pages: PageTotals) -> Self {
        let mut totals = GenerationTotals::default();
        let mut by_model: BTreeMap<&str, GenerationTotals> = BTreeMap::new();
        let mut refines = RefineTotals {
            versions: pages.versions,
            ..RefineTotals::default()
        };
        for group in groups {
            totals.add(group);
            by_model.entry(&group.model).or_default().add(group);
            if group.refine {
                refines.add(group);
            }
        }
        for row in latency {
            match &row.model {
                None => totals.set_latency(row),
                Some(model) => by_model.entry(model).or_default().set_latency(row),
            }
        }
        let mut models: Vec<ModelStats> = by_model
            .into_iter()
            .map(|(model, totals)| ModelStats {
                model: model.to_owned(),
                totals,
            })
            .collect();
        // Stable: equal counts keep the models' alphabetical order.
        models.sort_by_key(|m| std::cmp::Reverse(m.totals.generations.total));
        Self {
            totals,
            pages: pages.pages,
            views: pages.views,
            models,
            refines,
        }
    }
}

impl Store {
    /// The generations and pages created at or after `since`.
    pub async fn window_stats(&self, since: OffsetDateTime) -> Result<WindowStats, StoreError> {
        let (groups, latency, pages) = tokio::try_join!(
            self.generation_groups(since),
            self.latency_percentiles(since),
            self.page_totals(since),
        )?;
        Ok(WindowStats::fold(&groups, &latency, pages))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(model: &str, status: GenerationStatus, code: Option<&str>, n: i64) -> GenerationGroup {
        GenerationGroup {
            model: model.to_owned(),
            status,
            error_code: code.map(str::to_owned),
            refine: false,
            generations: n,
            prompt_tokens: 10 * n,
            completion_tokens: 100 * n,
            cost: 0.5 * n as f64,
        }
    }

    fn percentiles(p50: f64, p95: f64) -> Percentiles {
        Percentiles {
            p50: Some(p50),
            p95: Some(p95),
        }
    }

    #[test]
    fn groups_fold_into_totals_and_a_per_model_breakdown_busiest_first() {
        let groups = [
            group("a/small", GenerationStatus::Completed, None, 1),
            group("b/large", GenerationStatus::Completed, None, 2),
            group(
                "b/large",
                GenerationStatus::Failed,
                Some("upstream_error"),
                1,
            ),
            group("b/large", GenerationStatus::Cancelled, Some("cancelled"), 1),
        ];
        let latency = [
            LatencyRow {
                model: None,
                first_token_ms: percentiles(100.0, 190.0),
                duration_ms: percentiles(1_000.0, 1_900.0),
            },
            LatencyRow {
                model: Some("a/small".into()),
                first_token_ms: percentiles(100.0, 100.0),
                duration_ms: percentiles(1_000.0, 1_000.0),
            },
        ];
        let pages = PageTotals {
            pages: 3,
            views: 7,
            versions: 0,
        };
        let stats = WindowStats::fold(&groups, &latency, pages);

        let totals = &stats.totals;
        assert_eq!(
            totals.generations,
            StatusCounts {
                total: 5,
                running: 0,
                completed: 3,
                failed: 1,
                cancelled: 1
            }
        );
        assert_eq!(totals.error_codes.len(), 2);
        assert_eq!(totals.error_codes["upstream_error"], 1);
        assert_eq!(
            totals.tokens,
            TokenTotals {
                prompt: 50,
                completion: 500
            }
        );
        assert_eq!(totals.cost, 2.5);
        assert_eq!(totals.first_token_ms, percentiles(100.0, 190.0));
        assert_eq!((stats.pages, stats.views), (3, 7));

        let names: Vec<_> = stats.models.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(names, ["b/large", "a/small"]);
        assert_eq!(stats.models[0].totals.generations.total, 4);
        assert_eq!(stats.models[0].totals.duration_ms, Percentiles::default());
        assert_eq!(
            stats.models[1].totals.duration_ms,
            percentiles(1_000.0, 1_000.0)
        );
    }

    #[test]
    fn an_empty_window_has_zeros_and_no_percentiles() {
        let stats = WindowStats::fold(&[], &[], PageTotals::default());
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["generations"]["total"], 0);
        assert_eq!(json["generations"]["cancelled"], 0);
        assert_eq!(json["first_token_ms"]["p50"], serde_json::Value::Null);
        assert_eq!(json["models"], serde_json::json!([]));
        assert_eq!(json["error_codes"], serde_json::json!({}));
    }

    /// The databases' side: the same rows give the same aggregates on every backend, and the
    /// percentiles are exactly PostgreSQL's `percentile_cont` (SQLite's window-function version
    /// included).
    mod on_each_backend {
        use time::Duration;

        use super::*;
        use crate::domain::{ErrorCode, GenerateBody, GenerationRequest, Model, Usage};
        use crate::sanitize::Sanitizer;
        use crate::store::testing::{TestDatabase, for_each_backend};
        use crate::store::{NewGeneration, NewPage, Outcome};

        const USAGE: Usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 100,
            cost: Some(0.25),
        };

        fn request(model: &str) -> GenerationRequest {
            let model = Model::from_config(model).unwrap();
            let body = GenerateBody {
                email: Some("ops@example.com".to_owned()),
                prompt: Some("a page to count".to_owned()),
                ..GenerateBody::default()
            };
            GenerationRequest::parse(&body, &model, std::slice::from_ref(&model)).unwrap()
        }

        fn outcome(status: GenerationStatus, timing: (Option<u64>, u64)) -> Outcome<'static> {
            let failed = status == GenerationStatus::Failed;
            Outcome {
                status,
                error_code: failed.then_some(ErrorCode::UpstreamError),
                error_message: failed.then_some("the model failed"),
                usage: Some(USAGE),
                first_token_ms: timing.0,
                duration_ms: timing.1,
                partial_output: None,
                finished_at: OffsetDateTime::now_utc(),
                final_seq: None,
                segments: 1,
            }
        }

        /// A generation of `model` started at `created_at`; completed ones save a page.
        async fn generation(
            store: &Store,
            model: &str,
            status: GenerationStatus,
            timing: (Option<u64>, u64),
            created_at: OffsetDateTime,
        ) -> Uuid {
            let id = Uuid::now_v7();
            let request = request(model);
            let new = NewGeneration {
                id,
                request: &request,
                created_at,
                instance_id: Uuid::nil(),
            };
            store.insert_generation(&new).await.unwrap();
            let outcome = outcome(status, timing);
            if status != GenerationStatus::Completed {
                store.finish_generation(id, &outcome).await.unwrap();
                return id;
            }
            let html = Sanitizer::new(Default::default())
                .sanitize("<html><head><title>Counted</title></head><body><p>x</p></body></html>");
            let page = NewPage {
                id: Uuid::now_v7(),
                html: &html,
                meta_data: &Default::default(),
                created_at,
            };
            store.save_page(id, &page, &outcome).await.unwrap();
            page.id
        }

        /// PostgreSQL's `percentile_cont`, as the reference.
        fn percentile(values: &[u64], p: f64) -> f64 {
            let mut sorted: Vec<f64> = values.iter().map(|&v| v as f64).collect();
            sorted.sort_by(f64::total_cmp);
            let position = p * (sorted.len() - 1) as f64;
            let below = position.floor();
            let lo = sorted[below as usize];
            match sorted.get(below as usize + 1) {
                Some(hi) if position > below => lo + (position - below) * (hi - lo),
                _ => lo,
            }
        }

        fn expected(values: &[u64]) -> Percentiles {
            Percentiles {
                p50: Some(percentile(values, 0.5)),
                p95: Some(percentile(values, 0.95)),
            }
        }

        #[tokio::test]
        async fn windows_totals_and_percentiles_are_the_same_on_every_backend() {
            for_each_backend(async |db: &TestDatabase| {
                let store = &db.store;
                let now = OffsetDateTime::now_utc();
                let completed = GenerationStatus::Completed;
                // The fallback page (no first token) counts for the duration only.
                let small = [
                    (Some(120), 1_000),
                    (Some(80), 3_000),
                    (Some(500), 2_000),
                    (None, 700),
                ];
                let mut small_pages = Vec::new();
                for timing in small {
                    small_pages.push(generation(store, "a/small", completed, timing, now).await);
                }
                generation(store, "b/large", completed, (Some(7), 11), now).await;
                let failed = GenerationStatus::Failed;
                generation(store, "b/large", failed, (Some(50), 60), now).await;
                let old = now - Duration::days(2);
                generation(store, "a/small", completed, (Some(1), 1), old).await;
                store
                    .add_views(&[(small_pages[1], 5), (small_pages[3], 2)])
                    .await
                    .unwrap();

                let recent = store.window_stats(now - Duration::days(1)).await.unwrap();
                let counts = StatusCounts {
                    total: 6,
                    completed: 5,
                    failed: 1,
                    ..StatusCounts::default()
                };
                assert_eq!(recent.totals.generations, counts);
                assert_eq!(recent.totals.error_codes["upstream_error"], 1);
                let tokens = TokenTotals {
                    prompt: 60,
                    completion: 600,
                };
                assert_eq!((recent.totals.tokens, recent.totals.cost), (tokens, 1.5));
                assert_eq!(recent.totals.first_token_ms, expected(&[120, 80, 500, 7]));
                assert_eq!(
                    recent.totals.duration_ms,
                    expected(&[1_000, 3_000, 2_000, 700, 11])
                );
                assert_eq!((recent.pages, recent.views), (5, 7));
                let [small, large] = &recent.models[..] else {
                    panic!("two models: {:?}", recent.models);
                };
                assert_eq!(small.model, "a/small");
                assert_eq!(small.totals.first_token_ms, expected(&[120, 80, 500]));
                assert_eq!(
                    small.totals.duration_ms,
                    expected(&[1_000, 3_000, 2_000, 700])
                );
                assert_eq!(large.totals.generations.failed, 1);
                assert_eq!(large.totals.duration_ms, expected(&[11]));

                let all = store
                    .window_stats(OffsetDateTime::UNIX_EPOCH)
                    .await
                    .unwrap();
                assert_eq!(all.totals.generations.total, 7);
                assert_eq!(all.totals.first_token_ms, expected(&[120, 80, 500, 7, 1]));
                assert_eq!(all.pages, 6);

                let empty = store.window_stats(now + Duration::days(1)).await.unwrap();
                assert_eq!(empty, WindowStats::default());

                let top = store.most_viewed_pages(2).await.unwrap();
                let top: Vec<_> = top.iter().map(|page| (page.id, page.views)).collect();
                assert_eq!(top, [(small_pages[1], 5), (small_pages[3], 2)]);
            })
            .await;
        }
    }
}
