//! Syslog priorities: the facility and severity of a message (RFC 5424 §6.2.1;
//! the same codes as RFC 3164 §4.1.1). A leaf module, used by both the
//! [`syslog`](crate::syslog) writer and the [`logging`](crate::logging) layer.

use std::fmt;
use std::str::FromStr;

use tracing::Level;

/// A syslog facility, by the keywords miredo's `SyslogFacility` directive accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Facility {
    Kern = 0,
    User = 1,
    Mail = 2,
    Daemon = 3,
    Auth = 4,
    Syslog = 5,
    Lpr = 6,
    News = 7,
    Uucp = 8,
    Cron = 9,
    AuthPriv = 10,
    Ftp = 11,
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}

impl Facility {
    /// All facilities with their keyword, in miredo's order.
    pub const ALL: [(&'static str, Facility); 20] = [
        ("auth", Facility::Auth),
        ("authpriv", Facility::AuthPriv),
        ("cron", Facility::Cron),
        ("daemon", Facility::Daemon),
        ("ftp", Facility::Ftp),
        ("kern", Facility::Kern),
        ("local0", Facility::Local0),
        ("local1", Facility::Local1),
        ("local2", Facility::Local2),
        ("local3", Facility::Local3),
        ("local4", Facility::Local4),
        ("local5", Facility::Local5),
        ("local6", Facility::Local6),
        ("local7", Facility::Local7),
        ("lpr", Facility::Lpr),
        ("mail", Facility::Mail),
        ("news", Facility::News),
        ("syslog", Facility::Syslog),
        ("user", Facility::User),
        ("uucp", Facility::Uucp),
    ];

    /// The facility number (the `LOG_*` value divided by 8).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The configuration keyword.
    pub fn keyword(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("daemon", |(k, _)| k)
    }

    pub(crate) fn from_code(code: u8) -> Facility {
        Self::ALL
            .iter()
            .map(|(_, f)| *f)
            .find(|f| f.code() == code)
            .unwrap_or(Facility::Daemon)
    }
}

impl fmt::Display for Facility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// An unknown facility keyword.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown syslog facility \"{0}\"")]
pub struct UnknownFacility(pub String);

impl FromStr for Facility {
    type Err = UnknownFacility;

    /// Parses a keyword, case-insensitively (miredo compares with `strcasecmp`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(s))
            .map(|(_, f)| *f)
            .ok_or_else(|| UnknownFacility(s.to_owned()))
    }
}

/// A syslog severity (`LOG_EMERG` … `LOG_DEBUG`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Severity {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

impl Severity {
    /// The `LOG_*` value.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The default severity of a `tracing` level.
    pub fn from_level(level: &Level) -> Severity {
        match *level {
            Level::ERROR => Severity::Err,
            Level::WARN => Severity::Warning,
            Level::INFO => Severity::Info,
            _ => Severity::Debug,
        }
    }

    /// Parses a `syslog_level` value.
    pub fn from_keyword(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "emerg" | "panic" => Severity::Emerg,
            "alert" => Severity::Alert,
            "crit" => Severity::Crit,
            "err" | "error" => Severity::Err,
            "warning" | "warn" => Severity::Warning,
            "notice" => Severity::Notice,
            "info" => Severity::Info,
            "debug" => Severity::Debug,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facility_keywords() {
        assert_eq!("daemon".parse::<Facility>(), Ok(Facility::Daemon));
        assert_eq!("LOCAL3".parse::<Facility>(), Ok(Facility::Local3));
        assert_eq!("authpriv".parse::<Facility>(), Ok(Facility::AuthPriv));
        assert!("local8".parse::<Facility>().is_err());
        for (k, f) in Facility::ALL {
            assert_eq!(f.keyword(), k);
            assert_eq!(Facility::from_code(f.code()), f);
        }
    }

    #[test]
    fn severity_mapping() {
        assert_eq!(Severity::from_level(&Level::ERROR), Severity::Err);
        assert_eq!(Severity::from_level(&Level::WARN), Severity::Warning);
        assert_eq!(Severity::from_level(&Level::INFO), Severity::Info);
        assert_eq!(Severity::from_level(&Level::TRACE), Severity::Debug);
        assert_eq!(Severity::from_keyword("Notice"), Some(Severity::Notice));
        assert_eq!(Severity::from_keyword("bogus"), None);
    }
}
