//! Sans-IO Mobile IPv6 (RFC 6275) and NEMO (RFC 3963).
//!
//! Like `teredo`, this crate never opens a socket, spawns a task or reads the
//! clock: callers pass `now` and bytes in, and get actions back.
