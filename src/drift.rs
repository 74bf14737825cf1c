//! Drift: how the live tenant differs from the manifests.
