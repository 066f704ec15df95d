//! Kong's `key-auth` plugin (priority 1250, after jwt): identifies the consumer by an API key
//! sent in a header or the query.
//!
//! ```text
//!   request ──► preflight skip? ──► [anonymous set and already authenticated? skip]
//!          ──► for each key name: header, then query ──► one value: the key (hidden upstream
//!              under hide_credentials) │ several: 401 Duplicate API key found
//!          ──► none or "": 401 No API key found in request
//!          ──► no credential with that key: 401 Unauthorized
//!          ──► consumer headers (X-Consumer-*, X-Credential-Identifier = credential id)
//!   any 401 ──► the anonymous consumer instead, when `anonymous` is set
//! ```
//!
//! `kong/plugins/key-auth/handler.lua`: every 401 is `kong.response.error(401, msg,
//! {["WWW-Authenticate"] = 'Key' or 'Key realm="<realm>"'})` (the error template, with
//! request_id); an `anonymous` consumer that does not exist is a 500
//! `anonymous consumer <x> is configured but doesn't exist`.

use http::{HeaderName, HeaderValue, Method, StatusCode};

use super::jwt::{find_anonymous, first_header, query_args, set_consumer_headers, Authenticated};
use crate::config::gateway::{Consumer, KeyAuthConfig};
use crate::gateway::context::{CredentialRef, RequestContext};

/// Why key-auth refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyAuthError {
    #[error("no API key found in request")]
    NoKey,
    #[error("duplicate API key found")]
    Duplicate,
    #[error("no credential has that API key")]
    Invalid,
    #[error("anonymous consumer {anonymous} is configured but doesn't exist")]
    AnonymousNotFound { anonymous: String },
}

impl KeyAuthError {
    pub fn status(&self) -> StatusCode {
        match self {
            KeyAuthError::AnonymousNotFound { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// Kong's message (`ERR_NO_API_KEY`, `ERR_DUPLICATE_API_KEY`, `ERR_INVALID_AUTH_CRED`).
    pub fn message(&self) -> String {
        match self {
            KeyAuthError::NoKey => "No API key found in request".into(),
            KeyAuthError::Duplicate => "Duplicate API key found".into(),
            KeyAuthError::Invalid => "Unauthorized".into(),
            KeyAuthError::AnonymousNotFound { anonymous } => {
                format!("anonymous consumer {anonymous} is configured but doesn't exist")
            }
        }
    }

    /// `WWW-Authenticate` of the 401s.
    pub fn www_authenticate(&self, realm: Option<&str>) -> Option<String> {
        match (self, realm) {
            (KeyAuthError::AnonymousNotFound { .. }, _) => None,
            (_, Some(realm)) => Some(format!("Key realm=\"{realm}\"")),
            (_, None) => Some("Key".into()),
        }
    }

    /// A stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            KeyAuthError::NoKey => "no_api_key",
            KeyAuthError::Duplicate => "duplicate_api_key",
            KeyAuthError::Invalid => "invalid_api_key",
            KeyAuthError::AnonymousNotFound { .. } => "anonymous_not_found",
        }
    }
}

/// Runs the plugin on `ctx` (Kong's `access`).
///
/// # Errors
/// The [`KeyAuthError`] to answer with.
pub fn apply(
    config: &KeyAuthConfig,
    consumers: &[Consumer],
    ctx: &mut RequestContext,
) -> Result<(), KeyAuthError> {
    if !config.run_on_preflight && ctx.method == Method::OPTIONS {
        return Ok(());
    }
    let Some(anonymous) = &config.anonymous else {
        // Logical AND: this plugin must authenticate whatever ran before.
        let auth = authenticate(config, consumers, ctx)?;
        set_consumer_headers(ctx, &consumers[auth.consumer], &auth);
        return Ok(());
    };
    // Logical OR: an earlier auth plugin's credential is enough.
    if ctx.credential.is_some() {
        return Ok(());
    }
    let auth = match authenticate(config, consumers, ctx) {
        Ok(auth) => auth,
        Err(_) => Authenticated {
            consumer: find_anonymous(consumers, anonymous).ok_or_else(|| {
                KeyAuthError::AnonymousNotFound {
                    anonymous: anonymous.clone(),
                }
            })?,
            credential: None,
            anonymous_because: None,
        },
    };
    set_consumer_headers(ctx, &consumers[auth.consumer], &auth);
    Ok(())
}

/// `do_authentication`: the key, then its credential.
fn authenticate(
    config: &KeyAuthConfig,
    consumers: &[Consumer],
    ctx: &mut RequestContext,
) -> Result<Authenticated, KeyAuthError> {
    let mut key: Option<String> = None;
    for name in &config.key_names {
        let found = if config.key_in_header {
            header_values(&ctx.headers, name)
        } else {
            Found::Absent
        };
        let found = match found {
            Found::Absent if config.key_in_query => query_value(ctx.uri.query(), name),
            other => other,
        };
        match found {
            Found::One(value) => {
                if config.hide_credentials {
                    hide(ctx, name);
                }
                key = Some(value);
                break;
            }
            Found::Several => return Err(KeyAuthError::Duplicate),
            // `?apikey` alone is Lua `true`: neither a string nor a table, so the next name.
            Found::Absent | Found::Flag => {}
        }
    }
    let key = key.filter(|k| !k.is_empty()).ok_or(KeyAuthError::NoKey)?;
    for (index, consumer) in consumers.iter().enumerate() {
        if let Some(credential) = consumer.keyauth_credentials.iter().find(|c| c.key == key) {
            return Ok(Authenticated {
                consumer: index,
                credential: Some(CredentialRef {
                    id: credential.id,
                    // key-auth identifies the credential by its id (`set_consumer`).
                    key: credential.id.to_string(),
                }),
                anonymous_because: None,
            });
        }
    }
    Err(KeyAuthError::Invalid)
}

enum Found {
    Absent,
    /// A query argument without `=`.
    Flag,
    One(String),
    Several,
}

/// `kong.request.get_headers()[name]`: case-insensitive, `_` also finds `-`; a repeated
/// header is a table.
fn header_values(headers: &http::HeaderMap, name: &str) -> Found {
    let Some(first) = first_header(headers, name) else {
        return Found::Absent;
    };
    let lower = name.to_ascii_lowercase();
    let count = [lower.clone(), lower.replace('_', "-")]
        .iter()
        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
        .map(|n| headers.get_all(n).iter().count())
        .max()
        .unwrap_or(0);
    if count > 1 {
        Found::Several
    } else {
        Found::One(String::from_utf8_lossy(first).into_owned())
    }
}

/// `kong.request.get_query()[name]`: exact name; repeated → a table.
fn query_value(query: Option<&str>, name: &str) -> Found {
    let args = query.map(query_args).unwrap_or_default();
    let values: Vec<&Option<Vec<u8>>> = args
        .iter()
        .filter(|(k, _)| k.as_slice() == name.as_bytes())
        .map(|(_, v)| v)
        .collect();
    match values.as_slice() {
        [] => Found::Absent,
        [None] => Found::Flag,
        [Some(v)] => Found::One(String::from_utf8_lossy(v).into_owned()),
        _ => Found::Several,
    }
}

/// `hide_credentials`: the key's header and query argument do not reach the upstream.
fn hide(ctx: &mut RequestContext, name: &str) {
    let lower = name.to_ascii_lowercase();
    for n in [lower.clone(), lower.replace('_', "-")] {
        if let Ok(header) = HeaderName::from_bytes(n.as_bytes()) {
            ctx.clear_upstream_header(header);
        }
    }
    let upstream = &mut ctx.matched.upstream_path_and_query;
    if let Some((path, query)) = upstream.split_once('?') {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|part| {
                let key = part.split('=').next().unwrap_or("");
                super::jwt::query_args(key)
                    .first()
                    .is_none_or(|(k, _)| k.as_slice() != name.as_bytes())
            })
            .collect();
        *upstream = if kept.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
    }
}

/// `WWW-Authenticate` value, for the rescue.
pub fn www_authenticate_value(error: &KeyAuthError, realm: Option<&str>) -> Option<HeaderValue> {
    error
        .www_authenticate(realm)
        .and_then(|v| HeaderValue::from_str(&v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::gateway::KeyAuthCredential;
    use crate::gateway::router::RouteMatch;
    use uuid::Uuid;

    fn consumers() -> Vec<Consumer> {
        let consumer = |name: &str, key: &str| Consumer {
            id: Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()),
            username: Some(name.into()),
            custom_id: None,
            jwt_secrets: vec![],
            keyauth_credentials: vec![KeyAuthCredential {
                id: Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()),
                key: key.into(),
            }],
            acl_groups: vec![],
        };
        vec![consumer("alice", "alice-key"), consumer("anon", "unused")]
    }

    fn ctx(method: Method, uri: &str, headers: &[(&str, &str)]) -> RequestContext {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        RequestContext::new(
            method,
            uri.parse().unwrap(),
            map,
            "127.0.0.1".parse().unwrap(),
            "id".into(),
            RouteMatch::new(0, 0, uri),
        )
    }

    fn run(
        config: &KeyAuthConfig,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> Result<RequestContext, KeyAuthError> {
        let mut c = ctx(Method::GET, uri, headers);
        apply(config, &consumers(), &mut c).map(|_| c)
    }

    // Cases of `spec/03-plugins/09-key-auth/02-access_spec.lua`.
    #[test]
    fn finds_the_key_in_the_header_or_the_query() {
        let config = KeyAuthConfig::default();
        assert!(run(&config, "/r", &[("apikey", "alice-key")]).is_ok());
        let c = run(&config, "/r?apikey=alice-key", &[]).unwrap();
        assert_eq!(c.consumer, Some(0));
        assert_eq!(run(&config, "/r", &[]).unwrap_err(), KeyAuthError::NoKey);
        assert_eq!(
            run(&config, "/r?apikey=", &[]).unwrap_err(),
            KeyAuthError::NoKey
        );
        assert_eq!(
            run(&config, "/r?apikey=x", &[]).unwrap_err(),
            KeyAuthError::Invalid
        );
        assert_eq!(
            run(&config, "/r?apikey=a&apikey=b", &[]).unwrap_err(),
            KeyAuthError::Duplicate
        );
        assert_eq!(
            run(&config, "/r", &[("apikey", "a"), ("apikey", "b")]).unwrap_err(),
            KeyAuthError::Duplicate
        );
    }

    #[test]
    fn hide_credentials_removes_the_key_from_header_and_query() {
        let config = KeyAuthConfig {
            hide_credentials: true,
            ..KeyAuthConfig::default()
        };
        let c = run(&config, "/r?a=1&apikey=alice-key&b=2", &[]).unwrap();
        assert_eq!(c.matched.upstream_path_and_query, "/r?a=1&b=2");
        let c = run(&config, "/r", &[("ApiKey", "alice-key")]).unwrap();
        let mut upstream = c.headers.clone();
        c.apply_upstream_headers(&mut upstream);
        assert!(upstream.get("apikey").is_none());
    }

    #[test]
    fn anonymous_takes_every_failure_and_a_missing_one_is_a_500() {
        let config = KeyAuthConfig {
            anonymous: Some("anon".into()),
            ..KeyAuthConfig::default()
        };
        let c = run(&config, "/r", &[]).unwrap();
        assert_eq!(c.consumer, Some(1));
        assert!(c.credential.is_none());
        let config = KeyAuthConfig {
            anonymous: Some("nobody".into()),
            ..KeyAuthConfig::default()
        };
        let err = run(&config, "/r", &[]).unwrap_err();
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            err.message(),
            "anonymous consumer nobody is configured but doesn't exist"
        );
    }

    #[test]
    fn www_authenticate_names_the_key_scheme_and_realm() {
        assert_eq!(
            KeyAuthError::NoKey.www_authenticate(None).as_deref(),
            Some("Key")
        );
        assert_eq!(
            KeyAuthError::Invalid
                .www_authenticate(Some("api"))
                .as_deref(),
            Some("Key realm=\"api\"")
        );
    }
}
