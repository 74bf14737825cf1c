//! The Partner Center simulator (`cspctl sim serve`). See `docs/simulator.md`.
//! (Interface placeholder; being written.)
