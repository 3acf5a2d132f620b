//! Cursor pagination by (created_at, id): stable under inserts, and each page is one index
//! range scan. The cursor is opaque to clients.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 250;

/// Where a page starts: strictly after this (created_at, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let micros = self.created_at.timestamp_micros();
        URL_SAFE_NO_PAD.encode(format!("{micros}:{}", self.id.simple()))
    }

    pub fn decode(raw: &str) -> Result<Self, ApiError> {
        let invalid =
            || ApiError::bad_request("invalid_cursor", "cursor is not one this API issued");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        Ok(Self {
            created_at: DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?,
            id: Uuid::try_parse(id).map_err(|_| invalid())?,
        })
    }
}

/// A list request's `limit` and `cursor`, checked.
#[derive(Debug, Clone, Copy)]
pub struct PageQuery {
    pub limit: u32,
    /// The page starts after (or, for newest-first lists, before) this row.
    pub cursor: Option<Cursor>,
}

impl PageQuery {
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, ApiError> {
        Ok(Self {
            limit: self::limit(limit)?,
            cursor: cursor.map(Cursor::decode).transpose()?,
        })
    }

    /// Splits the `limit + 1` rows fetched into the page and the next page's cursor;
    /// `key` gives a row's (timestamp, id).
    pub fn finish<T>(
        &self,
        rows: Vec<T>,
        key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> (Vec<T>, Option<String>) {
        page(rows, self.limit, |row| {
            let (created_at, id) = key(row);
            Cursor { created_at, id }
        })
    }
}

/// The page size a client asked for, checked.
pub fn limit(requested: Option<u32>) -> Result<u32, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// Splits a fetched `limit + 1` rows into the page and the cursor of the next one.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = more.then(|| rows.last().map(|r| key(r).encode())).flatten();
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).ok(), Some(cursor));
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for bad in ["", "!!!", "bm9wZQ", "MTIzOm5vdC1hLXV1aWQ"] {
            assert!(Cursor::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_full_page_has_a_next_cursor() {
        let at = |i: i64| Cursor {
            created_at: DateTime::from_timestamp_micros(i).unwrap(),
            id: Uuid::from_u128(i as u128),
        };
        let (rows, next) = page(vec![1, 2, 3], 2, |i| at(*i));
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(next, Some(at(2).encode()));
        let (rows, next) = page(vec![1, 2], 2, |i| at(*i));
        assert_eq!(rows.len(), 2);
        assert_eq!(next, None);
    }
}
