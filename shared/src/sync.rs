//! The venue → cloud sync contract: what edge-agent sends to cloud-sync and what it gets back.
//!
//! Both sides build on these types so they cannot drift apart. The design (docs/sync.md) is a
//! transactional outbox at the venue and an idempotent apply in the cloud: every record carries the
//! venue, the edge database's epoch and a per-epoch sequence number, so a retry, a replayed batch or
//! a restart after a crash can never store a record twice, and a restored appliance (a new epoch)
//! never reuses a sequence number silently.
//!
//! A batch travels as [`RawRecord`]s (kind and payload as the edge wrote them), so the cloud can
//! refuse one record by number ([`Invalid`]) instead of failing to parse the whole batch; each is
//! then typed into a [`Record`] and checked, from a `serde_json::Value` ([`RawRecord::parse`]) or
//! straight from the payload's JSON text ([`Record::from_text`]: the cloud keeps the text as sent
//! and never builds a `Value`). Both ways share one dispatch on the kind and one set of checks.
//!
//! Nothing here does I/O.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bracket::{Entry, Format, Options, Setup};
use crate::protocol::valid_id;
use crate::rules::{Game, Input, MatchSpec, PlayerStats};

/// Pushes a batch of outbox records.
pub const BATCHES_ROUTE: &str = "/api/v1/sync/batches";
/// The registered-player change log, read from a cursor.
pub const PLAYERS_ROUTE: &str = "/api/v1/sync/players";
/// Every registered player at once, with the cursor to continue from.
pub const PLAYERS_SNAPSHOT_ROUTE: &str = "/api/v1/sync/players/snapshot";
/// The venue's staff (people with a role there who set a console PIN): [`StaffList`].
pub const STAFF_ROUTE: &str = "/api/v1/sync/staff";

/// The venue's tournaments the cloud planned (registration online) and not yet started:
/// [`TournamentList`].
pub const TOURNAMENTS_ROUTE: &str = "/api/v1/sync/tournaments";

/// Most records in one batch.
pub const MAX_BATCH_RECORDS: usize = 1000;
/// Largest batch body, in bytes, once decompressed (the compressed body has the same bound).
pub const MAX_BATCH_BYTES: usize = 8 << 20;
/// Largest payload of one record, in bytes.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// One batch: consecutive outbox records of one venue database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The venue the records belong to; must be the venue whose key signs the request.
    pub venue_id: String,
    /// The edge database's epoch: a random id made when the database was created.
    pub epoch: String,
    /// Records with consecutive `seq`s, oldest first.
    pub records: Vec<RawRecord>,
}

/// One outbox row as the edge stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    /// Per-epoch sequence number, from 1, without gaps.
    pub seq: u64,
    /// What the record says happened: see [`Record`].
    pub kind: String,
    /// The match it belongs to.
    pub match_id: String,
    /// The record's data, shaped by `kind`.
    pub payload: Value,
}

/// What the cloud answers to a batch it applied (status 200).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAck {
    /// Every record of this epoch up to here is stored: the edge may delete them.
    pub acked_seq: u64,
    /// Records stored by this request.
    pub applied: u64,
    /// Records the cloud already had with the same content (a retry).
    pub duplicates: u64,
    /// Records the cloud already had with *different* content: kept aside, flagged for staff.
    pub conflicts: Vec<u64>,
}

/// The JSON body of every error answer: `{"error": …}` plus what the client needs to act on it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncError {
    /// What went wrong, for people.
    pub error: String,
    /// 409: the batch starts after a gap; send from this sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_seq: Option<u64>,
    /// 422: the offending record's sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// A record refused as invalid, by number, so the edge can set exactly that one aside.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("record {seq}: {reason}")]
pub struct Invalid {
    /// The record's sequence number.
    pub seq: u64,
    /// Why, for people.
    pub reason: String,
}

/// What [`TOURNAMENTS_ROUTE`] answers: the tournaments the cloud holds for the venue that have not
/// started. Until a tournament starts the cloud owns its registration; the venue imports it, checks
/// players in and starts it, and from its `tournament_started` record on the venue owns it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TournamentList {
    /// Planned tournaments, soonest first.
    pub tournaments: Vec<PlannedTournament>,
}

/// One tournament planned online.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedTournament {
    /// The cloud's id; the venue keeps it as the tournament's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The format.
    pub format: Format,
    /// The bracket's options (races, tie-breaks, …).
    #[serde(default)]
    pub options: Options,
    /// When play is planned to start (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_ms: Option<u64>,
    /// Registered players (not the waiting list), in registration order.
    pub entrants: Vec<Entrant>,
}

/// A player registered online.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entrant {
    /// The name the bracket shows.
    pub name: String,
    /// The registered player's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player_id: Option<String>,
    /// Checked in online.
    #[serde(default)]
    pub checked_in: bool,
}

/// What a record says happened, typed.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A match started on a table.
    MatchStarted(MatchStarted),
    /// A rack of a match ended.
    RackFinished(RackFinished),
    /// A match ended.
    MatchFinished(MatchFinished),
    /// An undo took back finished racks or the result, or staff corrected the score: the cloud
    /// corrects what it holds.
    ResultCorrected(ResultCorrected),
    /// Staff voided a match: it ended without a winner and counts for nobody.
    MatchVoided(MatchVoided),
    /// A tournament started at the venue: its bracket is drawn (docs/tournaments.md).
    TournamentStarted(TournamentStarted),
    /// A tournament's bracket took an entry: a result, forfeit, withdrawal or correction.
    TournamentEntered(TournamentEntered),
    /// A tournament match was called to a table.
    TournamentCalled(TournamentCalled),
    /// A record the cloud once refused as invalid; the venue keeps the original in its dead
    /// letters, and this placeholder keeps the sequence without a gap.
    Rejected(Rejected),
}

/// `match_started`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchStarted {
    /// The match.
    pub match_id: String,
    /// The table it is played on.
    pub table: String,
    /// Game, players, race, break and house rules.
    pub spec: MatchSpec,
    /// Registered players' ids, per seat, when staff put registered players on the table.
    #[serde(default)]
    pub player_ids: [Option<String>; 2],
    /// When the venue started it (venue clock, Unix ms).
    pub started_ms: u64,
    /// Who started it, when staff did (absent for a match a tournament started by itself and in
    /// records sent before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Author>,
    /// The tournament match it plays, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tournament: Option<TournamentMatch>,
}

/// A table match that plays a tournament's bracket match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TournamentMatch {
    /// The tournament.
    pub tournament_id: String,
    /// The bracket match id (`W2-1`, …).
    pub bracket_match: String,
}

/// `tournament_started`: the bracket is drawn; from now on the venue owns it and the cloud
/// mirrors it by replaying the entries that follow. The record's key (`RawRecord::match_id`) is
/// the tournament id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TournamentStarted {
    /// The tournament: the cloud's id when it was created online, else one the venue made.
    pub tournament_id: String,
    /// Its name.
    pub name: String,
    /// Format, players in seed order, options: the bracket's first line.
    pub setup: Setup,
    /// Registered players' ids, in the order of `setup.players` (`null` for a walk-in).
    #[serde(default)]
    pub player_ids: Vec<Option<String>>,
    /// When (venue clock, Unix ms).
    pub started_ms: u64,
    /// Who started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Author>,
}

/// `tournament_entered`: one entry the venue's bracket accepted, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TournamentEntered {
    /// The tournament (the record's key).
    pub tournament_id: String,
    /// The entry's place in the tournament's entries: 1, 2, … without gaps.
    pub ordinal: u32,
    /// What the bracket took.
    pub entry: Entry,
    /// The table match whose result it is, when a table scored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_match: Option<String>,
    /// When (venue clock, Unix ms).
    pub at_ms: u64,
    /// Who entered it (absent when a table scored it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Author>,
}

/// `tournament_called`: a ready match was called to a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TournamentCalled {
    /// The tournament (the record's key).
    pub tournament_id: String,
    /// The bracket match.
    pub bracket_match: String,
    /// The table it is called to.
    pub table: String,
    /// The players, in the match's order.
    pub players: [String; 2],
    /// When (venue clock, Unix ms).
    pub called_ms: u64,
}

/// `rack_finished`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RackFinished {
    /// The match.
    pub match_id: String,
    /// The table.
    pub table: String,
    /// Which finished rack of the match: 1, 2, …
    pub ordinal: u32,
    /// The rules engine's rack counter (14.1 counts re-racks).
    pub rack: u32,
    /// Seat of the rack's winner.
    pub winner: usize,
    /// The score after the rack.
    pub score: [i32; 2],
    /// Per-player statistics of the match so far.
    pub stats: [PlayerStats; 2],
    /// The rack's shots, in order, as the rules engine took them.
    #[serde(default)]
    pub shots: Vec<Input>,
}

/// `match_finished`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchFinished {
    /// The match.
    pub match_id: String,
    /// The table.
    pub table: String,
    /// The game.
    pub game: Game,
    /// The players.
    pub players: [String; 2],
    /// Registered players' ids, per seat, when staff put registered players on the table.
    #[serde(default)]
    pub player_ids: [Option<String>; 2],
    /// Racks (14.1: points) to win.
    pub race_to: u32,
    /// Seat of the winner.
    pub winner: usize,
    /// The final score.
    pub score: [i32; 2],
    /// Per-player statistics.
    pub stats: [PlayerStats; 2],
    /// Every input of the match, so the cloud can replay it.
    #[serde(default)]
    pub inputs: Vec<Input>,
}

/// `result_corrected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultCorrected {
    /// The match.
    pub match_id: String,
    /// The table.
    pub table: String,
    /// The score now.
    pub score: [i32; 2],
    /// The rules engine's rack counter now.
    #[serde(default)]
    pub rack: u32,
    /// Racks still finished; the cloud forgets racks above this ordinal.
    pub racks_finished: u32,
    /// Whether the match is still over.
    pub match_finished: bool,
    /// Who made the correction (absent from records of an undo sent before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Author>,
    /// Why, as staff gave it (absent for an undo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `match_voided`: staff voided a match. Unlike a concession, nobody won: the match counts for
/// nobody in results and statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchVoided {
    /// The match.
    pub match_id: String,
    /// The table.
    pub table: String,
    /// Why, as staff gave it.
    pub reason: String,
    /// Who voided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Author>,
    /// When (venue clock, Unix ms).
    pub voided_ms: u64,
}

/// Who made a correction or a void, as the venue's event log records it (edge-agent's
/// `table::Actor`, the same JSON): `{"role":"staff","name":…}`, `{"role":"player","seat":…}`,
/// `{"role":"agent"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Author {
    /// Venue staff, named when known.
    Staff {
        /// The staff member, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The staff member's user id, when they signed in with their PIN (absent for the shared
        /// staff token and in records sent before staff signed in).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// A player of the match, from a paired phone.
    Player {
        /// The player's seat.
        seat: u8,
    },
    /// The agent itself.
    Agent {},
}

/// `rejected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// The kind the original record had.
    pub original_kind: String,
    /// Why the cloud refused it.
    pub reason: String,
}

impl Record {
    /// The wire `kind`: the outbox row's `kind` column, and what [`RawRecord::parse`] dispatches
    /// on.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::MatchStarted(_) => "match_started",
            Record::RackFinished(_) => "rack_finished",
            Record::MatchFinished(_) => "match_finished",
            Record::ResultCorrected(_) => "result_corrected",
            Record::MatchVoided(_) => "match_voided",
            Record::TournamentStarted(_) => "tournament_started",
            Record::TournamentEntered(_) => "tournament_entered",
            Record::TournamentCalled(_) => "tournament_called",
            Record::Rejected(_) => "rejected",
        }
    }

    /// The match the payload names (a tournament record's: the tournament); a `rejected`
    /// placeholder names none (its row keeps the original's).
    pub fn match_id(&self) -> Option<&str> {
        match self {
            Record::MatchStarted(r) => Some(&r.match_id),
            Record::RackFinished(r) => Some(&r.match_id),
            Record::MatchFinished(r) => Some(&r.match_id),
            Record::ResultCorrected(r) => Some(&r.match_id),
            Record::MatchVoided(r) => Some(&r.match_id),
            Record::TournamentStarted(r) => Some(&r.tournament_id),
            Record::TournamentEntered(r) => Some(&r.tournament_id),
            Record::TournamentCalled(r) => Some(&r.tournament_id),
            Record::Rejected(_) => None,
        }
    }

    /// The payload as JSON text, the way the edge writes it into its outbox: the fields in their
    /// declared order (serde_json's `preserve_order`).
    ///
    /// # Errors
    ///
    /// Only if serde_json refuses a value; these plain structs hold nothing it refuses.
    pub fn payload_text(&self) -> Result<String, serde_json::Error> {
        match self {
            Record::MatchStarted(r) => serde_json::to_string(r),
            Record::RackFinished(r) => serde_json::to_string(r),
            Record::MatchFinished(r) => serde_json::to_string(r),
            Record::ResultCorrected(r) => serde_json::to_string(r),
            Record::MatchVoided(r) => serde_json::to_string(r),
            Record::TournamentStarted(r) => serde_json::to_string(r),
            Record::TournamentEntered(r) => serde_json::to_string(r),
            Record::TournamentCalled(r) => serde_json::to_string(r),
            Record::Rejected(r) => serde_json::to_string(r),
        }
    }
}

impl RawRecord {
    /// Checks the record and types its payload.
    ///
    /// # Errors
    ///
    /// [`Invalid`] names the record and says what is wrong with it.
    pub fn parse(&self) -> Result<Record, Invalid> {
        check_key(self.seq, &self.match_id)?;
        check_size(self.seq, self.payload.to_string().len())?;
        let record = Record::from_payload(&self.kind, &self.payload)
            .map_err(|reason| invalid(self.seq, format!("{}: {reason}", self.kind)))?;
        record.check(self.seq, &self.match_id)?;
        Ok(record)
    }
}

impl Record {
    /// Types and checks a record whose payload is JSON text, as it was received or stored: the
    /// same checks as [`RawRecord::parse`], typed straight from the text, without building a
    /// `serde_json::Value` first (the cloud's path: it stores and hashes the text as sent). The
    /// size bound counts the text's bytes.
    ///
    /// # Errors
    ///
    /// [`Invalid`] names the record and says what is wrong with it.
    pub fn from_text(
        seq: u64,
        kind: &str,
        match_id: &str,
        payload: &str,
    ) -> Result<Record, Invalid> {
        check_key(seq, match_id)?;
        check_size(seq, payload.len())?;
        Record::typed_text(seq, kind, match_id, payload)
    }

    /// [`Record::from_text`] without the size bound, for a record that passed it when it was
    /// received: PostgreSQL gives a stored `jsonb` payload back in another layout (a space after
    /// each `:` and `,`), whose length is not what the bound was checked on.
    ///
    /// # Errors
    ///
    /// [`Invalid`] names the record and says what is wrong with it.
    pub fn from_stored_text(
        seq: u64,
        kind: &str,
        match_id: &str,
        payload: &str,
    ) -> Result<Record, Invalid> {
        check_key(seq, match_id)?;
        Record::typed_text(seq, kind, match_id, payload)
    }

    fn typed_text(seq: u64, kind: &str, match_id: &str, payload: &str) -> Result<Record, Invalid> {
        let mut json = serde_json::Deserializer::from_str(payload);
        let record = Record::from_payload(kind, &mut json)
            .and_then(|record| json.end().map(|()| record).map_err(|e| e.to_string()))
            .map_err(|reason| invalid(seq, format!("{kind}: {reason}")))?;
        record.check(seq, match_id)?;
        Ok(record)
    }

    /// Types a payload of `kind` from any JSON source (a `Value`, or text): one dispatch on the
    /// kind for both ways in.
    fn from_payload<'de, D>(kind: &str, payload: D) -> Result<Record, String>
    where
        D: serde::Deserializer<'de>,
        D::Error: std::fmt::Display,
    {
        let record = match kind {
            "match_started" => MatchStarted::deserialize(payload).map(Record::MatchStarted),
            "rack_finished" => RackFinished::deserialize(payload).map(Record::RackFinished),
            "match_finished" => MatchFinished::deserialize(payload).map(Record::MatchFinished),
            "result_corrected" => {
                ResultCorrected::deserialize(payload).map(Record::ResultCorrected)
            }
            "match_voided" => MatchVoided::deserialize(payload).map(Record::MatchVoided),
            "tournament_started" => {
                TournamentStarted::deserialize(payload).map(Record::TournamentStarted)
            }
            "tournament_entered" => {
                TournamentEntered::deserialize(payload).map(Record::TournamentEntered)
            }
            "tournament_called" => {
                TournamentCalled::deserialize(payload).map(Record::TournamentCalled)
            }
            "rejected" => Rejected::deserialize(payload).map(Record::Rejected),
            other => return Err(format!("unknown kind {other:?}")),
        };
        record.map_err(|e| e.to_string())
    }

    /// What a typed record must satisfy beyond its shape: a valid spec, seats 0 or 1, the
    /// payload's `match_id` equal to the record's, a valid table id.
    fn check(&self, seq: u64, record_match_id: &str) -> Result<(), Invalid> {
        let (match_id, table) = match self {
            Record::MatchStarted(r) => {
                r.spec.validate().map_err(|e| invalid(seq, e.to_string()))?;
                (r.match_id.as_str(), Some(&r.table))
            }
            Record::RackFinished(r) => {
                check_seat(seq, r.winner)?;
                (r.match_id.as_str(), Some(&r.table))
            }
            Record::MatchFinished(r) => {
                check_seat(seq, r.winner)?;
                (r.match_id.as_str(), Some(&r.table))
            }
            Record::ResultCorrected(r) => (r.match_id.as_str(), Some(&r.table)),
            Record::MatchVoided(r) => (r.match_id.as_str(), Some(&r.table)),
            Record::TournamentStarted(r) => (r.tournament_id.as_str(), None),
            Record::TournamentEntered(r) => (r.tournament_id.as_str(), None),
            Record::TournamentCalled(r) => (r.tournament_id.as_str(), Some(&r.table)),
            Record::Rejected(_) => (record_match_id, None),
        };
        if match_id != record_match_id {
            return Err(invalid(
                seq,
                format!("payload match_id {match_id:?} is not the record's {record_match_id:?}"),
            ));
        }
        if let Some(table) = table.filter(|t| !valid_id(t)) {
            return Err(invalid(seq, format!("bad table {table:?}")));
        }
        Ok(())
    }
}

fn invalid(seq: u64, reason: String) -> Invalid {
    Invalid { seq, reason }
}

/// The record's key: `seq` from 1, a valid `match_id`.
fn check_key(seq: u64, match_id: &str) -> Result<(), Invalid> {
    if seq == 0 {
        return Err(invalid(seq, "seq starts at 1".into()));
    }
    if !valid_id(match_id) {
        return Err(invalid(seq, format!("bad match_id {match_id:?}")));
    }
    Ok(())
}

/// The payload's size bound, over its JSON text.
fn check_size(seq: u64, bytes: usize) -> Result<(), Invalid> {
    if bytes > MAX_RECORD_BYTES {
        return Err(invalid(
            seq,
            format!("payload larger than {MAX_RECORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn check_seat(seq: u64, winner: usize) -> Result<(), Invalid> {
    if winner > 1 {
        return Err(invalid(
            seq,
            format!("winner must be seat 0 or 1, not {winner}"),
        ));
    }
    Ok(())
}

impl Batch {
    /// Checks the batch as a whole: ids, size and consecutive sequence numbers. Records are
    /// checked one by one with [`RawRecord::parse`].
    ///
    /// # Errors
    ///
    /// What is wrong, with the offending record's `seq` when there is one.
    pub fn check(&self) -> Result<(), SyncError> {
        check_batch(
            &self.venue_id,
            &self.epoch,
            self.records.iter().map(|r| r.seq),
        )
    }

    /// The first and last sequence numbers, when the batch is not empty.
    pub fn span(&self) -> Option<(u64, u64)> {
        Some((self.records.first()?.seq, self.records.last()?.seq))
    }
}

/// [`Batch::check`] over a batch's parts, for a batch held in another shape (the cloud reads one
/// borrowed from the request body): ids, at least one and at most [`MAX_BATCH_RECORDS`] records,
/// consecutive `seqs`.
///
/// # Errors
///
/// What is wrong, with the offending record's `seq` when there is one.
pub fn check_batch(
    venue_id: &str,
    epoch: &str,
    seqs: impl ExactSizeIterator<Item = u64>,
) -> Result<(), SyncError> {
    let error = |error: String, seq: Option<u64>| SyncError {
        error,
        seq,
        ..SyncError::default()
    };
    if !valid_id(venue_id) {
        return Err(error(format!("bad venue_id {venue_id:?}"), None));
    }
    if !valid_id(epoch) {
        return Err(error(format!("bad epoch {epoch:?}"), None));
    }
    if seqs.len() == 0 {
        return Err(error("a batch holds at least one record".into(), None));
    }
    if seqs.len() > MAX_BATCH_RECORDS {
        return Err(error(
            format!("a batch holds at most {MAX_BATCH_RECORDS} records"),
            None,
        ));
    }
    let mut previous: Option<u64> = None;
    for seq in seqs {
        if let Some(a) = previous
            && a.checked_add(1) != Some(seq)
        {
            return Err(error(
                format!("records must have consecutive seqs: {seq} follows {a}"),
                Some(seq),
            ));
        }
        previous = Some(seq);
    }
    Ok(())
}

/// A registered player, as the cloud holds it and venues copy it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Player {
    /// The cloud's id for the player.
    pub id: String,
    /// The name shown on scoreboards.
    pub name: String,
    /// The player's rating, when they have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<i32>,
}

/// `GET /api/v1/sync/staff`: the venue's staff, whole (a short list), and a version that
/// changes whenever the list does (a digest of it), so the venue can skip an unchanged list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffList {
    /// Everyone who may sign in at the venue's console.
    pub staff: Vec<StaffMember>,
    /// A digest of the list.
    pub version: String,
}

/// One staff member of a venue: a user holding a role there (`venue_manager`, `organiser`) who
/// set a console PIN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMember {
    /// The user id (what the venue's records carry as `by.id`).
    pub id: String,
    /// The name staff pick at the console.
    pub display_name: String,
    /// Their roles at the venue.
    pub roles: Vec<String>,
    /// The PIN's Argon2id PHC string (the appliance verifies PINs offline).
    pub pin_hash: String,
}

/// One entry of the player change log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PlayerChange {
    /// The player is new or changed: store this.
    Upsert {
        /// Position in the log.
        version: u64,
        /// The player now.
        player: Player,
    },
    /// The player is gone (or merged into another).
    Delete {
        /// Position in the log.
        version: u64,
        /// Whom to forget.
        id: String,
    },
}

impl PlayerChange {
    /// Position in the log.
    pub fn version(&self) -> u64 {
        match self {
            PlayerChange::Upsert { version, .. } | PlayerChange::Delete { version, .. } => *version,
        }
    }
}

/// A page of the player change log (`GET /api/v1/sync/players?cursor=C&limit=N`). A cursor older
/// than the log keeps answers 410 with `{"error": …}`: the venue then takes a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerChanges {
    /// Changes after the asked cursor, oldest first.
    pub changes: Vec<PlayerChange>,
    /// Where to read from next time.
    pub cursor: u64,
    /// Whether more changes are waiting.
    pub more: bool,
}

/// Every registered player (`GET /api/v1/sync/players/snapshot`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerSnapshot {
    /// All of them.
    pub players: Vec<Player>,
    /// The change log position the snapshot reflects.
    pub cursor: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn started(seq: u64) -> RawRecord {
        RawRecord {
            seq,
            kind: "match_started".into(),
            match_id: "ab12cd34-7".into(),
            payload: json!({"match_id": "ab12cd34-7", "table": "t1", "started_ms": 5,
                "spec": {"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 3}}),
        }
    }

    #[test]
    fn a_match_start_parses() {
        let Ok(Record::MatchStarted(m)) = started(1).parse() else {
            panic!("did not parse");
        };
        assert_eq!(m.spec.players, ["Ann".to_owned(), "Bo".to_owned()]);
        assert_eq!(m.player_ids, [None, None]);
    }

    #[test]
    fn a_void_and_a_correction_carry_who_and_why() {
        let voided = Record::MatchVoided(MatchVoided {
            match_id: "ab12cd34-7".into(),
            table: "t1".into(),
            reason: "players left".into(),
            by: Some(Author::Staff {
                name: Some("Kim".into()),
                id: None,
            }),
            voided_ms: 9,
        });
        let text = voided.payload_text().expect("serializes");
        assert!(
            text.contains(r#""by":{"role":"staff","name":"Kim"}"#),
            "{text}"
        );
        assert_eq!(
            Record::from_text(3, "match_voided", "ab12cd34-7", &text),
            Ok(voided)
        );
        // A correction written before `by` and `reason` existed still parses.
        let old = r#"{"match_id":"ab12cd34-7","table":"t1","score":[1,0],"rack":2,"racks_finished":1,"match_finished":false}"#;
        let Ok(Record::ResultCorrected(r)) =
            Record::from_text(4, "result_corrected", "ab12cd34-7", old)
        else {
            panic!("an old correction must parse");
        };
        assert_eq!((r.by, r.reason), (None, None));
        let bad_table = r#"{"match_id":"ab12cd34-7","table":"a b","reason":"x","voided_ms":1}"#;
        assert!(Record::from_text(5, "match_voided", "ab12cd34-7", bad_table).is_err());
    }

    #[test]
    fn a_typed_record_writes_the_payload_it_parses_from() {
        let record = started(2).parse().expect("parses");
        assert_eq!(record.kind(), "match_started");
        assert_eq!(record.match_id(), Some("ab12cd34-7"));
        let text = record.payload_text().expect("serializes");
        assert_eq!(
            Record::from_text(2, record.kind(), "ab12cd34-7", &text),
            Ok(record)
        );
        let rejected = Record::Rejected(Rejected {
            original_kind: "rack_finished".into(),
            reason: "bad".into(),
        });
        assert_eq!(rejected.match_id(), None);
    }

    #[test]
    fn a_bad_record_is_named() {
        let mut record = started(9);
        record.payload["spec"]["race_to"] = json!(0);
        assert_eq!(record.parse().map_err(|e| e.seq), Err(9));
        let mut record = started(4);
        record.kind = "teleport".into();
        let err = record.parse().expect_err("unknown kind");
        assert!(err.reason.contains("teleport"), "{err}");
        let mut record = started(4);
        record.payload["match_id"] = json!("other");
        assert!(record.parse().is_err());
    }

    #[test]
    fn typing_from_text_agrees_with_typing_from_a_value() {
        let record = started(3);
        let text = record.payload.to_string();
        let from_text = Record::from_text(3, &record.kind, &record.match_id, &text);
        assert_eq!(from_text, record.parse());
        // Whitespace and key order are the sender's business.
        let spaced = r#"{ "table": "t1", "match_id": "ab12cd34-7", "started_ms": 5,
            "spec": {"race_to": 3, "players": ["Ann", "Bo"], "game": "nine-ball"} }"#;
        assert_eq!(
            Record::from_text(3, "match_started", "ab12cd34-7", spaced),
            record.parse()
        );
    }

    #[test]
    fn typing_from_text_refuses_what_parse_refuses() {
        let text = started(4).payload.to_string();
        let refused = |seq, kind: &str, mid: &str, text: &str| {
            Record::from_text(seq, kind, mid, text).map_err(|e| e.seq)
        };
        assert_eq!(refused(0, "match_started", "ab12cd34-7", &text), Err(0));
        assert_eq!(refused(4, "match_started", "bad id!", &text), Err(4));
        assert_eq!(refused(4, "teleport", "ab12cd34-7", &text), Err(4));
        assert_eq!(refused(4, "match_started", "other", &text), Err(4));
        assert_eq!(refused(4, "match_started", "ab12cd34-7", "{"), Err(4));
        assert_eq!(
            refused(4, "match_started", "ab12cd34-7", &format!("{text} 1")),
            Err(4)
        );
        let bad_race = text.replace(r#""race_to":3"#, r#""race_to":0"#);
        assert_ne!(bad_race, text);
        assert_eq!(refused(4, "match_started", "ab12cd34-7", &bad_race), Err(4));
        let huge = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_RECORD_BYTES));
        let err = Record::from_text(4, "rejected", "ab12cd34-7", &huge).expect_err("too big");
        assert!(err.reason.contains("larger"), "{err}");
    }

    #[test]
    fn a_stored_payload_is_not_measured_again() {
        // Just under the bound as received; PostgreSQL's layout of it (spaces) is over it.
        let reason = "x".repeat(MAX_RECORD_BYTES - 50);
        let compact = format!(r#"{{"original_kind":"a","reason":"{reason}"}}"#);
        let stored = format!(r#"{{"reason": "{reason}", "original_kind": "a"}}"#);
        assert!(compact.len() <= MAX_RECORD_BYTES && stored.len() > compact.len());
        assert!(Record::from_text(1, "rejected", "m-1", &compact).is_ok());
        let padded = format!("{stored}{}", " ".repeat(60));
        assert!(Record::from_text(1, "rejected", "m-1", &padded).is_err());
        assert!(Record::from_stored_text(1, "rejected", "m-1", &padded).is_ok());
        assert!(Record::from_stored_text(0, "rejected", "m-1", &stored).is_err());
    }

    #[test]
    fn batches_need_consecutive_seqs() {
        let batch = |seqs: &[u64]| Batch {
            venue_id: "v1".into(),
            epoch: "e1".into(),
            records: seqs.iter().map(|s| started(*s)).collect(),
        };
        assert_eq!(batch(&[3, 4, 5]).check(), Ok(()));
        assert_eq!(batch(&[3, 4, 5]).span(), Some((3, 5)));
        assert_eq!(batch(&[3, 5]).check().map_err(|e| e.seq), Err(Some(5)));
        assert!(batch(&[]).check().is_err());
    }

    #[test]
    fn player_changes_are_tagged_by_op() {
        let change: PlayerChange =
            serde_json::from_value(json!({"op": "delete", "version": 7, "id": "p1"}))
                .expect("parses");
        assert_eq!(change.version(), 7);
        let text = serde_json::to_string(&PlayerChange::Upsert {
            version: 8,
            player: Player {
                id: "p2".into(),
                name: "Efren".into(),
                rating: None,
            },
        })
        .expect("serializes");
        assert!(text.starts_with(r#"{"op":"upsert""#), "{text}");
    }
}
