//! Object path elements from arbitrary names.
//!
//! The D-Bus specification allows only `[A-Za-z0-9_]` in a path element. Names are
//! escaped the way GLib's `g_dbus_escape_object_path` does: ASCII letters and digits
//! are kept, every other byte (including `_`) becomes `_` followed by two lower-case hex
//! digits, and the empty string becomes `_`. The mapping is reversible.

use zbus::zvariant::OwnedObjectPath;

use crate::MIREDO_PATH_PREFIX;

/// Escapes `name` into a valid object path element (see the module notes).
pub fn escape_path_element(name: &str) -> String {
    if name.is_empty() {
        return "_".to_owned();
    }
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("_{byte:02x}"));
        }
    }
    out
}

/// Reverses [`escape_path_element`]; `None` if `element` is not such an escape.
pub fn unescape_path_element(element: &str) -> Option<String> {
    if element == "_" {
        return Some(String::new());
    }
    let bytes = element.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => {
                let hex = element.get(i + 1..i + 3)?;
                let byte = u8::from_str_radix(hex, 16).ok()?;
                if byte.is_ascii_alphanumeric() {
                    return None;
                }
                out.push(byte);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// `/org/miredo_rs/Miredo1/<escaped interface name>`.
pub fn tunnel_object_path(interface_name: &str) -> OwnedObjectPath {
    let path = format!(
        "{MIREDO_PATH_PREFIX}/{}",
        escape_path_element(interface_name)
    );
    // The prefix is a constant valid path and the escaped element has only [A-Za-z0-9_].
    OwnedObjectPath::try_from(path)
        .unwrap_or_else(|_| OwnedObjectPath::try_from(MIREDO_PATH_PREFIX).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape_path_element("teredo"), "teredo");
        assert_eq!(escape_path_element("tun0"), "tun0");
        assert_eq!(escape_path_element("0tun"), "0tun");
        assert_eq!(escape_path_element("miredo-1"), "miredo_2d1");
        assert_eq!(escape_path_element("my_if.x"), "my_5fif_2ex");
        assert_eq!(escape_path_element(""), "_");
        assert_eq!(escape_path_element("é"), "_c3_a9");
    }

    #[test]
    fn round_trip() {
        for name in ["teredo", "tun0", "a-b_c.d", "", "é@x", "_"] {
            let esc = escape_path_element(name);
            assert!(esc.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            assert_eq!(unescape_path_element(&esc).as_deref(), Some(name));
        }
        assert_eq!(unescape_path_element("_4"), None);
        assert_eq!(unescape_path_element("a_61"), None, "not canonical");
        assert_eq!(unescape_path_element("a-b"), None);
    }

    #[test]
    fn object_paths() {
        assert_eq!(
            tunnel_object_path("teredo").as_str(),
            "/org/miredo_rs/Miredo1/teredo"
        );
        assert_eq!(
            tunnel_object_path("tun-1").as_str(),
            "/org/miredo_rs/Miredo1/tun_2d1"
        );
    }
}
