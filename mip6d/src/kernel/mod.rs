//! mip6d's side of the kernel: the numbers of the Mobile IPv6 objects it
//! installs (tables, rule priorities, route metrics, XFRM priorities), and
//! the raw sockets of [`raw`]. What is installed is recorded in netcfg's
//! ledger, which removes it again at shutdown.

pub mod raw;

/// The netcfg ledger every kernel object of mip6d goes through.
pub use netcfg::ledger::{Item, Ledger as Kernel};

/// `RT6_TABLE_MIP6`.
pub const TABLE_MIP6: u32 = 252;
/// The main table (`to MNP` lookups of a mobile router).
pub const TABLE_MAIN: u32 = 254;
/// Rule: traffic to a mobile network prefix looks up the main table (MR).
pub const RULE_PRIO_MNP_TO: u32 = 1000;
/// Rule: traffic from the home address looks up table 252 (MN).
pub const RULE_PRIO_HOA: u32 = 1001;
/// Rule: blackhole for traffic from the home address (MN).
pub const RULE_PRIO_HOA_BLACKHOLE: u32 = 1003;
/// Rule: forwarded traffic looks up table 252 (HA); from a mobile network
/// prefix (MR).
pub const RULE_PRIO_FWD: u32 = 1005;
/// Route metric `IP6_RT_PRIO_MIP6_OUT`.
pub const METRIC_MIP6_OUT: u32 = 128;
/// Route metric `IP6_RT_PRIO_MIP6_FWD`.
pub const METRIC_MIP6_FWD: u32 = 192;

/// XFRM sub-policy priority of home-registration signalling (BU/BA with
/// HAO/RH2): before any route-optimisation policy.
pub const XFRM_PRIO_HOME_SIG: u32 = 3;
/// XFRM sub-policy priority of the HA's wildcard "BU may carry an HAO" policy.
pub const XFRM_PRIO_HOME_SIG_ANY: u32 = 5;
