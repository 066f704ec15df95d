//! The Connect side of the catalog: intentions (`/v1/connect/intentions*`, over the
//! [`IntentionStore`](crate::mesh::intentions::IntentionStore)) and the CA roots
//! (`/v1/connect/ca/roots`), in Consul's shapes (mesh.md §1, §2).

use std::collections::BTreeMap;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::parse_x509_certificate;

use super::{rfc3339_seconds, text_error, QueryMap, Shared};
use crate::mesh::intentions::IntentionApiError;

/// Consul's `ErrIntentionNotFound`.
const NOT_FOUND: &str = "Intention not found";

fn param<'a>(query: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    query.get(name).map_or("", String::as_str)
}

fn api_error(e: IntentionApiError) -> Response {
    text_error(e.status, e.message)
}

fn with_index(index: u64, body: Json<Value>) -> Response {
    ([("X-Consul-Index", index.to_string())], body).into_response()
}

/// `GET /v1/connect/intentions`: every intention, highest precedence first.
pub(super) async fn list(axum::extract::State(s): Shared) -> Response {
    let index = s.store.current().index();
    with_index(index, Json(json!(s.store.list())))
}

/// `GET /v1/connect/intentions/check?source=&destination=` → `{"Allowed": bool}`.
pub(super) async fn check(
    axum::extract::State(s): Shared,
    axum::extract::Query(query): QueryMap,
) -> Response {
    match s
        .store
        .check(param(&query, "source"), param(&query, "destination"))
    {
        Ok(answer) => Json(json!(answer)).into_response(),
        Err(e) => api_error(e),
    }
}

/// `GET /v1/connect/intentions/match?by=source|destination&name=X` (`name` may repeat) →
/// `{"X": [intentions in precedence order]}`.
pub(super) async fn match_intentions(
    axum::extract::State(s): Shared,
    axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>,
) -> Response {
    let values = |key: &str| -> Vec<&str> {
        query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    match s.store.matches(&values("by"), &values("name")) {
        Ok(found) => {
            let index = s.store.current().index();
            let body: serde_json::Map<String, Value> = found
                .into_iter()
                .map(|(name, views)| (name, json!(views)))
                .collect();
            with_index(index, Json(Value::Object(body)))
        }
        Err(e) => api_error(e),
    }
}

/// `GET /v1/connect/intentions/exact?source=&destination=`; 404 when there is none.
pub(super) async fn get_exact(
    axum::extract::State(s): Shared,
    axum::extract::Query(query): QueryMap,
) -> Response {
    match s
        .store
        .get_exact(param(&query, "source"), param(&query, "destination"))
    {
        Ok(Some(view)) => {
            let index = s.store.current().index();
            with_index(index, Json(json!(view)))
        }
        Ok(None) => text_error(404, NOT_FOUND),
        Err(e) => api_error(e),
    }
}

/// `PUT /v1/connect/intentions/exact?source=&destination=` with `{"Action": ..}` or
/// `{"Permissions": [..]}` → `true`; stamped with the stack clock's wall time.
pub(super) async fn put_exact(
    axum::extract::State(s): Shared,
    axum::extract::Query(query): QueryMap,
    body: String,
) -> Response {
    let now = s.clock.wall();
    match s.store.put_exact(
        param(&query, "source"),
        param(&query, "destination"),
        &body,
        now,
    ) {
        Ok(()) => Json(json!(true)).into_response(),
        Err(e) => api_error(e),
    }
}

/// `DELETE /v1/connect/intentions/exact?source=&destination=` → `true`, whether or not it
/// existed (as Consul answers).
pub(super) async fn delete_exact(
    axum::extract::State(s): Shared,
    axum::extract::Query(query): QueryMap,
) -> Response {
    match s
        .store
        .delete_exact(param(&query, "source"), param(&query, "destination"))
    {
        Ok(_) => Json(json!(true)).into_response(),
        Err(e) => api_error(e),
    }
}

/// `GET /v1/connect/ca/roots`: `{ActiveRootID, TrustDomain, Roots}`; with `?pem=true` the
/// roots as a PEM bundle (`application/pem-certificate-chain`), as Consul answers.
pub(super) async fn ca_roots(
    axum::extract::State(s): Shared,
    axum::extract::Query(query): QueryMap,
) -> Response {
    let ca = &s.ca;
    if query.get("pem").is_some_and(|v| v == "true") {
        return (
            [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
            ca.cert_pem().to_string(),
        )
            .into_response();
    }
    let der = ca.cert_der();
    let id = colon_hex(&Sha256::digest(der.as_ref()));
    let (serial, signing_key_id) = match parse_x509_certificate(der.as_ref()) {
        Ok((_, cert)) => {
            let serial = cert
                .raw_serial()
                .iter()
                .fold(0u64, |acc, b| acc << 8 | u64::from(*b));
            let skid = cert
                .extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::SubjectKeyIdentifier(k) => Some(colon_hex(k.0)),
                    _ => None,
                });
            // Consul's KeyId when a root has no SKID: SHA-256 of the public key.
            let skid = skid.unwrap_or_else(|| {
                colon_hex(&Sha256::digest(
                    cert.public_key().subject_public_key.data.as_ref(),
                ))
            });
            (serial, skid)
        }
        Err(_) => (0, String::new()),
    };
    Json(json!({
        "ActiveRootID": id,
        "TrustDomain": ca.trust_domain(),
        "Roots": [{
            "ID": id,
            "Name": "Consul CA Primary Cert",
            "SerialNumber": serial,
            "SigningKeyID": signing_key_id,
            "ExternalTrustDomain": ca.cluster_id().to_string(),
            "NotBefore": rfc3339_seconds(ca.not_before()),
            "NotAfter": rfc3339_seconds(ca.not_after()),
            "RootCert": ca.cert_pem(),
            "IntermediateCerts": null,
            "Active": true,
            "PrivateKeyType": "ec",
            "PrivateKeyBits": 256,
            "CreateIndex": 1,
            "ModifyIndex": 1,
        }],
    }))
    .into_response()
}

/// `aa:bb:cc`, Consul's form for fingerprints and key IDs.
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
