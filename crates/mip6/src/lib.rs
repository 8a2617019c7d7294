//! Sans-IO Mobile IPv6 (RFC 6275) and NEMO (RFC 3963).
//!
//! Like `teredo`, this crate never opens a socket, spawns a task or reads the
//! clock: callers pass `now` and bytes in, and get actions back.
//!
//! - [`wire`]: Mobility Header, mobility options, HAO, Type 2 Routing Header,
//!   ND/DHAAD/MPD messages;
//! - [`consts`]: protocol numbers, BA/BE status codes, RFC 6275 §12 timers;
//! - [`seq`]: the 16-bit sequence number window (RFC 6275 §9.5.1);
//! - [`bul`]: the mobile node's binding update list and home registration;
//! - [`bcache`]: the home agent's binding cache and its BU checks;
//! - [`cn`]: the correspondent node: test replies, route-optimisation BU checks, its binding cache;
//! - [`coa`]: interface and care-of address selection
//!   (docs/protocol-notes.md#interface-and-care-of-address-choice);
//! - [`dhaad`]: home agent address discovery, both sides;
//! - [`haselect`]: the mobile node's choice of home agent by DHAAD;
//! - [`halist`]: the home agent's Home Agents List, learnt from RAs;
//! - [`mpd`]: mobile prefix solicitation on the mobile node;
//! - [`rr`]: return routability: tokens, nonces, Kbm and the authenticator;
//! - [`ro`]: the mobile node's route optimisation with one correspondent.

#![forbid(unsafe_code)]
pub mod bcache;
pub mod bul;
pub mod cn;
pub mod coa;
pub mod consts;
pub mod deadlines;
pub mod dhaad;
pub mod halist;
pub mod haselect;
pub mod mpa_schedule;
pub mod mpd;
pub mod ro;
pub mod rr;
pub mod seq;
pub mod wire;
