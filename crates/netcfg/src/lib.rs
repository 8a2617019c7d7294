//! netcfg
