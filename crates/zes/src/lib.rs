//! Safe API (placeholder).
