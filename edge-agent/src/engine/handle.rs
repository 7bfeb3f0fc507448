//! How the rest of the agent asks the engine for something: [`EngineHandle`] sends a staff request
//! down the engine's channel and resolves once its input is committed, or with the
//! [`EngineError`] that refused it.

use shared::rules::MatchSpec;
use tokio::sync::{mpsc, oneshot};

use crate::registry::{Change, Entry, Listing};
use crate::table::{Actor, StaffAction};
use crate::tournament::{TournamentInput, TournamentSummary, TournamentView};
use crate::view::Published;

/// Why the engine refused a request.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The table has no match in play.
    #[error("table {0} has no match in play")]
    NoMatch(String),
    /// The table id is not acceptable.
    #[error("invalid table id {0:?}: use 1-32 letters, digits, '-' or '_'")]
    BadTable(String),
    /// The rules refused the input.
    #[error("{0}")]
    Rejected(#[from] shared::rules::Rejected),
    /// A match is already in play and not finished.
    #[error("table {0} already has a match in play; concede or finish it first")]
    Busy(String),
    /// A table-time session is already running there.
    #[error("table {0} already has a session running; stop it first")]
    SessionRunning(String),
    /// No table-time session is running there.
    #[error("table {0} has no session running")]
    NoSession(String),
    /// The shot clock refused the request (none in this match, not running, extension used…).
    #[error("{0}")]
    ShotClock(String),
    /// The table is not in the registry (or is retired).
    #[error(
        "no table {0:?} in the registry: staff register it first (console, Venue tab, or PUT /api/v1/registry/{0})"
    )]
    UnknownTable(String),
    /// The registry refused the change.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// The table is in use (a match in play or a session running).
    #[error("table {0} is in use (a match in play or a session running); finish it first")]
    InUse(String),
    /// The store failed; the input was not applied.
    #[error("storage failure: {0}")]
    Store(String),
    /// The store cannot save now (a full disk): nothing was applied; it works again by itself
    /// once the writer commits.
    #[error(
        "cannot save now (the disk may be full): nothing was applied; try again once staff have freed space (GET /api/v1/health says why)"
    )]
    CannotSave,
    /// The input was taken but the store could not save it yet (the disk filled meanwhile): it
    /// is saved, and applied, as soon as the store commits again.
    #[error(
        "not saved yet: the store cannot save now (the disk may be full); this input will be saved and applied as soon as it can, so check the table before repeating it"
    )]
    NotSavedYet,
    /// The agent is shutting down.
    #[error("the agent is shutting down")]
    ShuttingDown,
    /// A tournament refused the input.
    #[error(transparent)]
    Tournament(#[from] crate::tournament::TournamentError),
    /// A no-show forfeited before the call timeout passed.
    #[error("{0}")]
    TooEarly(String),
}

pub(super) type Reply = oneshot::Sender<Result<Published, EngineError>>;

#[derive(Debug)]
pub(super) enum Request {
    Start {
        table: String,
        spec: MatchSpec,
        player_ids: [Option<String>; 2],
        by: Option<Actor>,
        reply: Reply,
    },
    Action {
        table: String,
        action: StaffAction,
        by: Actor,
        reply: Reply,
    },
    Session {
        table: String,
        start: bool,
        by: Actor,
        reply: Reply,
    },
    Register {
        change: Change,
        by: Actor,
        reply: oneshot::Sender<Result<Entry, EngineError>>,
    },
    Registry {
        reply: oneshot::Sender<Listing>,
    },
    Tournament {
        id: Option<String>,
        input: TournamentInput,
        reply: oneshot::Sender<Result<TournamentView, EngineError>>,
    },
    Import {
        planned: Vec<shared::sync::PlannedTournament>,
        reply: oneshot::Sender<usize>,
    },
}

/// The handle to send the engine work. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EngineHandle {
    pub(super) tx: mpsc::Sender<Request>,
    /// The store writer: a write is refused at once while it cannot commit, even if the engine
    /// itself is held up behind it.
    pub(super) store: Option<crate::store::StoreWatch>,
    /// The tournaments' committed views.
    pub(super) board: super::Board,
}

impl EngineHandle {
    /// A handle with no engine behind it: every request answers `ShuttingDown` (for API tests).
    pub fn detached() -> EngineHandle {
        EngineHandle {
            tx: mpsc::channel(1).0,
            store: None,
            board: super::Board::default(),
        }
    }

    /// Starts a match on `table`, started by no one named (the demo); resolves once it is
    /// committed.
    pub async fn start_match(
        &self,
        table: String,
        spec: MatchSpec,
    ) -> Result<Published, EngineError> {
        self.start_registered(table, spec, [None, None], None).await
    }

    /// Starts a match whose seats may hold registered players (cloud-sync ids, per seat), started
    /// by `by` (logged and synced in its `match_started` record).
    pub async fn start_registered(
        &self,
        table: String,
        spec: MatchSpec,
        player_ids: [Option<String>; 2],
        by: Option<Actor>,
    ) -> Result<Published, EngineError> {
        self.ask(|reply| Request::Start {
            table,
            spec,
            player_ids,
            by,
            reply,
        })
        .await
    }

    /// Applies a staff action to the current match; resolves once it is committed.
    pub async fn action(
        &self,
        table: String,
        action: StaffAction,
    ) -> Result<Published, EngineError> {
        self.action_by(table, action, Actor::staff()).await
    }

    /// Applies an action made by `by` (staff, a paired player) to the current match; resolves
    /// once it is committed.
    pub async fn action_by(
        &self,
        table: String,
        action: StaffAction,
        by: Actor,
    ) -> Result<Published, EngineError> {
        self.ask(|reply| Request::Action {
            table,
            action,
            by,
            reply,
        })
        .await
    }

    /// Starts (`true`) or stops a table-time session on `table`, by `by` (logged); resolves once
    /// it is committed.
    pub async fn session(
        &self,
        table: String,
        start: bool,
        by: Actor,
    ) -> Result<Published, EngineError> {
        self.ask(|reply| Request::Session {
            table,
            start,
            by,
            reply,
        })
        .await
    }

    /// Registers, updates or retires a table, by `by` (logged with the change on the table's
    /// view); resolves once the entry is committed.
    pub async fn register(&self, change: Change, by: Actor) -> Result<Entry, EngineError> {
        self.saving()?;
        let (reply, answer) = oneshot::channel();
        self.sent(Request::Register { change, by, reply }).await?;
        self.answer(answer).await
    }

    /// The registry with the devices announcing each table, and those announcing unknown ones.
    pub async fn registry(&self) -> Result<Listing, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request::Registry { reply })
            .await
            .map_err(|_| EngineError::ShuttingDown)?;
        answer.await.map_err(|_| EngineError::ShuttingDown)
    }

    /// Applies a tournament input (`id` `None`: a `Create`, which gets a new id); resolves with
    /// the tournament's view once it is committed.
    pub async fn tournament(
        &self,
        id: Option<String>,
        input: TournamentInput,
    ) -> Result<TournamentView, EngineError> {
        self.saving()?;
        let (reply, answer) = oneshot::channel();
        self.sent(Request::Tournament { id, input, reply }).await?;
        self.answer(answer).await
    }

    /// Every tournament's list line (committed).
    pub fn tournaments(&self) -> Vec<TournamentSummary> {
        self.board.list()
    }

    /// One tournament's committed view (`None`: no such tournament).
    pub fn tournament_view(&self, id: &str) -> Option<TournamentView> {
        self.board.get(id)
    }

    /// Takes the cloud's planned tournaments (new drafts, new entrants); how many inputs it took.
    pub async fn import_tournaments(
        &self,
        planned: Vec<shared::sync::PlannedTournament>,
    ) -> Result<usize, EngineError> {
        self.saving()?;
        let (reply, answer) = oneshot::channel();
        self.sent(Request::Import { planned, reply }).await?;
        answer.await.map_err(|_| EngineError::ShuttingDown)
    }

    /// `Err(CannotSave)` while the store cannot commit.
    fn saving(&self) -> Result<(), EngineError> {
        match &self.store {
            Some(store) if !store.can_commit() => Err(EngineError::CannotSave),
            _ => Ok(()),
        }
    }

    async fn ask(&self, request: impl FnOnce(Reply) -> Request) -> Result<Published, EngineError> {
        self.saving()?;
        let (reply, answer) = oneshot::channel();
        self.sent(request(reply)).await?;
        self.answer(answer).await
    }

    /// Sends `request` to the engine, unless the store stops committing while the engine is
    /// held up (then `CannotSave`: the request was not taken).
    async fn sent(&self, request: Request) -> Result<(), EngineError> {
        tokio::select! {
            sent = self.tx.send(request) => sent.map_err(|_| EngineError::ShuttingDown),
            () = self.store_fails() => Err(EngineError::CannotSave),
        }
    }

    /// The engine's answer, or `NotSavedYet` as soon as the store stops committing meanwhile (a
    /// request must not hang on a full disk; what was taken is saved once it commits again).
    async fn answer<T>(
        &self,
        answer: oneshot::Receiver<Result<T, EngineError>>,
    ) -> Result<T, EngineError> {
        tokio::select! {
            answer = answer => answer.map_err(|_| EngineError::ShuttingDown)?,
            () = self.store_fails() => Err(EngineError::NotSavedYet),
        }
    }

    /// Resolves once the store cannot commit (never without a store).
    async fn store_fails(&self) {
        let Some(store) = &self.store else {
            return std::future::pending().await;
        };
        let mut check = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            check.tick().await;
            if !store.can_commit() {
                return;
            }
        }
    }
}
