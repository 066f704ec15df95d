//! The mesh of one running stack (SPEC §6): its CA, a leaf per identity (every service and the
//! gateway), the live intentions, and the TLS configs built from them.
//!
//! ```text
//!   StackDef.mesh (intentions) ──► StackMesh::start ──► CA (fresh trust domain) + leaves
//!        │                                              ├─► sidecar server configs (public listeners)
//!        └─► IntentionStore (catalog API edits it)      └─► client configs (gateway, upstream listeners)
//! ```
//! Certificates are issued at start-up on the stack clock; a jump of more than 72 h makes them
//! expire, as on a real mesh without renewal.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;

use super::identity::{IdentityError, LeafCert, MeshCa};
use super::intentions::store::IntentionStore;
use super::intentions::Intentions;
use super::spiffe::SpiffeId;
use super::tls::{self, TlsConfigError};
use crate::clock::StackClock;
use crate::config::MeshDef;
use crate::protocol::Protocol;

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("mesh identity: {0}")]
    Identity(#[from] IdentityError),
    #[error("mesh TLS: {0}")]
    Tls(#[from] TlsConfigError),
    #[error("{0} has no mesh certificate in this stack")]
    UnknownIdentity(String),
}

/// The running mesh of a stack.
#[derive(Debug)]
pub struct StackMesh {
    pub ca: Arc<MeshCa>,
    pub store: Arc<IntentionStore>,
    clock: StackClock,
    leaves: BTreeMap<String, Arc<LeafCert>>,
}

impl StackMesh {
    /// A fresh CA and a leaf for each of `identities`.
    ///
    /// # Errors
    /// A certificate cannot be made.
    pub fn start<'a>(
        def: &MeshDef,
        identities: impl IntoIterator<Item = &'a str>,
        clock: &StackClock,
    ) -> Result<StackMesh, MeshError> {
        let ca = MeshCa::generate(clock)?;
        let mut leaves = BTreeMap::new();
        for identity in identities {
            leaves.insert(
                identity.to_string(),
                Arc::new(ca.issue_leaf(identity, clock)?),
            );
        }
        let intentions = Intentions::new(def.entries.clone(), def.default);
        let store = IntentionStore::new(intentions, def.services.clone(), clock.wall());
        Ok(StackMesh {
            ca: Arc::new(ca),
            store: Arc::new(store),
            clock: clock.clone(),
            leaves,
        })
    }

    /// A mesh from material made elsewhere ([`super::bundle`]), with `def`'s intentions.
    pub(crate) fn from_parts(
        ca: MeshCa,
        leaves: BTreeMap<String, LeafCert>,
        def: &MeshDef,
        clock: &StackClock,
    ) -> StackMesh {
        let intentions = Intentions::new(def.entries.clone(), def.default);
        let store = IntentionStore::new(intentions, def.services.clone(), clock.wall());
        StackMesh {
            ca: Arc::new(ca),
            store: Arc::new(store),
            clock: clock.clone(),
            leaves: leaves.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        }
    }

    /// The leaf of `identity`.
    ///
    /// # Errors
    /// [`MeshError::UnknownIdentity`].
    pub fn leaf(&self, identity: &str) -> Result<Arc<LeafCert>, MeshError> {
        self.leaves
            .get(identity)
            .cloned()
            .ok_or_else(|| MeshError::UnknownIdentity(identity.to_string()))
    }

    /// Every identity with a leaf, and the leaf.
    pub fn leaves(&self) -> impl Iterator<Item = (&str, &Arc<LeafCert>)> {
        self.leaves.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The SPIFFE ID of `service` in this stack's trust domain.
    ///
    /// # Errors
    /// A name that cannot be part of a SPIFFE ID.
    pub fn spiffe_id(&self, service: &str) -> Result<SpiffeId, MeshError> {
        Ok(self.ca.service_id(service)?)
    }

    /// The public listener config of a sidecar presenting `leaf`; an http service offers ALPN
    /// `http/1.1`, a tcp one none (a client offering its own protocol, e.g. `postgresql`, must not
    /// be refused).
    ///
    /// # Errors
    /// A config rustls refuses.
    pub fn server_config(
        &self,
        leaf: &LeafCert,
        protocol: Protocol,
    ) -> Result<Arc<ServerConfig>, MeshError> {
        let mut config = tls::sidecar_server_config(&self.ca.trust_bundle(), leaf, &self.clock)?;
        if protocol == Protocol::Http {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        Ok(Arc::new(config))
    }

    /// How `source` calls `destination`: a client config presenting `source`'s leaf and
    /// accepting only `destination`'s SPIFFE ID, and the SNI to send.
    ///
    /// # Errors
    /// `source` has no leaf, or a config rustls refuses.
    pub fn client_config(
        &self,
        source: &str,
        destination: &str,
    ) -> Result<(Arc<ClientConfig>, ServerName<'static>), MeshError> {
        let leaf = self.leaf(source)?;
        let expected = self.spiffe_id(destination)?;
        let config =
            tls::upstream_client_config(&self.ca.trust_bundle(), &leaf, &expected, &self.clock)?;
        Ok((Arc::new(config), tls::server_name_for(&expected)))
    }

    pub fn clock(&self) -> &StackClock {
        &self.clock
    }
}
