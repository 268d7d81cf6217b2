//! The two sorts Redis uses on search results, reproduced so that ties (equal distances)
//! come out in Redis's order: glibc's `qsort` (a top-down merge sort, stable, for arrays
//! that fit in memory) when every result is returned, and Redis's `pqsort` (Bentley and
//! McIlroy's quicksort that only recurses into partitions overlapping the wanted range,
//! not stable) when COUNT keeps fewer than were found.

use std::cmp::Ordering;

/// A C comparator's result: negative, zero or positive.
pub type Cmp<'a, T> = &'a dyn Fn(&T, &T) -> i32;

/// glibc's `msort_with_tmp`: halves of n/2 and n - n/2, merged taking the left element
/// while `cmp(left, right) <= 0`.
pub fn glibc_qsort<T: Clone>(v: &mut [T], cmp: Cmp<'_, T>) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    glibc_qsort(&mut v[..n1], cmp);
    glibc_qsort(&mut v[n1..], cmp);
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) <= 0 {
            merged.push(v[i].clone());
            i += 1;
        } else {
            merged.push(v[j].clone());
            j += 1;
        }
    }
    merged.extend_from_slice(&v[i..n1]);
    // What is left of the right half is already in place.
    let done = merged.len();
    v[..done].clone_from_slice(&merged);
}

fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: Cmp<'_, T>) -> usize {
    if cmp(&v[a], &v[b]) < 0 {
        if cmp(&v[b], &v[c]) < 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) > 0 {
        b
    } else if cmp(&v[a], &v[c]) < 0 {
        a
    } else {
        c
    }
}

fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// True when the partition [l, l + len) holds none of the wanted positions [lr, rr].
fn outside(l: usize, len: usize, lr: usize, rr: usize) -> bool {
    let r = l + len - 1;
    (lr < l && rr < l) || (lr > r && rr > r)
}

/// Redis's `pqsort(a, n, es, cmp, lrange, rrange)`: positions lrange..=rrange end up
/// holding what a full sort would put there (ties aside); the rest is partly sorted.
pub fn pqsort<T>(v: &mut [T], cmp: Cmp<'_, T>, lrange: usize, rrange: usize) {
    let n = v.len();
    pqsort_at(v, 0, n, cmp, lrange, rrange);
}

#[allow(clippy::too_many_lines)] // one function, as the C code it mirrors
/// `_pqsort` on v[a..a + n], with element indexes in place of C's byte pointers.
fn pqsort_at<T>(v: &mut [T], mut a: usize, mut n: usize, cmp: Cmp<'_, T>, lr: usize, rr: usize) {
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]) > 0 {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[a]);
                if r > 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[a]);
                if r < 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && !outside(a, r, lr, rr) {
            pqsort_at(v, a, r, cmp, lr, rr);
        }
        let r = pd - pc;
        if r > 1 {
            // Iterate rather than recurse, as the C code does.
            a = pn - r;
            n = r;
            if !outside(a, r, lr, rr) {
                continue;
            }
        }
        return;
    }
}

/// Redis's `sort_gp_asc` on distances: 1, 0 or -1 (NaN compares below everything).
pub fn by_distance(a: f64, b: f64) -> i32 {
    match a.partial_cmp(&b) {
        Some(Ordering::Greater) => 1,
        Some(Ordering::Equal) => 0,
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &[(i32, usize)]) -> Vec<i32> {
        v.iter().map(|p| p.0).collect()
    }

    #[test]
    fn merge_sort_is_stable() {
        let mut v: Vec<(i32, usize)> = [3, 1, 2, 1, 3, 0, 2].iter().copied().zip(0..).collect();
        glibc_qsort(&mut v, &|a: &(i32, usize), b: &(i32, usize)| a.0 - b.0);
        assert_eq!(
            v,
            vec![(0, 5), (1, 1), (1, 3), (2, 2), (2, 6), (3, 0), (3, 4)]
        );
    }

    #[test]
    fn pqsort_sorts_the_wanted_range() {
        let mut x: u64 = 12345;
        for n in [1usize, 5, 7, 8, 40, 41, 100, 1000] {
            let mut v: Vec<(i32, usize)> = (0..n)
                .map(|i| {
                    x = crate::util::mix(x + 1);
                    ((x % 50) as i32, i)
                })
                .collect();
            let mut full = v.clone();
            full.sort_by_key(|p| p.0);
            let k = (n / 3).max(1);
            pqsort(
                &mut v,
                &|a: &(i32, usize), b: &(i32, usize)| a.0 - b.0,
                0,
                k - 1,
            );
            assert_eq!(keys(&v[..k]), keys(&full[..k]), "n={n}");
        }
    }
}
