//! STUB (to be written).
