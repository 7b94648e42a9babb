//! Mindful Datastore client: submit a record keyed by phone number, search it back.

use std::collections::BTreeMap;

use crate::http::{Client, StatusCode, Url};
use serde_json::{Map, Value};

use crate::http::{self, limits, Budget, RetryPolicy, TransportError, UpstreamResponse};
use crate::secret::Secret;

pub const DEFAULT_DATASTORE_URL: &str = "https://api-ds.getmindful.com";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatastoreError {
    #[error("Datastore rejected the Data Set Template token (HTTP 401)")]
    Unauthorized,
    #[error("Datastore rejected the phone number (HTTP 404)")]
    InvalidNumber,
    #[error("Datastore did not answer within the time budget")]
    Timeout,
    #[error("Datastore is rate limiting (HTTP 429)")]
    RateLimited,
    #[error("Datastore failed (HTTP {0})")]
    Upstream(u16),
    #[error("Datastore is unreachable: {0}")]
    Unreachable(String),
    #[error("Datastore answered with a body that is not the expected JSON object")]
    BadResponse,
    #[error("Datastore answered with a body larger than {0} bytes")]
    TooLarge(usize),
    #[error("Datastore answered with a record for another number")]
    ForeignRecord,
}

impl DatastoreError {
    /// The HTTP status Mindful answered, when it answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized => Some(401),
            Self::InvalidNumber => Some(404),
            Self::RateLimited => Some(429),
            Self::Upstream(s) => Some(*s),
            _ => None,
        }
    }
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchOutcome {
    Found(Map<String, Value>),
    /// Mindful has no (unexpired) record for that exact number.
    NotFound,
}

/// A Datastore endpoint (`DATASTORE_URL`), sharing the process's HTTP client.
pub struct DatastoreClient {
    http: Client,
    base: Url,
}

impl DatastoreClient {
    pub fn new(http: Client, base: Url) -> Self {
        Self { http, base }
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// One Datastore call: both are upserts or reads by key, so retried once per
    /// [`RetryPolicy::Idempotent`]; the body capped.
    async fn send(
        &self,
        budget: &Budget,
        make: impl Fn() -> crate::http::RequestBuilder,
    ) -> Result<UpstreamResponse, DatastoreError> {
        http::send(
            budget,
            RetryPolicy::Idempotent,
            limits::DATASTORE_RECORD,
            make,
        )
        .await
        .map_err(transport)
    }

    fn endpoint(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}{}", url.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        url
    }

    /// `POST /api/v1/data_sets`. Returns Mindful's (flat) answer object. An upsert by key, so
    /// retried once on connect error, 5xx and 429.
    pub async fn submit(
        &self,
        token: &Secret,
        number: &str,
        data_values: &BTreeMap<String, String>,
        budget: &Budget,
    ) -> Result<Map<String, Value>, DatastoreError> {
        let url = self.endpoint("/api/v1/data_sets");
        let body =
            serde_json::json!({ "customer_contact_number": number, "data_values": data_values });
        let response = self
            .send(budget, || {
                self.http
                    .post(url.clone())
                    .bearer_auth(token.expose())
                    .json(&body)
            })
            .await?;
        // One rule for both calls' answers: a record for another number is refused; an empty
        // answer (`{}`, `null`, no body) is a stored record Mindful chose not to echo.
        match response.status {
            s if s.is_success() => match parse_object(&response)? {
                Some(obj) => match obj.get("customer_contact_number") {
                    None | Some(Value::Null) => Ok(obj),
                    Some(found) if same_number(found, number) => Ok(obj),
                    Some(_) => Err(DatastoreError::ForeignRecord),
                },
                None => Ok(Map::new()),
            },
            s => Err(status_error(s)),
        }
    }

    /// `GET /api/v1/data_sets/search?customer_contact_number=…`. 404, or a 2xx without a
    /// `customer_contact_number` (the undocumented "no record" shapes), is [`SearchOutcome::NotFound`].
    /// A record whose `customer_contact_number` has other digits than `number` is
    /// [`DatastoreError::ForeignRecord`]: one caller's context is never handed to another.
    pub async fn search(
        &self,
        token: &Secret,
        number: &str,
        budget: &Budget,
    ) -> Result<SearchOutcome, DatastoreError> {
        let url = self.endpoint("/api/v1/data_sets/search");
        let response = self
            .send(budget, || {
                self.http
                    .get(url.clone())
                    .bearer_auth(token.expose())
                    .header(::http::header::CONTENT_TYPE, "application/json")
                    .query(&[("customer_contact_number", number)])
            })
            .await?;
        match response.status {
            StatusCode::NOT_FOUND => Ok(SearchOutcome::NotFound),
            s if s.is_success() => match parse_object(&response)? {
                Some(obj) => match obj.get("customer_contact_number") {
                    None | Some(Value::Null) => Ok(SearchOutcome::NotFound),
                    Some(found) if same_number(found, number) => Ok(SearchOutcome::Found(obj)),
                    Some(_) => Err(DatastoreError::ForeignRecord),
                },
                None => Ok(SearchOutcome::NotFound),
            },
            s => Err(status_error(s)),
        }
    }
}

fn transport(e: TransportError) -> DatastoreError {
    match e {
        TransportError::Timeout => DatastoreError::Timeout,
        TransportError::Connect(m) | TransportError::Other(m) => DatastoreError::Unreachable(m),
        TransportError::TooLarge { limit } => DatastoreError::TooLarge(limit),
    }
}

/// The record's number is the one asked for: the same digits, whatever the spelling (Datastore
/// strips separators; it may answer a number as a JSON number).
fn same_number(found: &Value, asked: &str) -> bool {
    let digits = |s: &str| -> String { s.chars().filter(char::is_ascii_digit).collect() };
    let found = match found {
        Value::String(s) => digits(s),
        Value::Number(n) => digits(&n.to_string()),
        _ => return false,
    };
    !found.is_empty() && found == digits(asked)
}

fn status_error(s: StatusCode) -> DatastoreError {
    match s {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => DatastoreError::Unauthorized,
        StatusCode::NOT_FOUND => DatastoreError::InvalidNumber,
        StatusCode::TOO_MANY_REQUESTS => DatastoreError::RateLimited,
        s => DatastoreError::Upstream(s.as_u16()),
    }
}

/// An object body → `Some`, an empty body or `null`/`{}` → `None`, anything else → BadResponse.
fn parse_object(response: &UpstreamResponse) -> Result<Option<Map<String, Value>>, DatastoreError> {
    if http::without_bom(&response.body)
        .iter()
        .all(u8::is_ascii_whitespace)
    {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(http::without_bom(&response.body)) {
        Ok(Value::Object(map)) if map.is_empty() => Ok(None),
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(Value::Null) => Ok(None),
        // Some APIs wrap a single record in an array.
        Ok(Value::Array(items)) if items.len() <= 1 => match items.into_iter().next() {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(_) => Err(DatastoreError::BadResponse),
        },
        _ => Err(DatastoreError::BadResponse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_belongs_to_the_number_asked_for() {
        let table = [
            (json!("+13209071234"), "+13209071234", true),
            (json!("13209071234"), "+13209071234", true),
            (json!("+1 320-907-1234"), "+13209071234", true),
            (json!(13209071234u64), "13209071234", true),
            (json!("3209071234"), "3209071234", true),
            (json!("+13209071235"), "+13209071234", false),
            (json!("+447946095813"), "+13209071234", false),
            (json!(""), "", false),
            (json!(true), "+13209071234", false),
            (json!({"n": 1}), "+13209071234", false),
        ];
        for (found, asked, want) in table {
            assert_eq!(same_number(&found, asked), want, "{found} vs {asked}");
        }
    }
}
