//! mip6d: a drop-in for UMIP 1.0's Mobile IPv6 daemon.
