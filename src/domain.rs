//! Values that arrive from outside, parsed once into types that cannot hold a bad value.
//!
//! A handler turns the request body into a [`GenerationRequest`] with [`GenerationRequest::parse`];
//! everything downstream (the generation, the upstream prompt, the store) takes these types and
//! never re-checks them.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest prompt we accept, in characters. Long enough for a detailed brief, short enough
/// that the system prompt and the page still fit comfortably in any model's context.
pub const MAX_PROMPT_CHARS: usize = 4_000;

/// The longest email address we accept (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Why a value from outside was refused. `code` is the stable error code of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    fn new(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            field,
            message: message.into(),
        }
    }
}

/// A syntactically valid email address, trimmed and lower-cased so that history lookups match.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(Invalid::new("invalid_email", "email", "email is required"));
        }
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(Invalid::new(
                "invalid_email",
                "email",
                format!("email must be at most {MAX_EMAIL_CHARS} characters"),
            ));
        }
        // `email_address` implements RFC 5322's addr-spec; we also insist on a dotted domain,
        // since a bare host is never what a person typing into a form meant.
        let parsed: email_address::EmailAddress = email
            .parse()
            .map_err(|_| Invalid::new("invalid_email", "email", "email is not a valid address"))?;
        if !parsed.domain().contains('.') || parsed.domain().starts_with('[') {
            return Err(Invalid::new(
                "invalid_email",
                "email",
                "email is not a valid address",
            ));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the person asked for: non-blank, at most [`MAX_PROMPT_CHARS`] characters, no control
/// characters other than newlines and tabs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Prompt(String);

impl Prompt {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let prompt = raw.trim();
        if prompt.is_empty() {
            return Err(Invalid::new(
                "invalid_prompt",
                "prompt",
                "prompt is required",
            ));
        }
        let chars = prompt.chars().count();
        if chars > MAX_PROMPT_CHARS {
            return Err(Invalid::new(
                "prompt_too_long",
                "prompt",
                format!("prompt must be at most {MAX_PROMPT_CHARS} characters (got {chars})"),
            ));
        }
        if prompt
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Invalid::new(
                "invalid_prompt",
                "prompt",
                "prompt must not contain control characters",
            ));
        }
        Ok(Self(prompt.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Declares a closed list of named options with a default, parsed from their lower-case name.
macro_rules! options {
    (
        $(#[$meta:meta])*
        $name:ident, field = $field:literal, code = $code:literal, default = $default:ident,
        { $($variant:ident => $text:literal: $describe:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn parse(raw: Option<&str>) -> Result<Self, Invalid> {
                let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
                    return Ok(Self::$default);
                };
                let wanted = raw.to_ascii_lowercase();
                Self::ALL.iter().copied().find(|v| v.as_str() == wanted).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    Invalid::new(
                        $code,
                        $field,
                        format!("{} must be one of: {}", $field, names.join(", ")),
                    )
                })
            }

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// A short description, used in the system prompt and the fallback page.
            pub fn describe(self) -> &'static str {
                match self { $(Self::$variant => $describe),+ }
            }
        }

        impl Default for $name {
            fn default() -> Self { Self::$default }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

options! {
    /// The kind of page to write.
    PageType, field = "page_type", code = "invalid_page_type", default = Landing, {
        Landing => "landing": "a marketing landing page with a hero, features, social proof and a call to action",
        Portfolio => "portfolio": "a personal portfolio showing work, skills and a way to get in touch",
        Blog => "blog": "a blog front page with featured and recent posts",
        Product => "product": "a product page with the product, its benefits, pricing and FAQs",
        Event => "event": "an event page with date, venue, schedule, speakers and registration",
        Restaurant => "restaurant": "a restaurant or cafe page with menu highlights, hours and location",
        Resume => "resume": "a one-page resume with experience, education and skills",
    }
}

options! {
    /// The visual direction of the page.
    Theme, field = "theme", code = "invalid_theme", default = Modern, {
        Modern => "modern": "clean and contemporary: generous whitespace, indigo accents, soft shadows",
        Minimal => "minimal": "minimal and typographic: black on white, one accent colour, no ornament",
        Dark => "dark": "dark mode: slate backgrounds, bright accents, high contrast",
        Playful => "playful": "playful and warm: rounded shapes, cheerful colours, friendly copy",
        Corporate => "corporate": "corporate and trustworthy: navy and blue, structured grid, calm tone",
        Elegant => "elegant": "elegant and refined: serif headings, muted earth tones, ample spacing",
    }
}

/// An upstream model slug such as `anthropic/claude-sonnet-4.5`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(transparent)]
pub struct Model(String);

impl Model {
    /// Accepts `raw` only when it is one of the `allowed` models.
    pub fn parse(raw: Option<&str>, default: &Model, allowed: &[Model]) -> Result<Self, Invalid> {
        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(default.clone());
        };
        allowed.iter().find(|m| m.0 == raw).cloned().ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(Model::as_str).collect();
            Invalid::new(
                "model_not_allowed",
                "model",
                format!("model must be one of: {}", names.join(", ")),
            )
        })
    }

    /// A slug from configuration: non-empty, no whitespace.
    pub fn from_config(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() || raw.chars().any(char::is_whitespace) {
            return Err(format!("{raw:?} is not a model slug"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Tokens and cost of one generation, as the upstream reported them: added up over its requests
/// when the page took more than one (continuations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// In credits (US dollars on OpenRouter), when the upstream reports it.
    pub cost: Option<f64>,
}

impl std::ops::Add for Usage {
    type Output = Usage;

    /// The usage of two upstream requests together; the cost is known if either reports it.
    fn add(self, other: Usage) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens + other.prompt_tokens,
            completion_tokens: self.completion_tokens + other.completion_tokens,
            cost: match (self.cost, other.cost) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            },
        }
    }
}

/// Why a generation failed: the stable `code` of its `error` event (documented in the README),
/// stored with the generation and shown by `GET /api/generations/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Every attempt failed before the first token and the fallback page is off.
    UpstreamUnavailable,
    /// The upstream refused the request (400/401/402/403) and the fallback page is off.
    UpstreamRejected,
    /// The model reported an error mid-stream.
    UpstreamError,
    /// The connection to the upstream dropped mid-stream.
    UpstreamDisconnected,
    /// The upstream sent something that is not a chunk.
    UpstreamProtocol,
    /// No token within the first-token timeout.
    UpstreamTimeout,
    /// No chunk within the idle timeout, mid-stream.
    UpstreamStalled,
    /// The model stopped at its length limit, and was still cut off after the last
    /// continuation allowed: the page would be cut off.
    Truncated,
    /// The model finished without writing anything.
    EmptyOutput,
    /// The whole generation took longer than allowed.
    GenerationTimeout,
    /// The page could not be saved.
    StorageUnavailable,
    /// Cancelled on request.
    Cancelled,
    /// The server shut down before the generation finished.
    Shutdown,
    /// The instance running the generation stopped (its lease in Redis lapsed) before finishing.
    InstanceLost,
    /// This instance cannot follow the generation: Redis, which carries its events between
    /// instances, does not answer. Sent without an id, so a client resumes where it was.
    StreamUnavailable,
    /// A refine's edit blocks could not be applied (a SEARCH text matched nowhere or more than
    /// once), and neither could a whole document asked for instead: nothing was saved.
    EditFailed,
    /// The page got a new version while the refine ran (another refine, a restore): its
    /// edits were made to an older document, so nothing was saved.
    PageChanged,
    /// A bug on our side; details are in the log.
    Internal,
}

impl ErrorCode {
    const ALL: [ErrorCode; 18] = [
        Self::UpstreamUnavailable,
        Self::UpstreamRejected,
        Self::UpstreamError,
        Self::UpstreamDisconnected,
        Self::UpstreamProtocol,
        Self::UpstreamTimeout,
        Self::UpstreamStalled,
        Self::Truncated,
        Self::EmptyOutput,
        Self::GenerationTimeout,
        Self::StorageUnavailable,
        Self::Cancelled,
        Self::Shutdown,
        Self::InstanceLost,
        Self::StreamUnavailable,
        Self::EditFailed,
        Self::PageChanged,
        Self::Internal,
    ];

    /// The code with this name (as stored on a generation row).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamRejected => "upstream_rejected",
            Self::UpstreamError => "upstream_error",
            Self::UpstreamDisconnected => "upstream_disconnected",
            Self::UpstreamProtocol => "upstream_protocol",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamStalled => "upstream_stalled",
            Self::Truncated => "truncated",
            Self::EmptyOutput => "empty_output",
            Self::GenerationTimeout => "generation_timeout",
            Self::StorageUnavailable => "storage_unavailable",
            Self::Cancelled => "cancelled",
            Self::Shutdown => "shutdown",
            Self::InstanceLost => "instance_lost",
            Self::StreamUnavailable => "stream_unavailable",
            Self::EditFailed => "edit_failed",
            Self::PageChanged => "page_changed",
            Self::Internal => "internal",
        }
    }

    /// Whether trying the same request again may succeed.
    pub fn is_retryable(self) -> bool {
        !matches!(self, Self::UpstreamRejected | Self::Cancelled)
    }
}

/// The body of `POST /api/generate` as it arrives: every field optional, so that a missing field
/// gets the same clear, field-named error as a bad one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
pub struct GenerateBody {
    /// Whose page it is (required); never shown by the API.
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    pub email: Option<String>,
    /// What the page should be (required), at most 4,000 characters.
    #[schema(
        min_length = 1,
        max_length = 4000,
        example = "a landing page for my bakery"
    )]
    pub prompt: Option<String>,
    /// One of `GET /api/options`' page types; `landing` when left out.
    #[schema(value_type = Option<PageType>)]
    pub page_type: Option<String>,
    /// One of `GET /api/options`' themes; `modern` when left out.
    #[schema(value_type = Option<Theme>)]
    pub theme: Option<String>,
    /// One of `GET /api/options`' models; the default model when left out.
    pub model: Option<String>,
    /// Ask for `preview` events (the sanitized document so far) while generating.
    #[serde(default)]
    pub preview: bool,
}

/// A validated request for one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationRequest {
    pub email: Email,
    pub prompt: Prompt,
    pub page_type: PageType,
    pub theme: Theme,
    pub model: Model,
    pub preview: bool,
    /// Whose page it will be: the digest of the owner key sent with the request, if any.
    /// Without one, only the admin can change the page.
    pub owner: Option<OwnerHash>,
    /// Set for a refine: the page to change, instead of a new one (`prompt` is then the
    /// change asked for).
    pub refine: Option<Refinement>,
}

/// What a refine starts from: a page and the version of it to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refinement {
    pub page_id: uuid::Uuid,
    /// The version edited; the result is saved as the next one, unless the page has moved on.
    pub version: i64,
    /// That version's editable document: the sanitized page without its compiled styles
    /// (what the model is shown, and what its edit blocks apply to).
    pub document: String,
}

/// The body of `POST /api/pages/{id}/refine` as it arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
pub struct RefineBody {
    /// The change (required), at most 4,000 characters.
    #[schema(min_length = 1, max_length = 4000, example = "make the hero dark blue")]
    pub prompt: Option<String>,
    /// One of `GET /api/options`' models; the default model when left out.
    pub model: Option<String>,
    /// Ask for `preview` events (the page with the edits so far) while refining.
    #[serde(default)]
    pub preview: bool,
}

impl GenerationRequest {
    /// Validates every field, reporting the first bad one in the order of the form.
    pub fn parse(
        body: &GenerateBody,
        default_model: &Model,
        allowed: &[Model],
    ) -> Result<Self, Invalid> {
        Ok(Self {
            email: Email::parse(body.email.as_deref().unwrap_or_default())?,
            prompt: Prompt::parse(body.prompt.as_deref().unwrap_or_default())?,
            page_type: PageType::parse(body.page_type.as_deref())?,
            theme: Theme::parse(body.theme.as_deref())?,
            model: Model::parse(body.model.as_deref(), default_model, allowed)?,
            preview: body.preview,
            owner: None,
            refine: None,
        })
    }

    /// The same request, owned by whoever holds `key`.
    pub fn owned_by(self, key: Option<&OwnerKey>) -> Self {
        Self {
            owner: key.map(OwnerKey::hash),
            ..self
        }
    }
}

/// The shortest and longest owner key accepted, in characters.
pub const OWNER_KEY_CHARS: std::ops::RangeInclusive<usize> = 32..=128;

/// A secret a client makes and keeps to prove that pages are its own (docs/ARCHITECTURE.md,
/// "Owners and moderation"): 32 to 128 URL-safe characters (`A-Z a-z 0-9 - _`), sent as
/// `Authorization: Bearer <key>`. Only its
/// SHA-256 ([`OwnerHash`]) is ever stored; the key itself is never logged (`Debug` hides it).
#[derive(Clone, PartialEq, Eq)]
pub struct OwnerKey(String);

impl OwnerKey {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let url_safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_');
        if !OWNER_KEY_CHARS.contains(&raw.len()) || !raw.chars().all(url_safe) {
            return Err(Invalid::new(
                "invalid_owner_key",
                "Authorization",
                format!(
                    "the owner key must be {} to {} characters of A-Z, a-z, 0-9, '-' and '_'",
                    OWNER_KEY_CHARS.start(),
                    OWNER_KEY_CHARS.end()
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key itself, to send (`Authorization: Bearer …`); nothing else should read it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps instead of the key.
    pub fn hash(&self) -> OwnerHash {
        use sha2::Digest;
        OwnerHash(sha2::Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for OwnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnerKey(…)")
    }
}

/// The SHA-256 of an [`OwnerKey`]: what pages and generations record of their owner.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OwnerHash([u8; 32]);

impl OwnerHash {
    /// A digest read back from the database; `None` unless it is 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `other` is the same digest, compared in constant time.
    pub fn matches(&self, other: &OwnerHash) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for OwnerHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell owners apart in a log.
        write!(
            f,
            "OwnerHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// Why a visitor reports a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportReason {
    Phishing,
    Malware,
    Hate,
    Sexual,
    Spam,
    Other,
}

impl ReportReason {
    pub const ALL: &'static [ReportReason] = &[
        Self::Phishing,
        Self::Malware,
        Self::Hate,
        Self::Sexual,
        Self::Spam,
        Self::Other,
    ];

    pub fn parse(raw: Option<&str>) -> Result<Self, Invalid> {
        let raw = raw.map(str::trim).unwrap_or_default();
        Self::ALL
            .iter()
            .copied()
            .find(|reason| reason.as_str() == raw)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
                Invalid::new(
                    "invalid_reason",
                    "reason",
                    format!("reason must be one of: {}", names.join(", ")),
                )
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phishing => "phishing",
            Self::Malware => "malware",
            Self::Hate => "hate",
            Self::Sexual => "sexual",
            Self::Spam => "spam",
            Self::Other => "other",
        }
    }
}

/// The longest report details and contact accepted, in characters.
pub const MAX_REPORT_DETAILS_CHARS: usize = 2_000;
pub const MAX_REPORT_CONTACT_CHARS: usize = 254;

/// The body of `POST /api/pages/{id}/reports` as it arrives.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ReportBody {
    /// Why the page is reported (required).
    #[schema(value_type = Option<ReportReason>)]
    pub reason: Option<String>,
    /// What is wrong, at most 2,000 characters.
    #[schema(max_length = 2000)]
    pub details: Option<String>,
    /// How to reach the reporter, at most 254 characters.
    #[schema(max_length = 254)]
    pub contact: Option<String>,
}

/// A validated report: a reason, and optional free text that is bounded and has no control
/// characters other than newlines and tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub reason: ReportReason,
    pub details: Option<String>,
    pub contact: Option<String>,
}

impl Report {
    pub fn parse(body: &ReportBody) -> Result<Self, Invalid> {
        Ok(Self {
            reason: ReportReason::parse(body.reason.as_deref())?,
            details: free_text(
                body.details.as_deref(),
                "details",
                "details_too_long",
                MAX_REPORT_DETAILS_CHARS,
            )?,
            contact: free_text(
                body.contact.as_deref(),
                "contact",
                "contact_too_long",
                MAX_REPORT_CONTACT_CHARS,
            )?,
        })
    }
}

/// Optional text from a form: trimmed, `None` when blank, refused when over `max` characters
/// (`too_long`) or with control characters (`invalid_{field}`).
fn free_text(
    raw: Option<&str>,
    field: &'static str,
    too_long: &'static str,
    max: usize,
) -> Result<Option<String>, Invalid> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let chars = text.chars().count();
    if chars > max {
        return Err(Invalid::new(
            too_long,
            field,
            format!("{field} must be at most {max} characters (got {chars})"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        let code = if field == "details" {
            "invalid_details"
        } else {
            "invalid_contact"
        };
        return Err(Invalid::new(
            code,
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@localhost",
            "a b@example.com",
        ] {
            assert_eq!(
                Email::parse(bad).unwrap_err().code,
                "invalid_email",
                "{bad:?}"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long).unwrap_err().code, "invalid_email");
    }

    #[test]
    fn prompts_must_be_present_and_bounded() {
        assert_eq!(Prompt::parse("  a bakery \n").unwrap().as_str(), "a bakery");
        assert_eq!(Prompt::parse("   ").unwrap_err().code, "invalid_prompt");
        assert_eq!(Prompt::parse("a\u{0}b").unwrap_err().code, "invalid_prompt");
        assert!(Prompt::parse(&"é".repeat(MAX_PROMPT_CHARS)).is_ok());
        assert_eq!(
            Prompt::parse(&"x".repeat(MAX_PROMPT_CHARS + 1))
                .unwrap_err()
                .code,
            "prompt_too_long"
        );
    }

    #[test]
    fn options_default_when_absent_and_refuse_unknown_names() {
        assert_eq!(PageType::parse(None).unwrap(), PageType::Landing);
        assert_eq!(PageType::parse(Some("")).unwrap(), PageType::Landing);
        assert_eq!(
            PageType::parse(Some("Portfolio")).unwrap(),
            PageType::Portfolio
        );
        assert_eq!(Theme::parse(Some("dark")).unwrap(), Theme::Dark);
        let err = Theme::parse(Some("neon")).unwrap_err();
        assert_eq!((err.code, err.field), ("invalid_theme", "theme"));
        assert!(err.message.contains("modern"));
    }

    #[test]
    fn owner_keys_are_url_safe_and_32_to_128_characters() {
        for good in ["a".repeat(32), "Zz09-_".repeat(21) + "xy", "k".repeat(128)] {
            assert!(OwnerKey::parse(&good).is_ok(), "{good}");
        }
        for bad in [
            "a".repeat(31),
            "a".repeat(129),
            format!("{}=", "a".repeat(40)),
            format!("{} ", "a".repeat(40)),
            format!("{}é", "a".repeat(40)),
            String::new(),
        ] {
            let err = OwnerKey::parse(&bad).unwrap_err();
            assert_eq!(
                (err.code, err.field),
                ("invalid_owner_key", "Authorization")
            );
        }
        let key = OwnerKey::parse(&"a".repeat(32)).unwrap();
        assert_eq!(format!("{key:?}"), "OwnerKey(…)", "the key is never logged");
        let other = OwnerKey::parse(&"b".repeat(32)).unwrap();
        assert!(key.hash().matches(&key.hash()));
        assert!(!key.hash().matches(&other.hash()));
        assert_eq!(
            OwnerHash::from_slice(key.hash().as_bytes()),
            Some(key.hash())
        );
    }

    #[test]
    fn reports_have_a_known_reason_and_bounded_text() {
        let body = |reason: &str, details: &str| ReportBody {
            reason: Some(reason.to_owned()),
            details: Some(details.to_owned()),
            contact: None,
        };
        let report = Report::parse(&body("phishing", "  asks for my bank login \n")).unwrap();
        assert_eq!(report.reason, ReportReason::Phishing);
        assert_eq!(report.details.as_deref(), Some("asks for my bank login"));
        assert_eq!(Report::parse(&body("spam", "  ")).unwrap().details, None);
        assert_eq!(
            Report::parse(&body("ugly", "")).unwrap_err().code,
            "invalid_reason"
        );
        assert_eq!(
            Report::parse(&ReportBody::default()).unwrap_err().code,
            "invalid_reason"
        );
        let long = "x".repeat(MAX_REPORT_DETAILS_CHARS + 1);
        assert_eq!(
            Report::parse(&body("other", &long)).unwrap_err().code,
            "details_too_long"
        );
        assert!(Report::parse(&body("other", &"é".repeat(MAX_REPORT_DETAILS_CHARS))).is_ok());
        assert_eq!(
            Report::parse(&body("other", "a\u{0}b")).unwrap_err().code,
            "invalid_details"
        );
    }

    #[test]
    fn models_come_from_the_allow_list() {
        let a = Model::from_config("a/one").unwrap();
        let b = Model::from_config("b/two").unwrap();
        let allowed = [a.clone(), b.clone()];
        assert_eq!(Model::parse(None, &a, &allowed).unwrap(), a);
        assert_eq!(Model::parse(Some("b/two"), &a, &allowed).unwrap(), b);
        assert_eq!(
            Model::parse(Some("c/three"), &a, &allowed)
                .unwrap_err()
                .code,
            "model_not_allowed"
        );
    }

    #[test]
    fn usage_adds_up_and_a_cost_reported_once_is_kept() {
        let first = Usage {
            prompt_tokens: 100,
            completion_tokens: 16_000,
            cost: Some(0.25),
        };
        let second = Usage {
            prompt_tokens: 16_100,
            completion_tokens: 900,
            cost: None,
        };
        assert_eq!(
            first + second,
            Usage {
                prompt_tokens: 16_200,
                completion_tokens: 16_900,
                cost: Some(0.25)
            }
        );
        assert_eq!((first + first).cost, Some(0.5), "two reported costs add up");
        assert_eq!((second + second).cost, None);
    }
}
