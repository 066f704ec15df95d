//! The JSON resources the mocks keep in memory (value models, commitments, sync records), the
//! seed data every fresh value-architect and value-committer starts with, and timestamp
//! formatting.
//!
//! Request bodies are validated into these types by `input`; handlers in `architect` and
//! `committer` store and return them.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Seeded value model "Customer Retention Uplift".
pub const CUSTOMER_RETENTION_MODEL_ID: &str = "6f1d2c3b-8a4e-4f7b-9c2d-1e5a7b3c9d01";
/// Seeded value model "Supply Chain Cost Reduction".
pub const SUPPLY_CHAIN_MODEL_ID: &str = "b2e4c6a8-1d3f-4e5a-8b7c-9d0e1f2a3b02";
/// Seeded value model "Cloud Migration TCO".
pub const CLOUD_MIGRATION_MODEL_ID: &str = "c3f5d7b9-2e4a-4f6b-9c8d-0e1f2a3b4c03";
/// Ids of the value models every fresh value-architect starts with, in list order.
pub const SEEDED_VALUE_MODEL_IDS: [&str; 3] = [
    CUSTOMER_RETENTION_MODEL_ID,
    SUPPLY_CHAIN_MODEL_ID,
    CLOUD_MIGRATION_MODEL_ID,
];
/// Seeded commitment on [`CUSTOMER_RETENTION_MODEL_ID`] every fresh value-committer starts with.
pub const SEEDED_COMMITMENT_ID: &str = "d4a6e8c0-3f5b-4a7c-8d9e-1f2a3b4c5d04";

/// One measurable driver of a value model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    pub name: String,
    pub unit: String,
    pub baseline: f64,
    pub target: f64,
}

/// A value model kept by value-architect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueModel {
    /// Server-generated UUID.
    pub id: String,
    pub name: String,
    pub description: String,
    pub drivers: Vec<Driver>,
    /// 1 on creation, +1 on every replace.
    pub version: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A commitment kept by value-committer, denormalising the value model it was made against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commitment {
    /// Server-generated UUID.
    pub id: String,
    pub value_model_id: String,
    /// Name of the value model as value-architect returned it at creation.
    pub value_model_name: String,
    /// Version of the value model as value-architect returned it at creation.
    pub value_model_version: u64,
    pub owner: String,
    /// `YYYY-MM-DD`.
    pub target_date: String,
    pub amount: f64,
    /// Always `committed`.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A value-model update pushed by value-architect to value-committer's `/internal/v1/sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRecord {
    pub value_model_id: String,
    pub version: u64,
    pub name: String,
    /// RFC 3339, when value-committer recorded it.
    pub received_at: String,
}

/// Formats a wall-clock time as RFC 3339 in UTC with millisecond precision.
pub(crate) fn rfc3339(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    let millis = at.millisecond();
    at.replace_millisecond(millis)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

fn driver(name: &str, unit: &str, baseline: f64, target: f64) -> Driver {
    Driver {
        name: name.to_owned(),
        unit: unit.to_owned(),
        baseline,
        target,
    }
}

/// The value models a fresh value-architect holds (ids in [`SEEDED_VALUE_MODEL_IDS`]).
pub(crate) fn seed_value_models() -> Vec<ValueModel> {
    vec![
        ValueModel {
            id: CUSTOMER_RETENTION_MODEL_ID.to_owned(),
            name: "Customer Retention Uplift".to_owned(),
            description: "Reduce churn in the mid-market segment through proactive success \
                          management and renewal playbooks."
                .to_owned(),
            drivers: vec![
                driver("annual_churn_rate", "percent", 14.5, 9.0),
                driver("net_revenue_retention", "percent", 104.0, 112.0),
                driver("avg_contract_value", "USD", 48_000.0, 52_500.0),
            ],
            version: 3,
            created_at: "2024-01-15T09:30:00Z".to_owned(),
            updated_at: "2024-03-02T14:05:00Z".to_owned(),
        },
        ValueModel {
            id: SUPPLY_CHAIN_MODEL_ID.to_owned(),
            name: "Supply Chain Cost Reduction".to_owned(),
            description: "Consolidate carriers and automate replenishment to lower landed cost \
                          per unit."
                .to_owned(),
            drivers: vec![
                driver("freight_cost_per_unit", "USD", 3.85, 3.10),
                driver("inventory_turns", "turns/year", 6.2, 8.0),
                driver("stockout_rate", "percent", 4.1, 1.5),
            ],
            version: 1,
            created_at: "2024-02-20T11:00:00Z".to_owned(),
            updated_at: "2024-02-20T11:00:00Z".to_owned(),
        },
        ValueModel {
            id: CLOUD_MIGRATION_MODEL_ID.to_owned(),
            name: "Cloud Migration TCO".to_owned(),
            description: "Move on-premise analytics workloads to managed cloud services and \
                          retire the legacy data centre."
                .to_owned(),
            drivers: vec![
                driver("infrastructure_spend", "USD/month", 182_000.0, 121_000.0),
                driver("deployment_lead_time", "days", 21.0, 2.0),
            ],
            version: 2,
            created_at: "2024-04-08T16:45:00Z".to_owned(),
            updated_at: "2024-05-13T08:20:00Z".to_owned(),
        },
    ]
}

/// The commitments a fresh value-committer holds (id [`SEEDED_COMMITMENT_ID`]).
pub(crate) fn seed_commitments() -> Vec<Commitment> {
    vec![Commitment {
        id: SEEDED_COMMITMENT_ID.to_owned(),
        value_model_id: CUSTOMER_RETENTION_MODEL_ID.to_owned(),
        value_model_name: "Customer Retention Uplift".to_owned(),
        value_model_version: 3,
        owner: "jane.doe@valueverse.example".to_owned(),
        target_date: "2025-06-30".to_owned(),
        amount: 250_000.0,
        status: "committed".to_owned(),
        created_at: "2024-03-05T10:12:00Z".to_owned(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn seeded_ids_are_unique_uuids() {
        let mut ids: Vec<&str> = SEEDED_VALUE_MODEL_IDS.to_vec();
        ids.push(SEEDED_COMMITMENT_ID);
        for id in &ids {
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{id} is not a uuid");
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 4);
    }

    #[test]
    fn seed_models_are_listed_in_the_documented_order() {
        let ids: Vec<String> = seed_value_models().into_iter().map(|m| m.id).collect();
        assert_eq!(ids, SEEDED_VALUE_MODEL_IDS);
    }

    #[test]
    fn seeded_commitment_points_at_a_seeded_model() {
        for commitment in seed_commitments() {
            let model = seed_value_models()
                .into_iter()
                .find(|m| m.id == commitment.value_model_id);
            assert_eq!(
                model.map(|m| (m.name, m.version)),
                Some((commitment.value_model_name, commitment.value_model_version))
            );
        }
    }

    #[test]
    fn formats_timestamps_as_rfc3339_utc_with_milliseconds() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(rfc3339(at), "2023-11-14T22:13:20.123Z");
    }
}
