//! "Did you mean ...?" for a word that is not one of the known ones.

/// The candidate closest to `word`, when one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_close_words() {
        let known = ["exec-script", "kube-delete", "wait-absent"];
        assert_eq!(did_you_mean("exec-scrpit", known), Some("exec-script"));
        assert_eq!(did_you_mean("deploy", known), None);
    }
}
