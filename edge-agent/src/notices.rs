//! What the room says besides the score: staff announcements (venue-wide or for one table), a
//! player's request to undo (open until the opponent or staff answers it, or it expires), and
//! players' short messages to staff ("need a referee"), and alerts for staff (a burst of wrong staff
//! tokens: `api::auth`).
//!
//! None of it is match state: it is kept in memory for a set time, never logged, and lost on a
//! restart. [`Board`] is the pure part (time is an input); [`Notices`] shares it between the
//! handlers and sends every change to the WebSocket clients through a broadcast channel of its
//! own, beside the hub, so the path of table updates does not change. Texts are plain text: pages
//! show them with `textContent`. A player's message text goes to staff only (`GET
//! /api/v1/messages`, staff token); `/ws` says only that one arrived or was acknowledged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast;

/// How long an announcement stays up unless staff say otherwise.
pub const ANNOUNCEMENT_TTL_MS: u64 = 10 * 60_000;
/// The longest an announcement may stay up.
pub const MAX_ANNOUNCEMENT_TTL_MS: u64 = 24 * 3_600_000;
/// How long a request to undo waits for an answer.
pub const UNDO_TTL_MS: u64 = 60_000;
/// How long a player's message is kept (acknowledged or not).
pub const MESSAGE_TTL_MS: u64 = 30 * 60_000;
/// Longest announcement, in characters.
pub const MAX_ANNOUNCEMENT_CHARS: usize = 200;
/// Longest player message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 140;
/// Announcements kept at once (the oldest goes first).
const MAX_ANNOUNCEMENTS: usize = 32;
/// Player messages kept at once (the oldest goes first).
const MAX_MESSAGES: usize = 256;
/// How long an alert for staff stays up.
pub const ALERT_TTL_MS: u64 = 30 * 60_000;
/// Alerts for staff kept at once (the oldest goes first).
const MAX_ALERTS: usize = 32;

/// Why a notice was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    /// Empty text.
    #[error("the text is empty")]
    Empty,
    /// Text over the limit.
    #[error("the text is longer than {0} characters")]
    TooLong(usize),
    /// Control characters (a message is one line of plain text).
    #[error("the text must be one line of plain text")]
    ControlCharacters,
    /// No open request to undo with that id on that table (answered, expired or never made).
    #[error("no open request to undo with this id on this table (it was answered or it expired)")]
    NoSuchRequest,
    /// No message with that id (expired or never sent).
    #[error("no message with this id")]
    NoSuchMessage,
}

/// A staff announcement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Announcement {
    /// Id (unique while the agent runs).
    pub id: u64,
    /// The table it is for; `None`: every screen.
    pub table: Option<String>,
    /// Plain text.
    pub text: String,
    /// Posted, ms since the Unix epoch.
    pub at_ms: u64,
    /// Taken down, ms since the Unix epoch.
    pub expires_ms: u64,
}

/// Where a request to undo stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UndoStatus {
    /// Waiting for the opponent or staff.
    Pending,
    /// Confirmed: the undo was applied.
    Confirmed,
    /// Declined by the opponent or staff.
    Declined,
}

/// A player's request to undo the last input of their match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UndoRequest {
    /// Id (unique while the agent runs).
    pub id: u64,
    /// The table.
    pub table: String,
    /// The match it is for: it cannot be confirmed in another.
    #[serde(skip)]
    pub match_id: String,
    /// The seat that asked.
    pub seat: u8,
    /// Where it stands.
    pub status: UndoStatus,
    /// Asked, ms since the Unix epoch.
    pub at_ms: u64,
    /// Expires, ms since the Unix epoch.
    pub expires_ms: u64,
}

/// A player's message to staff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlayerMessage {
    /// Id (unique while the agent runs).
    pub id: u64,
    /// The table.
    pub table: String,
    /// The seat that sent it.
    pub seat: u8,
    /// The player's name in the match.
    pub player: String,
    /// Plain text.
    pub text: String,
    /// Sent, ms since the Unix epoch.
    pub at_ms: u64,
    /// Dropped, ms since the Unix epoch.
    pub expires_ms: u64,
    /// Staff have seen to it.
    pub acknowledged: bool,
}

/// An alert for staff (someone is guessing the staff token): shown on the staff console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaffAlert {
    /// Id (unique while the agent runs).
    pub id: u64,
    /// What happened, in words, for staff.
    pub text: String,
    /// Raised, ms since the Unix epoch.
    pub at_ms: u64,
    /// Dropped, ms since the Unix epoch.
    pub expires_ms: u64,
}

/// A notice as `/ws` sends it: the table it concerns (`None`: every client) and its JSON.
#[derive(Clone, Debug)]
pub struct Notice {
    /// Only the clients following this table get it; `None`: every client.
    pub table: Option<String>,
    /// The WebSocket message.
    pub json: Arc<str>,
}

impl Notice {
    /// Whether a client following `tables` (`None`: all) gets it.
    pub fn for_tables(&self, tables: Option<&std::collections::HashSet<String>>) -> bool {
        match (&self.table, tables) {
            (None, _) | (_, None) => true,
            (Some(table), Some(tables)) => tables.contains(table),
        }
    }

    fn announcement(a: &Announcement, now_ms: u64) -> Notice {
        let json = json!({
            "type": "announcement",
            "id": a.id,
            "table": a.table,
            "text": a.text,
            "ttl_ms": a.expires_ms.saturating_sub(now_ms),
        });
        Notice {
            table: a.table.clone(),
            json: json.to_string().into(),
        }
    }

    fn undo(request: &UndoRequest, now_ms: u64) -> Notice {
        let json = json!({
            "type": "undo_request",
            "id": request.id,
            "table": request.table,
            "seat": request.seat,
            "status": request.status,
            "ttl_ms": request.expires_ms.saturating_sub(now_ms),
        });
        Notice {
            table: Some(request.table.clone()),
            json: json.to_string().into(),
        }
    }

    fn message(message: &PlayerMessage, now_ms: u64) -> Notice {
        // No text: it is for staff, and anyone on the venue network can follow `/ws`.
        let json = json!({
            "type": "player_message",
            "id": message.id,
            "table": message.table,
            "seat": message.seat,
            "acknowledged": message.acknowledged,
            "ttl_ms": message.expires_ms.saturating_sub(now_ms),
        });
        Notice {
            table: Some(message.table.clone()),
            json: json.to_string().into(),
        }
    }
}

impl Notice {
    fn alert(alert: &StaffAlert, now_ms: u64) -> Notice {
        // No text: it is for staff, and anyone on the venue network can follow `/ws`; the console
        // reads it with the staff token.
        let json = json!({
            "type": "staff_alert",
            "id": alert.id,
            "ttl_ms": alert.expires_ms.saturating_sub(now_ms),
        });
        Notice {
            table: None,
            json: json.to_string().into(),
        }
    }
}

/// A text as staff or a player typed it, checked: trimmed, not empty, at most `max` characters,
/// one line.
pub fn plain_text(text: &str, max: usize) -> Result<String, NoticeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(NoticeError::Empty);
    }
    if text.chars().count() > max {
        return Err(NoticeError::TooLong(max));
    }
    if text.chars().any(char::is_control) {
        return Err(NoticeError::ControlCharacters);
    }
    Ok(text.to_owned())
}

/// Every notice that is up, pure: each call says what time it is.
#[derive(Debug, Default)]
pub struct Board {
    next_id: u64,
    announcements: Vec<Announcement>,
    /// The open request to undo per table (a new one replaces it).
    undo: HashMap<String, UndoRequest>,
    messages: Vec<PlayerMessage>,
    alerts: Vec<StaffAlert>,
}

impl Board {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Drops what has expired by `now_ms`.
    fn expire(&mut self, now_ms: u64) {
        self.announcements.retain(|a| a.expires_ms > now_ms);
        self.undo.retain(|_, r| r.expires_ms > now_ms);
        self.messages.retain(|m| m.expires_ms > now_ms);
        self.alerts.retain(|a| a.expires_ms > now_ms);
    }

    /// Posts an announcement for `ttl_ms`.
    pub fn announce(
        &mut self,
        table: Option<String>,
        text: String,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Announcement {
        self.expire(now_ms);
        let announcement = Announcement {
            id: self.id(),
            table,
            text,
            at_ms: now_ms,
            expires_ms: now_ms.saturating_add(ttl_ms.min(MAX_ANNOUNCEMENT_TTL_MS)),
        };
        if self.announcements.len() >= MAX_ANNOUNCEMENTS {
            self.announcements.remove(0);
        }
        self.announcements.push(announcement.clone());
        announcement
    }

    /// Takes an announcement down; `None` if it is not up.
    pub fn withdraw(&mut self, id: u64, now_ms: u64) -> Option<Announcement> {
        self.expire(now_ms);
        let at = self.announcements.iter().position(|a| a.id == id)?;
        let mut announcement = self.announcements.remove(at);
        announcement.expires_ms = now_ms;
        Some(announcement)
    }

    /// The announcements up at `now_ms`.
    pub fn announcements(&mut self, now_ms: u64) -> Vec<Announcement> {
        self.expire(now_ms);
        self.announcements.clone()
    }

    /// `seat` asks to undo in `table`'s match `match_id`; replaces an open request of that table.
    pub fn request_undo(
        &mut self,
        table: &str,
        match_id: &str,
        seat: u8,
        now_ms: u64,
    ) -> UndoRequest {
        self.expire(now_ms);
        let request = UndoRequest {
            id: self.id(),
            table: table.to_owned(),
            match_id: match_id.to_owned(),
            seat,
            status: UndoStatus::Pending,
            at_ms: now_ms,
            expires_ms: now_ms.saturating_add(UNDO_TTL_MS),
        };
        self.undo.insert(table.to_owned(), request.clone());
        request
    }

    /// The open request to undo on `table`, if it is `id` (it stays open).
    pub fn open_undo(
        &mut self,
        table: &str,
        id: u64,
        now_ms: u64,
    ) -> Result<UndoRequest, NoticeError> {
        self.expire(now_ms);
        self.undo
            .get(table)
            .filter(|r| r.id == id)
            .cloned()
            .ok_or(NoticeError::NoSuchRequest)
    }

    /// Closes the open request `id` on `table` as `status`.
    pub fn answer_undo(
        &mut self,
        table: &str,
        id: u64,
        status: UndoStatus,
        now_ms: u64,
    ) -> Result<UndoRequest, NoticeError> {
        self.open_undo(table, id, now_ms)?;
        let mut request = self.undo.remove(table).ok_or(NoticeError::NoSuchRequest)?;
        request.status = status;
        request.expires_ms = now_ms;
        Ok(request)
    }

    /// A player's message to staff.
    pub fn message(
        &mut self,
        table: &str,
        seat: u8,
        player: String,
        text: String,
        now_ms: u64,
    ) -> PlayerMessage {
        self.expire(now_ms);
        let message = PlayerMessage {
            id: self.id(),
            table: table.to_owned(),
            seat,
            player,
            text,
            at_ms: now_ms,
            expires_ms: now_ms.saturating_add(MESSAGE_TTL_MS),
            acknowledged: false,
        };
        if self.messages.len() >= MAX_MESSAGES {
            self.messages.remove(0);
        }
        self.messages.push(message.clone());
        message
    }

    /// Staff acknowledge message `id`.
    pub fn acknowledge(&mut self, id: u64, now_ms: u64) -> Result<PlayerMessage, NoticeError> {
        self.expire(now_ms);
        let message = self
            .messages
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or(NoticeError::NoSuchMessage)?;
        message.acknowledged = true;
        Ok(message.clone())
    }

    /// The players' messages kept at `now_ms`, oldest first.
    pub fn messages(&mut self, now_ms: u64) -> Vec<PlayerMessage> {
        self.expire(now_ms);
        self.messages.clone()
    }

    /// Raises an alert for staff.
    pub fn alert(&mut self, text: String, now_ms: u64) -> StaffAlert {
        self.expire(now_ms);
        let alert = StaffAlert {
            id: self.id(),
            text,
            at_ms: now_ms,
            expires_ms: now_ms.saturating_add(ALERT_TTL_MS),
        };
        if self.alerts.len() >= MAX_ALERTS {
            self.alerts.remove(0);
        }
        self.alerts.push(alert.clone());
        alert
    }

    /// The alerts for staff up at `now_ms`, oldest first.
    pub fn alerts(&mut self, now_ms: u64) -> Vec<StaffAlert> {
        self.expire(now_ms);
        self.alerts.clone()
    }

    /// What a client connecting at `now_ms` is sent after its snapshot: what is up.
    pub fn active(&mut self, now_ms: u64) -> Vec<Notice> {
        self.expire(now_ms);
        let mut notices: Vec<Notice> = (self.announcements.iter())
            .map(|a| Notice::announcement(a, now_ms))
            .collect();
        let mut undo: Vec<&UndoRequest> = self.undo.values().collect();
        undo.sort_by_key(|r| r.id);
        notices.extend(undo.into_iter().map(|r| Notice::undo(r, now_ms)));
        notices.extend(
            (self.messages.iter())
                .filter(|m| !m.acknowledged)
                .map(|m| Notice::message(m, now_ms)),
        );
        notices.extend(self.alerts.iter().map(|a| Notice::alert(a, now_ms)));
        notices
    }
}

/// The board, shared, and the channel its changes go out on. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Notices {
    board: Arc<Mutex<Board>>,
    tx: broadcast::Sender<Notice>,
}

impl Default for Notices {
    fn default() -> Self {
        Notices::new()
    }
}

impl Notices {
    /// An empty board.
    pub fn new() -> Notices {
        // Notices are rare (a few a minute); a client this far behind skips some (it logs it).
        let (tx, _) = broadcast::channel(256);
        Notices {
            board: Arc::new(Mutex::new(Board::default())),
            tx,
        }
    }

    /// The changes from now on; take it before [`Notices::active`] so nothing falls between.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.tx.subscribe()
    }

    /// Sends a message of another part of the agent (a tournament's change) to every client.
    pub fn publish(&self, notice: Notice) {
        let _ = self.tx.send(notice);
    }

    /// What is up at `now_ms`, for a client that connects.
    pub fn active(&self, now_ms: u64) -> Vec<Notice> {
        self.board().active(now_ms)
    }

    /// Posts an announcement and sends it.
    pub fn announce(
        &self,
        table: Option<String>,
        text: String,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Announcement {
        let announcement = self.board().announce(table, text, ttl_ms, now_ms);
        self.send(Notice::announcement(&announcement, now_ms));
        announcement
    }

    /// Takes an announcement down (screens get it with `ttl_ms: 0`).
    pub fn withdraw(&self, id: u64, now_ms: u64) -> Option<Announcement> {
        let announcement = self.board().withdraw(id, now_ms)?;
        self.send(Notice::announcement(&announcement, now_ms));
        Some(announcement)
    }

    /// The announcements up.
    pub fn announcements(&self, now_ms: u64) -> Vec<Announcement> {
        self.board().announcements(now_ms)
    }

    /// A request to undo, sent to the table's screens.
    pub fn request_undo(&self, table: &str, match_id: &str, seat: u8, now_ms: u64) -> UndoRequest {
        let request = self.board().request_undo(table, match_id, seat, now_ms);
        self.send(Notice::undo(&request, now_ms));
        request
    }

    /// The open request `id` on `table`.
    pub fn open_undo(&self, table: &str, id: u64, now_ms: u64) -> Result<UndoRequest, NoticeError> {
        self.board().open_undo(table, id, now_ms)
    }

    /// Closes a request to undo, and says so to the table's screens.
    pub fn answer_undo(
        &self,
        table: &str,
        id: u64,
        status: UndoStatus,
        now_ms: u64,
    ) -> Result<UndoRequest, NoticeError> {
        let request = self.board().answer_undo(table, id, status, now_ms)?;
        self.send(Notice::undo(&request, now_ms));
        Ok(request)
    }

    /// A player's message; screens hear that it came (not its text).
    pub fn message(
        &self,
        table: &str,
        seat: u8,
        player: String,
        text: String,
        now_ms: u64,
    ) -> PlayerMessage {
        let message = self.board().message(table, seat, player, text, now_ms);
        self.send(Notice::message(&message, now_ms));
        message
    }

    /// Staff acknowledge a message; the table's phones hear it.
    pub fn acknowledge(&self, id: u64, now_ms: u64) -> Result<PlayerMessage, NoticeError> {
        let message = self.board().acknowledge(id, now_ms)?;
        self.send(Notice::message(&message, now_ms));
        Ok(message)
    }

    /// The players' messages kept.
    pub fn messages(&self, now_ms: u64) -> Vec<PlayerMessage> {
        self.board().messages(now_ms)
    }

    /// Raises an alert for staff; every screen hears that one is up (not its text).
    pub fn alert(&self, text: String, now_ms: u64) -> StaffAlert {
        let alert = self.board().alert(text, now_ms);
        self.send(Notice::alert(&alert, now_ms));
        alert
    }

    /// The alerts for staff up.
    pub fn alerts(&self, now_ms: u64) -> Vec<StaffAlert> {
        self.board().alerts(now_ms)
    }

    fn send(&self, notice: Notice) {
        // No receiver (no client connected) is not an error.
        let _ = self.tx.send(notice);
    }

    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_one_line_of_plain_text_within_the_limit() {
        assert_eq!(
            plain_text("  need a rack ", 140),
            Ok("need a rack".to_owned())
        );
        assert_eq!(plain_text("   ", 140), Err(NoticeError::Empty));
        assert_eq!(
            plain_text(&"é".repeat(140), 140).map(|t| t.chars().count()),
            Ok(140)
        );
        assert_eq!(
            plain_text(&"x".repeat(141), 140),
            Err(NoticeError::TooLong(140))
        );
        assert_eq!(plain_text("a\nb", 140), Err(NoticeError::ControlCharacters));
        // Markup is text like any other: pages never parse it.
        let markup = "<img src=x onerror=alert(1)>";
        assert_eq!(plain_text(markup, 140), Ok(markup.to_owned()));
    }

    #[test]
    fn announcements_expire_and_can_be_withdrawn() {
        let mut board = Board::default();
        let venue = board.announce(None, "Last orders".into(), 60_000, 1_000);
        let table = board.announce(
            Some("t7".into()),
            "Table 7 closes in 10 minutes".into(),
            10_000,
            1_000,
        );
        assert_eq!(board.announcements(5_000).len(), 2);
        assert_eq!(board.announcements(11_000), vec![venue.clone()]);
        assert!(
            board.withdraw(table.id, 11_000).is_none(),
            "already expired"
        );
        assert_eq!(
            board.withdraw(venue.id, 12_000).map(|a| a.expires_ms),
            Some(12_000)
        );
        assert!(board.announcements(12_000).is_empty());
        let long = board.announce(None, "x".into(), u64::MAX, 0);
        assert_eq!(long.expires_ms, MAX_ANNOUNCEMENT_TTL_MS);
    }

    #[test]
    fn a_request_to_undo_is_answered_once_or_expires() {
        let mut board = Board::default();
        let first = board.request_undo("t1", "m1", 0, 0);
        let second = board.request_undo("t1", "m1", 1, 1_000);
        assert_eq!(
            board.answer_undo("t1", first.id, UndoStatus::Confirmed, 2_000),
            Err(NoticeError::NoSuchRequest),
            "replaced by the newer one"
        );
        assert_eq!(
            board.open_undo("t2", second.id, 2_000),
            Err(NoticeError::NoSuchRequest)
        );
        let answered = board.answer_undo("t1", second.id, UndoStatus::Declined, 2_000);
        assert_eq!(
            answered.map(|r| (r.seat, r.status)),
            Ok((1, UndoStatus::Declined))
        );
        assert_eq!(
            board.answer_undo("t1", second.id, UndoStatus::Confirmed, 2_000),
            Err(NoticeError::NoSuchRequest),
            "only once"
        );
        let late = board.request_undo("t1", "m1", 0, 10_000);
        assert_eq!(
            board.open_undo("t1", late.id, 10_000 + UNDO_TTL_MS),
            Err(NoticeError::NoSuchRequest)
        );
    }

    #[test]
    fn messages_are_kept_acknowledged_and_expire() {
        let mut board = Board::default();
        let message = board.message("t1", 1, "Bo".into(), "need a referee".into(), 0);
        assert_eq!(board.active(0).len(), 1);
        assert!(
            board
                .acknowledge(message.id, 10)
                .is_ok_and(|m| m.acknowledged)
        );
        assert!(
            board.active(10).is_empty(),
            "acknowledged: no longer pending"
        );
        assert_eq!(board.messages(10).len(), 1, "kept for staff");
        assert!(board.messages(MESSAGE_TTL_MS).is_empty());
        assert_eq!(
            board.acknowledge(message.id, MESSAGE_TTL_MS),
            Err(NoticeError::NoSuchMessage)
        );
    }

    #[test]
    fn alerts_are_bounded_expire_and_say_nothing_on_the_feed() {
        let mut board = Board::default();
        for i in 0..(MAX_ALERTS + 5) {
            board.alert(format!("alert {i}"), 0);
        }
        let alerts = board.alerts(0);
        assert_eq!(alerts.len(), MAX_ALERTS);
        assert_eq!(alerts[0].text, "alert 5", "the oldest went first");
        let active = board.active(0);
        let json: serde_json::Value = serde_json::from_str(&active[0].json).expect("JSON");
        assert_eq!(json["type"], "staff_alert");
        assert!(json.get("text").is_none(), "the text is for staff only");
        assert!(active[0].for_tables(Some(&["t1".to_owned()].into())));
        assert!(board.alerts(ALERT_TTL_MS).is_empty());
    }

    #[test]
    fn notices_reach_the_clients_of_their_table() {
        let mut board = Board::default();
        board.announce(None, "venue".into(), 1_000, 0);
        board.announce(Some("t2".into()), "t2 only".into(), 1_000, 0);
        let t1: std::collections::HashSet<String> = ["t1".to_owned()].into();
        let active = board.active(0);
        let for_t1: Vec<&Notice> = active.iter().filter(|n| n.for_tables(Some(&t1))).collect();
        assert_eq!(for_t1.len(), 1);
        let json: serde_json::Value = serde_json::from_str(&for_t1[0].json).expect("JSON");
        assert_eq!(json["type"], "announcement");
        assert_eq!(json["text"], "venue");
        assert_eq!(json["ttl_ms"], 1_000);
        assert_eq!(active.iter().filter(|n| n.for_tables(None)).count(), 2);
    }
}
