//! Export: a live tenant → manifests that declare exactly what it holds.
