//! Agent UI (being written).
