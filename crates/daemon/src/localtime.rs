//! The local time, broken down, for log-line timestamps: the one place that
//! calls `localtime_r(3)`, so the syslog writer and mip6d's debug log agree
//! on time zone handling.

/// Abbreviated English month names, as `ctime(3)` and RFC 3164 §4.1.2 print them.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Abbreviated English day names, as `ctime(3)` prints them.
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// The broken-down local time (the `struct tm` fields a log line uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// Day of the week, 0 = Sunday.
    pub wday: i32,
    /// Month, 0 = January.
    pub mon: i32,
    /// Day of the month, 1–31.
    pub mday: i32,
    /// Hours, 0–23.
    pub hour: i32,
    /// Minutes, 0–59.
    pub min: i32,
    /// Seconds, 0–60 (leap second).
    pub sec: i32,
}

impl LocalTime {
    /// The current local time; `None` if the C library cannot convert it.
    pub fn now() -> Option<LocalTime> {
        // SAFETY: time(NULL) has no preconditions; localtime_r writes only into
        // `tm`, a plain C struct for which all-zero bytes are a valid value.
        let tm = unsafe {
            let now = libc::time(std::ptr::null_mut());
            let mut tm: libc::tm = std::mem::zeroed();
            if libc::localtime_r(&now, &mut tm).is_null() {
                return None;
            }
            tm
        };
        Some(LocalTime {
            wday: tm.tm_wday,
            mon: tm.tm_mon,
            mday: tm.tm_mday,
            hour: tm.tm_hour,
            min: tm.tm_min,
            sec: tm.tm_sec,
        })
    }

    /// The month's three-letter name; `None` when out of range.
    pub fn month_abbr(&self) -> Option<&'static str> {
        usize::try_from(self.mon)
            .ok()
            .and_then(|m| MONTHS.get(m))
            .copied()
    }

    /// The weekday's three-letter name; `None` when out of range.
    pub fn weekday_abbr(&self) -> Option<&'static str> {
        usize::try_from(self.wday)
            .ok()
            .and_then(|d| DAYS.get(d))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_range_and_out() {
        let t = LocalTime {
            wday: 4,
            mon: 10,
            mday: 26,
            hour: 9,
            min: 22,
            sec: 10,
        };
        assert_eq!(t.weekday_abbr(), Some("Thu"));
        assert_eq!(t.month_abbr(), Some("Nov"));
        let bad = LocalTime {
            wday: 7,
            mon: -1,
            ..t
        };
        assert_eq!(bad.weekday_abbr(), None);
        assert_eq!(bad.month_abbr(), None);
    }

    #[test]
    fn now_is_plausible() {
        let t = LocalTime::now().expect("localtime_r");
        assert!(t.month_abbr().is_some() && t.weekday_abbr().is_some());
        assert!((1..=31).contains(&t.mday));
    }
}
