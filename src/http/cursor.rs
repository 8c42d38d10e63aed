//! Cursor pagination, as every listing does it: `?limit=…&before=…` in, `next_before` out.
//! Listings are newest first and ids are UUIDv7s, so "before this id" is "older than it".

use uuid::Uuid;

use super::error::ApiError;

/// One batch of a listing: how many, and older than which id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cursor {
    pub limit: u32,
    pub before: Option<Uuid>,
}

impl Cursor {
    /// From the raw `limit` (1 to `max`, `default` when absent or empty) and `before` (an id
    /// of the kind listed, named by `what` in the error).
    pub fn parse(
        limit: Option<&str>,
        before: Option<&str>,
        (default, max): (u32, u32),
        what: &str,
    ) -> Result<Self, ApiError> {
        let limit = match limit {
            None | Some("") => default,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| ApiError::InvalidParameter {
                    field: "limit",
                    message: format!("limit must be a whole number from 1 to {max}"),
                })?,
        };
        let before = match before {
            None | Some("") => None,
            Some(raw) => Some(
                Uuid::try_parse(raw).map_err(|_| ApiError::InvalidParameter {
                    field: "before",
                    message: format!(
                        "before must be a {what} id from a previous response's next_before"
                    ),
                })?,
            ),
        };
        Ok(Self { limit, before })
    }

    /// The `next_before` of a batch: the id of its last (oldest) item when the batch is full,
    /// `None` at the end of the listing.
    pub fn next_before<T>(&self, batch: &[T], id: impl Fn(&T) -> Uuid) -> Option<Uuid> {
        (batch.len() == self.limit as usize)
            .then(|| batch.last().map(id))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: (u32, u32) = (20, 100);

    #[test]
    fn defaults_bounds_and_cursor() {
        let cursor = Cursor::parse(None, Some(""), SIZES, "page").unwrap();
        assert_eq!(
            cursor,
            Cursor {
                limit: 20,
                before: None
            }
        );
        let id = Uuid::now_v7();
        let cursor = Cursor::parse(Some("100"), Some(&id.to_string()), SIZES, "page").unwrap();
        assert_eq!(
            cursor,
            Cursor {
                limit: 100,
                before: Some(id)
            }
        );
        for bad in ["0", "101", "-1", "ten"] {
            let err = Cursor::parse(Some(bad), None, SIZES, "page").unwrap_err();
            assert_eq!(err.code(), "invalid_parameter", "{bad}");
        }
        let err = Cursor::parse(None, Some("yesterday"), SIZES, "report").unwrap_err();
        assert!(err.to_string().contains("a report id"), "{err}");
    }

    #[test]
    fn a_full_batch_points_at_its_last_item_and_a_short_one_ends() {
        let cursor = Cursor {
            limit: 2,
            before: None,
        };
        let ids = [Uuid::now_v7(), Uuid::now_v7()];
        assert_eq!(cursor.next_before(&ids, |id| *id), Some(ids[1]));
        assert_eq!(cursor.next_before(&ids[..1], |id| *id), None);
    }
}
