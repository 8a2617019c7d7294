//! Where the mobile node is, as the movement detection decides it: a leaf
//! the registration, route optimisation and prefix discovery all read.

use mip6::coa::PrimaryCoa;

/// Where the mobile node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Location {
    /// Not decided yet (settling).
    Unknown,
    /// On the home link (interface index).
    Home(u32),
    /// Away, with this primary CoA.
    Away(PrimaryCoa),
    /// Away without a usable CoA: the binding ages (UMIP's "invalidate").
    Nowhere,
}
