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

/// Every plugin name of Kong's plugin hub (Kong OSS, Kong Enterprise and partner plugins): the
/// directory names of `app/_kong_plugins/` in `Kong/developer.konghq.com` (commit
/// `bc1cd74260f0bddb06dcf004c9c34b53bb870c1a`, 2026-08-21, with names renamed or removed in its
/// history), plus [`KONG_BUNDLED`]. A name in this list is real: Gauntlet warns about it when it
/// does not emulate it, and never calls it a typo. See `docs/reference/kong-fidelity.md`.
pub const KONG_PLUGIN_HUB: [&str; 153] = [
    "ace",
    "acl",
    "acme",
    "ai-a2a-proxy",
    "ai-aws-guardrails",
    "ai-azure-content-safety",
    "ai-custom-guardrail",
    "ai-gcp-model-armor",
    "ai-lakera-guard",
    "ai-llm-as-judge",
    "ai-mcp",
    "ai-mcp-oauth2",
    "ai-mcp-proxy",
    "ai-prompt-compressor",
    "ai-prompt-decorator",
    "ai-prompt-guard",
    "ai-prompt-template",
    "ai-proxy",
    "ai-proxy-advanced",
    "ai-rag-injector",
    "ai-rate-limiting-advanced",
    "ai-request-transformer",
    "ai-response-transformer",
    "ai-routing-provider",
    "ai-sanitizer",
    "ai-semantic-cache",
    "ai-semantic-prompt-guard",
    "ai-semantic-response-guard",
    "akamai-api-security",
    "amberflo",
    "app-dynamics",
    "application-registration",
    "appsentinels",
    "argus-redact-bridge",
    "aws-lambda",
    "aws-request-signing",
    "azure-functions",
    "basic-auth",
    "bot-detection",
    "canary",
    "confluent",
    "confluent-consume",
    "consumer-consistency",
    "correlation-id",
    "cors",
    "crowdstrike-aidr-mcp",
    "crowdstrike-aidr-request",
    "crowdstrike-aidr-response",
    "datadog",
    "datadome",
    "datakit",
    "degraphql",
    "entitlement-enforcement",
    "exit-transformer",
    "file-log",
    "forward-proxy",
    "governance",
    "graphql-proxy-cache-advanced",
    "graphql-rate-limiting-advanced",
    "grpc-gateway",
    "grpc-web",
    "harness-waap",
    "header-cert-auth",
    "hmac-auth",
    "http-log",
    "imp-appsec-connector",
    "impart",
    "inigo",
    "injection-protection",
    "ip-restriction",
    "jq",
    "json-threat-protection",
    "jwe-decrypt",
    "jwt",
    "jwt-signer",
    "kafka-consume",
    "kafka-log",
    "kafka-upstream",
    "key-auth",
    "key-auth-enc",
    "kong-plugin-amberflo",
    "kong-plugin-datadome",
    "kong-plugin-impart",
    "kong-plugin-moesif",
    "kong-response-size-limiting",
    "kong-service-virtualization",
    "kong-spec-expose",
    "kong-splunk-log",
    "kong-upstream-jwt",
    "ldap-auth",
    "ldap-auth-advanced",
    "loggly",
    "metering-and-billing",
    "mocking",
    "moesif",
    "mtls-auth",
    "noma-runtime-protection",
    "nonamesecurity",
    "nonamesecurity-kongtrafficsource",
    "oas-validation",
    "oauth2",
    "oauth2-introspection",
    "opa",
    "openid-connect",
    "opentelemetry",
    "panw-apisec-http-log",
    "post-function",
    "pre-function",
    "prisma-airs-intercept",
    "prometheus",
    "proxy-cache",
    "proxy-cache-advanced",
    "proxy-wasm",
    "rate-limiting",
    "rate-limiting-advanced",
    "redirect",
    "request-callout",
    "request-size-limiting",
    "request-termination",
    "request-transformer",
    "request-transformer-advanced",
    "request-validator",
    "response-ratelimiting",
    "response-transformer",
    "response-transformer-advanced",
    "route-by-header",
    "route-transformer-advanced",
    "salt",
    "salt-agent",
    "saml",
    "service-protection",
    "session",
    "skyflow-ai-data-control",
    "solace-consume",
    "solace-log",
    "solace-upstream",
    "standard-webhooks",
    "statsd",
    "statsd-advanced",
    "syslog",
    "tcp-log",
    "tls-handshake-modifier",
    "tls-metadata-headers",
    "traceableai",
    "trend-micro-kong-plugin-aps",
    "udp-log",
    "upstream-oauth",
    "upstream-timeout",
    "vault-auth",
    "websocket-size-limit",
    "websocket-validator",
    "xml-threat-protection",
    "zipkin",
];

/// Gauntlet's own plugins (not in Kong OSS), configured like any plugin.
pub const GAUNTLET_PLUGINS: [&str; 2] = ["circuit-breaker", "bulkhead"];

/// What Gauntlet does with a plugin name (the kind of a *name*, before any config is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    Emulated,
    /// A real Kong plugin (in [`KONG_PLUGIN_HUB`]) Gauntlet does not emulate: warned about,
    /// never an error.
    NotEmulated,
    /// In no list and not close to any known name: a custom plugin. Warned about like
    /// `NotEmulated`.
    Custom,
    /// In no list but close to a known name: a typo, which is an error.
    Unknown,
}

pub(crate) fn classify(name: &str) -> NameKind {
    match name {
        n if PluginKind::parse(n).is_some() => NameKind::Emulated,
        n if KONG_PLUGIN_HUB.binary_search(&n).is_ok() => NameKind::NotEmulated,
        n => {
            let known = KONG_PLUGIN_HUB
                .iter()
                .chain(GAUNTLET_PLUGINS.iter())
                .copied();
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
    let known = KONG_PLUGIN_HUB
        .iter()
        .chain(GAUNTLET_PLUGINS.iter())
        .copied();
    match closest(name, known) {
        Some(best) => format!(
            "unknown plugin `{name}` (neither on Kong's plugin hub nor a Gauntlet plugin); did you mean `{best}`?"
        ),
        None => format!(
            "unknown plugin `{name}` (neither on Kong's plugin hub nor a Gauntlet plugin)"
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
        // Kong: `consumer = typedefs.no_consumer` in these schemas.
        "jwt" | "acl" | "key-auth" | "cors" => ScopeRule {
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
    fn the_hub_list_is_sorted_unique_and_holds_every_bundled_plugin() {
        assert!(KONG_PLUGIN_HUB.windows(2).all(|w| w[0] < w[1]));
        for name in KONG_BUNDLED {
            assert!(KONG_PLUGIN_HUB.binary_search(&name).is_ok(), "{name}");
        }
    }

    #[test]
    fn classifies_plugins_and_suggests_the_closest_name() {
        assert_eq!(classify("basic-auth"), NameKind::NotEmulated);
        // Enterprise and partner plugins are real names, never typos of a bundled one.
        for real in [
            "key-auth-enc",
            "request-transformer-advanced",
            "response-transformer-advanced",
            "exit-transformer",
            "ai-mcp-proxy",
            "datadome",
            "rate-limiting-advanced",
            "openid-connect",
        ] {
            assert_eq!(classify(real), NameKind::NotEmulated, "{real}");
        }
        assert_eq!(classify("my-company-auth"), NameKind::Custom);
        assert_eq!(classify("bulkhead"), NameKind::Emulated);
        assert_eq!(classify("jwtt"), NameKind::Unknown);
        assert!(unknown_plugin_message("jwtt").contains("did you mean `jwt`?"));
        assert!(unknown_plugin_message("rate-limitng").contains("did you mean `rate-limiting`?"));
    }
}
