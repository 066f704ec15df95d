//! Plugin attachment: every plugin (global, nested under a service/route/consumer, or top-level with
//! references) gets its scope resolved, its name classified and, when emulated, its config
//! validated into a [`PluginInstance`]. Part of the `kong.yml` builder (`validate.rs`).
//!
//! Plugins are attached after all services, routes and consumers exist, so references resolve
//! regardless of file order and warnings can name the routes a plugin affects.

use std::collections::HashMap;

use super::catalogue::{classify, scope_rule, unknown_plugin_message, NameKind};
use super::plugins::emulated_config;
use super::raw::RawPlugin;
use super::validate::Builder;
use crate::config::gateway::{PluginConfig, PluginInstance, PluginScope};
use crate::config::ConfigError;
use crate::protocol::KONG_PROTOCOLS;

/// Plugin instances seen so far: (name, route, service, consumer) → key path of the first.
type SeenPlugins = HashMap<(String, Option<usize>, Option<usize>, Option<usize>), String>;

/// Where a plugin was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Parent {
    Global,
    Service(usize),
    Route(usize),
    Consumer(usize),
}

/// A plugin waiting for every entity to exist.
pub(super) struct Pending {
    key: String,
    raw: RawPlugin,
    parent: Parent,
}

impl Pending {
    pub fn global(key: String, raw: RawPlugin) -> Self {
        Pending {
            key,
            raw,
            parent: Parent::Global,
        }
    }
    pub fn service(key: String, raw: RawPlugin, service: usize) -> Self {
        Pending {
            key,
            raw,
            parent: Parent::Service(service),
        }
    }
    pub fn route(key: String, raw: RawPlugin, route: usize) -> Self {
        Pending {
            key,
            raw,
            parent: Parent::Route(route),
        }
    }
    pub fn consumer(key: String, raw: RawPlugin, consumer: usize) -> Self {
        Pending {
            key,
            raw,
            parent: Parent::Consumer(consumer),
        }
    }
}

impl Builder<'_> {
    pub fn attach_plugins(&mut self) -> Result<(), ConfigError> {
        let pending = std::mem::take(&mut self.pending);
        // (name, route, service, consumer) → key path of the instance already there.
        let mut seen = SeenPlugins::new();
        for p in pending {
            self.attach(p, &mut seen)?;
        }
        Ok(())
    }

    fn attach(&mut self, p: Pending, seen: &mut SeenPlugins) -> Result<(), ConfigError> {
        let Pending { key, raw, parent } = p;
        let name = raw.name.clone();
        let kind = classify(&name);
        if kind == NameKind::Unknown {
            return Err(self.err(format!("{key}.name"), unknown_plugin_message(&name)));
        }
        let scope = self.plugin_scope(&key, &raw, parent)?;
        for (i, proto) in raw.protocols.iter().flatten().enumerate() {
            if !KONG_PROTOCOLS.contains(&proto.as_str()) {
                return Err(self.err(
                    format!("{key}.protocols[{i}]"),
                    format!("expected one of: {}", KONG_PROTOCOLS.join(", ")),
                ));
            }
        }
        let scope_key = (name.clone(), scope.route, scope.service, scope.consumer);
        if let Some(prev) = seen.get(&scope_key) {
            return Err(self.err(
                format!("{key}.name"),
                format!(
                    "plugin `{name}` is already configured for this scope at {prev}; Kong allows one instance of a plugin per scope"
                ),
            ));
        }
        seen.insert(scope_key, key.clone());
        let enabled = raw.enabled.unwrap_or(true);
        let routes = self.routes_in_scope(&scope);
        for (field, value) in [
            ("consumer_group", &raw.consumer_group),
            ("ordering", &raw.ordering),
        ] {
            if value.as_ref().is_some_and(super::raw::is_set) {
                self.warn(
                    format!("{key}.{field}"),
                    format!("`{field}` (Kong Enterprise) is not emulated: Gauntlet ignores it"),
                    routes.clone(),
                );
            }
        }
        if let Some(protocols) = raw
            .protocols
            .as_ref()
            .filter(|p| !p.iter().any(|x| x == "http"))
        {
            self.warn(
                format!("{key}.protocols"),
                format!(
                    "protocols [{}] exclude http: Kong would skip `{name}` on plain-HTTP requests; \
                     Gauntlet's proxy is plain HTTP and applies it",
                    protocols.join(", ")
                ),
                routes.clone(),
            );
        }
        if matches!(kind, NameKind::NotEmulated | NameKind::Custom) {
            if enabled {
                let who = scope
                    .consumer
                    .map(|c| format!(" for consumer `{}`", self.cfg.consumers[c].display_name()))
                    .unwrap_or_default();
                let what = if kind == NameKind::Custom {
                    "is not on Kong's plugin hub (a custom plugin?) and Gauntlet does not emulate it"
                } else {
                    "is a real Kong plugin that Gauntlet does not emulate"
                };
                self.warn(
                    key,
                    format!(
                        "plugin `{name}`{who} {what}: it is ignored and its config is not checked"
                    ),
                    routes,
                );
            }
            return Ok(());
        }
        let rule = scope_rule(&name);
        if scope.consumer.is_some() && !rule.consumer {
            return Err(self.err(
                key,
                format!("the `{name}` plugin cannot be scoped to a consumer (Kong: consumer value must be null)"),
            ));
        }
        if scope.route.is_some() && !rule.route {
            return Err(self.err(
                key,
                format!("`{name}` applies per service: configure it on a service or globally, not on a route"),
            ));
        }
        let (config, notes) = emulated_config(self.src, &key, &name, raw.config)?;
        for (k, msg) in notes {
            self.warn(k, msg, routes.clone());
        }
        let anonymous = match &config {
            PluginConfig::Jwt(c) => c.anonymous.as_deref(),
            PluginConfig::KeyAuth(c) => c.anonymous.as_deref(),
            _ => None,
        };
        if let Some(anon) = anonymous {
            let exists = self
                .cfg
                .consumers
                .iter()
                .any(|c| c.username.as_deref() == Some(anon) || c.id.to_string() == anon);
            if !exists {
                self.warn(
                    format!("{key}.config.anonymous"),
                    format!("anonymous consumer `{anon}` does not exist: Kong answers 500 when a request falls back to it"),
                    routes.clone(),
                );
            }
        }
        let seed = format!(
            "plugin:{name}:{}:{}:{}",
            scope
                .route
                .map_or("*".into(), |r| self.cfg.routes[r].name.clone()),
            scope
                .service
                .map_or("*".into(), |s| self.cfg.services[s].name.clone()),
            scope
                .consumer
                .map_or("*".into(), |c| self.cfg.consumers[c].display_name()),
        );
        let id = self.entity_id("plugins", &key, raw.id.as_deref(), &seed)?;
        self.cfg.plugins.push(PluginInstance {
            id,
            scope,
            enabled,
            config,
        });
        Ok(())
    }

    /// The scope from nesting plus any `service`/`route`/`consumer` references.
    fn plugin_scope(
        &self,
        key: &str,
        raw: &RawPlugin,
        parent: Parent,
    ) -> Result<PluginScope, ConfigError> {
        let mut scope = PluginScope::default();
        match parent {
            Parent::Global => {}
            Parent::Service(s) => scope.service = Some(s),
            Parent::Route(r) => scope.route = Some(r),
            Parent::Consumer(c) => scope.consumer = Some(c),
        }
        let refs = [
            (
                "service",
                raw.service.as_ref().map(|r| (r, self.find_service(r))),
            ),
            ("route", raw.route.as_ref().map(|r| (r, self.find_route(r)))),
            (
                "consumer",
                raw.consumer.as_ref().map(|r| (r, self.find_consumer(r))),
            ),
        ];
        for (field, found) in refs {
            let Some((r, index)) = found else { continue };
            let plural = format!("{field}s");
            let index = index.ok_or_else(|| {
                self.err(
                    format!("{key}.{field}"),
                    format!("invalid reference '{field}: {r}' (no such entry in '{plural}')"),
                )
            })?;
            let slot = match field {
                "service" => &mut scope.service,
                "route" => &mut scope.route,
                _ => &mut scope.consumer,
            };
            if slot.is_some_and(|existing| existing != index) {
                return Err(self.err(
                    format!("{key}.{field}"),
                    format!("`{r}` conflicts with the enclosing {field}"),
                ));
            }
            *slot = Some(index);
        }
        Ok(scope)
    }

    /// Names of the routes a plugin with this scope can run on (any consumer).
    pub fn routes_in_scope(&self, scope: &PluginScope) -> Vec<String> {
        self.cfg
            .routes
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                scope.route.is_none_or(|x| x == *i)
                    && scope.service.is_none_or(|s| Some(s) == r.service)
            })
            .map(|(_, r)| r.name.clone())
            .collect()
    }

    /// Emits the warnings that needed every route and plugin to be known.
    pub fn finish(&mut self, sections: Vec<(&'static str, serde_json::Value)>) {
        for (service, key, msg) in std::mem::take(&mut self.service_notes) {
            let routes = self.routes_of_service(service);
            self.warn(key, msg, routes);
        }
        let jwt_routes: Vec<String> = {
            let mut names = Vec::new();
            for p in self
                .cfg
                .plugins
                .iter()
                .filter(|p| p.enabled && p.name() == "jwt")
            {
                for r in self.routes_in_scope(&p.scope) {
                    if !names.contains(&r) {
                        names.push(r);
                    }
                }
            }
            names
        };
        for (key, msg) in std::mem::take(&mut self.credential_notes) {
            self.warn(key, msg, jwt_routes.clone());
        }
        for (section, value) in sections {
            let (msg, routes) = match section {
                "upstreams" => {
                    let names: Vec<&str> = value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|u| u.get("name").and_then(|n| n.as_str()))
                        .collect();
                    let routes = self
                        .cfg
                        .routes
                        .iter()
                        .filter(|r| {
                            r.service.is_some_and(|s| {
                                names.contains(&self.cfg.services[s].host.as_str())
                            })
                        })
                        .map(|r| r.name.clone())
                        .collect();
                    (
                        "`upstreams` (load balancing, health checks) are not emulated: Gauntlet sends \
                         a service's traffic to the stack service named by its host"
                            .to_string(),
                        routes,
                    )
                }
                s if s.ends_with("_credentials") => (
                    format!("`{s}` belong to an auth plugin Gauntlet does not emulate: ignored"),
                    Vec::new(),
                ),
                s => (
                    format!("`{s}` are not emulated: Gauntlet ignores them"),
                    Vec::new(),
                ),
            };
            self.warn(section, msg, routes);
        }
    }
}
