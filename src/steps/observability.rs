//! Observability assertions: the gateway's Prometheus metrics, read from its admin API.

use cucumber::then;

use super::world::{GauntletWorld, StepError, StepResult};
use crate::http::client::OutgoingRequest;

/// Parses `name{a="1",b="2"}` into the name and sorted label pairs.
fn parse_series(series: &str) -> Result<(String, Vec<(String, String)>), StepError> {
    let bad = || {
        StepError::new(format!(
            "not a metric series: {series:?} (expected name{{label=\"value\",…}})"
        ))
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Ok((series.trim().to_string(), Vec::new()));
    };
    let labels = rest.strip_suffix('}').ok_or_else(bad)?;
    let mut pairs = Vec::new();
    for pair in labels.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(bad)?;
        let v = v
            .trim()
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(bad)?;
        pairs.push((k.trim().to_string(), v.to_string()));
    }
    pairs.sort();
    Ok((name.trim().to_string(), pairs))
}

/// The sum of every sample of `name` whose labels include all of `labels`.
fn sum_matching(
    exposition: &str,
    name: &str,
    labels: &[(String, String)],
) -> Result<f64, StepError> {
    let mut total = 0.0;
    for line in exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| StepError::new(format!("bad metrics line: {line}")))?;
        let (sample_name, sample_labels) = parse_series(series)?;
        if sample_name == name && labels.iter().all(|l| sample_labels.contains(l)) {
            total += value
                .parse::<f64>()
                .map_err(|_| StepError::new(format!("bad metrics value: {line}")))?;
        }
    }
    Ok(total)
}

#[then(expr = "the gateway metric {string} is {int}")]
async fn gateway_metric_is(world: &mut GauntletWorld, series: String, expected: u64) -> StepResult {
    let admin = world.stack().await?.admin_url();
    let response = world
        .client
        .send(&OutgoingRequest::new(
            http::Method::GET,
            format!("{admin}/metrics"),
        ))
        .await?;
    metric_is(&response.text(), &series, expected, "the gateway")
}

/// Checks that the samples of `series` in `exposition` (listed labels must match, others are
/// summed over) add up to `expected`; the failure lists the family's samples. `whose` names the
/// exposition (`the gateway`, `value-architect's sidecar`).
pub(crate) fn metric_is(exposition: &str, series: &str, expected: u64, whose: &str) -> StepResult {
    let (name, labels) = parse_series(series)?;
    let actual = sum_matching(exposition, &name, &labels)?;
    // Counters and these gauges are whole numbers; compare exactly.
    if (actual - expected as f64).abs() < f64::EPSILON {
        Ok(())
    } else {
        let related: Vec<&str> = exposition
            .lines()
            .filter(|l| l.starts_with(&name))
            .collect();
        Err(StepError::new(format!(
            "{series} of {whose} is {actual}, expected {expected}; samples of {name}:\n{}",
            related.join("\n")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_labels_match_in_any_order_and_sum_over_the_rest() {
        let text = "# TYPE x counter\nx{a=\"1\",b=\"2\"} 3\nx{a=\"1\",b=\"3\"} 4\ny{a=\"1\"} 9\n";
        let (name, labels) = parse_series("x{a=\"1\"}").unwrap();
        assert_eq!(sum_matching(text, &name, &labels).unwrap(), 7.0);
        let (name, labels) = parse_series("x{b=\"2\", a=\"1\"}").unwrap();
        assert_eq!(sum_matching(text, &name, &labels).unwrap(), 3.0);
    }
}
