//! `glob(3)` with `GLOB_ERR`, as UMIP's `include` uses it (`docs/compat.md`).
//!
//! Wildcards `*`, `?` and `[...]` (with `!`/`^` negation and ranges) work in
//! every path component; `\` quotes the next character. A leading `.` in a
//! name is matched only by a literal `.`. Matches are sorted byte-wise (the C
//! locale's order). A directory that cannot be read while expanding a
//! wildcard aborts the whole expansion, which is what makes an include of a
//! missing directory fatal while an existing directory without a match is
//! only a warning.

use std::path::PathBuf;

use super::GlobError;

fn has_meta(component: &[u8]) -> bool {
    component.iter().any(|&b| matches!(b, b'*' | b'?' | b'['))
}

fn unescape(component: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(component.len());
    let mut it = component.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            if let Some(&n) = it.next() {
                out.push(n);
                continue;
            }
        }
        out.push(b);
    }
    out
}

/// Matches a bracket expression starting after `[` in `p` against `c`.
/// Returns whether it matched and the pattern length consumed (including `]`),
/// or `None` when the bracket is not closed (then `[` is literal).
fn bracket(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = matches!(p.first(), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &b = p.get(i)?;
        if b == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let lo = if b == b'\\' {
            i += 1;
            *p.get(i)?
        } else {
            b
        };
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = p[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
}

/// `fnmatch(3)` on one path component, without special flags except that a
/// leading `.` must be matched literally.
pub fn fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    match_from(pattern, name)
}

/// If the pattern element at `p[pi]` (not `*`) matches `c`, the index after it.
fn step(p: &[u8], pi: usize, c: u8) -> Option<usize> {
    match p.get(pi)? {
        b'?' => Some(pi + 1),
        b'[' => match bracket(&p[pi + 1..], c) {
            Some((true, used)) => Some(pi + 1 + used),
            Some((false, _)) => None,
            None => (c == b'[').then_some(pi + 1),
        },
        b'\\' if pi + 1 < p.len() => (p[pi + 1] == c).then_some(pi + 2),
        &b => (b == c).then_some(pi + 1),
    }
}

/// Wildcard matching with one backtracking point (the last `*`), so the
/// cost stays O(pattern × name) whatever the number of stars.
fn match_from(p: &[u8], n: &[u8]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if p.get(pi) == Some(&b'*') {
            star = Some((pi, ni));
            pi += 1;
            continue;
        }
        if let Some(next) = step(p, pi, n[ni]) {
            pi = next;
            ni += 1;
            continue;
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

fn join(base: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    if !v.is_empty() && v.last() != Some(&b'/') {
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

fn to_path(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

/// Expands `pattern` against the file system.
pub fn glob(pattern: &str) -> Result<Vec<PathBuf>, GlobError> {
    let p = pattern.as_bytes();
    if p.is_empty() {
        return Err(GlobError::NoMatch);
    }
    let mut candidates: Vec<Vec<u8>> = vec![if p[0] == b'/' {
        b"/".to_vec()
    } else {
        Vec::new()
    }];
    let components: Vec<&[u8]> = p.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect();
    let last = components.len().saturating_sub(1);
    for (idx, comp) in components.iter().enumerate() {
        let mut next = Vec::new();
        for base in &candidates {
            if !has_meta(comp) {
                next.push(join(base, &unescape(comp)));
                continue;
            }
            let dir = if base.is_empty() {
                PathBuf::from(".")
            } else {
                to_path(base.clone())
            };
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => continue,
                Err(e) => return Err(GlobError::Aborted(super::io_error_text(&e))),
            };
            let mut names: Vec<Vec<u8>> = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| GlobError::Aborted(super::io_error_text(&e)))?;
                use std::os::unix::ffi::OsStrExt;
                let name = entry.file_name().as_bytes().to_vec();
                if fnmatch(comp, &name) {
                    let full = join(base, &name);
                    if idx == last || to_path(full.clone()).is_dir() {
                        names.push(full);
                    }
                }
            }
            names.sort();
            next.extend(names);
        }
        candidates = next;
    }
    let mut found: Vec<PathBuf> = candidates
        .into_iter()
        .map(to_path)
        .filter(|path| path.symlink_metadata().is_ok())
        .collect();
    found.sort();
    if found.is_empty() {
        Err(GlobError::NoMatch)
    } else {
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_forms() {
        assert!(fnmatch(b"*.conf", b"a.conf"));
        assert!(!fnmatch(b"*.conf", b".a.conf"));
        assert!(fnmatch(b".*", b".a"));
        assert!(fnmatch(b"a?c", b"abc"));
        assert!(fnmatch(b"[a-c]x", b"bx"));
        assert!(!fnmatch(b"[!a-c]x", b"bx"));
        assert!(fnmatch(b"[]]", b"]"));
        assert!(fnmatch(b"\\*", b"*"));
        assert!(fnmatch(b"[x", b"[x"));
        assert!(fnmatch(b"*a*b*c", b"xxaxxbxxc"));
        assert!(!fnmatch(b"*a*b*c", b"xxaxxbxxd"));
        assert!(fnmatch(b"a*", b"a"));
        let long = vec![b'a'; 200];
        assert!(!fnmatch(b"*a*a*a*a*a*a*a*a*a*a*a*b", &long));
    }

    #[test]
    fn missing_directory_aborts_but_missing_literal_does_not() {
        assert!(matches!(
            glob("/nonexistent-mip6d-dir/*.conf"),
            Err(GlobError::Aborted(_))
        ));
        assert!(matches!(
            glob("/nonexistent-mip6d-dir/x.conf"),
            Err(GlobError::NoMatch)
        ));
    }
}
