//! Kong's rate-limiting black-box cases (`shared/reference/kong.md` §3) with explicit stack
//! times: no sleeping.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method};
use uuid::Uuid;

use super::*;
use crate::config::gateway::{Consumer, Service};
use crate::gateway::context::CredentialRef;

/// 2024-02-29T13:00:00Z: the top of an hour (and of a minute).
const HOUR_START: u64 = 1_709_211_600;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn config(limits: &[(RatePeriod, u64)], limit_by: LimitBy) -> RateLimitConfig {
    RateLimitConfig {
        limits: limits.to_vec(),
        limit_by,
        header_name: None,
        path: None,
        policy: "local".into(),
        fault_tolerant: true,
        hide_client_headers: false,
        error_code: 429,
        error_message: "API rate limit exceeded".into(),
    }
}

fn consumer(name: &str) -> Consumer {
    Consumer {
        id: Uuid::new_v4(),
        username: Some(name.into()),
        custom_id: None,
        jwt_secrets: vec![],
        keyauth_credentials: vec![],
        acl_groups: vec![],
    }
}

/// Consumers alice (0) and bob (1), one service.
fn gateway() -> GatewayConfig {
    GatewayConfig {
        services: vec![Service {
            id: Uuid::new_v4(),
            name: "value-architect".into(),
            host: "value-architect".into(),
            port: 80,
            path: None,
            protocol: "http".into(),
            retries: 3,
            connect_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
        }],
        consumers: vec![consumer("alice"), consumer("bob")],
        ..GatewayConfig::default()
    }
}

fn request_from(ip: [u8; 4]) -> RequestContext {
    RequestContext::new(
        Method::GET,
        "/api/v1/value-models?x=1".parse().unwrap(),
        HeaderMap::new(),
        IpAddr::V4(Ipv4Addr::from(ip)),
        "req".into(),
        crate::gateway::router::RouteMatch::new(0, 0, "/"),
    )
}

fn request() -> RequestContext {
    request_from([10, 0, 0, 1])
}

fn request_by(consumer: usize) -> RequestContext {
    let mut ctx = request();
    ctx.consumer = Some(consumer);
    ctx.credential = Some(CredentialRef {
        id: Uuid::new_v4(),
        key: "k".into(),
    });
    ctx
}

fn header(ctx: &RequestContext, name: &str) -> Option<String> {
    ctx.response_headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn num(ctx: &RequestContext, name: &str) -> u64 {
    header(ctx, name)
        .unwrap_or_else(|| panic!("missing {name}"))
        .parse()
        .unwrap()
}

struct Harness {
    limiter: RateLimiter,
    plugin: Uuid,
    config: RateLimitConfig,
    gateway: GatewayConfig,
}

impl Harness {
    fn new(config: RateLimitConfig) -> Self {
        Harness {
            limiter: RateLimiter::new(),
            plugin: Uuid::new_v4(),
            config,
            gateway: gateway(),
        }
    }

    fn send(&self, mut ctx: RequestContext, now: u64) -> (Result<(), RateLimited>, RequestContext) {
        let result =
            self.limiter
                .check(self.plugin, &self.config, &mut ctx, &self.gateway, at(now));
        (result, ctx)
    }
}

#[test]
fn minute_limit_of_six_gives_kongs_header_sequence_and_a_429_on_the_seventh() {
    // Cases 1 and 2.
    let h = Harness::new(config(&[(RatePeriod::Minute, 6)], LimitBy::Ip));
    let now = HOUR_START + 10;
    for expected in [5, 4, 3, 2, 1, 0] {
        let (result, ctx) = h.send(request(), now);
        assert!(result.is_ok());
        assert_eq!(num(&ctx, "X-RateLimit-Limit-Minute"), 6);
        assert_eq!(num(&ctx, "X-RateLimit-Remaining-Minute"), expected);
        assert_eq!(num(&ctx, "RateLimit-Limit"), 6);
        assert_eq!(num(&ctx, "RateLimit-Remaining"), expected);
        assert_eq!(num(&ctx, "RateLimit-Reset"), 50);
        assert_eq!(header(&ctx, "Retry-After"), None);
    }
    let (result, ctx) = h.send(request(), now);
    let err = result.unwrap_err();
    assert_eq!(err.status(), 429);
    assert_eq!(err.message(), "API rate limit exceeded");
    assert_eq!(err.reason(), "rate_limited");
    assert_eq!((err.period, err.limit), (RatePeriod::Minute, 6));
    assert_eq!(num(&ctx, "X-RateLimit-Limit-Minute"), 6);
    assert_eq!(num(&ctx, "X-RateLimit-Remaining-Minute"), 0);
    assert_eq!(num(&ctx, "RateLimit-Remaining"), 0);
    let retry_after = num(&ctx, "Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(retry_after, num(&ctx, "RateLimit-Reset"));
}

#[test]
fn rejected_requests_are_not_counted() {
    let h = Harness::new(config(&[(RatePeriod::Minute, 2)], LimitBy::Ip));
    for _ in 0..5 {
        let _ = h.send(request(), HOUR_START);
    }
    let usage = h
        .limiter
        .usage(h.plugin, &h.config, "10.0.0.1", at(HOUR_START));
    assert_eq!(usage.len(), 1);
    assert_eq!((usage[0].used, usage[0].remaining()), (2, 0));
}

#[test]
fn minute_and_hour_limits_both_report_headers() {
    // Case 3: the minute blocks; the hour shows its quota, not decremented by the 429.
    let h = Harness::new(config(
        &[(RatePeriod::Minute, 6), (RatePeriod::Hour, 99_999)],
        LimitBy::Ip,
    ));
    for expected in [5, 4, 3, 2, 1, 0] {
        let (result, ctx) = h.send(request(), HOUR_START + 1);
        assert!(result.is_ok());
        assert_eq!(num(&ctx, "X-RateLimit-Remaining-Minute"), expected);
        assert_eq!(num(&ctx, "X-RateLimit-Limit-Hour"), 99_999);
        assert_eq!(num(&ctx, "X-RateLimit-Remaining-Hour"), 99_993 + expected);
        assert_eq!(num(&ctx, "RateLimit-Limit"), 6);
        assert_eq!(num(&ctx, "RateLimit-Remaining"), expected);
    }
    let (result, ctx) = h.send(request(), HOUR_START + 1);
    assert!(result.is_err());
    assert_eq!(num(&ctx, "X-RateLimit-Remaining-Minute"), 0);
    assert_eq!(num(&ctx, "X-RateLimit-Remaining-Hour"), 99_993);
    assert_eq!(num(&ctx, "RateLimit-Limit"), 6);
    assert_eq!(num(&ctx, "Retry-After"), 59);
}

#[test]
fn one_per_second_allows_one_then_429_then_one_again_a_second_later() {
    // Case 4.
    let h = Harness::new(config(&[(RatePeriod::Second, 1)], LimitBy::Ip));
    let (result, ctx) = h.send(request(), HOUR_START + 5);
    assert!(result.is_ok());
    assert_eq!(num(&ctx, "RateLimit-Remaining"), 0);
    assert_eq!(num(&ctx, "X-RateLimit-Remaining-Second"), 0);
    assert_eq!(num(&ctx, "RateLimit-Reset"), 1);
    let (result, ctx) = h.send(request(), HOUR_START + 5);
    assert_eq!(result.unwrap_err().status(), 429);
    assert_eq!(num(&ctx, "Retry-After"), 1);
    let (result, _) = h.send(request(), HOUR_START + 6);
    assert!(result.is_ok());
}

#[test]
fn custom_error_code_and_message_are_used() {
    // Case 5.
    let h = Harness::new(RateLimitConfig {
        error_code: 404,
        error_message: "Fake Not Found".into(),
        ..config(&[(RatePeriod::Second, 1)], LimitBy::Ip)
    });
    assert!(h.send(request(), HOUR_START).0.is_ok());
    let err = h.send(request(), HOUR_START).0.unwrap_err();
    assert_eq!(err.status(), 404);
    assert_eq!(err.message(), "Fake Not Found");
}

#[test]
fn hide_client_headers_sends_no_rate_limit_headers_on_200_or_429() {
    // Case 6.
    let h = Harness::new(RateLimitConfig {
        hide_client_headers: true,
        ..config(&[(RatePeriod::Minute, 1)], LimitBy::Ip)
    });
    let (result, ctx) = h.send(request(), HOUR_START);
    assert!(result.is_ok());
    assert!(ctx.response_headers.is_empty());
    let (result, ctx) = h.send(request(), HOUR_START);
    assert!(result.is_err());
    assert!(ctx.response_headers.is_empty());
}

#[test]
fn client_ips_are_limited_independently() {
    // Case 7.
    let h = Harness::new(config(&[(RatePeriod::Minute, 1)], LimitBy::Ip));
    assert!(h.send(request_from([10, 0, 0, 1]), HOUR_START).0.is_ok());
    assert!(h.send(request_from([10, 0, 0, 2]), HOUR_START).0.is_ok());
    assert!(h.send(request_from([10, 0, 0, 1]), HOUR_START).0.is_err());
}

#[test]
fn consumers_are_limited_independently_and_unidentified_requests_by_ip() {
    // Case 8.
    let h = Harness::new(config(&[(RatePeriod::Minute, 2)], LimitBy::Consumer));
    for _ in 0..2 {
        assert!(h.send(request_by(0), HOUR_START).0.is_ok());
    }
    assert!(h.send(request_by(0), HOUR_START).0.is_err());
    let (result, ctx) = h.send(request_by(1), HOUR_START);
    assert!(result.is_ok());
    assert_eq!(num(&ctx, "X-RateLimit-Remaining-Minute"), 1);
    // No consumer, no credential: counted per client IP, apart from alice and bob.
    assert!(h.send(request(), HOUR_START).0.is_ok());
    let alice = h.gateway.consumers[0].id.to_string();
    let usage = h.limiter.usage(h.plugin, &h.config, &alice, at(HOUR_START));
    assert_eq!(usage[0].used, 2);
}

#[test]
fn the_count_restarts_at_the_next_minute_boundary() {
    let h = Harness::new(config(&[(RatePeriod::Minute, 6)], LimitBy::Ip));
    for _ in 0..6 {
        assert!(h.send(request(), HOUR_START + 59).0.is_ok());
    }
    let (result, ctx) = h.send(request(), HOUR_START + 59);
    assert!(result.is_err());
    assert_eq!(num(&ctx, "Retry-After"), 1);
    let (result, ctx) = h.send(request(), HOUR_START + 60);
    assert!(result.is_ok());
    assert_eq!(num(&ctx, "X-RateLimit-Remaining-Minute"), 5);
    assert_eq!(num(&ctx, "RateLimit-Reset"), 60);
}

#[test]
fn hour_limit_is_reached_across_many_minute_windows() {
    // A minute limit of 100 caps an hour at 6,000, so the hour limit of 10,000 is only reachable
    // with a minute limit of at least 167: here 200/minute for 50 minutes.
    let h = Harness::new(config(
        &[(RatePeriod::Minute, 200), (RatePeriod::Hour, 10_000)],
        LimitBy::Consumer,
    ));
    let mut now = HOUR_START;
    for n in 1..=10_000u64 {
        let (result, ctx) = h.send(request_by(0), now);
        assert!(result.is_ok(), "request {n} at {now}");
        if n == 10_000 {
            assert_eq!(num(&ctx, "X-RateLimit-Remaining-Hour"), 0);
            assert_eq!(num(&ctx, "X-RateLimit-Remaining-Minute"), 0);
        }
        if n % 200 == 0 {
            now += 60;
        }
    }
    // Minute 51 has a fresh minute window; the hour is used up.
    let (result, ctx) = h.send(request_by(0), now + 5);
    let err = result.unwrap_err();
    assert_eq!((err.period, err.limit), (RatePeriod::Hour, 10_000));
    assert_eq!(num(&ctx, "X-RateLimit-Limit-Hour"), 10_000);
    assert_eq!(num(&ctx, "X-RateLimit-Remaining-Hour"), 0);
    assert_eq!(num(&ctx, "X-RateLimit-Remaining-Minute"), 200);
    assert_eq!(num(&ctx, "RateLimit-Limit"), 10_000);
    assert_eq!(num(&ctx, "RateLimit-Remaining"), 0);
    let to_hour_end = HOUR_START + 3_600 - (now + 5);
    assert_eq!(num(&ctx, "RateLimit-Reset"), to_hour_end);
    assert_eq!(num(&ctx, "Retry-After"), to_hour_end);
    // Bob is untouched, and the next hour starts afresh.
    assert!(h.send(request_by(1), now + 5).0.is_ok());
    assert!(h.send(request_by(0), HOUR_START + 3_600).0.is_ok());
}

#[test]
fn a_tie_in_remaining_is_described_by_the_longer_window() {
    let h = Harness::new(config(
        &[(RatePeriod::Minute, 5), (RatePeriod::Hour, 5)],
        LimitBy::Ip,
    ));
    let (_, ctx) = h.send(request(), HOUR_START + 30);
    assert_eq!(num(&ctx, "RateLimit-Remaining"), 4);
    assert_eq!(num(&ctx, "RateLimit-Reset"), 3_570, "the hour's reset");
    for _ in 0..4 {
        let _ = h.send(request(), HOUR_START + 30);
    }
    let (result, ctx) = h.send(request(), HOUR_START + 30);
    assert_eq!(result.unwrap_err().period, RatePeriod::Hour);
    assert_eq!(num(&ctx, "Retry-After"), 3_570);
}

#[test]
fn the_lowest_remaining_wins_over_a_longer_window() {
    let h = Harness::new(config(
        &[(RatePeriod::Minute, 3), (RatePeriod::Hour, 100)],
        LimitBy::Ip,
    ));
    let (_, ctx) = h.send(request(), HOUR_START + 30);
    assert_eq!(num(&ctx, "RateLimit-Limit"), 3);
    assert_eq!(num(&ctx, "RateLimit-Reset"), 30);
}

#[test]
fn concurrent_requests_never_overshoot_the_limit() {
    let limiter = RateLimiter::new();
    let plugin = Uuid::new_v4();
    let config = config(
        &[(RatePeriod::Minute, 500), (RatePeriod::Hour, 10_000)],
        LimitBy::Ip,
    );
    let gateway = gateway();
    let passed: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..16)
            .map(|_| {
                scope.spawn(|| {
                    (0..100)
                        .filter(|_| {
                            let mut ctx = request();
                            limiter
                                .check(plugin, &config, &mut ctx, &gateway, at(HOUR_START))
                                .is_ok()
                        })
                        .count()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(passed, 500);
    let usage = limiter.usage(plugin, &config, "10.0.0.1", at(HOUR_START));
    assert_eq!((usage[0].used, usage[1].used), (500, 500));
}

#[test]
fn plugin_instances_keep_separate_counters() {
    let limiter = RateLimiter::new();
    let config = config(&[(RatePeriod::Minute, 1)], LimitBy::Ip);
    let gateway = gateway();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let send = |plugin| limiter.check(plugin, &config, &mut request(), &gateway, at(HOUR_START));
    assert!(send(a).is_ok());
    assert!(send(b).is_ok());
    assert!(send(a).is_err());
}

#[test]
fn expired_windows_are_pruned() {
    let h = Harness::new(config(&[(RatePeriod::Minute, 10)], LimitBy::Ip));
    for i in 0..50u8 {
        let _ = h.send(request_from([10, 1, 0, i]), HOUR_START);
    }
    assert_eq!(h.limiter.tracked(), 50);
    let _ = h.send(request(), HOUR_START + 120);
    assert_eq!(h.limiter.tracked(), 1);
    h.limiter.clear();
    assert_eq!(h.limiter.tracked(), 0);
}

#[test]
fn identifier_follows_kongs_fallbacks() {
    let gw = gateway();
    let ip = "10.0.0.1".to_string();
    let by = |limit_by| config(&[(RatePeriod::Minute, 1)], limit_by);

    let alice = request_by(0);
    let cred = alice.credential.as_ref().unwrap().id.to_string();
    assert_eq!(
        identifier(&by(LimitBy::Consumer), &gw, &alice),
        gw.consumers[0].id.to_string()
    );
    assert_eq!(identifier(&by(LimitBy::Credential), &gw, &alice), cred);
    assert_eq!(identifier(&by(LimitBy::Ip), &gw, &alice), ip);
    assert_eq!(
        identifier(&by(LimitBy::Service), &gw, &alice),
        gw.services[0].id.to_string()
    );

    let mut orphan = request_by(0);
    orphan.consumer = None;
    let orphan_cred = orphan.credential.as_ref().unwrap().id.to_string();
    assert_eq!(
        identifier(&by(LimitBy::Consumer), &gw, &orphan),
        orphan_cred
    );
    assert_eq!(identifier(&by(LimitBy::Consumer), &gw, &request()), ip);
    assert_eq!(identifier(&by(LimitBy::Credential), &gw, &request()), ip);

    let header = RateLimitConfig {
        header_name: Some("X-Tenant".into()),
        ..by(LimitBy::Header)
    };
    assert_eq!(identifier(&header, &gw, &request()), ip);
    let mut tenant = request();
    tenant.headers.insert("x-tenant", "acme".parse().unwrap());
    assert_eq!(identifier(&header, &gw, &tenant), "acme");

    let path = |p: &str| RateLimitConfig {
        path: Some(p.into()),
        ..by(LimitBy::Path)
    };
    assert_eq!(
        identifier(&path("/api/v1/value-models"), &gw, &request()),
        "/api/v1/value-models"
    );
    assert_eq!(identifier(&path("/api/v1"), &gw, &request()), ip);
}

#[test]
fn debug_output_does_not_reveal_identifiers() {
    let h = Harness::new(RateLimitConfig {
        header_name: Some("x-api-key".into()),
        ..config(&[(RatePeriod::Minute, 1)], LimitBy::Header)
    });
    let mut ctx = request();
    ctx.headers
        .insert("x-api-key", "s3cr3t-key".parse().unwrap());
    let _ = h.send(ctx, HOUR_START);
    let debug = format!("{:?}", h.limiter);
    assert!(!debug.contains("s3cr3t"), "{debug}");
}
