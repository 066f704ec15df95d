//! `gauntlet chaos toxic …` and `gauntlet chaos link …`: the stack's links and their toxics
//! through the Toxiproxy API of the control port ([`crate::api::toxiproxy`]), with
//! toxiproxy-cli's flags.
//!
//! ```text
//!   gauntlet chaos toxic add gateway->value-architect -t latency -a latency=200 -a jitter=20
//!                                                POST /proxies/gateway-%3Evalue-architect/toxics
//!   gauntlet chaos toxic update gateway->value-architect latency_downstream -a latency=500
//!   gauntlet chaos toxic remove gateway->value-architect latency_downstream
//!   gauntlet chaos toxic list [LINK]             GET /proxies
//!   gauntlet chaos link disable value-committer->redis      POST /proxies/…  {"enabled": false}
//! ```

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

/// `gauntlet chaos toxic …`
#[derive(Debug, Subcommand)]
pub enum ToxicAction {
    /// Add a toxic to a link (Toxiproxy's defaults: stream downstream, toxicity 1, name
    /// <type>_<stream>).
    Add(AddArgs),
    /// Change a toxic's attributes or toxicity (the others are kept).
    Update(UpdateArgs),
    /// Remove one toxic; the link's other toxics stay.
    Remove {
        /// The link, e.g. gateway->value-architect.
        link: String,
        /// The toxic's name.
        name: String,
    },
    /// List the toxics of one link, or of every link.
    List {
        link: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The link, e.g. gateway->value-architect.
    pub link: String,
    /// latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data.
    #[arg(short = 't', long = "type")]
    pub kind: String,
    /// The toxic's name (default <type>_<stream>).
    #[arg(short, long)]
    pub name: Option<String>,
    /// Act on the bytes towards the destination.
    #[arg(short, long, conflicts_with = "downstream")]
    pub upstream: bool,
    /// Act on the bytes coming back (the default).
    #[arg(short, long)]
    pub downstream: bool,
    /// Share of new connections that get the toxic (0–1).
    #[arg(long = "toxicity", alias = "tox")]
    pub toxicity: Option<f64>,
    /// An attribute, key=value (repeat): latency=200, jitter=20, rate=100, timeout=0, ...
    #[arg(short, long = "attribute", value_name = "KEY=VALUE")]
    pub attributes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub link: String,
    pub name: String,
    #[arg(long = "toxicity", alias = "tox")]
    pub toxicity: Option<f64>,
    #[arg(short, long = "attribute", value_name = "KEY=VALUE")]
    pub attributes: Vec<String>,
}

/// `gauntlet chaos link …`
#[derive(Debug, Subcommand)]
pub enum LinkAction {
    /// Take a link down: new connections are refused, open ones closed.
    Disable { link: String },
    /// Bring a link up again (its toxics stay).
    Enable { link: String },
    /// Every link with its state and toxics.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Enable every link and remove every toxic (Toxiproxy's POST /reset).
    Reset,
}

/// `key=value` attributes as Toxiproxy's JSON object (integers).
///
/// # Errors
/// A pair without `=` or a value that is not a whole number.
pub fn attributes(pairs: &[String]) -> Result<Map<String, Value>, String> {
    pairs
        .iter()
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("attribute {pair:?} is not key=value"))?;
            let n: i64 = value
                .trim()
                .parse()
                .map_err(|_| format!("attribute {key} must be a whole number, got {value:?}"))?;
            Ok((key.trim().to_string(), json!(n)))
        })
        .collect()
}

/// The `POST /proxies/{link}/toxics` body of `toxic add`.
///
/// # Errors
/// A bad attribute.
pub fn add_body(args: &AddArgs) -> Result<Value, String> {
    let mut body = json!({
        "type": args.kind,
        "stream": if args.upstream { "upstream" } else { "downstream" },
        "attributes": attributes(&args.attributes)?,
    });
    if let Some(name) = &args.name {
        body["name"] = json!(name);
    }
    if let Some(t) = args.toxicity {
        body["toxicity"] = json!(t);
    }
    Ok(body)
}

/// The `PATCH` body of `toxic update`.
///
/// # Errors
/// A bad attribute.
pub fn update_body(args: &UpdateArgs) -> Result<Value, String> {
    let mut body = json!({"attributes": attributes(&args.attributes)?});
    if let Some(t) = args.toxicity {
        body["toxicity"] = json!(t);
    }
    Ok(body)
}

/// A link name as a URL path segment (`->` is not allowed raw in a URL path).
pub fn segment(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One line per toxic: `  slow: latency 200ms ±20ms downstream`.
pub fn toxic_line(t: &Value) -> String {
    let attributes: Vec<String> = t["attributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let toxicity = t["toxicity"].as_f64().unwrap_or(1.0);
    format!(
        "    {} ({} {}{}) {}",
        t["name"].as_str().unwrap_or("?"),
        t["type"].as_str().unwrap_or("?"),
        t["stream"].as_str().unwrap_or("?"),
        if toxicity < 1.0 {
            format!(", toxicity {toxicity}")
        } else {
            String::new()
        },
        attributes.join(" ")
    )
}

/// The lines of `link list` / `toxic list` for one proxy JSON.
pub fn link_lines(p: &Value) -> Vec<String> {
    let mut lines = vec![format!(
        "  {:<36} {:<8} listen {}  upstream {}",
        p["name"].as_str().unwrap_or("?"),
        if p["enabled"].as_bool() == Some(false) {
            "DOWN"
        } else {
            "up"
        },
        p["listen"].as_str().unwrap_or("?"),
        p["upstream"].as_str().unwrap_or("?"),
    )];
    lines.extend(p["toxics"].as_array().into_iter().flatten().map(toxic_line));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_are_encoded_for_the_url() {
        assert_eq!(
            segment("gateway->value-architect"),
            "gateway-%3Evalue-architect"
        );
    }

    #[test]
    fn attributes_are_whole_numbers() {
        let a = attributes(&["latency=200".into(), "jitter = 20".into()]).expect("valid");
        assert_eq!(Value::Object(a), json!({"latency": 200, "jitter": 20}));
        assert!(attributes(&["latency".into()]).is_err());
        assert!(attributes(&["latency=fast".into()]).is_err());
    }
}
