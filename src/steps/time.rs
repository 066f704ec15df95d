//! Moving time: "N seconds pass" jumps the scenario's stack clock (SPEC §3), or sleeps for real
//! under `--real-time`. Either way every policy timer sees the same elapsed time.

use cucumber::when;

use super::params::DurationParam;
use super::world::{GauntletWorld, StepResult};

#[when(expr = "{duration} pass(es)")]
async fn time_passes(world: &mut GauntletWorld, d: DurationParam) -> StepResult {
    let real_time = world.settings()?.real_time;
    let clock = world.stack().await?.clock.clone();
    if real_time {
        tokio::time::sleep(d.0).await;
    } else {
        clock.advance(d.0);
    }
    Ok(())
}
