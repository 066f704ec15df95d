//! Kong's `ip-restriction` plugin (priority 990, after the auth plugins, before acl): refuses
//! a client whose address is in `deny`, or not in `allow`.
//!
//! `kong/plugins/ip-restriction/handler.lua` `do_restrict`: `deny` is checked first, then
//! `allow`; a refusal is `kong.response.error(status or 403, message or "IP address not
//! allowed: <remote_addr>")` (the error template, with request_id). The address is the TCP
//! peer's (`ngx.var.binary_remote_addr`), not a forwarded header.

use std::net::IpAddr;

use http::StatusCode;

use crate::config::gateway::IpRestrictionConfig;

/// A refused client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ip-restriction refused {client}")]
pub struct IpRefused {
    pub client: IpAddr,
    pub status: StatusCode,
    pub message: String,
}

/// Kong's decision for `client`.
///
/// # Errors
/// [`IpRefused`] with the configured (or default) status and message.
pub fn check(config: &IpRestrictionConfig, client: IpAddr) -> Result<(), IpRefused> {
    let denied = config.deny.iter().any(|r| r.contains(client));
    let not_allowed = !config.allow.is_empty() && !config.allow.iter().any(|r| r.contains(client));
    if !(denied || not_allowed) {
        return Ok(());
    }
    // nginx prints an IPv4-mapped peer as the IPv4 address.
    let shown = match client {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(client),
        v4 => v4,
    };
    Err(IpRefused {
        client,
        status: config
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::FORBIDDEN),
        message: config
            .message
            .clone()
            .unwrap_or_else(|| format!("IP address not allowed: {shown}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::kong::edge_plugins::parse_ip_or_cidr;

    fn config(allow: &[&str], deny: &[&str]) -> IpRestrictionConfig {
        IpRestrictionConfig {
            allow: allow.iter().map(|a| parse_ip_or_cidr(a).unwrap()).collect(),
            deny: deny.iter().map(|a| parse_ip_or_cidr(a).unwrap()).collect(),
            status: None,
            message: None,
        }
    }

    // Cases of `spec/03-plugins/17-ip-restriction/02-access_spec.lua`.
    #[test]
    fn deny_wins_over_allow_and_allow_lists_everyone_else_out() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(check(&config(&["127.0.0.0/8"], &[]), local).is_ok());
        let err = check(&config(&["10.0.0.0/8"], &[]), local).unwrap_err();
        assert_eq!(err.status, StatusCode::FORBIDDEN);
        assert_eq!(err.message, "IP address not allowed: 127.0.0.1");
        assert!(check(&config(&["127.0.0.1"], &["127.0.0.1"]), local).is_err());
        assert!(check(&config(&[], &["10.0.0.1"]), local).is_ok());
    }

    #[test]
    fn status_and_message_come_from_the_config() {
        let mut c = config(&[], &["127.0.0.1"]);
        c.status = Some(401);
        c.message = Some("Forbidden".into());
        let err = check(&c, "127.0.0.1".parse().unwrap()).unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.message.as_str()),
            (401, "Forbidden")
        );
    }
}
