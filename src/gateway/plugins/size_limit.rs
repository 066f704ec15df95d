//! Kong's `request-size-limiting` plugin (priority 951, just before acl): refuses a request
//! body over `allowed_payload_size` × `size_unit`.
//!
//! `kong/plugins/request-size-limiting/handler.lua`: a numeric `Content-Length` is compared at
//! once; without one, `require_content_length` (and no `Transfer-Encoding: chunked`) is 411
//! `A valid Content-Length header is required`, else the body is read and measured (Gauntlet
//! measures it when it buffers the body, [`BodyLimit`]). Over the limit: 413 `Request size
//! limit exceeded`, or 417 with the same message when the client sent `Expect: 100-continue`.
//! All through `kong.response.error` (the error template, with request_id).

use http::{HeaderMap, StatusCode};

use crate::config::gateway::SizeLimitConfig;

/// A refused request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SizeRefused {
    #[error("request body larger than {limit} bytes")]
    TooLarge { limit: u64, expect_continue: bool },
    #[error("no valid Content-Length")]
    LengthRequired,
}

impl SizeRefused {
    pub fn status(&self) -> StatusCode {
        match self {
            SizeRefused::TooLarge {
                expect_continue: true,
                ..
            } => StatusCode::EXPECTATION_FAILED,
            SizeRefused::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            SizeRefused::LengthRequired => StatusCode::LENGTH_REQUIRED,
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            SizeRefused::TooLarge { .. } => "Request size limit exceeded",
            SizeRefused::LengthRequired => "A valid Content-Length header is required",
        }
    }
}

/// The limit still to check once the body is read (no usable `Content-Length`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit {
    pub limit: u64,
    pub expect_continue: bool,
}

impl BodyLimit {
    /// Kong's `check_size` on the read body.
    ///
    /// # Errors
    /// [`SizeRefused::TooLarge`].
    pub fn check(&self, length: usize) -> Result<(), SizeRefused> {
        if length as u64 > self.limit {
            Err(SizeRefused::TooLarge {
                limit: self.limit,
                expect_continue: self.expect_continue,
            })
        } else {
            Ok(())
        }
    }
}

/// The access-phase decision: refused now, or the limit to apply to the body when it is read.
///
/// # Errors
/// [`SizeRefused`] when the headers already decide.
pub fn check(
    config: &SizeLimitConfig,
    headers: &HeaderMap,
) -> Result<Option<BodyLimit>, SizeRefused> {
    let expect_continue = headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    let limit = BodyLimit {
        limit: config.allowed_bytes(),
        expect_continue,
    };
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(length) = length {
        return if length > limit.limit {
            Err(SizeRefused::TooLarge {
                limit: limit.limit,
                expect_continue,
            })
        } else {
            Ok(None)
        };
    }
    let chunked = headers
        .get(http::header::TRANSFER_ENCODING)
        .is_some_and(|v| v.as_bytes() == b"chunked");
    if config.require_content_length && !chunked {
        return Err(SizeRefused::LengthRequired);
    }
    Ok(Some(limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::gateway::SizeUnit;

    fn config(size: u64, unit: SizeUnit) -> SizeLimitConfig {
        SizeLimitConfig {
            allowed_payload_size: size,
            size_unit: unit,
            require_content_length: false,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    // Cases of `spec/03-plugins/12-request-size-limiting/01-access_spec.lua`.
    #[test]
    fn content_length_is_compared_in_the_configured_unit() {
        let c = config(1, SizeUnit::Kilobytes);
        assert_eq!(check(&c, &headers(&[("content-length", "1024")])), Ok(None));
        let err = check(&c, &headers(&[("content-length", "1025")])).unwrap_err();
        assert_eq!(
            (err.status().as_u16(), err.message()),
            (413, "Request size limit exceeded")
        );
        let err = check(
            &c,
            &headers(&[("content-length", "1025"), ("expect", "100-Continue")]),
        )
        .unwrap_err();
        assert_eq!(err.status().as_u16(), 417);
        assert_eq!(config(1, SizeUnit::Megabytes).allowed_bytes(), 1_048_576);
    }

    #[test]
    fn without_content_length_the_body_is_measured_or_411() {
        let c = config(10, SizeUnit::Bytes);
        let limit = check(&c, &headers(&[])).unwrap().unwrap();
        assert!(limit.check(10).is_ok() && limit.check(11).is_err());
        let strict = SizeLimitConfig {
            require_content_length: true,
            ..c
        };
        assert_eq!(
            check(&strict, &headers(&[])),
            Err(SizeRefused::LengthRequired)
        );
        assert!(check(&strict, &headers(&[("transfer-encoding", "chunked")])).is_ok());
    }
}
