//! Redis's glob matcher (util.c `stringmatchlen`), the same as keyspace's, with `nocase`.

/// Redis's `stringmatchlen` (case-sensitive), including its guard against abusive patterns.
pub fn glob_match(pattern: &[u8], string: &[u8]) -> bool {
    let mut skip = false;
    glob_impl(pattern, string, &mut skip, 0, false)
}

/// `stringmatchlen` with `nocase` (COMMAND LIST FILTERBY PATTERN).
pub fn glob_match_nocase(pattern: &[u8], string: &[u8]) -> bool {
    let mut skip = false;
    glob_impl(pattern, string, &mut skip, 0, true)
}

#[allow(clippy::too_many_lines)]
fn glob_impl(pat: &[u8], s: &[u8], skip: &mut bool, nesting: u32, nocase: bool) -> bool {
    let fold = |c: u8| if nocase { c.to_ascii_lowercase() } else { c };
    if nesting > 1000 {
        return false;
    }
    let at = |i: usize| pat.get(i).copied().unwrap_or(0);
    let (mut p, mut si) = (0usize, 0usize);
    while p < pat.len() && si < s.len() {
        match pat[p] {
            b'*' => {
                while p < pat.len() && at(p + 1) == b'*' {
                    p += 1;
                }
                if pat.len() - p == 1 {
                    return true;
                }
                while si < s.len() {
                    if glob_impl(&pat[p + 1..], &s[si..], skip, nesting + 1, nocase) {
                        return true;
                    }
                    if *skip {
                        return false;
                    }
                    si += 1;
                }
                *skip = true;
                return false;
            }
            b'?' => si += 1,
            b'[' => {
                p += 1;
                let not = at(p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                let c = fold(s[si]);
                loop {
                    let plen = pat.len().saturating_sub(p);
                    if at(p) == b'\\' && plen >= 2 {
                        p += 1;
                        if fold(at(p)) == c {
                            matched = true;
                        }
                    } else if at(p) == b']' && plen > 0 {
                        break;
                    } else if plen == 0 {
                        p -= 1;
                        break;
                    } else if plen >= 3 && at(p + 1) == b'-' {
                        let (mut start, mut end) = (fold(at(p)), fold(at(p + 2)));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        p += 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if fold(at(p)) == c {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                si += 1;
            }
            ch => {
                let mut ch = ch;
                if ch == b'\\' && pat.len() - p >= 2 {
                    p += 1;
                    ch = pat[p];
                }
                if fold(ch) != fold(s[si]) {
                    return false;
                }
                si += 1;
            }
        }
        p += 1;
        if si == s.len() {
            while p < pat.len() && pat[p] == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pat.len() && si == s.len()
}
