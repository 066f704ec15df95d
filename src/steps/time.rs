//! Moving time: "N seconds pass" jumps the scenario's stack clock (SPEC §3), or sleeps for real
//! under `--real-time`. Either way every policy timer sees the same elapsed time.

use cucumber::{given, when};

use super::params::DurationParam;
use super::world::{GauntletWorld, StepResult};

#[when(expr = "{duration} pass(es)")]
async fn time_passes(world: &mut GauntletWorld, d: DurationParam) -> StepResult {
    let real_time = world.settings()?.real_time;
    let stack = world.stack().await?;
    if real_time {
        tokio::time::sleep(d.0).await;
    } else {
        stack.advance(d.0).await?;
    }
    Ok(())
}

/// Under `--real-time` the clock keeps following real time, as the platform's does; the
/// scenario's tolerances must then allow for it.
#[given(expr = "the stack clock stands still")]
async fn clock_stands_still(world: &mut GauntletWorld) -> StepResult {
    let real_time = world.settings()?.real_time;
    let stack = world.stack().await?;
    if !real_time {
        stack.stand_still().await?;
    }
    Ok(())
}

/// Seconds from `unix` to the next multiple of `period`.
fn until_boundary(unix: u64, period: u64) -> u64 {
    period - unix % period
}

#[given(expr = "the clock reaches the start of the next {word}")]
#[when(expr = "the clock reaches the start of the next {word}")]
async fn clock_to_boundary(world: &mut GauntletWorld, unit: String) -> StepResult {
    let period = match unit.as_str() {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        other => {
            return Err(super::world::StepError::new(format!(
                "unknown unit {other:?}: use second, minute, hour or day"
            )))
        }
    };
    let real_time = world.settings()?.real_time;
    let stack = world.stack().await?;
    let clock = stack.clock();
    // Land on the boundary exactly: whole seconds left, minus the fraction of this second gone.
    let wall = clock
        .wall()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let jump = std::time::Duration::from_secs(until_boundary(wall.as_secs(), period))
        .saturating_sub(std::time::Duration::from_nanos(u64::from(
            wall.subsec_nanos(),
        )));
    if real_time {
        tokio::time::sleep(jump).await;
    } else {
        stack.advance(jump).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::until_boundary;

    #[test]
    fn boundary_is_the_next_multiple_even_when_on_one() {
        assert_eq!(until_boundary(119, 60), 1);
        assert_eq!(until_boundary(120, 60), 60);
        assert_eq!(until_boundary(3599, 3600), 1);
    }
}
