//! `kong.yml` loader: Kong declarative configuration (SPEC §2, §4; kong.md §4) read strictly and
//! validated once into [`GatewayConfig`].
//!
//! ```text
//!   kong.yml ─► yaml::Source ─parse─► raw::RawKongFile ─validate─► GatewayConfig + warnings
//!               (line/column)  (deny_unknown_fields,     (routes.rs, consumers.rs, attach.rs;
//!                               serde_path_to_error)      plugins.rs, resilience.rs: configs)
//! ```
//!
//! - A key Kong does not know (a typo), a value of the wrong type or out of Kong's range, a broken
//!   reference or a duplicate is a [`ConfigError`] naming file, line and key path.
//! - A real Kong feature Gauntlet does not emulate (another bundled plugin, `snis` matching,
//!   upstreams, …) is a [`ConfigWarning`] naming the key and the routes it affects; its config is
//!   not checked. Kong's defaults written out explicitly (as `deck dump` does) stay silent.

mod attach;
mod catalogue;
mod consumers;
pub mod edge_plugins;
mod plugins;
mod raw;
mod resilience;
mod routes;
mod validate;
pub(crate) mod yaml;

use std::path::Path;

use super::{ConfigError, ConfigWarning, GatewayConfig};

pub use catalogue::{GAUNTLET_PLUGINS, KONG_BUNDLED, KONG_PLUGIN_HUB};

/// Reads and validates a Kong declarative file.
///
/// # Errors
/// The first problem found, as a [`ConfigError`] whose `Display` is
/// `file:line:column: key.path: message` (line and column when the key is in the file).
pub fn load(path: &Path) -> Result<(GatewayConfig, Vec<ConfigWarning>), ConfigError> {
    let src = yaml::Source::read(path)?;
    load_source(&src)
}

/// [`load`] on text already read; `path` names it in messages.
///
/// # Errors
/// As [`load`].
pub fn parse(path: &Path, text: &str) -> Result<(GatewayConfig, Vec<ConfigWarning>), ConfigError> {
    load_source(&yaml::Source::from_text(path, text)?)
}

fn load_source(src: &yaml::Source) -> Result<(GatewayConfig, Vec<ConfigWarning>), ConfigError> {
    let raw: raw::RawKongFile = src.parse()?;
    validate::build(src, raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::gateway::{PluginConfig, RoutePath};

    fn load_text(text: &str) -> Result<(GatewayConfig, Vec<ConfigWarning>), ConfigError> {
        load_source(&yaml::Source {
            file: "kong.yml".into(),
            text: text.to_string(),
        })
    }

    fn error(text: &str) -> String {
        match load_text(text) {
            Ok(_) => "<no error>".into(),
            Err(e) => e.to_string(),
        }
    }

    const BASE: &str = "_format_version: \"3.0\"\nservices:\n  - name: svc\n    url: http://svc:8080\n    routes:\n      - name: r\n        paths: [/x]\n";

    #[test]
    fn applies_kong_defaults_to_services_and_routes() {
        let (cfg, warnings) = load_text(BASE).expect("loads");
        assert!(warnings.is_empty(), "{warnings:?}");
        let s = &cfg.services[0];
        assert_eq!((s.retries, s.read_timeout.as_millis()), (5, 60_000));
        assert_eq!(
            (s.host.as_str(), s.port, s.path.as_deref()),
            ("svc", 8080, None)
        );
        assert!(cfg.routes[0].strip_path);
        assert!(!cfg.routes[0].preserve_host);
        assert!(cfg.routes[0].methods.is_empty());
    }

    #[test]
    fn gives_deterministic_ids_and_keeps_given_ones() {
        let (a, _) = load_text(BASE).expect("loads");
        let (b, _) = load_text(BASE).expect("loads");
        assert_eq!(a.services[0].id, b.services[0].id);
        assert_eq!(
            a.services[0].id,
            uuid::Uuid::new_v5(&validate::NAMESPACE, b"service:svc")
        );
        let given = BASE.replace(
            "  - name: svc\n",
            "  - name: svc\n    id: 0b0e7a4c-1f4e-4a51-9a57-5d3c6f1f0e11\n",
        );
        let (c, _) = load_text(&given).expect("loads");
        assert_eq!(
            c.services[0].id.to_string(),
            "0b0e7a4c-1f4e-4a51-9a57-5d3c6f1f0e11"
        );
    }

    #[test]
    fn top_level_routes_and_plugins_refer_by_name() {
        let text = format!(
            "{BASE}routes:\n  - name: top\n    service: {{name: svc}}\n    paths: [/top]\n\
             consumers:\n  - username: alice\nplugins:\n  - name: rate-limiting\n    route: top\n    consumer: alice\n    config: {{minute: 3}}\n"
        );
        let (cfg, _) = load_text(&text).expect("loads");
        assert_eq!(cfg.routes[1].service, Some(0));
        let p = &cfg.plugins[0];
        assert_eq!((p.scope.route, p.scope.consumer), (Some(1), Some(0)));
    }

    #[test]
    fn url_wins_over_the_fields_it_abbreviates_as_in_kong() {
        let text = BASE.replace(
            "url: http://svc:8080",
            "url: http://svc:8080/v1\n    protocol: http\n    host: other\n    port: 8080\n    path: /v2",
        );
        let (cfg, warnings) = load_text(&text).expect("kong accepts url beside its parts");
        let s = &cfg.services[0];
        assert_eq!(
            (s.host.as_str(), s.port, s.path.as_deref()),
            ("svc", 8080, Some("/v1"))
        );
        let keys: Vec<&str> = warnings.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(
            keys,
            ["services[0].host", "services[0].path"],
            "{warnings:?}"
        );
        assert!(warnings[0].message.contains("overridden by `url`"));
    }

    #[test]
    fn a_route_may_have_no_service() {
        let text = format!("{BASE}routes:\n  - name: orphan\n    paths: [/orphan]\n");
        let (cfg, warnings) = load_text(&text).expect("a route without service loads");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(cfg.routes[1].service, None);
        assert!(cfg.routes[1].matchable);
    }

    #[test]
    fn rejects_a_route_pointing_at_a_missing_service() {
        let e = error(&format!(
            "{BASE}routes:\n  - name: top\n    service: nope\n    paths: [/top]\n"
        ));
        assert!(
            e.contains("kong.yml:10:5: routes[0].service: invalid reference 'service: nope'"),
            "{e}"
        );
    }

    #[test]
    fn rejects_plugins_referring_to_missing_entities() {
        let e = error(&format!(
            "{BASE}plugins:\n  - name: cors\n    consumer: ghost\n"
        ));
        assert!(
            e.contains("plugins[0].consumer: invalid reference 'consumer: ghost'"),
            "{e}"
        );
    }

    #[test]
    fn rejects_bad_methods_and_paths() {
        let e = error(&BASE.replace("paths: [/x]", "paths: [/x]\n        methods: [get]"));
        assert!(
            e.contains("services[0].routes[0].methods[0]: invalid value: get"),
            "{e}"
        );
        assert!(e.contains("did you mean `GET`"), "{e}");
        let e = error(&BASE.replace("paths: [/x]", "paths: [x]"));
        assert!(
            e.contains("routes[0].paths[0]: should start with: /"),
            "{e}"
        );
    }

    #[test]
    fn compiles_tilde_paths_as_anchored_regexes_in_format_3() {
        let (cfg, _) =
            load_text(&BASE.replace("paths: [/x]", "paths: [\"~/v\\\\d+/x\"]")).expect("loads");
        let RoutePath::Regex(re) = &cfg.routes[0].paths[0] else {
            panic!("expected a regex path");
        };
        assert!(re.is_match("/v2/x") && !re.is_match("/a/v2/x"));
    }

    #[test]
    fn reads_hosts_and_headers_as_router_criteria() {
        use crate::config::gateway::{HeaderValueMatch, HostWildcard};
        let text = BASE.replace(
            "paths: [/x]",
            "paths: [/x]\n        hosts: [a.example.com, \"*.example.com\", \"example.*:8443\"]\n        headers:\n          x_version: [V1, \"~*^v[23]$\"]\n        regex_priority: 3",
        );
        let (cfg, warnings) = load_text(&text).expect("loads");
        assert!(warnings.is_empty(), "{warnings:?}");
        let r = &cfg.routes[0];
        let hosts: Vec<(&str, HostWildcard, Option<u16>)> = r
            .hosts
            .iter()
            .map(|h| (h.host.as_str(), h.wildcard, h.port))
            .collect();
        assert_eq!(
            hosts,
            [
                ("a.example.com", HostWildcard::None, None),
                (".example.com", HostWildcard::Leading, None),
                ("example.", HostWildcard::Trailing, Some(8443)),
            ]
        );
        assert_eq!(r.headers[0].name.as_str(), "x-version");
        assert!(matches!(&r.headers[0].values[0], HeaderValueMatch::Exact(v) if v == "v1"));
        assert!(
            matches!(&r.headers[0].values[1], HeaderValueMatch::Regex(re) if re.is_match("v3"))
        );
        assert_eq!(r.regex_priority, 3);
        assert!(r.matchable);
    }

    #[test]
    fn refuses_what_kongs_route_schema_refuses_in_hosts_and_headers() {
        let with = |extra: &str| {
            error(&BASE.replace("paths: [/x]", &format!("paths: [/x]\n        {extra}")))
        };
        let e = with("hosts: [\"a.*.com\"]");
        assert!(e.contains("routes[0].hosts[0]: invalid wildcard: must be placed at leftmost or rightmost label"), "{e}");
        let e = with("hosts: [\"*.a.*\"]");
        assert!(e.contains("must have at most one wildcard"), "{e}");
        let e = with("headers: {Host: [x]}");
        assert!(
            e.contains(
                "cannot contain 'host' header, which must be specified in the 'hosts' attribute"
            ),
            "{e}"
        );
        let e = with("headers: {x-a: [\"~*(\"]}");
        assert!(e.contains("routes[0].headers.x-a[0]: invalid regex"), "{e}");
    }

    #[test]
    fn path_handling_v1_is_kongs_deprecation_warning() {
        let (_, warnings) =
            load_text(&BASE.replace("paths: [/x]", "paths: [/x]\n        path_handling: v1"))
                .expect("loads");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].message.starts_with("path_handling='v1' is deprecated and will not work under 'expressions' or 'traditional_compatible' router_flavor"), "{}", warnings[0]);
    }

    #[test]
    fn treats_regex_looking_paths_as_regex_in_older_formats() {
        let text = BASE
            .replace("\"3.0\"", "\"1.1\"")
            .replace("paths: [/x]", "paths: [\"/v\\\\d+\", /plain]");
        let (cfg, _) = load_text(&text).expect("loads");
        assert!(matches!(cfg.routes[0].paths[0], RoutePath::Regex(_)));
        assert!(matches!(cfg.routes[0].paths[1], RoutePath::Prefix(_)));
    }

    #[test]
    fn checks_service_ranges_with_kong_wording() {
        let e = error(&BASE.replace(
            "url: http://svc:8080",
            "url: http://svc:8080\n    retries: 40000",
        ));
        assert!(
            e.contains("services[0].retries: value should be between 0 and 32767"),
            "{e}"
        );
        let e = error(&BASE.replace(
            "url: http://svc:8080",
            "url: http://svc:8080\n    read_timeout: 0",
        ));
        assert!(
            e.contains("value should be between 1 and 2147483646"),
            "{e}"
        );
    }

    #[test]
    fn rejects_duplicate_names_and_jwt_keys() {
        let e = error(&format!(
            "{BASE}consumers:\n  - username: a\n    jwt_secrets: [{{key: k, secret: s1}}]\n  - username: b\n    jwt_secrets: [{{key: k, secret: s2}}]\n"
        ));
        assert!(
            e.contains("consumers[1].jwt_secrets[0].key: uniqueness violation"),
            "{e}"
        );
        assert!(!e.contains("s1") && !e.contains("s2"), "secret leaked: {e}");
        let e = error(&BASE.replace(
            "      - name: r\n        paths: [/x]\n",
            "      - name: r\n        paths: [/x]\n      - name: r\n        paths: [/y]\n",
        ));
        assert!(
            e.contains(
                "routes[1].name: uniqueness violation: 'routes' entity with name set to 'r'"
            ),
            "{e}"
        );
    }

    #[test]
    fn validates_asymmetric_jwt_keys_at_load_naming_the_consumer() {
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/features/auth/keys/ec-p256-public.pem"
        ))
        .expect("test key");
        let indented = pem.trim().replace('\n', "\n          ");
        let text = format!(
            "{BASE}consumers:\n  - username: a\n    jwt_secrets:\n      - key: k\n        algorithm: ES256\n        rsa_public_key: |\n          {indented}\nplugins: [{{name: jwt}}]\n"
        );
        let (cfg, warnings) = load_text(&text).expect("loads");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(cfg.consumers[0].jwt_secrets[0].public_key.is_some());
        let e = error(&text.replace("BEGIN PUBLIC KEY", "BEGIN NONSENSE"));
        assert!(
            e.contains("consumers[0].jwt_secrets[0].rsa_public_key: invalid key: credential `k` of consumer `a`"),
            "{e}"
        );
        let e = error(&format!(
            "{BASE}consumers:\n  - username: a\n    jwt_secrets: [{{key: k, algorithm: RS256}}]\n"
        ));
        assert!(e.contains("needs `rsa_public_key`"), "{e}");
    }

    #[test]
    fn restricts_where_emulated_plugins_may_be_scoped() {
        let e = error(&format!(
            "{BASE}consumers:\n  - username: a\n    plugins: [{{name: acl, config: {{allow: [x]}}}}]\n"
        ));
        assert!(e.contains("cannot be scoped to a consumer"), "{e}");
        let e = error(&BASE.replace(
            "paths: [/x]",
            "paths: [/x]\n        plugins: [{name: bulkhead}]",
        ));
        assert!(e.contains("applies per service"), "{e}");
    }

    #[test]
    fn rejects_two_instances_of_a_plugin_in_one_scope() {
        let e = error(&format!("{BASE}plugins: [{{name: jwt}}, {{name: jwt}}]\n"));
        assert!(
            e.contains("plugins[1].name: plugin `jwt` is already configured"),
            "{e}"
        );
    }

    #[test]
    fn stays_silent_about_kong_defaults_written_out() {
        let text = BASE.replace(
            "paths: [/x]",
            "paths: [/x]\n        protocols: [http, https]\n        https_redirect_status_code: 426\n        regex_priority: 0\n        path_handling: v0\n        request_buffering: true\n        response_buffering: true\n        hosts: []\n        tags: [a]",
        );
        let (_, warnings) = load_text(&text).expect("loads");
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn warns_about_unemulated_sections_naming_routes_behind_upstreams() {
        let text = format!(
            "{BASE}upstreams:\n  - name: svc\n    targets: [{{target: \"127.0.0.1:9\"}}]\ncertificates: [{{cert: c, key: k}}]\n"
        );
        let (_, warnings) = load_text(&text).expect("loads");
        let up = warnings
            .iter()
            .find(|w| w.key == "upstreams")
            .expect("upstreams");
        assert_eq!(up.routes, vec!["r"]);
        assert!(warnings.iter().any(|w| w.key == "certificates"));
    }

    #[test]
    fn builds_every_emulated_plugin_with_its_scope() {
        let text = BASE.replace(
            "    routes:\n",
            "    plugins:\n      - name: circuit-breaker\n      - name: bulkhead\n        enabled: false\n    routes:\n",
        );
        let (cfg, _) = load_text(&text).expect("loads");
        assert!(matches!(
            cfg.plugins[0].config,
            PluginConfig::CircuitBreaker(_)
        ));
        assert_eq!(cfg.plugins[0].scope.service, Some(0));
        assert!(!cfg.plugins[1].enabled);
    }
}
