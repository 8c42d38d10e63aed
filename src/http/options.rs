//! `GET /api/options`: what a generation request may ask for, so that clients (the web UI
//! first) build their forms from the server's truth rather than a copy of it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use crate::config::Config;
use crate::domain::{MAX_EMAIL_CHARS, MAX_PROMPT_CHARS, Model, PageType, Theme};
use utoipa::ToSchema;

/// The body of `GET /api/options`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Options {
    /// Every page type, in the order to offer them.
    page_types: Vec<Choice>,
    default_page_type: PageType,
    /// Every theme, in the order to offer them.
    themes: Vec<Choice>,
    default_theme: Theme,
    /// The models a request may pick, the default first.
    models: Vec<Model>,
    default_model: Model,
    /// No API key: pages are written by the built-in demo model.
    demo_mode: bool,
    /// The longest prompt accepted, in characters.
    max_prompt_chars: usize,
    /// The longest email address accepted, in characters.
    max_email_chars: usize,
}

/// One option of a closed list: the value to send and what it means.
#[derive(Debug, Serialize, ToSchema)]
struct Choice {
    name: &'static str,
    description: &'static str,
}

impl Options {
    pub fn new(config: &Config) -> Self {
        Self {
            page_types: PageType::ALL
                .iter()
                .map(|t| Choice {
                    name: t.as_str(),
                    description: t.describe(),
                })
                .collect(),
            default_page_type: PageType::default(),
            themes: Theme::ALL
                .iter()
                .map(|t| Choice {
                    name: t.as_str(),
                    description: t.describe(),
                })
                .collect(),
            default_theme: Theme::default(),
            models: config.upstream.allowed_models(),
            default_model: config.upstream.model.clone(),
            demo_mode: config.upstream.demo_mode(),
            max_prompt_chars: MAX_PROMPT_CHARS,
            max_email_chars: MAX_EMAIL_CHARS,
        }
    }
}

/// `GET /api/options`. Revalidated on each use: it changes only with the configuration.
#[utoipa::path(
    get,
    path = "/api/options",
    operation_id = "get_options",
    tag = "generations",
    responses(
        (status = 200, description = "What a generation request may ask for", body = Options),
    )
)]
pub async fn options(State(state): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        Json(Options::new(&state.config)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn options_list_every_choice_and_the_allowed_models() {
        let config = Config::try_parse_from(["livepage", "--model", "a/x", "--models", "b/y"])
            .expect("valid flags");
        let options = serde_json::to_value(Options::new(&config)).unwrap();
        assert_eq!(
            options["page_types"].as_array().unwrap().len(),
            PageType::ALL.len()
        );
        assert_eq!(
            options["themes"].as_array().unwrap().len(),
            Theme::ALL.len()
        );
        assert_eq!(options["page_types"][0]["name"], "landing");
        assert_eq!(
            options["page_types"][0]["description"],
            PageType::Landing.describe()
        );
        assert_eq!(options["default_page_type"], "landing");
        assert_eq!(options["default_theme"], "modern");
        assert_eq!(options["models"], serde_json::json!(["a/x", "b/y"]));
        assert_eq!(options["default_model"], "a/x");
        assert_eq!(options["demo_mode"], config.upstream.demo_mode());
        assert_eq!(options["max_prompt_chars"], MAX_PROMPT_CHARS);
        assert_eq!(options["max_email_chars"], MAX_EMAIL_CHARS);
    }
}
