//! The scenario's stack: starting it explicitly and checking that it is serving.

use cucumber::given;

use super::world::{GauntletWorld, StepError, StepResult};
use crate::http::client::OutgoingRequest;

#[given("the stack is running")]
async fn stack_running(world: &mut GauntletWorld) -> StepResult {
    let admin = world.stack().await?.admin_url();
    let response = world
        .client
        .send(&OutgoingRequest::new(
            http::Method::GET,
            format!("{admin}/status"),
        ))
        .await?;
    if response.status == 200 {
        Ok(())
    } else {
        Err(StepError::new(format!(
            "the gateway admin API answered /status with {}",
            response.status
        )))
    }
}
