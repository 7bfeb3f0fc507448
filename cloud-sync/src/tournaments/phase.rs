//! Where a tournament stands, from its times and what happened to it: the `status` every read
//! shows and what registration and check-in allow now. Pure (the clock is an argument), so one
//! table of cases states the rules (docs/cloud-api.md, "Tournaments").

use serde::Serialize;

/// A tournament's status as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not started, check-in not open, registration not closed (it may not be open yet).
    Registration,
    /// Check-in is open (by hand or since `check_in_opens_at`), not started yet.
    CheckIn,
    /// Registration closed, check-in not open, not started yet.
    Closed,
    /// The venue started it: it owns the bracket, the cloud mirrors it.
    Running,
    /// Every bracket match is done.
    Complete,
    /// Cancelled before it started.
    Cancelled,
}

impl Status {
    /// The name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Registration => "registration",
            Status::CheckIn => "check_in",
            Status::Closed => "closed",
            Status::Running => "running",
            Status::Complete => "complete",
            Status::Cancelled => "cancelled",
        }
    }
}

/// What a tournament's status depends on, in Unix ms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Phase {
    /// Now (the database's clock, read at the edge).
    pub now_ms: i64,
    /// When registration opens (`None`: open from creation).
    pub registration_opens_ms: Option<i64>,
    /// When registration closes (`None`: at the start).
    pub registration_closes_ms: Option<i64>,
    /// When check-in opens by itself (`None`: only by hand).
    pub check_in_opens_ms: Option<i64>,
    /// Check-in was opened (by hand or by the schedule).
    pub check_in_opened: bool,
    /// Cancelled.
    pub cancelled: bool,
    /// The venue started it.
    pub started: bool,
    /// Its mirrored bracket is complete.
    pub complete: bool,
}

impl Phase {
    /// The status now.
    pub fn status(&self) -> Status {
        if self.cancelled {
            Status::Cancelled
        } else if self.started {
            if self.complete {
                Status::Complete
            } else {
                Status::Running
            }
        } else if self.check_in_open() {
            Status::CheckIn
        } else if self.registration_closed() {
            Status::Closed
        } else {
            Status::Registration
        }
    }

    fn check_in_open(&self) -> bool {
        self.check_in_opened || self.check_in_opens_ms.is_some_and(|at| at <= self.now_ms)
    }

    fn registration_closed(&self) -> bool {
        self.registration_closes_ms
            .is_some_and(|at| at <= self.now_ms)
    }

    /// Why registering (or moving up the waiting list) is refused now, if it is: the cloud owns
    /// registration only before the start, within the registration window (check-in may be open
    /// meanwhile).
    pub fn refuse_registration(&self) -> Option<&'static str> {
        if self.cancelled {
            Some("the tournament is cancelled")
        } else if self.started {
            Some("the tournament has started: the venue runs it now")
        } else if self
            .registration_opens_ms
            .is_some_and(|at| at > self.now_ms)
        {
            Some("registration is not open yet")
        } else if self.registration_closed() {
            Some("registration is closed")
        } else {
            None
        }
    }

    /// Why checking in is refused now, if it is.
    pub fn refuse_check_in(&self) -> Option<&'static str> {
        if self.cancelled {
            Some("the tournament is cancelled")
        } else if self.started {
            Some("the tournament has started: check in at the venue")
        } else if !self.check_in_open() {
            Some("check-in is not open")
        } else {
            None
        }
    }

    /// Why the organisers' changes (edit, cancel, open check-in) are refused now, if they are.
    pub fn refuse_change(&self) -> Option<&'static str> {
        if self.cancelled {
            Some("the tournament is cancelled")
        } else if self.started {
            Some("the tournament has started: the venue owns it now")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(now_ms: i64) -> Phase {
        Phase {
            now_ms,
            registration_opens_ms: Some(100),
            registration_closes_ms: Some(200),
            check_in_opens_ms: Some(300),
            ..Phase::default()
        }
    }

    #[test]
    fn status_follows_the_times_and_the_facts() {
        let cases = [
            (at(50), Status::Registration, false, false),
            (at(150), Status::Registration, true, false),
            (at(250), Status::Closed, false, false),
            (at(300), Status::CheckIn, false, true),
            (
                Phase {
                    check_in_opened: true,
                    ..at(150)
                },
                Status::CheckIn,
                true,
                true,
            ),
            (
                Phase {
                    started: true,
                    ..at(150)
                },
                Status::Running,
                false,
                false,
            ),
            (
                Phase {
                    started: true,
                    complete: true,
                    ..at(150)
                },
                Status::Complete,
                false,
                false,
            ),
            (
                Phase {
                    cancelled: true,
                    ..at(150)
                },
                Status::Cancelled,
                false,
                false,
            ),
            (Phase::default(), Status::Registration, true, false),
        ];
        for (phase, status, register, check_in) in cases {
            assert_eq!(phase.status(), status, "{phase:?}");
            assert_eq!(phase.refuse_registration().is_none(), register, "{phase:?}");
            assert_eq!(phase.refuse_check_in().is_none(), check_in, "{phase:?}");
        }
        assert!(at(150).refuse_change().is_none());
        assert!(
            Phase {
                started: true,
                ..at(150)
            }
            .refuse_change()
            .is_some()
        );
    }
}
