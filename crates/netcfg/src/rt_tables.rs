//! Routing-table names, as iproute2 resolves them (`ip route show table teredo`).
//!
//! Reads `rt_tables` and `rt_tables.d/*.conf` under `/etc/iproute2`, then
//! the vendor directories newer iproute2 uses (`/usr/share/iproute2`,
//! `/usr/lib/iproute2`). Lines are `ID NAME`, ID decimal or `0x` hex, `#`
//! starts a comment.

use std::path::{Path, PathBuf};

/// Where to look for table names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtTables {
    /// Files read in order (missing ones are skipped).
    pub files: Vec<PathBuf>,
    /// Directories whose `*.conf` files are read, in name order.
    pub dirs: Vec<PathBuf>,
}

const BASES: [&str; 3] = ["/etc/iproute2", "/usr/share/iproute2", "/usr/lib/iproute2"];

impl RtTables {
    /// The system locations.
    pub fn system() -> RtTables {
        RtTables {
            files: BASES
                .iter()
                .map(|b| Path::new(b).join("rt_tables"))
                .collect(),
            dirs: BASES
                .iter()
                .map(|b| Path::new(b).join("rt_tables.d"))
                .collect(),
        }
    }

    /// Custom locations (tests, chroots).
    pub fn with_paths(files: Vec<PathBuf>, dirs: Vec<PathBuf>) -> RtTables {
        RtTables { files, dirs }
    }

    /// Resolve a table name to its id. Built-in names (`main`, `local`,
    /// `default`, `unspec`) and plain numbers resolve without any file.
    pub fn lookup(&self, name: &str) -> Option<u32> {
        match name {
            "unspec" => return Some(0),
            "default" => return Some(253),
            "main" => return Some(254),
            "local" => return Some(255),
            _ => {}
        }
        if let Some(id) = parse_id(name) {
            return Some(id);
        }
        for f in &self.files {
            if let Some(id) = lookup_file(f, name) {
                return Some(id);
            }
        }
        for d in &self.dirs {
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            let mut confs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            confs.sort();
            for f in confs {
                if let Some(id) = lookup_file(&f, name) {
                    return Some(id);
                }
            }
        }
        None
    }
}

/// Resolve a table name with the system files.
pub fn lookup_table(name: &str) -> Option<u32> {
    RtTables::system().lookup(name)
}

fn parse_id(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn lookup_file(path: &Path, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_tables(&text, name)
}

/// Find `name` in the text of an rt_tables file.
pub fn parse_tables(text: &str, name: &str) -> Option<u32> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(id), Some(n)) = (words.next(), words.next()) else {
            continue;
        };
        if n == name {
            if let Some(id) = parse_id(id) {
                return Some(id);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_and_comments() {
        let text = "#\n# reserved values\n255\tlocal\n254 main\n0x10 hexa # c\n 100  teredo\nbad\n#200 commented\n";
        assert_eq!(parse_tables(text, "teredo"), Some(100));
        assert_eq!(parse_tables(text, "hexa"), Some(16));
        assert_eq!(parse_tables(text, "commented"), None);
        assert_eq!(parse_tables(text, "bad"), None);
    }

    #[test]
    fn builtins_and_numbers() {
        let t = RtTables::with_paths(vec![], vec![]);
        assert_eq!(t.lookup("main"), Some(254));
        assert_eq!(t.lookup("local"), Some(255));
        assert_eq!(t.lookup("1000"), Some(1000));
        assert_eq!(t.lookup("teredo"), None);
    }
}
