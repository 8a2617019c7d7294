//! miredo-rs: the Teredo daemon's library side (configuration, CLI, hook, drivers).

pub mod cli;
pub mod client;
pub mod config;
pub mod dbus;
pub mod hook;
pub mod mire;
pub mod privproc;
pub mod pump;
pub mod relayd;
pub mod server;
pub mod service;
pub mod startup;
pub mod status;
pub mod udp;
