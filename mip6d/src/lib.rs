//! mip6d: a drop-in for UMIP 1.0's Mobile IPv6 daemon.
//!
//! - [`cli`]: the command line of `mip6d` (`docs/compat.md`);
//! - [`config`]: `mip6d.conf` in UMIP's syntax and in TOML, one typed model
//!   ([`config::Config`]), `--show-config` and SIGHUP reload;
//! - [`daemon`]: the running daemon (kernel probe, runtime, signals), on top
//!   of the role drivers [`ha`] (home agent), [`mn`] (mobile node) and [`cn`]
//!   (correspondent node, also beside the other two) on the kernel
//!   datapath through [`kernel`], and their state on D-Bus via [`publish`];
//! - [`control`], [`net`], [`random`]: what the role drivers share (signals
//!   and reload, address arithmetic, random numbers); nothing below
//!   [`daemon`] imports from it;
//! - [`ipsec`]: the XFRM policies of `IPsecPolicySet` (`UseMnHaIPsec`).

pub mod cli;
pub mod cn;
pub mod config;
pub mod control;
pub mod daemon;
pub mod debuglog;
pub mod ha;
pub mod ipsec;
pub mod kernel;
pub mod mn;
pub mod net;
pub mod publish;
pub mod random;
