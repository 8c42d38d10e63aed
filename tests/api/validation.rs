//! Bad input never opens a stream: a 4xx with the JSON error shape, before any SSE byte.

use livepage::domain::MAX_PROMPT_CHARS;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, backend_tests, spawn_app};

/// Asserts a JSON error of `status` and `code` (and `field`, when given) and no stream.
async fn assert_refused(response: reqwest::Response, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(response.status(), status, "expected {status} {code}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "got {content_type}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(body["error"]["field"].as_str(), field, "{body}");
}

async fn post(app: &TestApp, body: Value) -> reqwest::Response {
    app.post_generate(&body).await
}

backend_tests! {
    async fn each_invalid_field_gets_its_own_code_and_names_the_field(backend: Backend) {
        let app = spawn_app(backend).await;
        let cases = [
            (json!({"prompt": "a bakery"}), "invalid_email", "email"),
            (
                json!({"email": "not-an-email", "prompt": "a bakery"}),
                "invalid_email",
                "email",
            ),
            (
                json!({"email": "ann@example.com"}),
                "invalid_prompt",
                "prompt",
            ),
            (
                json!({"email": "ann@example.com", "prompt": "   \n "}),
                "invalid_prompt",
                "prompt",
            ),
            (
                json!({"email": "ann@example.com", "prompt": "x".repeat(MAX_PROMPT_CHARS + 1)}),
                "prompt_too_long",
                "prompt",
            ),
            (
                json!({"email": "ann@example.com", "prompt": "a bakery", "page_type": "casino"}),
                "invalid_page_type",
                "page_type",
            ),
            (
                json!({"email": "ann@example.com", "prompt": "a bakery", "theme": "neon"}),
                "invalid_theme",
                "theme",
            ),
            (
                json!({"email": "ann@example.com", "prompt": "a bakery", "model": "some/other-model"}),
                "model_not_allowed",
                "model",
            ),
        ];
        for (body, code, field) in cases {
            assert_refused(post(&app, body).await, 422, code, Some(field)).await;
        }
        assert!(
            app.mock.requests().is_empty(),
            "nothing reached the upstream"
        );
        app.stop().await;
    }
}

backend_tests! {
    async fn malformed_bodies_are_refused_in_the_same_shape(backend: Backend) {
        let app = spawn_app(backend).await;
        let send = |content_type: &'static str, body: String| {
            app.client
                .post(app.url("/api/generate"))
                .header("content-type", content_type)
                .body(body)
                .send()
        };
        assert_refused(
            send("application/json", "{\"email\": ".into())
                .await
                .unwrap(),
            400,
            "invalid_json",
            None,
        )
        .await;
        assert_refused(
            send("application/json", "[1, 2]".into()).await.unwrap(),
            422,
            "invalid_body",
            None,
        )
        .await;
        assert_refused(
            send("application/json", r#"{"email": 5, "prompt": "x"}"#.into())
                .await
                .unwrap(),
            422,
            "invalid_body",
            None,
        )
        .await;
        assert_refused(
            send("text/plain", r#"{"email":"a@b.co","prompt":"x"}"#.into())
                .await
                .unwrap(),
            415,
            "unsupported_media_type",
            None,
        )
        .await;
        let huge = json!({"email": "ann@example.com", "prompt": "x".repeat(64 * 1024)}).to_string();
        assert_refused(
            send("application/json", huge).await.unwrap(),
            413,
            "payload_too_large",
            None,
        )
        .await;
        assert!(app.mock.requests().is_empty());
        app.stop().await;
    }
}

backend_tests! {
    async fn absent_options_take_their_defaults(backend: Backend) {
        let app = spawn_app(backend).await;
        let events = app
            .generate(&json!({"email": " Ann@Example.com ", "prompt": "a bakery"}))
            .await;
        assert_eq!(events.last().unwrap().event, "completed");
        let system = app.mock.requests()[0].body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(system.contains("Page type: landing") && system.contains("Theme: modern"));
        let id = events[0].data["generation_id"].as_str().unwrap();
        let (_, generation) = app.get_json(&format!("/api/generations/{id}")).await;
        let (_, history) = app.get_json("/api/history?email=ann@example.com").await;
        assert_eq!(
            history["pages"][0]["id"], generation["page_id"],
            "emails are normalised"
        );
        assert_eq!(generation["page_type"], "landing");
        assert_eq!(generation["theme"], "modern");
        app.stop().await;
    }
}

backend_tests! {
    async fn unknown_routes_answer_json_404(backend: Backend) {
        let app = spawn_app(backend).await;
        let response = app.get("/api/nothing-here").await;
        assert_refused(response, 404, "not_found", None).await;
        app.stop().await;
    }
}
