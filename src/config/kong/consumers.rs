//! Consumers and their credentials (`jwt_secrets`, `acls`), nested or top-level, validated into
//! [`Consumer`]s. Part of the `kong.yml` builder (`validate.rs`).

use uuid::Uuid;

use super::attach::Pending;
use super::raw::{is_set, RawAcl, RawConsumer, RawJwtSecret, RawRef};
use super::validate::{ref_matches, Builder, NAMESPACE};
use crate::config::gateway::{Consumer, JwtAlgorithm, JwtCredential, ALL_ALGORITHMS};
use crate::config::ConfigError;

impl Builder<'_> {
    /// Resolves a reference to a consumer by id, username or custom_id.
    pub fn find_consumer(&self, r: &RawRef) -> Option<usize> {
        self.cfg.consumers.iter().position(|c| {
            ref_matches(r, c.id, c.username.as_deref())
                || (r.by != super::raw::RefBy::Id && c.custom_id.as_deref() == Some(&r.value))
        })
    }

    /// The consumer a top-level `jwt_secrets`/`acls` entry belongs to.
    pub fn top_level_owner(&self, key: &str, r: Option<&RawRef>) -> Result<usize, ConfigError> {
        let r = r.ok_or_else(|| self.err(format!("{key}.consumer"), "required field missing"))?;
        self.find_consumer(r).ok_or_else(|| {
            self.err(
                format!("{key}.consumer"),
                format!("invalid reference 'consumer: {r}' (no such entry in 'consumers')"),
            )
        })
    }

    pub fn consumer(&mut self, key: String, raw: RawConsumer) -> Result<(), ConfigError> {
        for (field, value) in [("username", &raw.username), ("custom_id", &raw.custom_id)] {
            if value.as_deref() == Some("") {
                return Err(self.err(format!("{key}.{field}"), "length must be at least 1"));
            }
        }
        let display = match (&raw.username, &raw.custom_id) {
            (Some(u), _) => u.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) => {
                return Err(self.err(
                    key,
                    "at least one of these fields must be non-empty: 'custom_id', 'username'",
                ))
            }
        };
        for (field, value) in [("username", &raw.username), ("custom_id", &raw.custom_id)] {
            let Some(v) = value.as_deref() else { continue };
            let prev = self.cfg.consumers.iter().position(|c| {
                let other = if field == "username" {
                    &c.username
                } else {
                    &c.custom_id
                };
                other.as_deref() == Some(v)
            });
            if let Some(prev) = prev {
                return Err(self.err(
                    format!("{key}.{field}"),
                    format!(
                        "uniqueness violation: 'consumers' entity with {field} set to '{v}' already declared at {}",
                        self.consumer_keys[prev]
                    ),
                ));
            }
        }
        let id = self.entity_id(
            "consumers",
            &key,
            raw.id.as_deref(),
            &format!("consumer:{display}"),
        )?;
        let index = self.cfg.consumers.len();
        self.cfg.consumers.push(Consumer {
            id,
            username: raw.username.clone(),
            custom_id: raw.custom_id.clone(),
            jwt_secrets: Vec::new(),
            keyauth_credentials: Vec::new(),
            acl_groups: Vec::new(),
        });
        self.consumer_keys.push(key.clone());
        for (j, s) in raw.jwt_secrets.into_iter().flatten().enumerate() {
            let k = format!("{key}.jwt_secrets[{j}]");
            self.check_nested_owner(&k, s.consumer.as_ref(), index)?;
            self.jwt_secret(k, index, s)?;
        }
        for (j, c) in raw.keyauth_credentials.into_iter().flatten().enumerate() {
            let k = format!("{key}.keyauth_credentials[{j}]");
            self.check_nested_owner(&k, c.consumer.as_ref(), index)?;
            self.keyauth_credential(k, index, c)?;
        }
        for (j, a) in raw.acls.into_iter().flatten().enumerate() {
            let k = format!("{key}.acls[{j}]");
            self.check_nested_owner(&k, a.consumer.as_ref(), index)?;
            self.acl(k, index, a)?;
        }
        for (j, p) in raw.plugins.into_iter().flatten().enumerate() {
            self.pending
                .push(Pending::consumer(format!("{key}.plugins[{j}]"), p, index));
        }
        for (field, plugin, value) in [
            (
                "basicauth_credentials",
                "basic-auth",
                &raw.basicauth_credentials,
            ),
            (
                "hmacauth_credentials",
                "hmac-auth",
                &raw.hmacauth_credentials,
            ),
            ("oauth2_credentials", "oauth2", &raw.oauth2_credentials),
        ] {
            if value.as_ref().is_some_and(is_set) {
                self.warn(
                    format!("{key}.{field}"),
                    format!("credentials of the `{plugin}` plugin, which Gauntlet does not emulate: ignored"),
                    Vec::new(),
                );
            }
        }
        if raw.groups.as_ref().is_some_and(is_set) {
            self.warn(
                format!("{key}.groups"),
                "consumer-group membership (Kong Enterprise consumer groups) is not emulated: ignored",
                Vec::new(),
            );
        }
        Ok(())
    }

    /// A `consumer` key inside a nested credential must name the enclosing consumer.
    fn check_nested_owner(
        &self,
        key: &str,
        r: Option<&RawRef>,
        owner: usize,
    ) -> Result<(), ConfigError> {
        match r {
            Some(r) if self.find_consumer(r) != Some(owner) => Err(self.err(
                format!("{key}.consumer"),
                format!(
                    "`{r}` conflicts with the enclosing consumer `{}`",
                    self.cfg.consumers[owner].display_name()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// A `keyauth_credentials` entry (`kong/plugins/key-auth/daos.lua`): `key` unique, Kong
    /// generates one when absent; `ttl` (seconds) is a DB-mode feature that declarative
    /// config does not carry over.
    pub fn keyauth_credential(
        &mut self,
        key: String,
        consumer: usize,
        raw: super::raw::RawKeyAuthCredential,
    ) -> Result<(), ConfigError> {
        let owner = self.cfg.consumers[consumer].display_name();
        let position = self.cfg.consumers[consumer].keyauth_credentials.len();
        let api_key = match raw.key.map(|k| k.0).filter(|k| !k.is_empty()) {
            Some(k) => k,
            None => {
                let derived = Uuid::new_v5(
                    &NAMESPACE,
                    format!("keyauth_key:{owner}:{position}").as_bytes(),
                )
                .simple()
                .to_string();
                self.warn(
                    key.clone(),
                    format!(
                        "no `key`: Kong would generate a random one; Gauntlet uses `{derived}`"
                    ),
                    Vec::new(),
                );
                derived
            }
        };
        if let Some(prev) = self.keyauth_keys.get(&api_key) {
            return Err(self.err(
                format!("{key}.key"),
                format!(
                    "uniqueness violation: 'keyauth_credentials' entity with key set to '<redacted>' already declared at {prev}"
                ),
            ));
        }
        if raw.ttl.is_some() {
            self.warn(
                format!("{key}.ttl"),
                "`ttl` of a key-auth credential is not emulated: the key never expires",
                Vec::new(),
            );
        }
        self.keyauth_keys.insert(api_key.clone(), key.clone());
        let id = self.entity_id(
            "keyauth_credentials",
            &key,
            raw.id.as_deref(),
            &format!("keyauth:{owner}:{position}"),
        )?;
        self.cfg.consumers[consumer]
            .keyauth_credentials
            .push(crate::config::gateway::KeyAuthCredential { id, key: api_key });
        Ok(())
    }

    pub fn jwt_secret(
        &mut self,
        key: String,
        consumer: usize,
        raw: RawJwtSecret,
    ) -> Result<(), ConfigError> {
        let owner = self.cfg.consumers[consumer].display_name();
        let position = self.cfg.consumers[consumer].jwt_secrets.len();
        let algorithm = match raw.algorithm.as_deref() {
            None => JwtAlgorithm::HS256,
            Some(a) => JwtAlgorithm::parse(a).ok_or_else(|| {
                let all: Vec<&str> = ALL_ALGORITHMS.iter().map(|a| a.as_str()).collect();
                self.err(
                    format!("{key}.algorithm"),
                    format!("expected one of: {}", all.join(", ")),
                )
            })?,
        };
        let cred_key = match raw.key.filter(|k| !k.is_empty()) {
            Some(k) => k,
            None => {
                let derived =
                    Uuid::new_v5(&NAMESPACE, format!("jwt_key:{owner}:{position}").as_bytes())
                        .simple()
                        .to_string();
                self.warn(
                    key.clone(),
                    format!(
                        "no `key`: Kong would generate a random one; Gauntlet uses `{derived}`"
                    ),
                    Vec::new(),
                );
                derived
            }
        };
        if let Some(prev) = self.jwt_keys.get(&cred_key) {
            return Err(self.err(
                format!("{key}.key"),
                format!(
                    "uniqueness violation: 'jwt_secrets' entity with key set to '{cred_key}' already declared at {prev}"
                ),
            ));
        }
        let secret = match raw.secret.map(|s| s.0).filter(|s| !s.is_empty()) {
            Some(s) => s,
            None => {
                // The secret only matters for HS* credentials (the others verify with
                // `rsa_public_key`).
                if algorithm.is_hmac() {
                    self.warn(
                        key.clone(),
                        "no `secret`: Kong would generate a random one; Gauntlet derives a fixed one \
                         (sign tokens with `gauntlet token --consumer`)",
                        Vec::new(),
                    );
                }
                Uuid::new_v5(
                    &NAMESPACE,
                    format!("jwt_secret:{owner}:{position}:{cred_key}").as_bytes(),
                )
                .simple()
                .to_string()
            }
        };
        let rsa_public_key = raw.rsa_public_key.filter(|k| !k.is_empty());
        if !algorithm.is_hmac() && rsa_public_key.is_none() {
            return Err(self.err(
                format!("{key}.algorithm"),
                format!(
                    "algorithm {} needs `rsa_public_key` (required field missing)",
                    algorithm.as_str()
                ),
            ));
        }
        // Kong (`kong/plugins/jwt/daos.lua` `validate_ssl_key`): the key must load with
        // `openssl.pkey.new`, whatever the algorithm; otherwise "invalid key".
        let public_key = match rsa_public_key.as_deref() {
            None => None,
            Some(pem) => Some(crate::jws::parse_public_key(pem).map_err(|e| {
                self.err(
                    format!("{key}.rsa_public_key"),
                    format!(
                        "{e}: credential `{cred_key}` of consumer `{owner}` needs a PEM public key (RSA, EC P-256/P-384/P-521 or Ed25519)"
                    ),
                )
            })?),
        };
        let id = self.entity_id(
            "jwt_secrets",
            &key,
            raw.id.as_deref(),
            &format!("jwt_secret:{cred_key}"),
        )?;
        self.jwt_keys.insert(cred_key.clone(), key);
        self.cfg.consumers[consumer]
            .jwt_secrets
            .push(JwtCredential {
                id,
                key: cred_key,
                secret,
                algorithm,
                rsa_public_key,
                public_key,
            });
        Ok(())
    }

    pub fn acl(&mut self, key: String, consumer: usize, raw: RawAcl) -> Result<(), ConfigError> {
        if raw.group.is_empty() {
            return Err(self.err(format!("{key}.group"), "length must be at least 1"));
        }
        let owner = self.cfg.consumers[consumer].display_name();
        if self.cfg.consumers[consumer].acl_groups.contains(&raw.group) {
            return Err(self.err(
                format!("{key}.group"),
                format!(
                    "uniqueness violation: 'acls' entity with group set to '{}' already declared for consumer '{owner}'",
                    raw.group
                ),
            ));
        }
        self.entity_id(
            "acls",
            &key,
            raw.id.as_deref(),
            &format!("acl:{owner}:{}", raw.group),
        )?;
        self.cfg.consumers[consumer].acl_groups.push(raw.group);
        Ok(())
    }
}
