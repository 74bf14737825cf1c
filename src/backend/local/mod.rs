//! Local backend (placeholder, being written).
