//! `{{ name }}` references in strings. Anything else between braces (a Go template
//! such as `{{.metadata.name}}`) is left as written.
//!
//! In a shell `script`, a value goes in as one quoted shell word, so that no value
//! can change the script's structure (see [`super::shell`]); `{{ raw(name) }}` pastes
//! the value as it is, where a plan wants shell source from a variable, and
//! `planrun validate` warns about it. Everywhere else both forms paste the value.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use planrun_text::shell_quote;

use super::shell::{Place, places};

/// A reference to a variable that has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undefined {
    pub name: String,
    /// Byte range of `{{ name }}` within the input string.
    pub range: Range<usize>,
}

/// A reference a script cannot take as a quoted word, or takes raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptReference {
    pub name: String,
    pub range: Range<usize>,
    pub place: Place,
    /// `{{ raw(name) }}`: pasted as written.
    pub raw: bool,
}

/// One `{{ name }}` or `{{ raw(name) }}` in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference<'a> {
    name: &'a str,
    raw: bool,
    range: Range<usize>,
}

/// Every reference in `text`, in order.
fn references(text: &str) -> Vec<Reference<'_>> {
    let mut out = Vec::new();
    let mut search = 0;
    while let Some(found) = text[search..].find("{{") {
        let start = search + found;
        match reference_at(&text[start..]) {
            Some((name, raw, len)) => {
                out.push(Reference {
                    name,
                    raw,
                    range: start..start + len,
                });
                search = start + len;
            }
            None => search = start + 2,
        }
    }
    out
}

/// Replaces every `{{ name }}` (and `{{ raw(name) }}`) in `text` with the variable's
/// value.
pub fn interpolate<'a>(
    text: &'a str,
    vars: &HashMap<String, String>,
    undefined: &mut Vec<Undefined>,
) -> Cow<'a, str> {
    substitute(text, vars, undefined, |_, value| Some(Cow::Borrowed(value)))
}

/// Interpolates shell source: each value as one quoted shell word where the shell
/// reads words, as written for `{{ raw(name) }}`. References in a comment stay as
/// written, and one to an undefined variable there is no mistake (it never runs);
/// references elsewhere (in quotes, a here-document, backticks) are left as written
/// and reported in `refused`; raw ones are reported in `raw`.
pub fn interpolate_script<'a>(
    text: &'a str,
    vars: &HashMap<String, String>,
    undefined: &mut Vec<Undefined>,
    refused: &mut Vec<ScriptReference>,
    raw: &mut Vec<ScriptReference>,
) -> Cow<'a, str> {
    let refs = references(text);
    let ranges: Vec<Range<usize>> = refs.iter().map(|r| r.range.clone()).collect();
    let places = places(text, &ranges);
    let commented: Vec<&Range<usize>> = ranges
        .iter()
        .zip(&places)
        .filter(|(_, place)| **place == Place::Comment)
        .map(|(range, _)| range)
        .collect();
    let mut in_script = Vec::new();
    let mut at = places.iter().copied();
    let out = substitute(text, vars, &mut in_script, |reference, value| {
        let place = at.next().unwrap_or(Place::Unknown);
        let found = ScriptReference {
            name: reference.name.to_owned(),
            range: reference.range.clone(),
            place,
            raw: reference.raw,
        };
        match place {
            Place::Comment => None,
            _ if reference.raw => {
                raw.push(found);
                Some(Cow::Borrowed(value))
            }
            Place::Word => Some(Cow::Owned(shell_quote(value))),
            Place::Quoted | Place::HereDoc | Place::Backticks | Place::Unknown => {
                refused.push(found);
                None
            }
        }
    });
    undefined.extend(
        in_script
            .into_iter()
            .filter(|u| !commented.contains(&&u.range)),
    );
    out
}

/// Replaces each reference by what `paste` makes of its value (`None`: leave it as
/// written). Undefined variables are reported, left as written, and still given to
/// `paste` (as an empty value) so that every reference is seen once, in order.
fn substitute<'a>(
    text: &'a str,
    vars: &HashMap<String, String>,
    undefined: &mut Vec<Undefined>,
    mut paste: impl for<'v> FnMut(&Reference<'_>, &'v str) -> Option<Cow<'v, str>>,
) -> Cow<'a, str> {
    if !text.contains("{{") {
        return Cow::Borrowed(text);
    }
    let refs = references(text);
    if refs.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for reference in &refs {
        let written = &text[reference.range.clone()];
        out.push_str(&text[copied..reference.range.start]);
        match vars.get(reference.name) {
            Some(value) => match paste(reference, value) {
                Some(pasted) => out.push_str(&pasted),
                None => out.push_str(written),
            },
            None => {
                let _ = paste(reference, "");
                undefined.push(Undefined {
                    name: reference.name.to_string(),
                    range: reference.range.clone(),
                });
                out.push_str(written);
            }
        }
        copied = reference.range.end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// `{{ ident }}` or `{{ raw(ident) }}` at the start of `text`: the name, whether
/// raw, and the reference's length.
fn reference_at(text: &str) -> Option<(&str, bool, usize)> {
    let inner = text.strip_prefix("{{")?;
    let trimmed = inner.trim_start_matches([' ', '\t']);
    let (body, raw) = match trimmed.strip_prefix("raw(") {
        Some(rest) => (rest.trim_start_matches([' ', '\t']), true),
        None => (trimmed, false),
    };
    let name_len = body
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphanumeric() || c == '_' || (i > 0 && c == '-')))
        .map_or(body.len(), |(i, _)| i);
    let name = &body[..name_len];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut after = body[name_len..].trim_start_matches([' ', '\t']);
    if raw {
        after = after.strip_prefix(')')?.trim_start_matches([' ', '\t']);
    }
    after.strip_prefix("}}")?;
    let len = text.len() - after.len() + 2;
    Some((name, raw, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> HashMap<String, String> {
        HashMap::from([
            ("ns".to_string(), "flux-system".to_string()),
            (
                "name".to_string(),
                r#"x"; touch pwned; echo "it's"#.to_string(),
            ),
        ])
    }

    #[test]
    fn replaces_references_with_or_without_spaces() {
        let mut undefined = Vec::new();
        let out = interpolate("-n {{ ns }} {{ns}} {{ raw(ns) }}!", &vars(), &mut undefined);
        assert_eq!(out, "-n flux-system flux-system flux-system!");
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

    fn script(text: &str) -> (String, Vec<ScriptReference>, Vec<ScriptReference>) {
        let (mut undefined, mut refused, mut raw) = (Vec::new(), Vec::new(), Vec::new());
        let out = interpolate_script(text, &vars(), &mut undefined, &mut refused, &mut raw);
        assert!(undefined.is_empty());
        (out.into_owned(), refused, raw)
    }

    #[test]
    fn a_script_gets_each_value_as_one_quoted_word() {
        let (out, refused, raw) = script("echo {{ name }} v{{ ns }}.yaml # {{ name }}");
        assert_eq!(
            out,
            r#"echo 'x"; touch pwned; echo "it'\''s' vflux-system.yaml # {{ name }}"#
        );
        assert!(refused.is_empty() && raw.is_empty());
    }

    #[test]
    fn a_reference_in_a_comment_is_left_as_written_even_when_undefined() {
        let (out, refused, raw) = script("echo {{ ns }} # {{ nosuch }}\n# {{ raw(nope) }}");
        assert_eq!(out, "echo flux-system # {{ nosuch }}\n# {{ raw(nope) }}");
        assert!(refused.is_empty() && raw.is_empty());
        // Outside the comment it is still a mistake, and others found before stay.
        let (mut undefined, mut refused, mut raw) = (
            vec![Undefined {
                name: "earlier".into(),
                range: 0..5,
            }],
            Vec::new(),
            Vec::new(),
        );
        interpolate_script(
            "echo {{ nosuch }} # {{ nosuch }}",
            &vars(),
            &mut undefined,
            &mut refused,
            &mut raw,
        );
        let names: Vec<_> = undefined
            .iter()
            .map(|u| (u.name.as_str(), u.range.clone()))
            .collect();
        assert_eq!(names, [("earlier", 0..5), ("nosuch", 5..17)]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever the value, the shell reads it back as exactly one word, itself.
        #[test]
        fn the_shell_reads_every_value_back_as_one_word(value in "[^\\x00]{0,40}") {
            let vars = HashMap::from([("v".to_owned(), value.clone())]);
            let (mut undefined, mut refused, mut raw) = (Vec::new(), Vec::new(), Vec::new());
            let script = interpolate_script(
                r#"printf '<%s>' {{ v }} $(printf '%s' {{ v }})x"#,
                &vars, &mut undefined, &mut refused, &mut raw,
            );
            let out = std::process::Command::new("sh").args(["-c", &script]).output().unwrap();
            proptest::prop_assert!(out.status.success(), "{script}");
            // The command substitution's result is split (it is unquoted), the word
            // from {{ v }} never is.
            let printed = String::from_utf8_lossy(&out.stdout).into_owned();
            proptest::prop_assert!(printed.starts_with(&format!("<{value}>")), "{script} printed {printed}");
        }
    }

    #[test]
    fn a_script_refuses_references_in_quotes_and_pastes_raw_ones_as_written() {
        let (out, refused, raw) = script(r#"echo "{{ name }}" {{ raw(ns) }}"#);
        assert_eq!(out, r#"echo "{{ name }}" flux-system"#);
        assert_eq!(refused.len(), 1);
        assert_eq!(
            (refused[0].name.as_str(), refused[0].place),
            ("name", Place::Quoted)
        );
        assert_eq!(refused[0].range, 6..16);
        assert_eq!(raw.len(), 1);
        assert_eq!(raw[0].name, "ns");
    }
}
