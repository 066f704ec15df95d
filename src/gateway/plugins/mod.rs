//! The Kong plugins the gateway emulates, in Kong's priority order (correlation-id 100001 →
//! cors 2000 → jwt 1450 → key-auth 1250 → ip-restriction 990 → request-size-limiting 951 → acl
//! 950 → rate-limiting 910; prometheus 13 only counts). Each module is pure policy: it reads the [`RequestContext`], decides, and
//! returns its own small error type; its [`Stage`](super::stage::Stage) (in
//! [`super::stage`]) runs it in the pipeline, and `gateway::rescue` turns errors into HTTP
//! responses. [`PluginTable`] finds which instance of a plugin applies to a request.
//!
//! [`RequestContext`]: crate::gateway::context::RequestContext

pub mod acl;
pub mod correlation_id;
pub mod cors;
pub mod ip_restriction;
pub mod jwt;
pub mod key_auth;
pub mod rate_limit;
pub mod size_limit;

use crate::config::gateway::{GatewayConfig, PluginInstance, PluginKind};

/// For each route and plugin kind, the enabled instances that can apply to a request on it,
/// most specific first (Kong's precedence, `PluginScope::specificity`). Built once per gateway,
/// so a request resolves a plugin by checking the consumer scope of a few candidates instead of
/// filtering every configured instance.
#[derive(Debug, Default)]
pub struct PluginTable {
    /// Indexed by route, then by [`PluginKind::index`]; values index `GatewayConfig::plugins`.
    by_route: Vec<[Vec<usize>; PluginKind::ALL.len()]>,
}

impl PluginTable {
    pub fn new(config: &GatewayConfig) -> Self {
        let by_route = config
            .routes
            .iter()
            .enumerate()
            .map(|(route, r)| {
                PluginKind::ALL.map(|kind| {
                    let mut candidates: Vec<usize> = config
                        .plugins
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| {
                            p.enabled
                                && p.kind() == kind
                                && p.scope.route.is_none_or(|x| x == route)
                                && p.scope.service.is_none_or(|x| Some(x) == r.service)
                        })
                        .map(|(i, _)| i)
                        .collect();
                    // Later instances first, then a stable sort: among equally specific instances
                    // the later one wins, as with `GatewayConfig::resolve_plugin`.
                    candidates.reverse();
                    candidates
                        .sort_by_key(|&i| std::cmp::Reverse(config.plugins[i].scope.specificity()));
                    candidates
                })
            })
            .collect();
        PluginTable { by_route }
    }

    /// The instance of plugin `kind` that applies to a request on `route` by `consumer`, as
    /// [`GatewayConfig::resolve_plugin`] decides it.
    pub fn resolve<'c>(
        &self,
        config: &'c GatewayConfig,
        kind: PluginKind,
        route: usize,
        consumer: Option<usize>,
    ) -> Option<&'c PluginInstance> {
        self.by_route
            .get(route)?
            .get(kind.index())?
            .iter()
            .map(|&i| &config.plugins[i])
            .find(|p| p.scope.consumer.is_none_or(|c| Some(c) == consumer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_resolves_every_plugin_as_the_configuration_does() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/stack");
        let (config, _) = crate::config::kong::load(&dir.join("kong.yml")).expect("loads");
        let table = PluginTable::new(&config);
        let consumers = (0..config.consumers.len()).map(Some).chain([None]);
        for consumer in consumers {
            for (route, r) in config.routes.iter().enumerate() {
                for kind in PluginKind::ALL {
                    let expected = config
                        .resolve_plugin(kind, route, r.service, consumer)
                        .map(|p| p.id);
                    let got = table.resolve(&config, kind, route, consumer).map(|p| p.id);
                    assert_eq!(got, expected, "{kind} on route {route} for {consumer:?}");
                }
            }
        }
    }
}
