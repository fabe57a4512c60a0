//! Small helpers on sequences.

/// The items without repeats, each where it first appeared.
pub fn unique_in_order<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_first_of_each() {
        assert_eq!(super::unique_in_order([3, 1, 3, 2, 1]), [3, 1, 2]);
        assert!(super::unique_in_order(Vec::<i64>::new()).is_empty());
    }
}
