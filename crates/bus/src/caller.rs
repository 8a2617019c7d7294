//! Who is calling: the uid the bus authenticated the caller's connection with.
//!
//! The policy files already refuse what is root only, but a service checks again
//! itself: a policy can be edited, overridden by a local file or missing.

use zbus::fdo;
use zbus::message::Header;
use zbus::names::BusName;
use zbus::Connection;

/// The caller's uid, as the bus knows it (`GetConnectionUnixUser`).
pub(crate) async fn caller_uid(conn: &Connection, header: Option<&Header<'_>>) -> fdo::Result<u32> {
    let sender = header
        .and_then(|h| h.sender())
        .ok_or_else(|| fdo::Error::AccessDenied("caller has no bus name".into()))?;
    fdo::DBusProxy::new(conn)
        .await?
        .get_connection_unix_user(BusName::Unique(sender.clone()))
        .await
}

/// `Ok` for a root caller; `AccessDenied("<what> is restricted to root (caller uid N)")`
/// for anyone else.
pub(crate) async fn require_root(
    conn: &Connection,
    header: Option<&Header<'_>>,
    what: &str,
) -> fdo::Result<()> {
    match caller_uid(conn, header).await? {
        0 => Ok(()),
        uid => Err(fdo::Error::AccessDenied(format!(
            "{what} is restricted to root (caller uid {uid})"
        ))),
    }
}
