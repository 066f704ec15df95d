//! The stack clock (SPEC §3): the one time source every policy timer reads.
//!
//! ```text
//!   real monotonic time ──┐
//!                         ├──► StackClock::now() ──► breaker, rate-limit windows, timeouts, JWT exp/nbf
//!   jump offset (steps) ──┘            │
//!                                      └──► sleep_until() wakes early when a jump passes its deadline
//! ```
//!
//! Without jumps the clock runs exactly at real speed, so a 30 s timeout fires after 30 real
//! seconds. A jump ("60 seconds pass") adds to the offset and wakes every sleeper whose deadline is
//! now in the past, so policy time can be verified in milliseconds without changing semantics.
#![allow(clippy::disallowed_methods)] // the only module allowed to read the real clocks

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::units::Compact;

/// How far ahead of real time a stack clock may be jumped in total: ten years. Every token,
/// rate-limit window and certificate of the stack has long expired by then; further jumps only
/// risk saturating the clock, after which nothing on the stack could recover until a restart.
pub const MAX_OFFSET: Duration = Duration::from_secs(10 * 365 * 86_400);

/// A jump the clock refused (see [`StackClock::try_advance`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the stack clock may run at most {max} ahead of real time (10 years); it is {offset} ahead, \
     so a jump of {by} is refused",
    max = Compact(MAX_OFFSET),
    offset = Compact(*offset),
    by = Compact(*by)
)]
pub struct JumpRefused {
    pub by: Duration,
    pub offset: Duration,
}

/// A point on a stack clock: time elapsed since the stack started, jumps included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StackInstant(Duration);

impl StackInstant {
    /// Time since the stack started.
    pub fn since_start(self) -> Duration {
        self.0
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: StackInstant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl StackInstant {
    /// `self + d`, or `None` past the end of time.
    pub fn checked_add(self, d: Duration) -> Option<StackInstant> {
        self.0.checked_add(d).map(StackInstant)
    }
}

impl std::ops::Add<Duration> for StackInstant {
    type Output = StackInstant;
    fn add(self, rhs: Duration) -> StackInstant {
        StackInstant(self.0 + rhs)
    }
}

/// The clock of one running stack. Cheap to clone; clones share the offset.
#[derive(Debug, Clone)]
pub struct StackClock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    started_wall: SystemTime,
    /// Total jump offset in nanoseconds.
    offset_ns: AtomicU64,
    /// Real time since `started` at which the clock stopped following real time, in
    /// nanoseconds, or [`RUNNING`] while it does.
    stood_still_at_ns: AtomicU64,
    jumped: Notify,
    /// Whether the clock ever left real time (a jump, or standing still): only then can a
    /// sleeper be due before its timer fires, and only then are deadlines registered.
    diverged: AtomicBool,
    /// Every registered sleeper's deadline (with a unique id), so that a step can tell whether
    /// a timer is due and not yet handled ([`StackClock::due_sleepers`]).
    sleepers: Mutex<BTreeSet<(StackInstant, u64)>>,
    /// Sleepers that started while the clock followed real time and have not registered since
    /// (each does on its next wake-up, which the divergence causes).
    unregistered: AtomicUsize,
    next_sleeper: AtomicU64,
}

/// A sleeper's place in the bookkeeping of [`StackClock::due_sleepers`], given up when the sleep
/// ends or is cancelled.
enum Sleeper<'a> {
    /// Counted in `unregistered` (the clock followed real time when the sleep started).
    Counted(&'a Inner),
    /// In the registry with this key.
    Registered(&'a Inner, (StackInstant, u64)),
}

impl<'a> Sleeper<'a> {
    /// Registers a sleeper until `deadline`: with its deadline once the clock has diverged,
    /// else only counted (one atomic add, no lock: the request path's timeouts).
    fn new(inner: &'a Inner, deadline: StackInstant) -> Self {
        if inner.diverged.load(Ordering::SeqCst) {
            Sleeper::register(inner, deadline)
        } else {
            inner.unregistered.fetch_add(1, Ordering::SeqCst);
            Sleeper::Counted(inner)
        }
    }

    fn register(inner: &'a Inner, deadline: StackInstant) -> Self {
        let key = (deadline, inner.next_sleeper.fetch_add(1, Ordering::Relaxed));
        inner.sleepers().insert(key);
        Sleeper::Registered(inner, key)
    }

    /// Once the clock has diverged, moves a counted sleeper into the registry (registered
    /// first, then uncounted, so it is never missing from both).
    fn update(&mut self, deadline: StackInstant) {
        if let Sleeper::Counted(inner) = *self {
            if inner.diverged.load(Ordering::SeqCst) {
                let registered = Sleeper::register(inner, deadline);
                // Dropping the counted sleeper uncounts it.
                drop(std::mem::replace(self, registered));
            }
        }
    }
}

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        match self {
            Sleeper::Counted(inner) => {
                inner.unregistered.fetch_sub(1, Ordering::SeqCst);
            }
            Sleeper::Registered(inner, key) => {
                inner.sleepers().remove(key);
            }
        }
    }
}

impl Inner {
    fn sleepers(&self) -> MutexGuard<'_, BTreeSet<(StackInstant, u64)>> {
        self.sleepers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `Inner::stood_still_at_ns` while the clock follows real time.
const RUNNING: u64 = u64::MAX;

impl Default for StackClock {
    fn default() -> Self {
        Self::new()
    }
}

impl StackClock {
    /// A clock starting now, at real speed, with no offset.
    pub fn new() -> Self {
        StackClock {
            inner: Arc::new(Inner {
                started: Instant::now(),
                started_wall: SystemTime::now(),
                offset_ns: AtomicU64::new(0),
                stood_still_at_ns: AtomicU64::new(RUNNING),
                jumped: Notify::new(),
                diverged: AtomicBool::new(false),
                sleepers: Mutex::new(BTreeSet::new()),
                unregistered: AtomicUsize::new(0),
                next_sleeper: AtomicU64::new(0),
            }),
        }
    }

    /// Monotonic stack time.
    pub fn now(&self) -> StackInstant {
        let real = match self.inner.stood_still_at_ns.load(Ordering::Acquire) {
            RUNNING => self.inner.started.elapsed(),
            at => Duration::from_nanos(at),
        };
        StackInstant(real + self.offset())
    }

    /// Stops the clock following real time: from now on it moves only by jumps. A scenario that
    /// checks exact window arithmetic (a `RateLimit-Reset` of 60 after 100 requests) then does
    /// not depend on how fast a loaded machine sends those requests. Sleepers keep waiting for
    /// a jump past their deadline. There is no way back: a stack that stood still stays so.
    pub fn stand_still(&self) {
        self.diverge();
        let at = u64::try_from(self.inner.started.elapsed().as_nanos()).unwrap_or(RUNNING - 1);
        let _ = self.inner.stood_still_at_ns.compare_exchange(
            RUNNING,
            at,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// [`StackClock::stand_still`] with the wall time it stands at given: clocks of several
    /// processes (the containers of one stack) that stand still at the same wall time agree to
    /// the nanosecond from then on, jumps included. A time before this clock's start stands at
    /// its start.
    pub fn stand_still_at(&self, wall: SystemTime) {
        self.diverge();
        let since_start = wall
            .duration_since(self.inner.started_wall)
            .unwrap_or_default()
            .saturating_sub(self.offset());
        let at = u64::try_from(since_start.as_nanos()).unwrap_or(RUNNING - 1);
        let _ = self.inner.stood_still_at_ns.compare_exchange(
            RUNNING,
            at,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Whether [`StackClock::stand_still`] was called.
    pub fn stands_still(&self) -> bool {
        self.inner.stood_still_at_ns.load(Ordering::Acquire) != RUNNING
    }

    /// Wall-clock time on this stack (real wall time at start + elapsed + jumps). Used for JWT
    /// `exp`/`nbf` and calendar-aligned rate-limit windows.
    pub fn wall(&self) -> SystemTime {
        self.inner.started_wall + self.now().since_start()
    }

    /// Seconds since the Unix epoch on this stack, as JWT claims use them.
    pub fn unix_seconds(&self) -> u64 {
        self.wall()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// Sum of all jumps so far.
    pub fn offset(&self) -> Duration {
        Duration::from_nanos(self.inner.offset_ns.load(Ordering::Acquire))
    }

    /// Jumps the clock forward by `by`, unless that would put it more than [`MAX_OFFSET`] ahead
    /// of real time: then nothing moves and the refusal says why. The control API and the clock
    /// steps jump through here, so an answer never reports a jump that was not made.
    ///
    /// # Errors
    /// [`JumpRefused`] with the jump asked for and the offset it would have exceeded.
    pub fn try_advance(&self, by: Duration) -> Result<Duration, JumpRefused> {
        let max = u64::try_from(MAX_OFFSET.as_nanos()).unwrap_or(u64::MAX);
        let refused = || JumpRefused {
            by,
            offset: self.offset(),
        };
        let ns = u64::try_from(by.as_nanos()).map_err(|_| refused())?;
        self.diverge();
        let before = self
            .inner
            .offset_ns
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |offset| {
                offset.checked_add(ns).filter(|total| *total <= max)
            })
            .map_err(|_| refused())?;
        self.inner.jumped.notify_waiters();
        Ok(Duration::from_nanos(before + ns))
    }

    /// Jumps the clock forward by `by` and wakes every sleeper whose deadline has now passed.
    /// For tests and internal jumps; input from users goes through [`StackClock::try_advance`].
    pub fn advance(&self, by: Duration) {
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.diverge();
        // Saturate: an absurd jump must never wrap the clock backwards.
        let _ = self
            .inner
            .offset_ns
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |offset| {
                Some(offset.saturating_add(ns))
            });
        self.inner.jumped.notify_waiters();
    }

    /// Waits until the clock's jump offset is no longer `seen` (returns at once if a jump came
    /// meanwhile): `gauntlet up` reprints its tokens after each jump.
    pub async fn jumped_since(&self, seen: Duration) {
        loop {
            let jumped = self.inner.jumped.notified();
            tokio::pin!(jumped);
            jumped.as_mut().enable();
            if self.offset() != seen {
                return;
            }
            jumped.await;
        }
    }

    /// From now on sleepers register their deadlines (see [`Sleeper`]); before the clock first
    /// leaves real time no timer can be due before it fires, so none needs to. The flag is set
    /// before the jump is made and announced, so every sleeper the jump can reach is counted.
    fn diverge(&self) {
        self.inner.diverged.store(true, Ordering::SeqCst);
    }

    /// How many sleepers have a deadline the clock has reached but have not woken yet: a jump
    /// just passed their deadline and their tasks are on the way to act on it (a gateway
    /// timeout about to answer 504). Zero once every due timer has been handled.
    ///
    /// A sleeper that started before the clock first left real time has no registered deadline
    /// until its next wake-up (which that first jump causes): until then it counts as due.
    pub fn due_sleepers(&self) -> usize {
        if !self.inner.diverged.load(Ordering::SeqCst) {
            return 0;
        }
        let unregistered = self.inner.unregistered.load(Ordering::SeqCst);
        let now = self.now();
        unregistered + self.inner.sleepers().range(..(now, u64::MAX)).count()
    }

    /// Sleeps until the stack clock reaches `deadline`: real time, or earlier if a jump passes it.
    pub async fn sleep_until(&self, deadline: StackInstant) {
        let mut sleeper = Sleeper::new(&self.inner, deadline);
        loop {
            // Register for jump notifications before reading the clock so none is missed.
            let jumped = self.inner.jumped.notified();
            tokio::pin!(jumped);
            jumped.as_mut().enable();
            sleeper.update(deadline);
            let remaining = deadline.saturating_duration_since(self.now());
            if remaining.is_zero() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(remaining) => {}
                _ = &mut jumped => {}
            }
        }
    }

    /// Sleeps for `duration` of stack time.
    pub async fn sleep(&self, duration: Duration) {
        self.sleep_until(self.now() + duration).await
    }

    /// Runs `fut` with a stack-time limit; `None` when the deadline passed first.
    pub async fn timeout<F: std::future::Future>(
        &self,
        duration: Duration,
        fut: F,
    ) -> Option<F::Output> {
        // `fut` first: a future that is already done (a body already received) never arms a
        // timer, and one that completes as the deadline passes still counts as done.
        tokio::select! {
            biased;
            out = fut => Some(out),
            _ = self.sleep(duration) => None,
        }
    }
}

/// Real elapsed time for measurement (durations of steps, latency samples), never for policy.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    pub fn start() -> Self {
        Stopwatch(Instant::now())
    }
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A real monotonic instant on tokio's timer, for load generation: the generator schedules each
/// request at an absolute real time (an arrival rate is real time, like injected latency), so
/// it cannot use the stack clock, whose jumps would fire a whole schedule at once.
pub fn real_instant() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// Real wall-clock time for report timestamps and run ids, never for policy.
pub fn real_wall_now() -> SystemTime {
    SystemTime::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn advancing_moves_now_and_wall_together() {
        let clock = StackClock::new();
        let before_now = clock.now();
        let before_wall = clock.unix_seconds();
        clock.advance(Duration::from_secs(60));
        assert!(clock.now().saturating_duration_since(before_now) >= Duration::from_secs(60));
        assert!(clock.unix_seconds() >= before_wall + 60);
    }

    #[tokio::test]
    async fn a_clock_standing_still_moves_only_by_jumps() {
        let clock = StackClock::new();
        clock.stand_still();
        let before = clock.now();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(clock.now(), before, "real time must not move it");
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            clock.now().saturating_duration_since(before),
            Duration::from_secs(60)
        );
        assert!(clock.stands_still());
    }

    #[tokio::test]
    async fn a_sleeper_on_a_clock_standing_still_wakes_only_on_a_jump() {
        let clock = StackClock::new();
        clock.stand_still();
        let woke = tokio::time::timeout(
            Duration::from_millis(50),
            clock.sleep(Duration::from_millis(10)),
        )
        .await;
        assert!(woke.is_err(), "10 ms of real time is no stack time");
        let jumper = clock.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            jumper.advance(Duration::from_millis(10));
        });
        tokio::time::timeout(
            Duration::from_secs(5),
            clock.sleep(Duration::from_millis(10)),
        )
        .await
        .expect("the jump ends the sleep");
    }

    /// `due_sleepers` is what "the started requests are still waiting" waits on: a timer a jump
    /// reached counts until its task has run, and a cancelled sleep leaves no trace.
    #[tokio::test(flavor = "current_thread")]
    async fn a_sleeper_a_jump_reached_is_due_until_it_wakes() {
        let clock = StackClock::new();
        clock.stand_still();
        let short = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_secs(30)).await }
        });
        let long = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_secs(60)).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(clock.due_sleepers(), 0, "nothing reached yet");
        // On this single thread the sleepers cannot run before the next await.
        clock.advance(Duration::from_secs(30));
        assert_eq!(
            clock.due_sleepers(),
            1,
            "the 30 s timer is due, not yet woken"
        );
        short.await.expect("woke");
        assert_eq!(clock.due_sleepers(), 0, "handled");
        long.abort();
        let _ = long.await;
        clock.advance(Duration::from_secs(60));
        assert_eq!(clock.due_sleepers(), 0, "a cancelled sleep is not due");
    }

    /// Sleepers started while the clock followed real time register no deadline (no lock on
    /// the request path); the first jump makes them count as due until they have woken and
    /// registered, so "still waiting" never misses one.
    #[tokio::test(flavor = "current_thread")]
    async fn a_sleeper_from_before_the_first_jump_is_due_until_it_has_woken() {
        let clock = StackClock::new();
        let short = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_secs(30)).await }
        });
        let long = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep(Duration::from_secs(60)).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(clock.due_sleepers(), 0, "nothing can be due in real time");
        assert!(clock.inner.sleepers().is_empty(), "nothing registered");
        clock.advance(Duration::from_secs(30));
        assert_eq!(clock.due_sleepers(), 2, "both count until they have looked");
        short.await.expect("woke");
        tokio::task::yield_now().await;
        assert_eq!(
            clock.due_sleepers(),
            0,
            "the 60 s one is registered, not due"
        );
        assert_eq!(clock.inner.sleepers().len(), 1);
        long.abort();
        let _ = long.await;
        assert!(
            clock.inner.sleepers().is_empty(),
            "a cancelled sleep leaves no trace"
        );
        assert_eq!(clock.inner.unregistered.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn an_absurd_jump_saturates_instead_of_wrapping() {
        let clock = StackClock::new();
        clock.advance(Duration::from_secs(u64::MAX / 2));
        let before = clock.now();
        clock.advance(Duration::from_secs(u64::MAX / 2));
        assert!(clock.now() >= before);
    }

    #[tokio::test]
    async fn a_jump_wakes_a_sleeper_whose_deadline_passed() {
        let clock = StackClock::new();
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep(Duration::from_secs(3600)).await })
        };
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(3601));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("sleeper woke after the jump")
            .expect("sleeper task");
    }

    #[tokio::test]
    async fn a_short_jump_does_not_wake_a_sleeper_early() {
        let clock = StackClock::new();
        let jumper = clock.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            jumper.advance(Duration::from_secs(10));
        });
        // Real-time limit: the 10 s jump lands while the 60 s sleep is waiting.
        let woke = tokio::time::timeout(
            Duration::from_millis(100),
            clock.sleep(Duration::from_secs(60)),
        )
        .await;
        assert!(woke.is_err(), "a 10 s jump must not end a 60 s sleep");
        assert!(
            clock.offset() >= Duration::from_secs(10),
            "the jump happened"
        );
    }

    #[tokio::test]
    async fn timeout_fires_on_a_jump() {
        let clock = StackClock::new();
        let c2 = clock.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            c2.advance(Duration::from_secs(31));
        });
        let out = clock
            .timeout(Duration::from_secs(30), std::future::pending::<()>())
            .await;
        assert!(out.is_none());
    }

    #[test]
    fn a_jump_past_ten_years_ahead_is_refused_and_moves_nothing() {
        let clock = StackClock::new();
        assert_eq!(
            clock.try_advance(Duration::from_secs(3600)),
            Ok(Duration::from_secs(3600))
        );
        let err = clock
            .try_advance(MAX_OFFSET)
            .expect_err("ten years on top of an hour");
        assert_eq!(clock.offset(), Duration::from_secs(3600));
        assert_eq!(
            err.to_string(),
            "the stack clock may run at most 3650d ahead of real time (10 years); it is 1h ahead, \
             so a jump of 3650d is refused"
        );
        assert!(clock.try_advance(Duration::MAX).is_err());
        assert_eq!(
            clock.try_advance(MAX_OFFSET - Duration::from_secs(3600)),
            Ok(MAX_OFFSET)
        );
        assert!(clock.try_advance(Duration::from_nanos(1)).is_err());
    }
}
