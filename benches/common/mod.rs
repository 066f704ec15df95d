//! What the in-process benchmarks share: a bearer token for valueverse's `admin-user` on the
//! stack's clock, a GET that must answer 200, a round of concurrent GETs timed for throughput,
//! and the median of paired samples. Each benchmark
//! uses part of it.
#![allow(dead_code)]

use std::time::Duration;

use gauntlet::clock::Stopwatch;
use gauntlet::http::client::{HttpClient, OutgoingRequest};
use gauntlet::stack::Stack;

/// The median of `samples` (sorted in place; the upper middle for an even count).
pub fn median<T: PartialOrd + Copy>(samples: &mut [T]) -> T {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    samples[samples.len() / 2]
}

/// `Bearer <jwt>` for `admin-user`, valid for a day of the stack's clock.
pub fn bearer(stack: &Stack) -> String {
    let (_, consumer) = stack
        .def
        .gateway
        .consumer_by_name("admin-user")
        .expect("admin-user");
    let credential = &consumer.jwt_secrets[0];
    let token = gauntlet::token::issue(
        &credential.key,
        &credential.secret,
        stack.clock.unix_seconds(),
        Duration::from_secs(86_400),
    );
    format!("Bearer {token}")
}

/// GETs `url` with `auth`; anything but 200 stops the benchmark.
pub async fn get(client: &HttpClient, url: &str, auth: &str) {
    let request = OutgoingRequest::new(http::Method::GET, url.to_string())
        .header("Authorization", auth)
        .expect("header");
    let response = client.send(&request).await.expect("response");
    assert_eq!(response.status, 200, "{}", response.text());
}

/// `requests` GETs of the value models split over `clients` (one connection each) at once;
/// requests per second. The stack's clock then moves a minute on, so the next round starts with
/// fresh rate-limit windows.
pub async fn throughput_round(
    stack: &Stack,
    clients: &[HttpClient],
    auth: &str,
    requests: usize,
) -> f64 {
    let url = format!("{}/api/v1/value-models", stack.proxy_url());
    let stopwatch = Stopwatch::start();
    let each = requests / clients.len();
    futures::future::join_all(clients.iter().map(|client| {
        let (url, auth) = (url.clone(), auth.to_string());
        async move {
            for _ in 0..each {
                get(client, &url, &auth).await;
            }
        }
    }))
    .await;
    let rate = (each * clients.len()) as f64 / stopwatch.elapsed().as_secs_f64();
    stack.clock.advance(Duration::from_secs(60));
    rate
}
