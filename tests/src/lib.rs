//! Shared helpers for the workspace's integration tests: the moto connection, a mock Keap,
//! and one conformance suite per port, run against every adapter of that port.

pub mod conformance;
pub mod fixtures;
pub mod keap_mock;
pub mod moto;
