//! Sync: venues push their outbox records here (docs/sync.md, "Push"). The `sync_cursors`,
//! `sync_records` and `sync_conflicts` tables are this context's: a batch is stored exactly once
//! in effect and acknowledged; the projections ([`crate::projection`]) read the stored records
//! from there, after the acknowledgement.
//!
//! - [`ingest`]: a batch → one short transaction: idempotency, conflicts, the high-water mark;
//! - [`http`]: `POST /api/v1/sync/batches`.

pub mod http;
pub mod ingest;
