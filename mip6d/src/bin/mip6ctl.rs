//! mip6ctl: prints what a running mip6d publishes on the system bus
//! (`org.umip_rs.Mip6d1`, see docs/dbus.md), as tables or as JSON.
//!
//! `status` needs no privilege; the per-binding lists of `bul` and `bc` are given to
//! root only by mip6d. Exit status: 0 done, 1 a D-Bus error, a question the daemon's
//! role cannot answer or a list refused to a user other than root, 2 a usage error, 3
//! mip6d is not running (the LSB `status` code for "not running").

use std::fmt::Write as _;
use std::process::ExitCode;

use bus::mip6d::{correspondent_binding_cache, mip6d_role, HomeAgentStatus, MobileNodeStatus};
use bus::zbus::{self, Connection};
use bus::{mip6d::BindingRecord, mip6d::BulRecord, Role, MIP6D_BUS_NAME};
use serde::Serialize;

const USAGE: &str = "\
Usage: mip6ctl [status|bul|bc] [--json]

Prints the state of the running mip6d, read from the system bus.

Commands:
  status   role, home registration and binding counts (the default)
  bul      the mobile node's binding update list (root only)
  bc       the binding caches: home registrations (home agent) and
           route-optimization bindings (every role) (root only)

Options:
  -j, --json     print JSON instead of text
  -h, --help     print this help and exit
  -V, --version  print the version and exit

The bus is $DBUS_SYSTEM_BUS_ADDRESS if set, else the system bus.
Exit status: 0 done, 1 D-Bus error or not available in this role,
2 usage error, 3 mip6d is not running.
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Status,
    Bul,
    Bc,
}

#[derive(Debug)]
enum Parsed {
    Run { command: Command, json: bool },
    Help,
    Version,
}

/// A command line mip6ctl does not understand (exit 2, after the usage).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum UsageError {
    #[error("unknown option '{0}'")]
    Option(String),
    #[error("unknown command '{0}'")]
    Command(String),
    #[error("one command at a time ('{0}' is extra)")]
    Extra(String),
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Parsed, UsageError> {
    let mut command = None;
    let mut json = false;
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "-j" | "--json" => json = true,
            word if word.starts_with('-') => return Err(UsageError::Option(word.to_owned())),
            word => {
                let cmd = match word {
                    "status" => Command::Status,
                    "bul" => Command::Bul,
                    "bc" => Command::Bc,
                    _ => return Err(UsageError::Command(word.to_owned())),
                };
                if command.replace(cmd).is_some() {
                    return Err(UsageError::Extra(word.to_owned()));
                }
            }
        }
    }
    Ok(Parsed::Run {
        command: command.unwrap_or(Command::Status),
        json,
    })
}

/// Why a run failed; [`Failure::exit_code`] is its exit status.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("mip6d is not running (no owner of {MIP6D_BUS_NAME} on the system bus)")]
    NotRunning,
    /// The daemon's role cannot answer, or the caller may not see the list.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Bus(String),
}

impl Failure {
    /// 3 is the LSB `status` code for "not running".
    fn exit_code(&self) -> u8 {
        match self {
            Failure::NotRunning => 3,
            Failure::Unavailable(_) | Failure::Bus(_) => 1,
        }
    }

    fn from_zbus(context: &str, e: zbus::Error) -> Failure {
        if bus::daemon_absent(&e) {
            return Failure::NotRunning;
        }
        Failure::Bus(format!("{context}: {e}"))
    }
}

fn main() -> ExitCode {
    let parsed = match parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("mip6ctl: {e}");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (command, json) = match parsed {
        Parsed::Help => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Parsed::Version => {
            println!("mip6ctl {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Parsed::Run { command, json } => (command, json),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mip6ctl: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command, json)) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mip6ctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[derive(Serialize)]
struct StatusJson {
    role: &'static str,
    mobile_node: Option<MobileNodeStatus>,
    home_agent: Option<HomeAgentStatus>,
    correspondent: CorrespondentJson,
}

#[derive(Serialize)]
struct CorrespondentJson {
    binding_cache_entries: u32,
    /// `None` (null) for a caller other than root.
    binding_cache: Option<Vec<BindingRecord>>,
}

#[derive(Serialize)]
struct BcJson {
    home_agent: Option<Vec<BindingRecord>>,
    correspondent: Vec<BindingRecord>,
}

async fn run(command: Command, json: bool) -> Result<String, Failure> {
    let conn = Connection::system()
        .await
        .map_err(|e| Failure::Bus(format!("cannot connect to the system bus: {e}")))?;
    let role = mip6d_role(&conn)
        .await
        .map_err(|e| Failure::from_zbus("cannot ask the bus for mip6d", e))?
        .ok_or(Failure::NotRunning)?;
    let mobile_node = if role == Role::MobileNode {
        Some(
            MobileNodeStatus::fetch(&conn)
                .await
                .map_err(|e| Failure::from_zbus("reading the mobile node", e))?,
        )
    } else {
        None
    };
    let home_agent = if role == Role::HomeAgent && command != Command::Bul {
        Some(
            HomeAgentStatus::fetch(&conn)
                .await
                .map_err(|e| Failure::from_zbus("reading the home agent", e))?,
        )
    } else {
        None
    };
    let (correspondent_entries, correspondent) = correspondent_binding_cache(&conn)
        .await
        .map_err(|e| Failure::from_zbus("reading the correspondent node", e))?;
    // The per-binding lists are root only (docs/dbus.md).
    let root_only = |what: &str| {
        Failure::Unavailable(format!(
            "the {what} is readable by root only (the counts are in `mip6ctl status`)"
        ))
    };

    match command {
        Command::Status => {
            let status = StatusJson {
                role: role.as_str(),
                mobile_node,
                home_agent,
                correspondent: CorrespondentJson {
                    binding_cache_entries: correspondent_entries,
                    binding_cache: correspondent,
                },
            };
            Ok(if json {
                to_json(&status)
            } else {
                status_text(&status)
            })
        }
        Command::Bul => {
            let Some(mn) = mobile_node else {
                return Err(Failure::Unavailable(format!(
                    "mip6d runs as {role}: only a mobile node has a binding update list"
                )));
            };
            let bul = mn
                .binding_update_list
                .ok_or_else(|| root_only("binding update list"))?;
            Ok(if json { to_json(&bul) } else { bul_table(&bul) })
        }
        Command::Bc => {
            let home_agent = match home_agent {
                Some(ha) => Some(ha.binding_cache.ok_or_else(|| root_only("binding cache"))?),
                None => None,
            };
            let bc = BcJson {
                home_agent,
                correspondent: correspondent.ok_or_else(|| root_only("binding cache"))?,
            };
            Ok(if json { to_json(&bc) } else { bc_table(&bc) })
        }
    }
}

/// Pretty JSON with a final newline.
fn to_json<T: Serialize>(value: &T) -> String {
    // Strings, numbers, lists and maps with integer keys only: serializing cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

fn status_text(status: &StatusJson) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "mip6d: {}", status.role);
    let mut line = |key: &str, value: &str| {
        let _ = writeln!(out, "  {key:<28}{value}");
    };
    if let Some(mn) = &status.mobile_node {
        line("home address", or_none(&mn.home_address));
        line("home agent", or_none(&mn.home_agent));
        let coa = if mn.care_of_address.is_empty() {
            "-".to_owned()
        } else if mn.care_of_interface.is_empty() {
            mn.care_of_address.clone()
        } else {
            format!("{} on {}", mn.care_of_address, mn.care_of_interface)
        };
        line("care-of address", &coa);
        line("registration", &mn.registration_state);
        line(
            "binding update list",
            &format!("{} entries", mn.binding_update_list_entries),
        );
    }
    if let Some(ha) = &status.home_agent {
        line(
            "home registrations",
            &format!("{} bindings", ha.binding_cache_entries),
        );
        line(
            "binding updates received",
            &ha.binding_updates_received.to_string(),
        );
        line("  accepted", &ha.binding_updates_accepted.to_string());
        let by_status: Vec<String> = ha
            .rejected_by_status
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect();
        let rejected = if by_status.is_empty() {
            ha.binding_updates_rejected.to_string()
        } else {
            format!("{} ({})", ha.binding_updates_rejected, by_status.join(", "))
        };
        line("  rejected", &rejected);
        line("  dropped", &ha.binding_updates_dropped.to_string());
    }
    line(
        "route-optimization bindings",
        &status.correspondent.binding_cache_entries.to_string(),
    );
    out
}

/// Left-aligned columns two spaces apart; a header line, then one line per row.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut push = |cells: &mut dyn Iterator<Item = &str>| {
        let line: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    };
    push(&mut header.iter().copied());
    for row in rows {
        push(&mut row.iter().map(String::as_str));
    }
    out
}

fn bul_table(bul: &[BulRecord]) -> String {
    if bul.is_empty() {
        return "binding update list: empty\n".to_owned();
    }
    let rows: Vec<Vec<String>> = bul
        .iter()
        .map(|e| {
            vec![
                e.peer.clone(),
                e.home_address.clone(),
                or_none(&e.care_of_address).to_owned(),
                e.state.clone(),
                format!("{}/{}", e.remaining, e.lifetime),
                e.sequence.to_string(),
                or_none(&e.flags).to_owned(),
                if e.last_status < 0 {
                    "-".to_owned()
                } else {
                    e.last_status.to_string()
                },
            ]
        })
        .collect();
    table(
        &[
            "PEER",
            "HOME ADDRESS",
            "CARE-OF ADDRESS",
            "STATE",
            "LIFETIME",
            "SEQ",
            "FLAGS",
            "BA STATUS",
        ],
        &rows,
    )
}

fn bc_table(bc: &BcJson) -> String {
    let entries = bc
        .home_agent
        .iter()
        .flatten()
        .map(|b| ("home", b))
        .chain(bc.correspondent.iter().map(|b| ("ro", b)));
    let rows: Vec<Vec<String>> = entries
        .map(|(kind, b)| {
            vec![
                kind.to_owned(),
                b.home_address.clone(),
                b.care_of_address.clone(),
                or_none(&b.local_address).to_owned(),
                b.state.clone(),
                format!("{}/{}", b.remaining, b.lifetime),
                b.sequence.to_string(),
                or_none(&b.flags).to_owned(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "binding cache: empty\n".to_owned();
    }
    table(
        &[
            "KIND",
            "HOME ADDRESS",
            "CARE-OF ADDRESS",
            "LOCAL ADDRESS",
            "STATE",
            "LIFETIME",
            "SEQ",
            "FLAGS",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Parsed, String> {
        parse_args(list.iter().map(|s| (*s).to_owned())).map_err(|e| e.to_string())
    }

    #[test]
    fn command_line() {
        assert!(matches!(
            args(&[]),
            Ok(Parsed::Run {
                command: Command::Status,
                json: false
            })
        ));
        assert!(matches!(
            args(&["--json", "bul"]),
            Ok(Parsed::Run {
                command: Command::Bul,
                json: true
            })
        ));
        assert!(matches!(
            args(&["bc", "-j"]),
            Ok(Parsed::Run {
                command: Command::Bc,
                json: true
            })
        ));
        assert!(matches!(args(&["bc", "-h"]), Ok(Parsed::Help)));
        assert!(matches!(args(&["-V"]), Ok(Parsed::Version)));
        assert_eq!(
            args(&["show"]).err().as_deref(),
            Some("unknown command 'show'")
        );
        assert_eq!(
            args(&["--xml"]).err().as_deref(),
            Some("unknown option '--xml'")
        );
        assert!(args(&["bul", "bc"]).is_err());
    }

    #[test]
    fn tables_align_columns() {
        let text = table(
            &["A", "LONG"],
            &[
                vec!["xyz".into(), "1".into()],
                vec!["q".into(), "22".into()],
            ],
        );
        assert_eq!(text, "A    LONG\nxyz  1\nq    22\n");
    }
}
