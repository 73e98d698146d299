//! Waiting for what background work (queue consumers, a server's workers) does in time.

use std::time::{Duration, Instant};

/// How long to keep looking, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// Past this, the wait fails the test.
    pub within: Duration,
    /// The pause between two looks.
    pub every: Duration,
}

/// What a test gives the local server's queue consumers to do what it waits for.
pub const LOCAL_SERVER: Patience = Patience {
    within: Duration::from_secs(10),
    every: Duration::from_millis(100),
};

/// Runs `attempt` until it gives `Ok`, pausing `patience.every` between tries; fails the
/// test with the last `Err` (what was still missing) once `patience.within` has passed.
pub async fn eventually<T>(
    patience: Patience,
    mut attempt: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + patience.within;
    loop {
        match attempt().await {
            Ok(done) => return done,
            Err(missing) => assert!(Instant::now() < deadline, "{missing}"),
        }
        tokio::time::sleep(patience.every).await;
    }
}
