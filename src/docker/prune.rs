//! Removing what runs of the container target left behind, by label (`gauntlet docker prune`):
//! every container and network labelled `gauntlet.managed=true`, or only one run's.

use std::collections::HashMap;

use futures::future::join_all;
use testcontainers::bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, RemoveContainerOptionsBuilder,
};

use super::engine::Engine;
use super::LABEL_MANAGED;

/// What a prune removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
}

fn filters(run: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut labels = vec![format!("{LABEL_MANAGED}=true")];
    if let Some(run) = run {
        labels.push(format!("{}={run}", super::LABEL_RUN));
    }
    HashMap::from([("label".to_string(), labels)])
}

/// Removes (forcibly) every container and network of `run`, or of every run when `None`, and
/// the host folder of their files.
pub async fn prune_run(engine: &Engine, run: Option<&str>) -> Pruned {
    let docker = &engine.docker;
    let mut pruned = Pruned::default();
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters(run)),
            ..Default::default()
        }))
        .await
        .unwrap_or_default();
    let removals = containers.iter().filter_map(|c| {
        let id = c.id.clone()?;
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| id.clone());
        Some(async move {
            let options = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            docker
                .remove_container(&id, Some(options))
                .await
                .ok()
                .map(|()| name)
        })
    });
    pruned.containers = join_all(removals).await.into_iter().flatten().collect();
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters(run)),
        }))
        .await
        .unwrap_or_default();
    for network in networks {
        let Some(name) = network.name else { continue };
        if docker.remove_network(&name).await.is_ok() {
            pruned.networks.push(name);
        }
    }
    pruned.containers.sort();
    super::files::remove(run);
    pruned
}
