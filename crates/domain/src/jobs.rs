//! Background jobs: what happens to a job after an attempt. The rules, without the queue: the
//! core's `jobs` module stores jobs and leases them, and asks here what comes next.
//!
//! A job is `queued` (waiting for its `run_at`), `running` (leased by one server), and ends
//! `done`, `failed` or `cancelled`. An attempt that fails in a way worth retrying (the database
//! was unreachable, the server running it stopped) is queued again after a backoff that doubles
//! each time, up to [`MAX_BACKOFF_MICROS`], until the job's attempts are spent; a failure that
//! would fail again (a file that does not parse) ends the job at once.

/// The longest a retry waits: an hour.
pub const MAX_BACKOFF_MICROS: i64 = 3_600_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Queued,
        Status::Running,
        Status::Done,
        Status::Failed,
        Status::Cancelled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }
    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Done | Status::Failed | Status::Cancelled)
    }
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    Succeeded,
    /// Failed for a reason that may pass (a lost connection, a stopped server).
    FailedTransiently,
    /// Failed for a reason that would fail again.
    FailedPermanently,
}

/// What the job does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Done,
    /// Queued again, to run at this time (microseconds).
    RetryAt(i64),
    Failed,
}

/// The wait before retry number `attempt` (1 after the first failure): `base`, then twice as
/// long each time, at most [`MAX_BACKOFF_MICROS`].
pub fn backoff(attempt: i64, base_micros: i64) -> i64 {
    let doublings = u32::try_from((attempt - 1).clamp(0, 40)).unwrap_or(40);
    base_micros
        .max(0)
        .saturating_mul(1_i64 << doublings.min(40))
        .min(MAX_BACKOFF_MICROS.max(base_micros))
}

/// What follows attempt number `attempts` (counting this one) of a job that may make
/// `max_attempts`, ended as `how` at `now`.
pub fn after(how: Attempt, attempts: i64, max_attempts: i64, now: i64, base_micros: i64) -> Next {
    match how {
        Attempt::Succeeded => Next::Done,
        Attempt::FailedPermanently => Next::Failed,
        Attempt::FailedTransiently if attempts < max_attempts => {
            Next::RetryAt(now.saturating_add(backoff(attempts, base_micros)))
        }
        Attempt::FailedTransiently => Next::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1, 10_000_000), 10_000_000);
        assert_eq!(backoff(2, 10_000_000), 20_000_000);
        assert_eq!(backoff(4, 10_000_000), 80_000_000);
        assert_eq!(backoff(30, 10_000_000), MAX_BACKOFF_MICROS);
        assert_eq!(backoff(1_000, 10_000_000), MAX_BACKOFF_MICROS);
        assert_eq!(backoff(0, 5), 5);
        assert_eq!(backoff(3, -1), 0);
    }

    #[test]
    fn a_transient_failure_retries_until_the_attempts_are_spent() {
        assert_eq!(after(Attempt::Succeeded, 1, 3, 100, 10), Next::Done);
        assert_eq!(
            after(Attempt::FailedTransiently, 1, 3, 100, 10),
            Next::RetryAt(110)
        );
        assert_eq!(
            after(Attempt::FailedTransiently, 2, 3, 100, 10),
            Next::RetryAt(120)
        );
        assert_eq!(
            after(Attempt::FailedTransiently, 3, 3, 100, 10),
            Next::Failed
        );
        assert_eq!(
            after(Attempt::FailedPermanently, 1, 3, 100, 10),
            Next::Failed
        );
    }

    #[test]
    fn statuses_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert!(Status::Done.is_final() && !Status::Queued.is_final());
        assert_eq!(Status::parse("paused"), None);
    }
}
