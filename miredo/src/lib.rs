//! miredo-rs: the Teredo daemon's library side (configuration, CLI, hook, drivers).

pub mod cli;
pub mod config;
pub mod hook;
