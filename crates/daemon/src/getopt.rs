//! The command-line scan of glibc `getopt_long(3)`, shared by every daemon
//! binary so that `miredo`, `miredo-server`, `miredo-checkconf` and `mip6d`
//! accept exactly what the C programs they replace accept.
//!
//! Supported: clustered short options (`-fc FILE`), attached values
//! (`-cFILE`), `--opt=value` and `--opt value`, optional arguments (only as
//! `--opt=value`), unambiguous long-option prefixes (aliases of one option
//! are not ambiguous), permutation of non-options to the end and `--`. Error
//! texts are glibc's, without the `argv[0]: ` prefix (see [`GetoptError`]).
//!
//! Hand-written rather than `lexopt`, `getopts` or `clap`: none of them both
//! resolves long-option prefixes the way glibc does and reports glibc's
//! messages, which scripts and the CLI tests compare byte for byte.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// Whether a long option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasArg {
    /// `no_argument`.
    No,
    /// `optional_argument`: only as `--opt=value`.
    Optional,
    /// `required_argument`: `--opt=value` or `--opt value`.
    Required,
}

/// One entry of the long-option table.
#[derive(Debug, Clone, Copy)]
pub struct LongOpt<T> {
    /// The name, without `--`.
    pub name: &'static str,
    /// Whether it takes a value.
    pub has_arg: HasArg,
    /// What the caller sees; entries with the same `id` and `has_arg` are
    /// aliases.
    pub id: T,
}

impl<T> LongOpt<T> {
    /// A table entry.
    pub const fn new(name: &'static str, has_arg: HasArg, id: T) -> Self {
        LongOpt { name, has_arg, id }
    }
}

/// A complaint about one argument, in glibc's words (print it after
/// `argv[0]: `, see [`GetoptError::glibc`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetoptError {
    /// No long option has this name or prefix (the whole `--` body shown).
    #[error("unrecognized option '--{0}'")]
    UnknownLong(String),
    /// The prefix matches several options.
    #[error("option '--{given}' is ambiguous; possibilities:{list}")]
    Ambiguous {
        /// The whole `--` body as given.
        given: String,
        /// ` '--a' '--b'…`, each with a leading space.
        list: String,
    },
    /// `--opt=value` for an option without a value.
    #[error("option '--{0}' doesn't allow an argument")]
    UnexpectedValue(&'static str),
    /// A long option's value is missing at the end of the line.
    #[error("option '--{0}' requires an argument")]
    LongNeedsValue(&'static str),
    /// An unknown short option letter.
    #[error("invalid option -- '{0}'")]
    UnknownShort(String),
    /// A short option's value is missing at the end of the line.
    #[error("option requires an argument -- '{0}'")]
    ShortNeedsValue(char),
}

impl GetoptError {
    /// The whole line glibc prints: `argv0: message`.
    pub fn glibc(&self, argv0: &str) -> String {
        format!("{argv0}: {self}")
    }
}

/// One option found, with its value if it takes one.
pub type Event<T> = Result<(T, Option<OsString>), GetoptError>;

/// What a scan found.
#[derive(Debug)]
pub struct Scan<T> {
    /// Options and errors, in command-line order.
    pub events: Vec<Event<T>>,
    /// Non-option arguments, in order (those after `--` included).
    pub positional: Vec<OsString>,
}

/// Scans `args` (without `argv[0]`). `short` maps an option letter to its
/// id and whether it takes a value; `long` is the long-option table.
pub fn scan<T: Copy + PartialEq>(
    args: &[OsString],
    short: impl Fn(u8) -> Option<(T, bool)>,
    long: &[LongOpt<T>],
) -> Scan<T> {
    let mut events = Vec::new();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_bytes();
        i += 1;
        if arg == b"--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = arg.strip_prefix(b"--") {
            let (name, attached) = match body.iter().position(|&b| b == b'=') {
                Some(eq) => (&body[..eq], Some(&body[eq + 1..])),
                None => (body, None),
            };
            let found = match find_long(long, name) {
                Ok(o) => o,
                Err(list) => {
                    let given = String::from_utf8_lossy(body).into_owned();
                    events.push(Err(match list {
                        None => GetoptError::UnknownLong(given),
                        Some(list) => GetoptError::Ambiguous { given, list },
                    }));
                    continue;
                }
            };
            let value = match (found.has_arg, attached) {
                (HasArg::No, Some(_)) => {
                    events.push(Err(GetoptError::UnexpectedValue(found.name)));
                    continue;
                }
                (HasArg::Required, None) => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        Some(v.clone())
                    }
                    None => {
                        events.push(Err(GetoptError::LongNeedsValue(found.name)));
                        continue;
                    }
                },
                (_, None) => None,
                (_, Some(v)) => Some(OsStr::from_bytes(v).to_os_string()),
            };
            events.push(Ok((found.id, value)));
            continue;
        }
        if arg.len() < 2 || arg[0] != b'-' {
            positional.push(args[i - 1].clone());
            continue;
        }
        let mut j = 1;
        while j < arg.len() {
            let c = arg[j];
            j += 1;
            match short(c) {
                None => {
                    let shown = String::from_utf8_lossy(&[c]).into_owned();
                    events.push(Err(GetoptError::UnknownShort(shown)));
                }
                Some((id, false)) => events.push(Ok((id, None))),
                Some((id, true)) => {
                    if j < arg.len() {
                        events.push(Ok((id, Some(OsStr::from_bytes(&arg[j..]).into()))));
                    } else if let Some(v) = args.get(i) {
                        events.push(Ok((id, Some(v.clone()))));
                        i += 1;
                    } else {
                        events.push(Err(GetoptError::ShortNeedsValue(char::from(c))));
                    }
                    break;
                }
            }
        }
    }
    Scan { events, positional }
}

/// glibc's long-option lookup: exact match, else a unique prefix, where
/// matches that are the same option (aliases) do not count as ambiguous.
/// `Err(None)` is unknown, `Err(Some(list))` ambiguous.
fn find_long<'a, T: PartialEq>(
    long: &'a [LongOpt<T>],
    name: &[u8],
) -> Result<&'a LongOpt<T>, Option<String>> {
    if let Some(o) = long.iter().find(|o| o.name.as_bytes() == name) {
        return Ok(o);
    }
    let mut found: Option<&LongOpt<T>> = None;
    let mut ambiguous: Vec<&str> = Vec::new();
    for o in long.iter().filter(|o| o.name.as_bytes().starts_with(name)) {
        match found {
            None => found = Some(o),
            Some(f) if f.has_arg != o.has_arg || f.id != o.id => {
                if ambiguous.is_empty() {
                    ambiguous.push(f.name);
                }
                ambiguous.push(o.name);
            }
            Some(_) => {}
        }
    }
    if !ambiguous.is_empty() {
        let list: String = ambiguous.iter().map(|n| format!(" '--{n}'")).collect();
        return Err(Some(list));
    }
    found.ok_or(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: [LongOpt<char>; 4] = [
        LongOpt::new("config", HasArg::Required, 'c'),
        LongOpt::new("conf", HasArg::Required, 'c'),
        LongOpt::new("foreground", HasArg::No, 'f'),
        LongOpt::new("format", HasArg::Optional, 'F'),
    ];

    fn short(c: u8) -> Option<(char, bool)> {
        match c {
            b'c' => Some(('c', true)),
            b'f' => Some(('f', false)),
            _ => None,
        }
    }

    type Shown = Result<(char, Option<String>), String>;

    fn run(args: &[&str]) -> (Vec<Shown>, Vec<String>) {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let s = scan(&args, short, &LONG);
        let events = s
            .events
            .into_iter()
            .map(|e| {
                e.map(|(id, v)| (id, v.map(|v| v.to_string_lossy().into_owned())))
                    .map_err(|e| e.glibc("p"))
            })
            .collect();
        let pos = s
            .positional
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        (events, pos)
    }

    #[test]
    fn clusters_attached_values_and_permutation() {
        let (ev, pos) = run(&["-fc", "a", "x", "-cb", "--conf=d", "--", "-f"]);
        assert_eq!(
            ev,
            vec![
                Ok(('f', None)),
                Ok(('c', Some("a".into()))),
                Ok(('c', Some("b".into()))),
                Ok(('c', Some("d".into()))),
            ]
        );
        assert_eq!(pos, ["x", "-f"]);
    }

    #[test]
    fn prefixes_aliases_and_errors() {
        let (ev, _) = run(&[
            "--con",
            "v",
            "--fo",
            "--form=x",
            "--f",
            "--zz",
            "-q",
            "--foreground=1",
        ]);
        assert_eq!(
            ev,
            vec![
                Ok(('c', Some("v".into()))),
                Err(
                    "p: option '--fo' is ambiguous; possibilities: '--foreground' '--format'"
                        .into()
                ),
                Ok(('F', Some("x".into()))),
                Err(
                    "p: option '--f' is ambiguous; possibilities: '--foreground' '--format'".into()
                ),
                Err("p: unrecognized option '--zz'".into()),
                Err("p: invalid option -- 'q'".into()),
                Err("p: option '--foreground' doesn't allow an argument".into()),
            ]
        );
        assert_eq!(
            run(&["-c"]).0,
            vec![Err("p: option requires an argument -- 'c'".into())]
        );
        assert_eq!(
            run(&["--config"]).0,
            vec![Err("p: option '--config' requires an argument".into())]
        );
    }
}
