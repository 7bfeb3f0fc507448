//! STUB (to be written): after-commit fan-out of table views to WebSocket clients.
//!
//! Contract: `publish` is called with committed views in seq order; `subscribe` takes the snapshot
//! and registers the client atomically (no gap); each client queue is conflated per table.

use std::collections::HashSet;

use crate::view::Published;

/// The fan-out point. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Hub {}

/// One client's queue.
#[derive(Debug)]
pub struct Subscription {}

/// What a subscription yields next.
#[derive(Debug)]
pub enum Next {
    /// Newest views of the tables that changed, in seq order.
    Updates(Vec<Published>),
    /// The client fell behind: a fresh snapshot replaces its queue.
    Resnapshot(Vec<Published>),
    /// The hub is shutting down.
    Closed,
}

impl Hub {
    /// Records committed views and queues them for every client.
    pub fn publish(&self, _batch: &[Published]) {}
    /// Non-durable camera positions for a table (`{"type":"positions",...}` JSON).
    pub fn positions(&self, _table: &str, _json: String) {}
    /// The newest view of every table, sorted by table.
    pub fn latest(&self) -> Vec<Published> {
        Vec::new()
    }
    /// The newest view of one table.
    pub fn get(&self, _table: &str) -> Option<Published> {
        None
    }
    /// Snapshot + subscription with no gap between them; `tables` filters, `None` = all.
    pub fn subscribe(&self, _tables: Option<HashSet<String>>) -> (Vec<Published>, Subscription) {
        (Vec::new(), Subscription {})
    }
}

impl Subscription {
    /// Waits for the next updates.
    pub async fn next(&mut self) -> Next {
        Next::Closed
    }
}
