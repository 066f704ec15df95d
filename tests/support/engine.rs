//! The machine's Docker Engine for the container-target tests: without one they say they were
//! skipped; with `GAUNTLET_REQUIRE_DOCKER=1` (CI) they fail instead.

use gauntlet::docker::{self, engine};

/// The engine, or `None` after saying why `test` is skipped.
pub async fn engine_or_skip(test: &str) -> Option<docker::Engine> {
    match engine::connect().await {
        Ok(engine) => Some(engine),
        Err(e) => {
            if std::env::var("GAUNTLET_REQUIRE_DOCKER").as_deref() == Ok("1") {
                panic!("{test}: GAUNTLET_REQUIRE_DOCKER=1 but {e}");
            }
            eprintln!("{test}: skipped, no Docker engine ({e}); GAUNTLET_REQUIRE_DOCKER=1 makes this a failure");
            None
        }
    }
}
