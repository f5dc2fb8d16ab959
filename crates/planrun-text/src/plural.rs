//! Counted nouns: "1 object", "3 objects".

/// `n` followed by `one` or `many`: "1 object", "3 objects".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nouns() {
        assert_eq!(plural(0, "task", "tasks"), "0 tasks");
        assert_eq!(plural(1, "task", "tasks"), "1 task");
        assert_eq!(
            plural(2, "custom resource", "custom resources"),
            "2 custom resources"
        );
    }
}
