//! Toxics on real loopback connections, time driven by jumps of a stack clock that stands still.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::clock::StackClock;
use crate::link::{Link, LinkStream, Links, Stream, Toxic, ToxicKind};

/// An echo server; returns its address.
async fn echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

fn link(clock: &StackClock, upstream: SocketAddr) -> Arc<Link> {
    Links::new(7, clock.clone()).declare("gateway->echo", upstream, upstream)
}

async fn round_trip(stream: &mut LinkStream, data: &[u8]) -> Vec<u8> {
    stream.write_all(data).await.expect("write");
    let mut back = vec![0u8; data.len()];
    stream.read_exact(&mut back).await.expect("read");
    back
}

/// Whether `fut` finishes within a short real wait (it should be blocked on the stack clock).
async fn finishes<F: std::future::Future>(fut: F) -> Option<F::Output> {
    tokio::time::timeout(Duration::from_millis(200), fut)
        .await
        .ok()
}

#[tokio::test]
async fn without_toxics_bytes_pass_unchanged() {
    let clock = StackClock::new();
    let link = link(&clock, echo().await);
    let mut stream = LinkStream::connect(link.clone(), link.upstream().parse().expect("addr"))
        .await
        .expect("connect");
    assert_eq!(round_trip(&mut stream, b"hello").await, b"hello");
    assert_eq!(link.connections_opened(), 1);
}

#[tokio::test]
async fn a_latency_added_to_an_open_connection_holds_data_until_the_clock_passes_it() {
    let clock = StackClock::new();
    clock.stand_still();
    let upstream = echo().await;
    let link = link(&clock, upstream);
    let mut stream = LinkStream::connect(link.clone(), upstream)
        .await
        .expect("connect");
    assert_eq!(round_trip(&mut stream, b"before").await, b"before");
    link.add_toxic(Toxic::new(
        ToxicKind::Latency {
            latency: 1000,
            jitter: 0,
        },
        Stream::Downstream,
    ))
    .expect("added");
    stream.write_all(b"after").await.expect("write");
    let mut back = [0u8; 5];
    let reading = stream.read_exact(&mut back);
    tokio::pin!(reading);
    assert!(
        finishes(&mut reading).await.is_none(),
        "held by the latency"
    );
    clock.advance(Duration::from_millis(1000));
    finishes(&mut reading)
        .await
        .expect("released")
        .expect("read");
    assert_eq!(&back, b"after");
}

#[tokio::test]
async fn removing_a_latency_toxic_flushes_what_it_holds() {
    let clock = StackClock::new();
    clock.stand_still();
    let upstream = echo().await;
    let link = link(&clock, upstream);
    link.add_toxic_json(
        br#"{"name":"slow","type":"latency","stream":"upstream","attributes":{"latency":60000}}"#,
    )
    .expect("added");
    let mut stream = LinkStream::connect(link.clone(), upstream)
        .await
        .expect("connect");
    stream.write_all(b"data").await.expect("write");
    let mut back = [0u8; 4];
    let reading = stream.read_exact(&mut back);
    tokio::pin!(reading);
    assert!(finishes(&mut reading).await.is_none());
    link.remove_toxic("slow").expect("removed");
    finishes(&mut reading)
        .await
        .expect("flushed")
        .expect("read");
    assert_eq!(&back, b"data");
}

#[tokio::test]
async fn a_disabled_link_closes_open_connections_and_refuses_new_ones() {
    let clock = StackClock::new();
    let upstream = echo().await;
    let link = link(&clock, upstream);
    let mut stream = LinkStream::connect(link.clone(), upstream)
        .await
        .expect("connect");
    assert_eq!(round_trip(&mut stream, b"x").await, b"x");
    let mut buf = [0u8; 1];
    let reading = stream.read(&mut buf);
    tokio::pin!(reading);
    assert!(finishes(&mut reading).await.is_none());
    link.set_enabled(false);
    let read = finishes(&mut reading).await.expect("woken by the disable");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let refused = LinkStream::connect(link.clone(), upstream)
        .await
        .expect_err("refused");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    link.set_enabled(true);
    let mut again = LinkStream::connect(link, upstream).await.expect("connect");
    assert_eq!(round_trip(&mut again, b"y").await, b"y");
}

#[tokio::test]
async fn a_timeout_of_zero_holds_forever_and_its_removal_closes_the_connection() {
    let clock = StackClock::new();
    clock.stand_still();
    let upstream = echo().await;
    let link = link(&clock, upstream);
    link.add_toxic_json(br#"{"name":"hold","type":"timeout","attributes":{"timeout":0}}"#)
        .expect("added");
    let mut stream = LinkStream::connect(link.clone(), upstream)
        .await
        .expect("connect");
    stream.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    let reading = stream.read(&mut buf);
    tokio::pin!(reading);
    clock.advance(Duration::from_secs(3600));
    assert!(
        finishes(&mut reading).await.is_none(),
        "held, whatever the clock"
    );
    link.remove_toxic("hold").expect("removed");
    let read = finishes(&mut reading).await.expect("closed");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn a_timeout_closes_after_its_time_without_data_on_the_stack_clock() {
    let clock = StackClock::new();
    clock.stand_still();
    let upstream = echo().await;
    let link = link(&clock, upstream);
    link.add_toxic_json(br#"{"type":"timeout","attributes":{"timeout":30000}}"#)
        .expect("added");
    let mut stream = LinkStream::connect(link.clone(), upstream)
        .await
        .expect("connect");
    stream.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    let reading = stream.read(&mut buf);
    tokio::pin!(reading);
    // The echoed ping reaches the toxic (and restarts its timer) before the clock moves.
    assert!(finishes(&mut reading).await.is_none(), "data is dropped");
    clock.advance(Duration::from_millis(29_999));
    assert!(finishes(&mut reading).await.is_none(), "not before 30 s");
    clock.advance(Duration::from_millis(1));
    let read = finishes(&mut reading).await.expect("closed at 30 s");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn reset_peer_resets_the_connection_after_its_timeout() {
    let clock = StackClock::new();
    clock.stand_still();
    let upstream = echo().await;
    let link = link(&clock, upstream);
    link.add_toxic_json(
        br#"{"type":"reset_peer","stream":"upstream","attributes":{"timeout":500}}"#,
    )
    .expect("added");
    let mut stream = LinkStream::connect(link.clone(), upstream)
        .await
        .expect("connect");
    stream.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    let reading = stream.read(&mut buf);
    tokio::pin!(reading);
    assert!(finishes(&mut reading).await.is_none());
    clock.advance(Duration::from_millis(500));
    let read = finishes(&mut reading).await.expect("reset");
    assert_eq!(
        read.expect_err("a reset").kind(),
        std::io::ErrorKind::ConnectionReset
    );
}

#[tokio::test]
async fn limit_data_truncates_then_closes() {
    let clock = StackClock::new();
    let upstream = echo().await;
    let link = link(&clock, upstream);
    link.add_toxic_json(br#"{"type":"limit_data","attributes":{"bytes":10}}"#)
        .expect("added");
    let mut stream = LinkStream::connect(link.clone(), upstream)
        .await
        .expect("connect");
    stream.write_all(b"0123456789abcdef").await.expect("write");
    let mut back = Vec::new();
    let _ = finishes(stream.read_to_end(&mut back))
        .await
        .expect("closed");
    assert_eq!(back, b"0123456789");
}

#[tokio::test]
async fn a_slicer_and_a_bandwidth_limit_never_change_the_bytes() {
    let clock = StackClock::new();
    let upstream = echo().await;
    let link = link(&clock, upstream);
    link.add_toxic_json(
        br#"{"name":"s","type":"slicer","attributes":{"average_size":3,"size_variation":2}}"#,
    )
    .expect("slicer");
    link.add_toxic_json(
        br#"{"name":"b","type":"bandwidth","stream":"upstream","attributes":{"rate":100000}}"#,
    )
    .expect("bandwidth");
    let stream = LinkStream::connect(link.clone(), upstream)
        .await
        .expect("connect");
    let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let (mut r, mut w) = tokio::io::split(stream);
    let sent = data.clone();
    let writing = tokio::spawn(async move {
        w.write_all(&sent).await.expect("write");
        w
    });
    let mut back = vec![0u8; data.len()];
    r.read_exact(&mut back).await.expect("read");
    assert!(back == data, "bytes changed");
    let _ = writing.await;
}

#[tokio::test]
async fn toxicity_is_drawn_per_connection_from_the_seed() {
    let clock = StackClock::new();
    clock.stand_still();
    let upstream = echo().await;
    let link = link(&clock, upstream);
    link.add_toxic_json(br#"{"type":"timeout","toxicity":0.5,"attributes":{"timeout":0}}"#)
        .expect("added");
    let mut held = Vec::new();
    for _ in 0..40 {
        let mut stream = LinkStream::connect(link.clone(), upstream)
            .await
            .expect("connect");
        stream.write_all(b"p").await.expect("write");
        let mut buf = [0u8; 1];
        held.push(finishes(stream.read_exact(&mut buf)).await.is_none());
    }
    let count = held.iter().filter(|h| **h).count();
    assert!((8..=32).contains(&count), "{count} of 40 held");
}
