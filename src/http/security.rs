//! Security headers: the policy each kind of response is served under.
//!
//! Responses come in three kinds, told apart by path:
//! - **live pages** (`/p/{id}`): documents a model wrote, possibly under a prompt injection.
//!   Their policy ([`page_policy`]) is built per page from how the *stored* page is styled
//!   (not from the current `LIVEPAGE_STYLES`, which may have changed since): a CSP `sandbox`
//!   without `allow-same-origin` (an opaque origin: no cookies, no storage, no way into our
//!   origin), `default-src 'none'`, and no script at all for compiled styles, whose one inline
//!   stylesheet is allowed by its hash. No `X-Frame-Options`: pages may be embedded.
//! - **the web UI** (`/`, `/report`, `/assets/…`): our own scripts only. Its live previews are `srcdoc`
//!   frames, which inherit the UI's policy, so that policy also admits what a preview needs:
//!   its inline stylesheet (or, in `cdn` mode, the pinned CDN script) and https images.
//! - **icon fonts** (`/fonts/…`): loaded by pages, whose origin is opaque, so readable from
//!   any origin.
//! - **everything else** (the JSON API, event streams, health, metrics): nothing there is
//!   meant to render, so `default-src 'none'`, no framing, no caching of private data.
//!
//! Handlers may set their own headers (the page handler, the UI's `Cache-Control`); this layer
//! only fills in what they left out.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use url::{Origin, Url};

use crate::config::Config;
use crate::sanitize::icons::FONTS_PATH;
use crate::sanitize::{PageStyles, Styles, TAILWIND_CDN_URL, styles_of};

/// Directives every live page gets, whatever its styles: nothing but images and fonts may
/// load, and only from https or data URLs, or (fonts) LivePage's own icon fonts; the page cannot be a `<base>` for other URLs nor
/// submit a form; any site may embed it.
const PAGE_COMMON: &str = "default-src 'none'; img-src https: data:; font-src 'self' https: data:; \
    object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors *";

/// Powerful features no response of ours uses.
const PERMISSIONS_POLICY: &str =
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), display-capture=()";

/// The Content-Security-Policy of a stored page, from how that page was built.
///
/// - Compiled styles: `sandbox` without `allow-scripts`, no `script-src`, and
///   `style-src` allowing exactly the page's one `<style>` element by its SHA-256.
///   `style-src-attr 'unsafe-inline'` keeps the `style` attributes the sanitizer let through
///   (their declarations are filtered, none takes a URL).
/// - CDN styles: `sandbox allow-scripts` and `script-src` the one pinned CDN file; the script
///   writes `<style>` elements at run time, hence `style-src 'unsafe-inline'`.
/// - Neither: no style element and no script.
pub fn page_policy(document: &str) -> HeaderValue {
    let policy = match styles_of(document) {
        PageStyles::Inline(css) => format!(
            "sandbox; {PAGE_COMMON}; script-src 'none'; style-src '{}'; \
             style-src-attr 'unsafe-inline'",
            style_hash(css)
        ),
        PageStyles::Cdn => format!(
            "sandbox allow-scripts; {PAGE_COMMON}; script-src {TAILWIND_CDN_URL}; \
             style-src 'unsafe-inline'"
        ),
        PageStyles::Unstyled => format!(
            "sandbox; {PAGE_COMMON}; script-src 'none'; style-src 'none'; \
             style-src-attr 'unsafe-inline'"
        ),
    };
    HeaderValue::from_str(&policy).expect("a CSP of ASCII directives and base64 is a header value")
}

/// A CSP hash source for an inline `<style>` element's text.
fn style_hash(css: &str) -> String {
    format!("sha256-{}", BASE64.encode(Sha256::digest(css.as_bytes())))
}

/// Which policy a response gets, by its request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    LivePage,
    Ui,
    Font,
    Api,
}

impl Kind {
    fn of(path: &str) -> Self {
        if path.starts_with("/p/") {
            Self::LivePage
        } else if path == "/" || path == "/report" || path.starts_with("/assets/") {
            Self::Ui
        } else if path.starts_with(FONTS_PATH) {
            Self::Font
        } else {
            Self::Api
        }
    }
}

/// The headers added to UI and API responses, built once from the configuration.
#[derive(Debug)]
pub struct Policies {
    ui: Vec<(HeaderName, HeaderValue)>,
    font: Vec<(HeaderName, HeaderValue)>,
    api: Vec<(HeaderName, HeaderValue)>,
}

impl Policies {
    /// The UI's and the API's headers; the UI's policy depends on the style mode (what
    /// previews load) and on `PAGES_URL` (what it may frame).
    pub fn new(config: &Config) -> Arc<Self> {
        let shared = [
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                "same-origin",
            ),
            (
                HeaderName::from_static("permissions-policy"),
                PERMISSIONS_POLICY,
            ),
        ];
        let api_only = [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            ),
            // Nothing of the API is meant to be read by another site's page.
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                "same-origin",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ];
        let ui_csp = ui_policy(
            config.pages.styles,
            &config.server.public_url(),
            &config.server.pages_url(),
        );
        let ui_only = [(header::CONTENT_SECURITY_POLICY, ui_csp.as_str())];
        let font = [
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
        ];
        Arc::new(Self {
            ui: header_list(shared.clone().into_iter().chain(ui_only)),
            font: header_list(font),
            api: header_list(shared.into_iter().chain(api_only)),
        })
    }

    fn for_kind(&self, kind: Kind) -> &[(HeaderName, HeaderValue)] {
        match kind {
            Kind::LivePage => &[],
            Kind::Ui => &self.ui,
            Kind::Font => &self.font,
            Kind::Api => &self.api,
        }
    }
}

fn header_list<'a>(
    pairs: impl IntoIterator<Item = (HeaderName, &'a str)>,
) -> Vec<(HeaderName, HeaderValue)> {
    pairs
        .into_iter()
        .map(|(name, text)| {
            let value =
                HeaderValue::from_str(text).expect("policies are made of header-safe characters");
            (name, value)
        })
        .collect()
}

/// The web UI's Content-Security-Policy.
///
/// Scripts only from our own files (plus, in `cdn` mode, the pinned CDN file that previews
/// load). Inline styles are allowed because preview documents are `srcdoc` frames, which
/// inherit this policy, and a compiled page's stylesheet is inline (different for every
/// snapshot, so no hash can name it); the UI never puts model markup in its own document, and
/// with no inline script a stray style can only change looks. https images for the same
/// reason: previews show the page's pictures. Frames: the previews, and published pages from
/// `PAGES_URL` when that is another origin.
fn ui_policy(styles: Styles, public_url: &Url, pages_url: &Url) -> String {
    let script_src = match styles {
        Styles::Compiled => "'self'".to_owned(),
        Styles::Cdn => format!("'self' {TAILWIND_CDN_URL}"),
    };
    let mut frame_src = "'self'".to_owned();
    let pages_origin = pages_url.origin();
    if pages_origin != public_url.origin() && matches!(pages_origin, Origin::Tuple(..)) {
        frame_src.push(' ');
        frame_src.push_str(&pages_origin.ascii_serialization());
    }
    format!(
        "default-src 'self'; script-src {script_src}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: https:; font-src 'self' data: https:; connect-src 'self'; \
         frame-src {frame_src}; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// Middleware: adds the UI's or the API's headers to each response, unless the handler set
/// them itself.
pub async fn add_headers(
    State(policies): State<Arc<Policies>>,
    request: Request,
    next: Next,
) -> Response {
    let kind = Kind::of(request.uri().path());
    let mut response = next.run(request).await;
    fill_in(response.headers_mut(), policies.for_kind(kind));
    response
}

fn fill_in(headers: &mut HeaderMap, defaults: &[(HeaderName, HeaderValue)]) {
    for (name, value) in defaults {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::Sanitizer;

    fn policy_of(styles: Styles, raw: &str) -> String {
        let page = Sanitizer::new(styles).sanitize(raw);
        page_policy(page.as_str()).to_str().unwrap().to_owned()
    }

    #[test]
    fn a_compiled_page_allows_its_own_stylesheet_by_hash_and_no_script() {
        let page = Sanitizer::new(Styles::Compiled).sanitize("<p class=\"text-red-600\">x</p>");
        let PageStyles::Inline(css) = styles_of(page.as_str()) else {
            panic!("a compiled page has an inline stylesheet");
        };
        let policy = page_policy(page.as_str());
        let policy = policy.to_str().unwrap();
        assert!(
            policy.starts_with("sandbox; default-src 'none';"),
            "{policy}"
        );
        assert!(policy.contains(&format!("style-src '{}'", style_hash(css))));
        assert!(policy.contains("script-src 'none'"));
        assert!(!policy.contains("allow-"), "{policy}");
        assert!(!policy.contains("unsafe-inline'; ") && policy.ends_with("'unsafe-inline'"));
    }

    #[test]
    fn a_cdn_page_may_run_only_the_pinned_script() {
        let policy = policy_of(Styles::Cdn, "<p>x</p>");
        assert!(policy.starts_with("sandbox allow-scripts; default-src 'none';"));
        assert!(policy.contains(&format!("script-src {TAILWIND_CDN_URL};")));
        assert!(!policy.contains("allow-same-origin"));
    }

    #[test]
    fn the_hash_is_the_base64_sha256_of_the_style_text() {
        // `echo -n 'p{}' | openssl dgst -sha256 -binary | base64`
        assert_eq!(
            style_hash("p{}"),
            "sha256-gG2yISYereRMiG2lMXrbiUgi0Ubw9p7QCeWcroOvy9Y="
        );
    }

    #[test]
    fn paths_are_sorted_into_pages_ui_and_api() {
        assert_eq!(Kind::of("/p/abc"), Kind::LivePage);
        assert_eq!(Kind::of("/"), Kind::Ui);
        assert_eq!(Kind::of("/assets/app.js"), Kind::Ui);
        assert_eq!(Kind::of("/fonts/fa-solid-900.woff2"), Kind::Font);
        for path in ["/api/generate", "/healthz", "/metrics", "/nope", "/pages"] {
            assert_eq!(Kind::of(path), Kind::Api, "{path}");
        }
    }

    #[test]
    fn the_ui_may_frame_a_separate_pages_origin() {
        let public = Url::parse("https://livepage.example/").unwrap();
        let pages = Url::parse("https://pages.example:8443/base/").unwrap();
        let policy = ui_policy(Styles::Compiled, &public, &pages);
        assert!(
            policy.contains("frame-src 'self' https://pages.example:8443;"),
            "{policy}"
        );
        assert!(policy.contains("script-src 'self';"));
        let policy = ui_policy(Styles::Cdn, &public, &public);
        assert!(policy.contains("frame-src 'self';"));
        assert!(policy.contains(&format!("script-src 'self' {TAILWIND_CDN_URL};")));
    }
}
