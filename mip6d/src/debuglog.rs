//! UMIP's debug-log line format (reference §6): the first 19 characters of
//! `ctime` (`Thu Nov 26 09:22:10`), a space, `<function>: `, the message.

/// The current local time as `ctime` prints it, without the year.
pub fn ctime19() -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // SAFETY: time(NULL) has no preconditions; localtime_r writes only into
    // `tm`, a plain C struct for which all-zero bytes are a valid value.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "Thu Jan  1 00:00:00".to_owned();
        }
        tm
    };
    let pick = |list: &[&'static str], i: libc::c_int| {
        usize::try_from(i)
            .ok()
            .and_then(|i| list.get(i).copied())
            .unwrap_or("???")
    };
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02}",
        pick(&DAYS, tm.tm_wday),
        pick(&MONTHS, tm.tm_mon),
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// One debug-log line for `function` (no trailing newline).
pub fn line(function: &str, message: &str) -> String {
    format!("{} {function}: {message}", ctime19())
}
