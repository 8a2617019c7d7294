//! Reading a running miredo's tunnels in one go: which tunnels the owner of
//! `org.miredo_rs.Miredo1` exports, and a snapshot of each (what `miredoctl`
//! prints).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use zbus::fdo::IntrospectableProxy;
use zbus::zvariant::OwnedValue;
use zbus::Connection;

use crate::client::tunnel_proxy;
use crate::path::unescape_path_element;
use crate::{MIREDO_BUS_NAME, MIREDO_PATH_PREFIX};

/// Every property of one tunnel object, from one `Status()` call (so the values
/// belong together). Field names are the properties' in snake_case.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TunnelSnapshot {
    /// `InterfaceName`.
    pub interface_name: String,
    /// `State`: `down`, `qualifying` or `up`.
    pub state: String,
    /// `Address`: the Teredo address, or "".
    pub address: String,
    /// `LinkLocalAddress`, or "".
    pub link_local_address: String,
    /// `Mtu`.
    pub mtu: u32,
    /// `ServerAddress`: the Teredo server as configured, or "" (a relay has none).
    pub server_address: String,
    /// `MappedAddress`: the public IPv4:port the server saw, or "".
    pub mapped_address: String,
    /// `Peers`: entries in the peer list.
    pub peers: u32,
    /// `Mode`: `client`, `cone` or `restricted` (the last two: a relay).
    pub mode: String,
    /// `NatType`: `unknown`, `none`, `cone`, `restricted`, `symmetric` or
    /// `behind-nat`.
    pub nat_type: String,
    /// `PortPreserved`.
    pub port_preserved: bool,
    /// `PortMapping`: `off`, `none`, `pcp`, `nat-pmp` or `upnp` ("" from an
    /// older daemon).
    pub port_mapping: String,
    /// `PortPrediction`: `off`, `preserving` or `sequential` ("" from an
    /// older daemon).
    pub port_prediction: String,
    /// `Counters`, by name.
    pub counters: BTreeMap<String, u64>,
}

impl TunnelSnapshot {
    /// Calls `Status()` on the tunnel object of `interface_name`.
    pub async fn fetch(conn: &Connection, interface_name: &str) -> zbus::Result<TunnelSnapshot> {
        let status = tunnel_proxy(conn, interface_name).await?.status().await?;
        Self::from_status(&status)
    }

    /// Decodes a `Status()` dictionary. A property an older daemon does not
    /// publish keeps its default (`NatType` is then "unknown"); a value of the
    /// wrong type is an error.
    pub fn from_status(status: &HashMap<String, OwnedValue>) -> zbus::Result<TunnelSnapshot> {
        let text = |key: &str| -> zbus::Result<String> {
            match status.get(key) {
                Some(v) => Ok(String::try_from(v.try_clone()?)?),
                None => Ok(String::new()),
            }
        };
        let number = |key: &str| -> zbus::Result<u32> {
            match status.get(key) {
                Some(v) => Ok(u32::try_from(v)?),
                None => Ok(0),
            }
        };
        let port_preserved = match status.get("PortPreserved") {
            Some(v) => bool::try_from(v)?,
            None => false,
        };
        let counters = match status.get("Counters") {
            Some(v) => HashMap::<String, u64>::try_from(v.try_clone()?)?
                .into_iter()
                .collect(),
            None => BTreeMap::new(),
        };
        let mut nat_type = text("NatType")?;
        if nat_type.is_empty() {
            nat_type = "unknown".to_owned();
        }
        Ok(TunnelSnapshot {
            interface_name: text("InterfaceName")?,
            state: text("State")?,
            address: text("Address")?,
            link_local_address: text("LinkLocalAddress")?,
            mtu: number("Mtu")?,
            server_address: text("ServerAddress")?,
            mapped_address: text("MappedAddress")?,
            peers: number("Peers")?,
            mode: text("Mode")?,
            nat_type,
            port_preserved,
            port_mapping: text("PortMapping")?,
            port_prediction: text("PortPrediction")?,
            counters,
        })
    }

    /// True for a relay (`Mode` `cone` or `restricted`), which does not qualify.
    pub fn is_relay(&self) -> bool {
        self.mode == "cone" || self.mode == "restricted"
    }
}

/// The interface names of the tunnels the owner of `org.miredo_rs.Miredo1`
/// exports, from the introspection of `/org/miredo_rs/Miredo1`; `Ok(None)` when
/// no one owns the name (miredo is not running, or not on this bus).
pub async fn miredo_tunnels(conn: &Connection) -> zbus::Result<Option<Vec<String>>> {
    let owned = zbus::fdo::DBusProxy::new(conn)
        .await?
        .name_has_owner(zbus::names::BusName::try_from(MIREDO_BUS_NAME)?)
        .await?;
    if !owned {
        return Ok(None);
    }
    let xml = IntrospectableProxy::builder(conn)
        .destination(MIREDO_BUS_NAME)?
        .path(MIREDO_PATH_PREFIX)?
        .build()
        .await?
        .introspect()
        .await?;
    Ok(Some(
        child_nodes(&xml)
            .filter_map(unescape_path_element)
            .collect(),
    ))
}

/// The `name` of every child `<node name="…"/>` (zbus writes the attribute first
/// and double-quoted; escaped path elements never contain quotes).
fn child_nodes(xml: &str) -> impl Iterator<Item = &str> {
    xml.split("<node name=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
}

#[cfg(test)]
mod tests {
    use zbus::zvariant::Value;

    use super::*;

    #[test]
    fn child_nodes_of_the_prefix() {
        let xml = r#"<node>
 <interface name="org.freedesktop.DBus.Peer"></interface>
 <node name="teredo"/>
 <node name="miredo_2d1"/>
</node>"#;
        let names: Vec<String> = child_nodes(xml).filter_map(unescape_path_element).collect();
        assert_eq!(names, ["teredo", "miredo-1"]);
    }

    fn owned(v: Value<'_>) -> OwnedValue {
        v.try_to_owned().expect("owned value")
    }

    #[test]
    fn snapshot_from_status() {
        let mut status = HashMap::new();
        status.insert("State".to_owned(), owned(Value::from("up")));
        status.insert("Mtu".to_owned(), owned(Value::from(1280u32)));
        status.insert(
            "Counters".to_owned(),
            owned(Value::from(HashMap::from([("rx".to_owned(), 7u64)]))),
        );
        let snap = TunnelSnapshot::from_status(&status).expect("decodes");
        assert_eq!(snap.state, "up");
        assert_eq!(snap.mtu, 1280);
        assert_eq!(snap.counters.get("rx"), Some(&7));
        // An older daemon without NatType or PortPrediction.
        assert_eq!(snap.nat_type, "unknown");
        assert_eq!(snap.port_prediction, "");
        status.insert(
            "PortPrediction".to_owned(),
            owned(Value::from("sequential")),
        );
        let snap = TunnelSnapshot::from_status(&status).expect("decodes");
        assert_eq!(snap.port_prediction, "sequential");
        // A wrong type is an error, not a default.
        status.insert("Mtu".to_owned(), owned(Value::from("1280")));
        assert!(TunnelSnapshot::from_status(&status).is_err());
    }
}
