//! Reading: live pages, their metadata, view counts, history, and health.

use livepage::mock::{Content, Script};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, backend_tests, last, spawn_app};

/// Generates a small page for `email` and returns its `completed` data.
async fn make_page(app: &TestApp, email: &str, title: &str) -> Value {
    app.mock.push(Script {
        content: Content::Deltas(vec![
            format!("<html><head><title>{title}</title></head><body><h1>{title}</h1>"),
            "</body></html>".into(),
        ]),
        ..Script::default()
    });
    let events = app
        .generate(&json!({"email": email, "prompt": format!("a page called {title}")}))
        .await;
    let completed = last(&events);
    assert_eq!(completed.event, "completed", "{events:#?}");
    completed.data.clone()
}

async fn assert_not_found_page(app: &TestApp, path: &str) {
    let response = app.get(path).await;
    assert_eq!(response.status(), 404, "{path}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This page does not exist")
    );
}

backend_tests! {
    async fn a_live_page_is_served_with_strict_headers_and_revalidates(backend: Backend) {
        let app = spawn_app(backend).await;
        let page = make_page(&app, "ann@example.com", "Crumb").await;
        let live_url = page["live_url"].as_str().unwrap();
        let response = app.client.get(live_url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in ["sandbox", "default-src 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'none'"] {
            assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
        }
        assert!(!csp.contains("allow-same-origin"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        let etag = headers["etag"].to_str().unwrap().to_owned();
        assert!(response.text().await.unwrap().contains("<h1>Crumb</h1>"));

        let revalidated = app.client.get(live_url).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(revalidated.status(), 304);
        app.stop().await;
    }

    async fn unknown_malformed_and_private_pages_get_the_same_404(backend: Backend) {
        let app = spawn_app(backend).await;
        let page = make_page(&app, "ann@example.com", "Secret").await;
        let id = page["page_id"].as_str().unwrap();
        assert_not_found_page(&app, "/p/00000000-0000-0000-0000-000000000000").await;
        assert_not_found_page(&app, "/p/not-a-uuid").await;
        app.database().execute(&format!("UPDATE pages SET is_public = false WHERE id = '{id}'")).await;
        assert_not_found_page(&app, &format!("/p/{id}")).await;
        app.stop().await;
    }

    async fn a_hundred_concurrent_views_count_as_exactly_a_hundred(backend: Backend) {
        let app = spawn_app(backend).await;
        let page = make_page(&app, "ann@example.com", "Popular").await;
        let live_url = page["live_url"].as_str().unwrap().to_owned();
        let views = (0..100).map(|_| {
            let (client, url) = (app.client.clone(), live_url.clone());
            tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
        });
        for view in futures_util::future::join_all(views).await {
            assert_eq!(view.unwrap(), 200);
        }
        let (status, meta) = app.get_json(&format!("/api/pages/{}", page["page_id"].as_str().unwrap())).await;
        assert_eq!(status, 200);
        assert_eq!(meta["view_count"], 100);
        app.stop().await;
    }

    async fn page_metadata_has_no_html(backend: Backend) {
        let app = spawn_app(backend).await;
        let page = make_page(&app, "ann@example.com", "Meta").await;
        let (status, meta) = app.get_json(&format!("/api/pages/{}", page["page_id"].as_str().unwrap())).await;
        assert_eq!(status, 200);
        assert_eq!(meta["title"], "Meta");
        assert!(meta.get("email").is_none(), "a shared page shows no email");
        assert_eq!(meta["live_url"], page["live_url"]);
        assert_eq!(meta["is_public"], true);
        assert!(meta.get("html_content").is_none());
        assert_eq!(app.get_json("/api/pages/00000000-0000-0000-0000-000000000000").await.0, 404);
        app.stop().await;
    }

    async fn history_lists_an_emails_pages_newest_first_in_pages(backend: Backend) {
        let app = spawn_app(backend).await;
        for i in 0..5 {
            make_page(&app, "ann@example.com", &format!("Page {i}")).await;
        }
        make_page(&app, "bob@example.com", "Bob's").await;

        let mut titles = Vec::new();
        let mut path = "/api/history?email=Ann@Example.com&limit=2".to_owned();
        loop {
            let (status, history) = app.get_json(&path).await;
            assert_eq!(status, 200, "{history}");
            let pages = history["pages"].as_array().unwrap();
            assert!(pages.len() <= 2);
            for page in pages {
                assert!(page.get("html_content").is_none());
                assert!(page["live_url"].as_str().unwrap().contains("/p/"));
                titles.push(page["title"].as_str().unwrap().to_owned());
            }
            match history["next_before"].as_str() {
                Some(before) => path = format!("/api/history?email=ann@example.com&limit=2&before={before}"),
                None => break,
            }
        }
        assert_eq!(titles, ["Page 4", "Page 3", "Page 2", "Page 1", "Page 0"]);
        app.stop().await;
    }
}

backend_tests! {
    async fn history_parameters_are_checked(backend: Backend) {
        let app = spawn_app(backend).await;
        let cases = [
            ("/api/history", 422, "invalid_email"),
            ("/api/history?email=nope", 422, "invalid_email"),
            (
                "/api/history?email=ann@example.com&limit=0",
                400,
                "invalid_parameter",
            ),
            (
                "/api/history?email=ann@example.com&limit=101",
                400,
                "invalid_parameter",
            ),
            (
                "/api/history?email=ann@example.com&limit=ten",
                400,
                "invalid_parameter",
            ),
            (
                "/api/history?email=ann@example.com&before=yesterday",
                400,
                "invalid_parameter",
            ),
        ];
        for (path, status, code) in cases {
            let (got, body) = app.get_json(path).await;
            assert_eq!(
                (got, body["error"]["code"].as_str().unwrap()),
                (status, code),
                "{path}"
            );
        }
        let (status, body) = app.get_json("/api/history?email=nobody@example.com").await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({"pages": [], "next_before": null}));
        app.stop().await;
    }
}

backend_tests! {
    async fn health_and_readiness(backend: Backend) {
        let app = spawn_app(backend).await;
        assert_eq!(
            app.get_json("/healthz").await,
            (200, json!({"status": "ok"}))
        );
        let (status, ready) = app.get_json("/readyz").await;
        assert_eq!(status, 200);
        assert_eq!(ready["database"], "ok");
        assert_eq!(ready["demo_mode"], false);
        let index = app.get("/").await;
        assert_eq!(index.status(), 200);
        assert!(index.text().await.unwrap().contains("LivePage"));
        app.stop().await;
    }
}
