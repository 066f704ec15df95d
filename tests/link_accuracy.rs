//! Accuracy of the toxics against a loopback echo server (issue 10, SPEC §7.1): what a latency
//! toxic adds at p50 and at p1/p99, the throughput a bandwidth toxic lets through, and how many
//! connections a toxicity of 0.3 hits.
//!
//! These sleep for real, because the delays they measure are real. To stay true on a loaded
//! two-core machine, every timing is relative to a baseline measured in the same run and
//! interleaved with it sample by sample — the same echo server through a second link of the same
//! stack without the toxic under test — so load that slows one slows the other alike; and the
//! tests of this file run one at a time ([`SERIAL`]), so the 1000-connection toxicity test never
//! loads the process under a latency measurement.
//!
//! ```text
//!   test ──LinkStream (link "plain": no toxic, or a noop)──► echo server
//!   test ──LinkStream (link "toxic": the toxic under test)──► echo server
//! ```
//!
//! For latency the baseline link carries a `noop` toxic: both connections then take the same
//! path (off the fast path, through a pump per direction), so the difference is the latency
//! toxic's wait alone, not the pumps' task hops, whose scheduling on a loaded machine would
//! otherwise be counted as latency.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gauntlet::clock::{StackClock, Stopwatch};
use gauntlet::link::{Link, LinkStream, Links};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One test of this file at a time: timing tests must not share the process with each other.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A loopback echo server: each connection gets its bytes back until it closes its side.
async fn echo_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let _ = conn.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = conn.shutdown().await;
            });
        }
    });
    addr
}

/// Two links of one stack to the same echo server: `plain` (no toxic) and `toxic`.
async fn links(seed: u64) -> (SocketAddr, Arc<Link>, Arc<Link>) {
    let echo = echo_server().await;
    let links = Links::new(seed, StackClock::new());
    let plain = links.declare("test->plain", echo, echo);
    let toxic = links.declare("test->toxic", echo, echo);
    (echo, plain, toxic)
}

async fn connect(link: &Arc<Link>, addr: SocketAddr) -> LinkStream {
    LinkStream::connect(link.clone(), addr)
        .await
        .expect("connect through the link")
}

/// One round trip of a small message: write, then read it back in full.
async fn round_trip(stream: &mut LinkStream) -> Duration {
    let message = [7u8; 16];
    let mut back = [0u8; 16];
    let watch = Stopwatch::start();
    stream.write_all(&message).await.expect("write");
    stream.read_exact(&mut back).await.expect("echo");
    watch.elapsed()
}

/// The `q` quantile (0..=1) of sorted samples, nearest rank.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What one attempt measured, every list sorted: round trips on the plain and the toxic link,
/// alternating, and between them how late the runtime woke from a 5 ms sleep (the same timer
/// and the same scheduler the toxic waits on, so the machine's lateness right then).
struct Measured {
    base: Vec<Duration>,
    slowed: Vec<Duration>,
    lateness: Vec<Duration>,
}

/// `samples` round trips on each link, alternating, with a timer probe after each pair.
async fn interleaved(
    plain: &Arc<Link>,
    toxic: &Arc<Link>,
    echo: SocketAddr,
    samples: usize,
) -> Measured {
    const PROBE: Duration = Duration::from_millis(5);
    let mut a = connect(plain, echo).await;
    let mut b = connect(toxic, echo).await;
    // Warm both paths (first pump start, first timer) before measuring.
    round_trip(&mut a).await;
    round_trip(&mut b).await;
    let mut m = Measured {
        base: Vec::with_capacity(samples),
        slowed: Vec::with_capacity(samples),
        lateness: Vec::with_capacity(samples),
    };
    for _ in 0..samples {
        m.base.push(round_trip(&mut a).await);
        m.slowed.push(round_trip(&mut b).await);
        let watch = Stopwatch::start();
        tokio::time::sleep(PROBE).await;
        m.lateness.push(watch.elapsed().saturating_sub(PROBE));
    }
    m.base.sort();
    m.slowed.sort();
    m.lateness.sort();
    m
}

/// Attempts of a latency measurement: a loaded machine only ever delays a wake-up, never makes
/// it early, so one undisturbed attempt out of three shows what the toxic does; a toxic that
/// waits too long or too short fails every attempt alike.
const ATTEMPTS: usize = 3;

/// Slack for the runtime's millisecond timer granularity and the wake-up after it.
const TIMER_SLACK_MS: f64 = 1.0;

/// The slack above a band at quantile `q`: the timer's granularity, or how late the runtime woke
/// at that quantile in the same attempt when the machine was busier than that. A busy machine
/// only ever delays a wake-up, so the lower edge of a band never gets it.
fn late_slack(m: &Measured, q: f64) -> f64 {
    TIMER_SLACK_MS.max(ms(quantile(&m.lateness, q)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_toxic_adds_its_latency_within_a_millisecond_at_p50() {
    let _serial = SERIAL.lock().await;
    let (echo, plain, toxic) = links(11).await;
    plain.add_toxic_json(br#"{"type":"noop"}"#).expect("noop");
    toxic
        .add_toxic_json(br#"{"type":"latency","attributes":{"latency":10}}"#)
        .expect("toxic");
    let mut seen = Vec::new();
    for _ in 0..ATTEMPTS {
        let m = interleaved(&plain, &toxic, echo, 200).await;
        let added = ms(quantile(&m.slowed, 0.5)) - ms(quantile(&m.base, 0.5));
        let late = late_slack(&m, 0.5);
        seen.push(format!(
            "p50 added {added:.3} ms (baseline p50 {:.3} ms, toxic p50 {:.3} ms, timer late p50 {late:.3} ms)",
            ms(quantile(&m.base, 0.5)),
            ms(quantile(&m.slowed, 0.5)),
        ));
        if (10.0 - TIMER_SLACK_MS..=10.0 + late).contains(&added) {
            eprintln!("latency 10 ms: {seen:?}");
            return;
        }
    }
    panic!(
        "expected 10 ms added at p50 (- {TIMER_SLACK_MS} ms, + the timer's measured lateness) in one of {ATTEMPTS} attempts: {seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_toxic_with_jitter_stays_within_latency_plus_minus_jitter_at_p1_and_p99() {
    let _serial = SERIAL.lock().await;
    let (echo, plain, toxic) = links(12).await;
    plain.add_toxic_json(br#"{"type":"noop"}"#).expect("noop");
    toxic
        .add_toxic_json(br#"{"type":"latency","attributes":{"latency":20,"jitter":5}}"#)
        .expect("toxic");
    let mut seen = Vec::new();
    for _ in 0..ATTEMPTS {
        let m = interleaved(&plain, &toxic, echo, 300).await;
        let p1 = ms(quantile(&m.slowed, 0.01)) - ms(quantile(&m.base, 0.01));
        let p50 = ms(quantile(&m.slowed, 0.5)) - ms(quantile(&m.base, 0.5));
        let p99 = ms(quantile(&m.slowed, 0.99)) - ms(quantile(&m.base, 0.99));
        let late = late_slack(&m, 0.99);
        seen.push(format!(
            "added p1 {p1:.3} ms, p50 {p50:.3} ms, p99 {p99:.3} ms (baseline p1 {:.3} / p99 {:.3} ms, timer late p99 {late:.3} ms)",
            ms(quantile(&m.base, 0.01)),
            ms(quantile(&m.base, 0.99)),
        ));
        // Within the band at both ends, and the jitter really spreads the delays. The band is
        // widened by the millisecond the p50 test allows: the runtime's timer wheel fires on
        // whole milliseconds, so a 24.6 ms draw wakes at 25 ms plus the wake-up itself (CI saw
        // p99 25.0–25.3 ms on every attempt). On a busy machine the upper edge follows how late
        // the same runtime woke at p99 in this attempt (at load 6–9 a toxic's p99 reached 27.4–28.4
        // ms, and the 5 ms probe woke 7.6 ms late at p99); a toxic ignoring its jitter bound
        // would still be off by more than the machine's own lateness.
        let band = (20.0 - 5.0 - TIMER_SLACK_MS)..=(20.0 + 5.0 + late);
        if band.contains(&p1) && band.contains(&p99) && p99 - p1 >= 5.0 {
            eprintln!("latency 20 ± 5 ms: {seen:?}");
            return;
        }
    }
    panic!(
        "expected p1 and p99 added within 20 ± 5 ms (- {TIMER_SLACK_MS} ms, + the timer's measured lateness), at least 5 ms apart, in one of {ATTEMPTS} attempts: {seen:#?}"
    );
}

/// Seconds to send `bytes` through `link` to the echo server and read them all back.
async fn transfer(link: &Arc<Link>, echo: SocketAddr, bytes: usize) -> Duration {
    let stream = connect(link, echo).await;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let body: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    let watch = Stopwatch::start();
    let send = async move {
        writer.write_all(&body).await.expect("write");
        writer
    };
    let receive = async move {
        let mut got = vec![0u8; bytes];
        reader.read_exact(&mut got).await.expect("echo");
        got
    };
    let (_writer, got) = tokio::join!(send, receive);
    let took = watch.elapsed();
    assert!(
        got.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8),
        "the body came back changed"
    );
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bandwidth_toxic_passes_its_rate_within_five_percent_on_a_1_mb_body() {
    const BODY: usize = 1_000_000;
    const RATE_KB: f64 = 1000.0;
    let _serial = SERIAL.lock().await;
    let (echo, plain, toxic) = links(13).await;
    toxic
        .add_toxic_json(br#"{"type":"bandwidth","attributes":{"rate":1000}}"#)
        .expect("toxic");
    let base = transfer(&plain, echo, BODY).await;
    let slowed = transfer(&toxic, echo, BODY).await;
    let base_after = transfer(&plain, echo, BODY).await;
    // What the toxic added is the time the body spent at its rate; the unthrottled transfer
    // (before and after, the longer of the two) is the rest.
    let added = slowed.saturating_sub(base.max(base_after));
    let rate_kb = BODY as f64 / added.as_secs_f64() / 1000.0;
    eprintln!(
        "bandwidth 1000 KB/s: measured {rate_kb:.1} KB/s (transfer {:.1} ms, baseline {:.1} / {:.1} ms)",
        ms(slowed),
        ms(base),
        ms(base_after)
    );
    assert!(
        (rate_kb - RATE_KB).abs() <= RATE_KB * 0.05,
        "measured {rate_kb:.1} KB/s, expected 1000 KB/s ± 5% (transfer {:.1} ms, baseline {:.1} / {:.1} ms)",
        ms(slowed),
        ms(base),
        ms(base_after),
    );
}

/// How many of `n` connections through `link` the downstream `limit_data 0` toxic closes
/// before the echo comes back.
async fn connections_hit(link: &Arc<Link>, echo: SocketAddr, n: usize) -> usize {
    let mut hit = 0;
    for _ in 0..n {
        let mut stream = connect(link, echo).await;
        stream.write_all(b"x").await.expect("write");
        let mut back = [0u8; 1];
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut back)).await {
            Ok(Ok(0)) | Ok(Err(_)) => hit += 1,
            Ok(Ok(_)) => {}
            Err(_) => panic!("no echo and no close within 5 s"),
        }
    }
    hit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toxicity_of_0_3_hits_300_of_1000_connections_within_45() {
    let _serial = SERIAL.lock().await;
    for seed in [21, 22, 23] {
        let (echo, _plain, toxic) = links(seed).await;
        toxic
            .add_toxic_json(
                br#"{"type":"limit_data","stream":"downstream","toxicity":0.3,"attributes":{"bytes":0}}"#,
            )
            .expect("toxic");
        let hit = connections_hit(&toxic, echo, 1000).await;
        eprintln!("toxicity 0.3, seed {seed}: {hit} of 1000 connections");
        assert!(
            (255..=345).contains(&hit),
            "seed {seed}: {hit} of 1000 connections got the toxic, expected 300 ± 45"
        );
        assert_eq!(toxic.connections_opened(), 1000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxicity_1_hits_every_connection_and_0_none() {
    let _serial = SERIAL.lock().await;
    for (toxicity, expected) in [("1.0", 50), ("0.0", 0)] {
        let (echo, _plain, toxic) = links(31).await;
        let body =
            format!(r#"{{"type":"limit_data","toxicity":{toxicity},"attributes":{{"bytes":0}}}}"#);
        toxic.add_toxic_json(body.as_bytes()).expect("toxic");
        assert_eq!(
            connections_hit(&toxic, echo, 50).await,
            expected,
            "{toxicity}"
        );
    }
}
