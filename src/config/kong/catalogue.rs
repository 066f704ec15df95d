//! The plugin catalogue: which plugin names Kong bundles, which of them Gauntlet emulates, which
//! are Gauntlet's own, and where each emulated plugin may be scoped.

use super::yaml::closest;
use crate::config::gateway::PluginKind;

/// Plugins bundled with Kong OSS 3.x (`kong/constants.lua`), emulated or not.
pub const KONG_BUNDLED: [&str; 46] = [
    "jwt",
    "acl",
    "correlation-id",
    "cors",
    "oauth2",
    "tcp-log",
    "udp-log",
    "file-log",
    "http-log",
    "key-auth",
    "hmac-auth",
    "basic-auth",
    "ip-restriction",
    "request-transformer",
    "response-transformer",
    "request-size-limiting",
    "rate-limiting",
    "response-ratelimiting",
    "syslog",
    "loggly",
    "datadog",
    "ldap-auth",
    "statsd",
    "bot-detection",
    "aws-lambda",
    "request-termination",
    "prometheus",
    "proxy-cache",
    "session",
    "acme",
    "grpc-gateway",
    "grpc-web",
    "pre-function",
    "post-function",
    "azure-functions",
    "zipkin",
    "opentelemetry",
    "proxy-wasm",
    "ai-proxy",
    "ai-prompt-decorator",
    "ai-prompt-template",
    "ai-request-transformer",
    "ai-response-transformer",
    "ai-prompt-guard",
    "standard-webhooks",
    "redirect",
];

/// Gauntlet's own plugins (not in Kong OSS), configured like any plugin.
pub const GAUNTLET_PLUGINS: [&str; 2] = ["circuit-breaker", "bulkhead"];

/// What Gauntlet does with a plugin name (the kind of a *name*, before any config is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    Emulated,
    /// A real Kong plugin Gauntlet does not emulate: warned about, never an error.
    NotEmulated,
    /// Not bundled with Kong OSS and not close to any known name: a custom or Kong Enterprise
    /// plugin. Warned about like `NotEmulated`.
    Custom,
    /// Close to a known name: a typo, which is an error.
    Unknown,
}

pub(crate) fn classify(name: &str) -> NameKind {
    match name {
        n if PluginKind::parse(n).is_some() => NameKind::Emulated,
        n if KONG_BUNDLED.contains(&n) => NameKind::NotEmulated,
        n => {
            let known = KONG_BUNDLED.iter().chain(GAUNTLET_PLUGINS.iter()).copied();
            if closest(n, known).is_some() {
                NameKind::Unknown
            } else {
                NameKind::Custom
            }
        }
    }
}

/// The message for an unknown plugin name, with the closest known one.
pub(crate) fn unknown_plugin_message(name: &str) -> String {
    let known = KONG_BUNDLED.iter().chain(GAUNTLET_PLUGINS.iter()).copied();
    match closest(name, known) {
        Some(best) => format!(
            "unknown plugin `{name}` (neither a Kong bundled plugin nor a Gauntlet plugin); did you mean `{best}`?"
        ),
        None => format!(
            "unknown plugin `{name}` (neither a Kong bundled plugin nor a Gauntlet plugin)"
        ),
    }
}

/// Where a plugin may be configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScopeRule {
    pub consumer: bool,
    pub route: bool,
}

pub(crate) fn scope_rule(name: &str) -> ScopeRule {
    match name {
        // Kong: `consumer = typedefs.no_consumer` in both schemas.
        "jwt" | "acl" => ScopeRule {
            consumer: false,
            route: true,
        },
        // One breaker / bulkhead per service (SPEC §5): service or global only.
        "circuit-breaker" | "bulkhead" => ScopeRule {
            consumer: false,
            route: false,
        },
        _ => ScopeRule {
            consumer: true,
            route: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_plugins_and_suggests_the_closest_name() {
        assert_eq!(classify("cors"), NameKind::NotEmulated);
        assert_eq!(classify("bulkhead"), NameKind::Emulated);
        assert_eq!(classify("jwtt"), NameKind::Unknown);
        assert!(unknown_plugin_message("jwtt").contains("did you mean `jwt`?"));
        assert!(unknown_plugin_message("rate-limitng").contains("did you mean `rate-limiting`?"));
    }
}
