//! `PropertiesChanged` for the services whose state is a flat list of
//! properties: compare the old and new lists, signal only what differs.

use std::borrow::Cow;
use std::collections::HashMap;

use zbus::fdo;
use zbus::names::InterfaceName;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::Value;

/// The entries of `new` whose value differs from the same entry of `old`
/// (both in the same, fixed order).
pub(crate) fn diff(
    old: impl IntoIterator<Item = (&'static str, Value<'static>)>,
    new: impl IntoIterator<Item = (&'static str, Value<'static>)>,
) -> HashMap<&'static str, Value<'static>> {
    new.into_iter()
        .zip(old)
        .filter(|((_, new), (_, old))| new != old)
        .map(|(new, _)| new)
        .collect()
}

/// One `PropertiesChanged` on `interface` carrying `changed`; nothing at all
/// when it is empty.
pub(crate) async fn emit(
    emitter: &SignalEmitter<'_>,
    interface: &'static str,
    changed: HashMap<&'static str, Value<'static>>,
) -> zbus::Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    let changed: HashMap<&str, Value<'_>> = changed.into_iter().collect();
    fdo::Properties::properties_changed(
        emitter,
        InterfaceName::from_static_str_unchecked(interface),
        changed,
        Cow::Borrowed(&[]),
    )
    .await
}
