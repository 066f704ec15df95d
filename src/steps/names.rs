//! Names used in steps checked against the stack before anything runs (`gauntlet check`, and
//! `gauntlet run` as warnings): consumers, services, breakers, metric labels, header names that
//! look like a misspelt header Gauntlet sends, and the few words a step takes from a fixed set
//! (breaker states, clock units, status classes, intention actions).
//!
//! ```text
//!   step text ─► suggest::match_catalog ─► (catalog entry, arguments) ─► ROLES[entry] ─► check
//!                                                                          each argument vs stack
//! ```
//! [`ROLES`] says, per catalog pattern, which argument names what; a test keeps it in step with
//! the catalog.

use super::suggest::match_catalog;
use crate::config::kong::yaml::closest;
use crate::config::StackDef;

/// What a step argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A kong.yml consumer (username or custom_id).
    Consumer,
    /// A stack.yml service.
    Service,
    /// A stack.yml service, or `*` (an intention's destination).
    ServiceOrWildcard,
    /// A kong.yml service with a circuit breaker (the admin API's `/breakers/{name}`).
    Breaker,
    /// A header name: flagged when it is a near miss of a header Gauntlet or Kong sends.
    Header,
    /// A gateway metric series: its `consumer`, `service` and `route` labels must exist.
    GatewayMetric,
    /// `CLOSED`, `OPEN` or `HALF-OPEN`.
    BreakerState,
    /// `second`, `minute`, `hour` or `day`.
    ClockUnit,
    /// `1xx` … `5xx` or `error`.
    StatusClass,
    /// `allow` or `deny`.
    Action,
}

/// Per catalog pattern: the role of each argument, by position (`None`: free text).
pub const ROLES: &[(&str, &[Option<Role>])] = {
    use Role::*;
    &[
        ("I have a valid token for {string}", &[Some(Consumer)]),
        ("I have a token for {string} that expires in {duration}", &[Some(Consumer), None]),
        ("I have a token for {string} that lives for {duration}", &[Some(Consumer), None]),
        ("I have a token for {string} that expired {duration} ago", &[Some(Consumer), None]),
        ("I have a token for {string} that becomes valid in {duration}", &[Some(Consumer), None]),
        ("I have a token for {string} signed with the wrong secret", &[Some(Consumer)]),
        ("I have a token for {string} signed with algorithm {string}", &[Some(Consumer), None]),
        ("I have a token for {string} whose header says alg {string}", &[Some(Consumer), None]),
        ("I have a token for {string} without the {string} claim", &[Some(Consumer), None]),
        ("a valid token for {string} is also sent in the query parameter {string}", &[Some(Consumer), None]),
        ("the response header {string} is {string}", &[Some(Header), None]),
        ("the response has no {string} header", &[Some(Header)]),
        ("the service received the header {string} with value {string}", &[Some(Header), None]),
        ("the response header {string} is {string} minus {int}", &[Some(Header), Some(Header), None]),
        ("the service received the header {string} with the id of consumer {string}", &[Some(Header), Some(Consumer)]),
        ("the service did not receive the header {string}", &[Some(Header)]),
        ("the clock reaches the start of the next {word}", &[Some(ClockUnit)]),
        ("the {string} header of the last {int} responses counts down from {int} to {int}", &[Some(Header), None, None, None]),
        ("the response header {string} is a number between {int} and {int}", &[Some(Header), None, None]),
        ("the gateway metric {string} is {int}", &[Some(GatewayMetric), None]),
        ("{string} is stopped", &[Some(Service)]),
        ("{string} is killed", &[Some(Service)]),
        ("{string} is started again", &[Some(Service)]),
        ("{string} answers {int} to every request", &[Some(Service), None]),
        ("{string} answers {int} to the next {int} request(s)", &[Some(Service), None, None]),
        ("{string} answers {int} to {float}% of requests", &[Some(Service), None, None]),
        ("{string} responds after {duration}", &[Some(Service), None]),
        ("{string} hangs", &[Some(Service)]),
        ("{string} hangs on the next {int} request(s)", &[Some(Service), None]),
        ("{string} resets every connection", &[Some(Service)]),
        ("{string} sends malformed responses", &[Some(Service)]),
        ("{string} has the fault:", &[Some(Service)]),
        ("the faults on {string} are cleared", &[Some(Service)]),
        ("{string} received {int} request(s)", &[Some(Service), None]),
        ("{string} has received {int} request(s)", &[Some(Service), None]),
        ("the started requests have reached {string}", &[Some(Service)]),
        ("the circuit breaker of {string} is {word}", &[Some(Breaker), Some(BreakerState)]),
        ("the circuit breaker of {string} counts {int} consecutive failure(s)", &[Some(Breaker), None]),
        ("the circuit breaker of {string} went {string}", &[Some(Breaker), None]),
        ("I send {method} requests to {string} until the circuit breaker of {string} is OPEN", &[None, None, Some(Breaker)]),
        ("the response's breaker state matches the admin API for {string}", &[Some(Breaker)]),
        ("the {percentile} latency of the {word} responses is below {latency}", &[None, Some(StatusClass), None]),
        ("{string} calls {string} over the mesh", &[None, Some(Service)]),
        ("{string} sends a {method} request to {string} of {string} over the mesh", &[None, None, None, Some(Service)]),
        ("{string} sends a {method} request to {string} of {string} over the mesh with header {string} set to {string}", &[None, None, None, Some(Service), None, None]),
        ("a caller without a certificate calls {string} over the mesh", &[Some(Service)]),
        ("a caller with a certificate from another CA calls {string} over the mesh", &[Some(Service)]),
        ("the sidecar of {string} presents the identity {string}", &[Some(Service), None]),
        ("the intention from {string} to {string} is set to {word}", &[None, Some(ServiceOrWildcard), Some(Action)]),
        ("the intention from {string} to {string} is set to:", &[None, Some(ServiceOrWildcard)]),
        ("the intention from {string} to {string} is deleted", &[None, Some(ServiceOrWildcard)]),
        ("{string} opens a connection to {string} over the mesh", &[None, Some(Service)]),
        ("the open connection to {string} still answers", &[Some(Service)]),
        ("the sidecar metric {string} of {string} is {int}", &[None, Some(Service), None]),
        ("the last request to {string} carries a trace context", &[Some(Service)]),
        ("the last request to {string} carries the trace id {string}", &[Some(Service), None]),
        ("the last requests to {string} and {string} carry the same trace id", &[Some(Service), Some(Service)]),
    ]
};

/// Headers Gauntlet's gateway, sidecars and mock services send or forward (Kong's names). A
/// header a step names that is a near miss of one of these is a typo.
const KNOWN_HEADERS: &[&str] = &[
    "X-RateLimit-Limit-Second",
    "X-RateLimit-Limit-Minute",
    "X-RateLimit-Limit-Hour",
    "X-RateLimit-Limit-Day",
    "X-RateLimit-Limit-Month",
    "X-RateLimit-Limit-Year",
    "X-RateLimit-Remaining-Second",
    "X-RateLimit-Remaining-Minute",
    "X-RateLimit-Remaining-Hour",
    "X-RateLimit-Remaining-Day",
    "X-RateLimit-Remaining-Month",
    "X-RateLimit-Remaining-Year",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "X-Circuit-Breaker-State",
    "WWW-Authenticate",
    "Content-Type",
    "Content-Length",
    "X-Consumer-ID",
    "X-Consumer-Username",
    "X-Consumer-Custom-ID",
    "X-Credential-Identifier",
    "X-Consumer-Groups",
    "X-Anonymous-Consumer",
    "Authorization",
    "traceparent",
    "tracestate",
    "X-Kong-Request-Id",
];

/// `"frontend-app"` → `frontend-app`.
fn unquote(arg: &str) -> &str {
    arg.strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .or_else(|| arg.strip_prefix('\'').and_then(|a| a.strip_suffix('\'')))
        .unwrap_or(arg)
}

/// "unknown X "name" (the stack has a, b; did you mean "a"?)".
fn unknown(what: &str, name: &str, known: &[String], source: &str) -> String {
    let hint = closest(name, known.iter().map(String::as_str))
        .map(|c| format!("; did you mean \"{c}\"?"))
        .unwrap_or_default();
    format!(
        "unknown {what} \"{name}\" ({source} has {}{hint})",
        known.join(", ")
    )
}

/// The problems with the names `text` (a step's text) uses, against `stack`; empty when the
/// step is not one of the catalog's or all its names exist.
pub fn check(text: &str, stack: &StackDef) -> Vec<String> {
    let Some((doc, args)) = match_catalog(text) else {
        return Vec::new();
    };
    let Some((_, roles)) = ROLES.iter().find(|(p, _)| *p == doc.pattern) else {
        return Vec::new();
    };
    let consumers: Vec<String> = stack
        .gateway
        .consumers
        .iter()
        .map(|c| c.display_name())
        .collect();
    let services: Vec<String> = stack
        .topology
        .services
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let kong_services: Vec<String> = stack
        .gateway
        .services
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let routes: Vec<String> = stack
        .gateway
        .routes
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let one_of = |what: &str, value: &str, allowed: &[&str]| -> Option<String> {
        (!allowed.contains(&value)).then(|| {
            let owned: Vec<String> = allowed.iter().map(|a| (*a).to_string()).collect();
            unknown(what, value, &owned, "the step takes")
        })
    };
    let mut problems = Vec::new();
    for (role, arg) in roles.iter().zip(&args) {
        let Some(role) = role else { continue };
        let name = unquote(arg);
        let problem = match role {
            Role::Consumer => stack
                .gateway
                .consumer_by_name(name)
                .is_none()
                .then(|| unknown("consumer", name, &consumers, "kong.yml")),
            Role::Service => (!services.iter().any(|s| s == name))
                .then(|| unknown("service", name, &services, "stack.yml")),
            Role::ServiceOrWildcard => (name != "*" && !services.iter().any(|s| s == name))
                .then(|| unknown("service", name, &services, "stack.yml")),
            Role::Breaker => (!kong_services.iter().any(|s| s == name))
                .then(|| unknown("kong.yml service", name, &kong_services, "kong.yml")),
            Role::Header => KNOWN_HEADERS
                .iter()
                .find(|h| {
                    !h.eq_ignore_ascii_case(name)
                        && strsim::levenshtein(&h.to_ascii_lowercase(), &name.to_ascii_lowercase())
                            <= 2
                })
                .filter(|_| !KNOWN_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)))
                .map(|h| format!("header \"{name}\" looks like a misspelling of \"{h}\"")),
            Role::GatewayMetric => {
                let mut found = None;
                for (label, value) in metric_labels(name) {
                    let (known, source): (&[String], &str) = match label.as_str() {
                        "consumer" => (&consumers, "kong.yml"),
                        "service" => (&kong_services, "kong.yml"),
                        "route" => (&routes, "kong.yml"),
                        _ => continue,
                    };
                    // An empty label is the metric of no route (a 404), no service, no consumer.
                    if !value.is_empty() && !known.contains(&value) {
                        found = Some(unknown(
                            &format!("{label} label value"),
                            &value,
                            known,
                            source,
                        ));
                        break;
                    }
                }
                found
            }
            Role::BreakerState => one_of("breaker state", name, &["CLOSED", "OPEN", "HALF-OPEN"]),
            Role::ClockUnit => one_of("clock unit", name, &["second", "minute", "hour", "day"]),
            Role::StatusClass => one_of(
                "status class",
                name,
                &["1xx", "2xx", "3xx", "4xx", "5xx", "error"],
            ),
            Role::Action => one_of("intention action", name, &["allow", "deny"]),
        };
        problems.extend(problem);
    }
    problems
}

/// The `label="value"` pairs of `name{label="value",...}`.
fn metric_labels(series: &str) -> Vec<(String, String)> {
    let Some((_, rest)) = series.split_once('{') else {
        return Vec::new();
    };
    rest.trim_end_matches('}')
        .split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::catalog::CATALOG;

    fn valueverse() -> StackDef {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        StackDef::load(&root.join("scenarios/valueverse")).unwrap()
    }

    #[test]
    fn every_role_entry_is_a_catalog_pattern_with_as_many_arguments() {
        for (pattern, roles) in ROLES {
            let doc = CATALOG
                .iter()
                .find(|d| d.pattern == *pattern)
                .unwrap_or_else(|| panic!("{pattern} is not in the catalog"));
            assert_eq!(doc.pattern.matches('{').count(), roles.len(), "{pattern}");
        }
    }

    #[test]
    fn the_catalog_examples_name_only_what_valueverse_has() {
        let stack = valueverse();
        for doc in CATALOG {
            assert_eq!(
                check(doc.example, &stack),
                Vec::<String>::new(),
                "{}",
                doc.example
            );
        }
    }

    #[test]
    fn unknown_names_are_reported_with_the_closest_known_one() {
        let stack = valueverse();
        let one = |text: &str| check(text, &stack).join("; ");
        assert_eq!(
            one("I have a valid token for \"frontend-ap\""),
            "unknown consumer \"frontend-ap\" (kong.yml has admin-user, frontend-app, internal-services, partner-rs256, partner-ps512, partner-es256, partner-es384, partner-es512, partner-eddsa; did you mean \"frontend-app\"?)"
        );
        assert!(one("\"value-archtect\" is stopped").contains("did you mean \"value-architect\"?"));
        assert!(one("the circuit breaker of \"value-architect\" is OPENED")
            .contains("unknown breaker state \"OPENED\""));
        assert_eq!(
            one("the response header \"X-RateLimit-Remaining-Minut\" is \"0\""),
            "header \"X-RateLimit-Remaining-Minut\" looks like a misspelling of \"X-RateLimit-Remaining-Minute\""
        );
        assert_eq!(one("the response header \"X-My-Own\" is \"1\""), "");
        assert_eq!(
            one("the response header \"x-ratelimit-remaining-minute\" is \"1\""),
            ""
        );
        assert!(one("the gateway metric 'gauntlet_gateway_rate_limited_total{route=\"value-models-reed\"}' is 1")
            .contains("unknown route label value \"value-models-reed\""));
        assert_eq!(one("the intention from \"*\" to \"*\" is set to deny"), "");
    }
}
