//! Renderers (placeholder, being written).
