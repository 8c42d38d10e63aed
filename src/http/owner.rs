//! Who is asking, for the routes that owners and the admin share (docs/ARCHITECTURE.md, "Owners
//! and moderation"): no accounts, a page's owner proves it with the owner key the page was made
//! with (`Authorization: Bearer <owner key>`), and `ADMIN_TOKEN` may do what any owner may.

use axum::http::{HeaderMap, header};
use secrecy::SecretString;

use super::admin;
use super::error::ApiError;
use crate::domain::{OwnerHash, OwnerKey};
use crate::store::PageRecord;

/// The caller of an owner route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Presented `ADMIN_TOKEN`.
    Admin,
    /// Presented an owner key: this is its digest.
    Owner(OwnerHash),
    /// Presented nothing.
    Anyone,
}

impl Caller {
    /// Reads the `Authorization` header: the admin token, else an owner key, which must be
    /// well formed (`400 invalid_owner_key`), else nobody.
    pub fn of(admin_token: Option<&SecretString>, headers: &HeaderMap) -> Result<Self, ApiError> {
        let Some(credentials) = authorization(headers) else {
            return Ok(Self::Anyone);
        };
        if admin::is_admin_token(admin_token, credentials) {
            return Ok(Self::Admin);
        }
        let key = parse_owner_key(credentials)?;
        Ok(Self::Owner(key.hash()))
    }

    /// Whether the caller may see and change everything about `page`: the admin, or the
    /// holder of the key it was made with.
    pub fn owns(&self, page: &PageRecord) -> bool {
        match self {
            Self::Admin => true,
            Self::Owner(hash) => page.owner.is_some_and(|owner| owner.matches(hash)),
            Self::Anyone => false,
        }
    }

    /// `Ok` when the caller may change `page`: `401` without credentials, `403` with another
    /// owner's key (or any key, for a page made without one).
    pub fn may_change(&self, page: &PageRecord) -> Result<(), ApiError> {
        match self {
            Self::Anyone => Err(ApiError::Unauthorized),
            _ if self.owns(page) => Ok(()),
            _ => Err(ApiError::Forbidden("page")),
        }
    }
}

/// The owner key of `POST /api/generate`, if one was sent: `400 invalid_owner_key` when the
/// header holds anything else.
pub fn owner_key(headers: &HeaderMap) -> Result<Option<OwnerKey>, ApiError> {
    authorization(headers).map(parse_owner_key).transpose()
}

/// The credentials of the `Authorization` header; `Some("")` for a header that is not a
/// bearer token, which no key matches.
fn authorization(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(admin::bearer_credentials)
            .unwrap_or_default(),
    )
}

fn parse_owner_key(credentials: &str) -> Result<OwnerKey, ApiError> {
    OwnerKey::parse(credentials).map_err(ApiError::InvalidOwnerKey)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::store::PageStatus;

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn page(owner: Option<OwnerHash>) -> PageRecord {
        PageRecord {
            id: Uuid::now_v7(),
            email: "ann@example.com".into(),
            prompt: "bread".into(),
            page_type: "landing".into(),
            theme: "modern".into(),
            title: "Bread".into(),
            is_public: true,
            status: PageStatus::Published,
            view_count: 0,
            created_at: OffsetDateTime::UNIX_EPOCH,
            meta_data: Default::default(),
            owner,
            removed_at: None,
            version: 1,
        }
    }

    #[test]
    fn the_owner_and_the_admin_may_change_a_page_and_nobody_else() {
        let token = SecretString::from("admin-token");
        let key = "k".repeat(40);
        let owner = OwnerKey::parse(&key).unwrap().hash();
        let owned = page(Some(owner));
        let of = |auth: Option<&str>| Caller::of(Some(&token), &headers(auth));

        let by_owner = of(Some(&format!("Bearer {key}"))).unwrap();
        assert_eq!(by_owner, Caller::Owner(owner));
        assert!(by_owner.may_change(&owned).is_ok());
        let by_admin = of(Some("Bearer admin-token")).unwrap();
        assert_eq!(by_admin, Caller::Admin);
        assert!(by_admin.may_change(&owned).is_ok());
        assert!(by_admin.may_change(&page(None)).is_ok());

        let code = |caller: Caller, page: &PageRecord| caller.may_change(page).unwrap_err().code();
        let stranger = of(Some(&format!("Bearer {}", "s".repeat(40)))).unwrap();
        assert_eq!(code(stranger, &owned), "forbidden");
        assert_eq!(
            code(by_owner, &page(None)),
            "forbidden",
            "a page made without a key"
        );
        assert_eq!(code(of(None).unwrap(), &owned), "unauthorized");
        for malformed in [
            "Bearer short",
            "Bearer admin-tokeN",
            "Basic a2V5",
            "Bearer ",
        ] {
            assert_eq!(
                of(Some(malformed)).unwrap_err().code(),
                "invalid_owner_key",
                "{malformed}"
            );
        }
    }

    #[test]
    fn generate_takes_an_owner_key_and_nothing_else() {
        let key = "k".repeat(40);
        let sent = owner_key(&headers(Some(&format!("Bearer {key}")))).unwrap();
        assert_eq!(sent, Some(OwnerKey::parse(&key).unwrap()));
        assert_eq!(owner_key(&headers(None)).unwrap(), None);
        assert_eq!(
            owner_key(&headers(Some("Bearer not a key")))
                .unwrap_err()
                .code(),
            "invalid_owner_key"
        );
    }
}
