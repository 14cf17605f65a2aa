//! One in-place sort for every list cella sorts (fd numbers, pids, syscall
//! numbers, container ids, cgroup hierarchies): a plain heapsort. Why not
//! `sort_unstable`: std's pattern-defeating quicksort brings about 9.5 KB
//! of code into the static binary across the element types cella sorts;
//! this is a few hundred bytes each, O(n log n), allocation-free (the
//! forked child sorts too) and without recursion.

/// Sort `v` ascending.
pub fn sort<T: Ord>(v: &mut [T]) {
    let len = v.len();
    for start in (0..len / 2).rev() {
        sift_down(v, start, len);
    }
    for end in (1..len).rev() {
        v.swap(0, end);
        sift_down(v, 0, end);
    }
}

/// Move `v[root]` down the max-heap held in `v[..end]` to its place.
fn sift_down<T: Ord>(v: &mut [T], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && v[child] < v[child + 1] {
            child += 1;
        }
        if v[root] >= v[child] {
            return;
        }
        v.swap(root, child);
        root = child;
    }
}

#[cfg(test)]
mod tests {
    use super::sort;

    #[test]
    fn sorts_like_std() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..200 {
            let mut v: Vec<u32> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 50) as u32
                })
                .collect();
            let mut expected = v.clone();
            expected.sort();
            sort(&mut v);
            assert_eq!(v, expected);
        }
        let mut names = vec!["web".to_owned(), "db".into(), "cache".into(), "db".into()];
        sort(&mut names);
        assert_eq!(names, ["cache", "db", "db", "web"]);
    }
}
