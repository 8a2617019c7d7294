//! UMIP's debug-log line format: the first 19 characters of `ctime`
//! (`Thu Nov 26 09:22:10`), a space, `<function>: `, the message
//! (docs/compat.md).

use daemon::localtime::LocalTime;

/// The current local time as `ctime` prints it, without the year.
pub fn ctime19() -> String {
    let Some(tm) = LocalTime::now() else {
        return "Thu Jan  1 00:00:00".to_owned();
    };
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02}",
        tm.weekday_abbr().unwrap_or("???"),
        tm.month_abbr().unwrap_or("???"),
        tm.mday,
        tm.hour,
        tm.min,
        tm.sec
    )
}

/// One debug-log line for `function` (no trailing newline).
pub fn line(function: &str, message: &str) -> String {
    format!("{} {function}: {message}", ctime19())
}
