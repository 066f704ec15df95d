//! Kong's `acl` plugin: lets a consumer through only if its groups pass the route's allow or
//! deny list, and tells the upstream which groups the consumer has.
//!
//! ```text
//!   jwt (1450) ──identifies consumer──► acl (950) ──allowed──► rate-limiting (910) ──► …
//!                                          │ X-Consumer-Groups: <all groups, ", "> to the upstream
//!                                          └─ blocked ──► AclError ──► gateway::rescue (401 / 403)
//! ```
//!
//! The decision follows `ACLHandler:access` in `kong/plugins/acl/handler.lua`
//! (`shared/reference/kong.md` §2):
//!
//! | consumer | groups | mode  | credential | result                                   |
//! |----------|--------|-------|------------|------------------------------------------|
//! | none     | –      | –     | present    | 403 `You cannot consume this service`     |
//! | none     | –      | –     | absent     | 401 `Unauthorized`                        |
//! | some     | none   | allow | present    | 403                                       |
//! | some     | none   | allow | absent     | 401 (an anonymous consumer without groups) |
//! | some     | none   | deny  | –          | allowed, `X-Consumer-Groups: ""`          |
//! | some     | some   | allow | –          | allowed iff one group is in `allow`       |
//! | some     | some   | deny  | –          | blocked iff one group is in `deny`        |
//!
//! Group names match exactly and case-sensitively. Kong's "authenticated groups" (set by the
//! ldap-auth / oauth2 plugins, header `X-Authenticated-Groups`) do not exist in Gauntlet, so
//! `always_use_authenticated_groups` has nothing to act on.
//!
//! Like Kong, `hide_groups_header: true` only skips *setting* the header: a client-sent
//! `X-Consumer-Groups` is then passed to the upstream unchanged (Kong's handler sets, never
//! clears). When the header is set, it replaces any client-sent copy.

use http::{HeaderName, HeaderValue, StatusCode};

use crate::config::gateway::{AclConfig, AclRule, Consumer};
use crate::gateway::context::RequestContext;

/// `X-Consumer-Groups` (`kong/constants.lua` `HEADERS.CONSUMER_GROUPS`).
pub const CONSUMER_GROUPS: HeaderName = HeaderName::from_static("x-consumer-groups");

/// Kong's 403 text (`kong.response.error(403, "You cannot consume this service")`).
pub const MSG_FORBIDDEN: &str = "You cannot consume this service";
/// Kong's default text for `kong.response.error(401)`.
pub const MSG_UNAUTHORIZED: &str = "Unauthorized";

/// Why the acl plugin refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// 401: nobody was identified (no auth plugin ran, or an anonymous consumer without groups
    /// met an allow list).
    #[error("acl could not identify a consumer ({0})")]
    Unauthorized(Unidentified),
    /// 403: the consumer (or an orphan credential) may not use this route.
    #[error("acl blocked the request ({0})")]
    Forbidden(Blocked),
}

/// Detail of an [`AclError::Unauthorized`], for logs and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unidentified {
    #[error("no consumer and no credential; an authentication plugin must run before acl")]
    NoConsumer,
    #[error("anonymous consumer has no groups and acl uses an allow list")]
    AnonymousWithoutGroups,
}

/// Detail of an [`AclError::Forbidden`], for logs and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    #[error("a credential was matched but no consumer")]
    CredentialWithoutConsumer,
    #[error("consumer has no groups and acl uses an allow list")]
    NoGroups,
    #[error("none of the consumer's groups is allowed")]
    NotInAllowedGroup,
    #[error("one of the consumer's groups is denied")]
    InDeniedGroup,
}

impl AclError {
    /// The HTTP status Kong answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            AclError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AclError::Forbidden(_) => StatusCode::FORBIDDEN,
        }
    }

    /// Kong's `message` text for the error body.
    pub fn message(&self) -> &'static str {
        match self {
            AclError::Unauthorized(_) => MSG_UNAUTHORIZED,
            AclError::Forbidden(_) => MSG_FORBIDDEN,
        }
    }

    /// A stable label for metrics (`reason` label).
    pub fn reason(&self) -> &'static str {
        match self {
            AclError::Unauthorized(_) => "unauthorized",
            AclError::Forbidden(_) => "forbidden",
        }
    }
}

/// Decides whether `consumer` may use the route, and on success records `X-Consumer-Groups`
/// for the upstream (unless `hide_groups_header`).
///
/// `consumer` is the consumer an earlier auth plugin identified (possibly the anonymous
/// consumer, which comes without a credential); `ctx.credential` tells whether a credential
/// was matched.
///
/// # Errors
///
/// [`AclError::Unauthorized`] (401) or [`AclError::Forbidden`] (403) as in Kong's decision
/// table (module docs).
pub fn check(
    config: &AclConfig,
    ctx: &mut RequestContext,
    consumer: Option<&Consumer>,
) -> Result<(), AclError> {
    let has_credential = ctx.credential.is_some();
    let Some(consumer) = consumer else {
        return Err(if has_credential {
            AclError::Forbidden(Blocked::CredentialWithoutConsumer)
        } else {
            AclError::Unauthorized(Unidentified::NoConsumer)
        });
    };
    let groups = &consumer.acl_groups;

    match &config.rule {
        AclRule::Allow(allowed) => {
            if groups.is_empty() {
                return Err(if has_credential {
                    AclError::Forbidden(Blocked::NoGroups)
                } else {
                    AclError::Unauthorized(Unidentified::AnonymousWithoutGroups)
                });
            }
            if !in_any(groups, allowed) {
                return Err(AclError::Forbidden(Blocked::NotInAllowedGroup));
            }
        }
        AclRule::Deny(denied) => {
            if in_any(groups, denied) {
                return Err(AclError::Forbidden(Blocked::InDeniedGroup));
            }
        }
    }

    if !config.hide_groups_header {
        set_groups_header(ctx, groups);
    }
    Ok(())
}

/// Whether any of `groups` is in `listed` (exact, case-sensitive; `groups.lua`).
fn in_any(groups: &[String], listed: &[String]) -> bool {
    groups.iter().any(|g| listed.iter().any(|l| l == g))
}

/// Sets `X-Consumer-Groups` to all of the consumer's groups joined by `", "` (empty when the
/// consumer has none, as Kong does in deny mode).
fn set_groups_header(ctx: &mut RequestContext, groups: &[String]) {
    let joined = groups.join(", ");
    match HeaderValue::from_bytes(joined.as_bytes()) {
        Ok(value) => ctx.set_upstream_header(CONSUMER_GROUPS, value),
        Err(_) => {
            // A group name with control characters cannot travel in a header. The loader
            // should have refused it; never let a client-forged copy through in its place.
            tracing::warn!(
                "acl group names are not a valid header value; X-Consumer-Groups dropped"
            );
            ctx.clear_upstream_header(CONSUMER_GROUPS);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use http::{HeaderMap, Method};
    use uuid::Uuid;

    use super::*;
    use crate::gateway::context::CredentialRef;

    fn consumer(name: &str, groups: &[&str]) -> Consumer {
        Consumer {
            id: Uuid::new_v4(),
            username: Some(name.into()),
            custom_id: None,
            jwt_secrets: vec![],
            keyauth_credentials: vec![],
            acl_groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn allow(groups: &[&str]) -> AclConfig {
        AclConfig {
            rule: AclRule::Allow(groups.iter().map(|g| g.to_string()).collect()),
            hide_groups_header: false,
            always_use_authenticated_groups: false,
        }
    }

    fn deny(groups: &[&str]) -> AclConfig {
        AclConfig {
            rule: AclRule::Deny(groups.iter().map(|g| g.to_string()).collect()),
            ..allow(&[])
        }
    }

    /// A request context, with a forged `X-Consumer-Groups` from the client.
    fn ctx() -> RequestContext {
        let mut headers = HeaderMap::new();
        headers.insert(CONSUMER_GROUPS, HeaderValue::from_static("forged"));
        RequestContext::new(
            Method::GET,
            "/request".parse().unwrap(),
            headers,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "req-1".into(),
            crate::gateway::router::RouteMatch::new(0, 0, "/"),
        )
    }

    /// A context as left by jwt after it matched `consumer`'s credential.
    fn authenticated_ctx() -> RequestContext {
        let mut ctx = ctx();
        ctx.consumer = Some(0);
        ctx.credential = Some(CredentialRef {
            id: Uuid::new_v4(),
            key: "alice-iss".into(),
        });
        ctx
    }

    /// A context as left by jwt after it fell back to the anonymous consumer.
    fn anonymous_ctx() -> RequestContext {
        let mut ctx = ctx();
        ctx.consumer = Some(0);
        ctx
    }

    /// The `X-Consumer-Groups` the upstream would receive.
    fn upstream_groups(ctx: &RequestContext) -> Option<String> {
        let mut headers = ctx.headers.clone();
        ctx.apply_upstream_headers(&mut headers);
        headers
            .get(CONSUMER_GROUPS)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn request_without_consumer_or_credential_gets_401_unauthorized() {
        // Cases 1 and 2: nothing identified the caller.
        let mut ctx = ctx();
        let err = check(&allow(&["gold"]), &mut ctx, None).unwrap_err();
        assert_eq!(err, AclError::Unauthorized(Unidentified::NoConsumer));
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(err.message(), "Unauthorized");
        assert_eq!(err.reason(), "unauthorized");
    }

    #[test]
    fn credential_without_consumer_gets_403() {
        let mut ctx = authenticated_ctx();
        ctx.consumer = None;
        let err = check(&allow(&["gold"]), &mut ctx, None).unwrap_err();
        assert_eq!(err, AclError::Forbidden(Blocked::CredentialWithoutConsumer));
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn allowed_consumer_passes_and_upstream_gets_its_groups_replacing_a_forged_copy() {
        // Case 3: alice ∈ {gold}, allow [gold].
        let alice = consumer("alice", &["gold"]);
        let mut ctx = authenticated_ctx();
        check(&allow(&["gold"]), &mut ctx, Some(&alice)).unwrap();
        assert_eq!(upstream_groups(&ctx).as_deref(), Some("gold"));
    }

    #[test]
    fn consumer_outside_the_allow_list_gets_403_with_kongs_message() {
        // Case 4: bob ∈ {silver}, allow [gold].
        let bob = consumer("bob", &["silver"]);
        let mut ctx = authenticated_ctx();
        let err = check(&allow(&["gold"]), &mut ctx, Some(&bob)).unwrap_err();
        assert_eq!(err, AclError::Forbidden(Blocked::NotInAllowedGroup));
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        assert_eq!(err.message(), "You cannot consume this service");
        assert_eq!(err.reason(), "forbidden");
        assert!(ctx.upstream_headers.is_empty());
    }

    #[test]
    fn deny_list_blocks_members_and_lets_others_through() {
        // Case 5: deny [silver]: bob 403, alice 200.
        let bob = consumer("bob", &["silver"]);
        let err = check(&deny(&["silver"]), &mut authenticated_ctx(), Some(&bob)).unwrap_err();
        assert_eq!(err, AclError::Forbidden(Blocked::InDeniedGroup));

        let alice = consumer("alice", &["gold"]);
        let mut ctx = authenticated_ctx();
        check(&deny(&["silver"]), &mut ctx, Some(&alice)).unwrap();
        assert_eq!(upstream_groups(&ctx).as_deref(), Some("gold"));
    }

    #[test]
    fn consumer_without_groups_is_403_on_allow_and_passes_deny_with_empty_header() {
        // Case 6: carol ∈ {}.
        let carol = consumer("carol", &[]);
        let err = check(&allow(&["gold"]), &mut authenticated_ctx(), Some(&carol)).unwrap_err();
        assert_eq!(err, AclError::Forbidden(Blocked::NoGroups));

        let mut ctx = authenticated_ctx();
        check(&deny(&["silver"]), &mut ctx, Some(&carol)).unwrap();
        assert_eq!(upstream_groups(&ctx).as_deref(), Some(""));
    }

    #[test]
    fn hide_groups_header_sets_nothing_and_like_kong_keeps_a_client_sent_copy() {
        // Case 7.
        let alice = consumer("alice", &["gold"]);
        let config = AclConfig {
            hide_groups_header: true,
            ..allow(&["gold"])
        };
        let mut ctx = authenticated_ctx();
        check(&config, &mut ctx, Some(&alice)).unwrap();
        assert!(ctx.upstream_headers.is_empty());
        // Kong's handler never clears the header: the client's copy reaches the upstream.
        assert_eq!(upstream_groups(&ctx).as_deref(), Some("forged"));
    }

    #[test]
    fn anonymous_consumer_without_groups_gets_401_on_an_allow_list() {
        // Case 8: jwt fell back to `anon` ∈ {} (no credential).
        let anon = consumer("anon", &[]);
        let err = check(&allow(&["gold"]), &mut anonymous_ctx(), Some(&anon)).unwrap_err();
        assert_eq!(
            err,
            AclError::Unauthorized(Unidentified::AnonymousWithoutGroups)
        );
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(err.message(), "Unauthorized");
    }

    #[test]
    fn anonymous_consumer_without_groups_passes_a_deny_list_with_empty_header() {
        let anon = consumer("anon", &[]);
        let mut ctx = anonymous_ctx();
        check(&deny(&["everyone"]), &mut ctx, Some(&anon)).unwrap();
        assert_eq!(upstream_groups(&ctx).as_deref(), Some(""));
    }

    #[test]
    fn anonymous_consumer_with_a_group_is_judged_by_its_groups() {
        // Case 9: anon ∈ {everyone}.
        let anon = consumer("anon", &["everyone"]);
        let mut ctx = anonymous_ctx();
        check(&allow(&["everyone"]), &mut ctx, Some(&anon)).unwrap();
        assert_eq!(upstream_groups(&ctx).as_deref(), Some("everyone"));

        let err = check(&allow(&["none"]), &mut anonymous_ctx(), Some(&anon)).unwrap_err();
        assert_eq!(err, AclError::Forbidden(Blocked::NotInAllowedGroup));
    }

    #[test]
    fn multi_group_consumer_sends_all_its_groups_in_file_order() {
        // Case 10: {pro, hello}, allow [hello].
        let multi = consumer("multi", &["pro", "hello"]);
        let mut ctx = authenticated_ctx();
        check(&allow(&["hello"]), &mut ctx, Some(&multi)).unwrap();
        assert_eq!(upstream_groups(&ctx).as_deref(), Some("pro, hello"));
    }

    #[test]
    fn group_match_is_exact_and_case_sensitive() {
        let admin = consumer("admin", &["Admin"]);
        let err = check(&allow(&["admin"]), &mut authenticated_ctx(), Some(&admin)).unwrap_err();
        assert_eq!(err, AclError::Forbidden(Blocked::NotInAllowedGroup));
        let prefix = consumer("p", &["admins"]);
        assert!(check(&allow(&["admin"]), &mut authenticated_ctx(), Some(&prefix)).is_err());
    }

    #[test]
    fn group_names_that_cannot_be_a_header_drop_the_forged_copy() {
        let odd = consumer("odd", &["bad\ngroup"]);
        let mut ctx = authenticated_ctx();
        check(&allow(&["bad\ngroup"]), &mut ctx, Some(&odd)).unwrap();
        assert_eq!(upstream_groups(&ctx), None);
    }
}
