//! Teredo wire formats.
