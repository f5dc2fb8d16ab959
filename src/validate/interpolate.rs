//! `{{ name }}` references in strings. Anything else between braces (a Go template
//! such as `{{.metadata.name}}`) is left as written.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

/// A reference to a variable that has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undefined {
    pub name: String,
    /// Byte range of `{{ name }}` within the input string.
    pub range: Range<usize>,
}

/// Replaces every `{{ name }}` in `text` with the variable's value.
pub fn interpolate<'a>(
    text: &'a str,
    vars: &HashMap<String, String>,
    undefined: &mut Vec<Undefined>,
) -> Cow<'a, str> {
    if !text.contains("{{") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("{{") {
        let start = search + found;
        match reference_at(&text[start..]) {
            Some((name, len)) => {
                out.push_str(&text[copied..start]);
                match vars.get(name) {
                    Some(value) => out.push_str(value),
                    None => {
                        undefined.push(Undefined {
                            name: name.to_string(),
                            range: start..start + len,
                        });
                        out.push_str(&text[start..start + len]);
                    }
                }
                copied = start + len;
                search = copied;
            }
            None => search = start + 2,
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// `{{ ident }}` at the start of `text`: the name and the reference's length.
fn reference_at(text: &str) -> Option<(&str, usize)> {
    let inner = text.strip_prefix("{{")?;
    let trimmed = inner.trim_start_matches([' ', '\t']);
    let name_len = trimmed
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphanumeric() || c == '_' || (i > 0 && c == '-')))
        .map_or(trimmed.len(), |(i, _)| i);
    let name = &trimmed[..name_len];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let after = trimmed[name_len..].trim_start_matches([' ', '\t']);
    after.strip_prefix("}}")?;
    let len = text.len() - after.len() + 2;
    Some((name, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<String, String> {
        HashMap::from([("ns".to_string(), "flux-system".to_string())])
    }

    #[test]
    fn replaces_references_with_or_without_spaces() {
        let mut undefined = Vec::new();
        let out = interpolate("-n {{ ns }} {{ns}}!", &vars(), &mut undefined);
        assert_eq!(out, "-n flux-system flux-system!");
        assert!(undefined.is_empty());
    }

    #[test]
    fn leaves_go_templates_alone() {
        let mut undefined = Vec::new();
        let text = "kubectl get x -o go-template='{{.metadata.name}}'";
        assert_eq!(interpolate(text, &vars(), &mut undefined), text);
        assert!(undefined.is_empty());
    }

    #[test]
    fn reports_undefined_with_its_range() {
        let mut undefined = Vec::new();
        let out = interpolate("a {{ nope }} b", &vars(), &mut undefined);
        assert_eq!(out, "a {{ nope }} b");
        assert_eq!(
            undefined,
            vec![Undefined {
                name: "nope".into(),
                range: 2..12
            }]
        );
    }
}
