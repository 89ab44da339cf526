//! How the scheduler treats failures: how many worker deaths a task may take part in, and how
//! long a silent worker is waited for.

use std::time::Duration;

use crate::error::{Error, Result};

/// The scheduler's failure settings.
///
/// ```
/// use std::time::Duration;
/// let options = partita_cluster::SchedulerOptions::default();
/// assert_eq!(options.allowed_failures, 3);
/// assert_eq!(options.worker_timeout, Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchedulerOptions {
    /// How many workers may die while a task is assigned to them before the task is taken to be
    /// the cause and fails its compute as `KilledWorker` (3, as Dask's).
    pub allowed_failures: u32,
    /// How long a worker may send nothing before it counts as lost. Workers send a heartbeat
    /// every second, so the default of 5 s notices a cut link within 6 s; a broken stream (a
    /// killed process) counts at once.
    pub worker_timeout: Duration,
}

impl Default for SchedulerOptions {
    fn default() -> SchedulerOptions {
        SchedulerOptions {
            allowed_failures: 3,
            worker_timeout: Duration::from_secs(5),
        }
    }
}

impl SchedulerOptions {
    /// The defaults, changed by `PARTITA_ALLOWED_FAILURES` (a count) and
    /// `PARTITA_WORKER_TIMEOUT` (seconds, `2.5` say) where they are set.
    ///
    /// # Errors
    /// A variable that is set but does not parse.
    pub fn from_env() -> Result<SchedulerOptions> {
        let mut options = SchedulerOptions::default();
        if let Ok(v) = std::env::var("PARTITA_ALLOWED_FAILURES") {
            options.allowed_failures =
                v.parse::<u32>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| Error::Config {
                        message: format!("PARTITA_ALLOWED_FAILURES={v} is not a positive count"),
                    })?;
        }
        if let Ok(v) = std::env::var("PARTITA_WORKER_TIMEOUT") {
            options.worker_timeout = v
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| Error::Config {
                    message: format!("PARTITA_WORKER_TIMEOUT={v} is not a number of seconds"),
                })?;
        }
        Ok(options)
    }
}
