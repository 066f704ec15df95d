//! A stack's mesh material as one JSON document, so the containers of one stack (SPEC §13) share
//! the CA and leaves the host made: each sidecar and the gateway rebuild the same [`StackMesh`]
//! from it. It holds private keys: it is written only into the stack's own containers, never
//! logged or reported.
//!
//! ```text
//!   host: StackMesh::start ──► MeshBundle::export ──► /etc/gauntlet/mesh.json in each container
//!   container: MeshBundle::read ──► into_mesh(intentions of the stack dir) ──► StackMesh
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::identity::{IdentityError, LeafCert, MeshCa};
use super::runtime::{MeshError, StackMesh};
use crate::clock::StackClock;
use crate::config::MeshDef;

/// The CA and every leaf of a running stack.
#[derive(Serialize, Deserialize)]
pub struct MeshBundle {
    cluster_id: Uuid,
    ca_common_name: String,
    ca_cert_pem: String,
    ca_key_pem: String,
    ca_not_before: Duration,
    ca_not_after: Duration,
    leaves: BTreeMap<String, LeafPart>,
}

#[derive(Serialize, Deserialize)]
struct LeafPart {
    id: String,
    serial: u64,
    cert_pem: String,
    key_pem: String,
    not_before: Duration,
    not_after: Duration,
}

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

impl MeshBundle {
    /// The material of `mesh`.
    pub fn export(mesh: &StackMesh) -> MeshBundle {
        let leaves = mesh
            .leaves()
            .map(|(identity, leaf)| {
                (
                    identity.to_string(),
                    LeafPart {
                        id: leaf.spiffe_id().to_string(),
                        serial: leaf.serial(),
                        cert_pem: leaf.cert_pem().to_string(),
                        key_pem: leaf.private_key_pem().to_string(),
                        not_before: since_epoch(leaf.not_before()),
                        not_after: since_epoch(leaf.not_after()),
                    },
                )
            })
            .collect();
        MeshBundle {
            cluster_id: mesh.ca.cluster_id(),
            ca_common_name: mesh.ca.common_name().to_string(),
            ca_cert_pem: mesh.ca.cert_pem().to_string(),
            ca_key_pem: mesh.ca.key_pem(),
            ca_not_before: since_epoch(mesh.ca.not_before()),
            ca_not_after: since_epoch(mesh.ca.not_after()),
            leaves,
        }
    }

    /// The same mesh in this process, with the intentions of `def` on `clock`.
    ///
    /// # Errors
    /// Material that does not parse.
    pub fn into_mesh(self, def: &MeshDef, clock: &StackClock) -> Result<StackMesh, MeshError> {
        let ca = MeshCa::from_parts(
            self.cluster_id,
            self.ca_common_name,
            self.ca_cert_pem,
            &self.ca_key_pem,
            UNIX_EPOCH + self.ca_not_before,
            UNIX_EPOCH + self.ca_not_after,
        )?;
        let leaves = self
            .leaves
            .into_iter()
            .map(|(identity, p)| {
                let leaf = LeafCert::from_parts(
                    &p.id,
                    p.serial,
                    p.cert_pem,
                    p.key_pem,
                    UNIX_EPOCH + p.not_before,
                    UNIX_EPOCH + p.not_after,
                )?;
                Ok::<_, IdentityError>((identity, leaf))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        Ok(StackMesh::from_parts(ca, leaves, def, clock))
    }
}

impl std::fmt::Debug for MeshBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("MeshBundle")
            .field("cluster_id", &self.cluster_id)
            .field("identities", &self.leaves.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StackDef;

    #[test]
    fn a_bundle_rebuilds_the_same_ca_and_leaves() {
        let def = StackDef::load(std::path::Path::new("scenarios/valueverse")).unwrap();
        let mesh_def = def.mesh.as_ref().unwrap();
        let clock = StackClock::new();
        let mesh = StackMesh::start(mesh_def, ["value-architect", "api-gateway"], &clock).unwrap();
        let json = serde_json::to_string(&MeshBundle::export(&mesh)).unwrap();
        let copy: MeshBundle = serde_json::from_str(&json).unwrap();
        let rebuilt = copy.into_mesh(mesh_def, &clock).unwrap();
        assert_eq!(rebuilt.ca.cert_pem(), mesh.ca.cert_pem());
        assert_eq!(rebuilt.ca.trust_domain(), mesh.ca.trust_domain());
        let leaf = rebuilt.leaf("value-architect").unwrap();
        assert_eq!(
            leaf.cert_pem(),
            mesh.leaf("value-architect").unwrap().cert_pem()
        );
        // Both sides can build their TLS configs from the rebuilt material.
        rebuilt
            .server_config(&leaf, crate::protocol::Protocol::Http)
            .unwrap();
        rebuilt
            .client_config("api-gateway", "value-architect")
            .unwrap();
    }
}
