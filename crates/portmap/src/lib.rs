//! Port mapping for a Teredo client behind a NAT that is not a cone.
//!
//! The client asks its home gateway to map its UDP Teredo port — PCP first
//! (RFC 6887), then NAT-PMP (RFC 6886), then UPnP IGD — keeps the mapping
//! renewed, deletes it on stop, and meanwhile can behave as if behind a cone
//! NAT: the mapped external endpoint is the same for every peer.
//!
//! - [`mapper::PortMapper`]: the sans-IO PCP/NAT-PMP state machine (time is
//!   passed in, datagrams come out), with [`pcp`] and [`natpmp`] its codecs.
//! - `upnp` (feature `upnp`, on by default): the UPnP IGD fallback, an
//!   async wrapper around `igd-next`.
//! - [`gateway`]: the IPv4 default gateway from `/proc/net/route`.
//!
//! # Why our own codec for PCP and NAT-PMP
//!
//! The crates that exist own their I/O: `crab_nat` (PCP and NAT-PMP) opens a
//! tokio UDP socket per request and sleeps on tokio timers for its
//! retransmissions; `natpmp` binds its own socket (blocking, or async behind
//! its socket trait) and keeps the RFC 6886 schedule of nine tries over 64 s.
//! Neither can be driven from the Teredo socket, tested in simulated time,
//! or fuzzed as a state machine, and neither does the RFC 6887 §8.5 epoch
//! check that tells us the gateway rebooted. The messages we need are a
//! handful of fixed-layout records (a 60-octet PCP MAP, 2- and 12-octet
//! NAT-PMP requests), so [`pcp`] and [`natpmp`] are small sans-IO codecs of
//! our own. UPnP IGD is SSDP, HTTP and SOAP/XML: too much to write again, so
//! it comes from `igd-next` (tokio), whose types stay inside `upnp`.

#![forbid(unsafe_code)]

mod epoch;
pub mod gateway;
pub mod mapper;
pub mod natpmp;
pub mod pcp;
#[cfg(feature = "upnp")]
pub mod upnp;

pub use mapper::{Config, Event, Failure, Outputs, PortMapper, Stats, Timers, Transmit};

/// The protocol that holds a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Port Control Protocol (RFC 6887).
    Pcp,
    /// NAT Port Mapping Protocol (RFC 6886).
    NatPmp,
}
