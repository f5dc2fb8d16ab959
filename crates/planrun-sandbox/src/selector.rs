//! Label and field selectors, parsed the way the API server reads them.

use serde_json::Value;

use super::status::ApiError;
use super::store::{label_key_problem, label_value_problem};

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
    Gt(String, i64),
    Lt(String, i64),
}

/// A parsed `labelSelector`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

/// A token of a label selector, as the API server's lexer sees it
/// (k8s.io/apimachinery v0.36.3 `pkg/labels/selector.go`): identifiers run until
/// whitespace or one of `=!(),<>`; symbols are read greedily (`!=`, `==`); `in` and
/// `notin` are keywords, except where a value is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Ident,
    In,
    NotIn,
    Not,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
    End,
    Bad,
}

fn lex(s: &str) -> Vec<(Tok, String)> {
    let special = |c: char| matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<');
    let symbol = |t: &str| match t {
        "!" => Some(Tok::Not),
        "=" => Some(Tok::Eq),
        "==" => Some(Tok::DoubleEq),
        "!=" => Some(Tok::NotEq),
        ">" => Some(Tok::Gt),
        "<" => Some(Tok::Lt),
        "(" => Some(Tok::Open),
        ")" => Some(Tok::Close),
        "," => Some(Tok::Comma),
        _ => None,
    };
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && matches!(chars[i], ' ' | '\t' | '\r' | '\n') {
            i += 1;
        }
        if i == chars.len() {
            out.push((Tok::End, String::new()));
            return out;
        }
        if special(chars[i]) {
            // The longest run of symbols that is still a token.
            let mut best: Option<(Tok, usize)> = None;
            let mut j = i;
            while j < chars.len() && special(chars[j]) {
                j += 1;
                let text: String = chars[i..j].iter().collect();
                match symbol(&text) {
                    Some(t) => best = Some((t, j)),
                    None if best.is_some() => break,
                    None => {}
                }
            }
            match best {
                Some((t, end)) => {
                    out.push((t, chars[i..end].iter().collect()));
                    i = end;
                }
                None => {
                    out.push((Tok::Bad, chars[i..j].iter().collect()));
                    return out;
                }
            }
        } else {
            let start = i;
            while i < chars.len() && !special(chars[i]) && !chars[i].is_whitespace() {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let t = match text.as_str() {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                _ => Tok::Ident,
            };
            out.push((t, text));
        }
    }
}

/// A recursive-descent reader of the lexed tokens, with the API server's error
/// messages.
struct Parser {
    toks: Vec<(Tok, String)>,
    pos: usize,
}

impl Parser {
    /// The next token; where a value is expected, `in` and `notin` are identifiers.
    fn peek(&self, value: bool) -> (Tok, String) {
        let (t, lit) = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        match t {
            Tok::In | Tok::NotIn if value => (Tok::Ident, lit),
            _ => (t, lit),
        }
    }

    fn next(&mut self, value: bool) -> (Tok, String) {
        let t = self.peek(value);
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn selector(&mut self) -> Result<Vec<LabelReq>, String> {
        let mut reqs = Vec::new();
        loop {
            let (t, lit) = self.peek(true);
            match t {
                Tok::Ident | Tok::Not => {
                    // What the requirement's reader or `NewRequirement` refuses is
                    // prefixed so (k8s.io/apimachinery v0.36.3 `pkg/labels/selector.go`).
                    let req = self
                        .requirement()
                        .and_then(|req| req.check().map(|()| req))
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(req);
                    let (t, lit) = self.next(true);
                    match t {
                        Tok::End => return Ok(reqs),
                        Tok::Comma => {
                            let (t2, lit2) = self.peek(true);
                            if t2 != Tok::Ident && t2 != Tok::Not {
                                return Err(format!(
                                    "found '{lit2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!("found '{lit}', expected: ',' or 'end of string'"));
                        }
                    }
                }
                Tok::End => return Ok(reqs),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<LabelReq, String> {
        let (mut t, mut key) = self.next(true);
        let negated = t == Tok::Not;
        if negated {
            (t, key) = self.next(true);
        }
        if t != Tok::Ident {
            return Err(format!("found '{key}', expected: identifier"));
        }
        let (t, _) = self.peek(false);
        if matches!(t, Tok::End | Tok::Comma) {
            return Ok(if negated {
                LabelReq::NotExists(key)
            } else {
                LabelReq::Exists(key)
            });
        }
        if negated {
            return Err(format!(
                "found '{}', expected: ',' or 'end of string'",
                self.peek(false).1
            ));
        }
        let (op, lit) = self.next(false);
        match op {
            Tok::In | Tok::NotIn => {
                let values = self.set()?;
                Ok(if op == Tok::In {
                    LabelReq::In(key, values)
                } else {
                    LabelReq::NotIn(key, values)
                })
            }
            Tok::Eq | Tok::DoubleEq | Tok::NotEq => {
                let value = self.exact()?;
                Ok(if op == Tok::NotEq {
                    LabelReq::NotEq(key, value)
                } else {
                    LabelReq::Eq(key, value)
                })
            }
            Tok::Gt | Tok::Lt => {
                let value = self.exact()?;
                let n: i64 = value.parse().map_err(|_| {
                    "for 'Gt', 'Lt' operators, the value must be an integer".to_owned()
                })?;
                Ok(if op == Tok::Gt {
                    LabelReq::Gt(key, n)
                } else {
                    LabelReq::Lt(key, n)
                })
            }
            _ => Err(format!(
                "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
            )),
        }
    }

    fn exact(&mut self) -> Result<String, String> {
        let (t, _) = self.peek(true);
        if matches!(t, Tok::End | Tok::Comma) {
            return Ok(String::new());
        }
        let (t, lit) = self.next(true);
        if t == Tok::Ident {
            Ok(lit)
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }

    fn set(&mut self) -> Result<Vec<String>, String> {
        let (t, lit) = self.next(true);
        if t != Tok::Open {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let mut values = Vec::new();
        let (t, lit) = self.peek(true);
        match t {
            Tok::Close => {
                self.next(true);
                return Ok(vec![String::new()]);
            }
            Tok::Ident | Tok::Comma => {}
            _ => return Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
        let mut last_was_value = false;
        loop {
            let (t, lit) = self.next(true);
            match t {
                Tok::Ident if !last_was_value => {
                    values.push(lit);
                    last_was_value = true;
                }
                Tok::Comma => {
                    if !last_was_value {
                        values.push(String::new());
                    }
                    last_was_value = false;
                }
                Tok::Close => {
                    if !last_was_value {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                _ if last_was_value => return Err(format!("found '{lit}', expected: ',' or ')'")),
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }
}

impl LabelSelector {
    /// Parse a selector such as `app=web,tier!=db,env in (a,b),!legacy`; a malformed one
    /// is a 400 with the API server's message (e.g. `found 'b', expected: ',' or 'end
    /// of string'`).
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut p = Parser {
            toks: lex(s),
            pos: 0,
        };
        if let Some((_, bad)) = p.toks.iter().find(|(t, _)| *t == Tok::Bad) {
            return Err(ApiError::bad_request(format!(
                "error expected: keyword found '{bad}'"
            )));
        }
        p.selector().map(Self).map_err(ApiError::bad_request)
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        let number = |k: &str| get(k).and_then(|v| v.parse::<i64>().ok());
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
            LabelReq::Gt(k, n) => number(k).is_some_and(|x| x > *n),
            LabelReq::Lt(k, n) => number(k).is_some_and(|x| x < *n),
        })
    }
}

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

impl LabelReq {
    /// Its key and values checked as `NewRequirement` checks them.
    fn check(&self) -> Result<(), String> {
        match self {
            LabelReq::Eq(k, v) | LabelReq::NotEq(k, v) => {
                check_requirement(k, std::slice::from_ref(v))
            }
            LabelReq::In(k, vs) | LabelReq::NotIn(k, vs) => check_requirement(k, vs),
            LabelReq::Exists(k)
            | LabelReq::NotExists(k)
            | LabelReq::Gt(k, _)
            | LabelReq::Lt(k, _) => check_requirement(k, &[]),
        }
    }
}

/// A requirement's key and values checked as `NewRequirement` checks them
/// (k8s.io/apimachinery v0.36.3 `pkg/labels/selector.go`: a qualified name, label
/// values), with the field paths it names.
fn check_requirement(key: &str, values: &[String]) -> Result<(), String> {
    if let Some(why) = label_key_problem(key) {
        return Err(format!("key: {why}"));
    }
    for (i, v) in values.iter().enumerate() {
        if let Some(why) = label_value_problem(v) {
            return Err(format!("values[{i}][{key}]: {why}"));
        }
    }
    Ok(())
}

/// A parsed `fieldSelector` (equality only, as the API server supports).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parse `metadata.name=x,metadata.namespace!=y`; `supported` lists extra field labels
    /// the kind accepts besides `metadata.name` and `metadata.namespace`.
    pub fn parse(s: &str, supported: &[&str]) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let k = k.trim();
            if k != "metadata.name" && k != "metadata.namespace" && !supported.contains(&k) {
                // Kinds with field labels of their own have a conversion function that
                // says so (k8s.io/kubernetes v1.36.3 pkg/apis/core/v1/conversion.go); the
                // others get the default one (k8s.io/apimachinery pkg/runtime/conversion.go).
                return Err(ApiError::bad_request(if supported.is_empty() {
                    format!(
                        "{k:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                    )
                } else {
                    format!("field label not supported: {k}")
                }));
            }
            reqs.push((k.to_owned(), eq, v.trim().to_owned()));
        }
        Ok(Self(reqs))
    }

    /// Whether the object satisfies every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(k, eq, v)| {
            let pointer = format!("/{}", k.replace('.', "/"));
            let actual = obj.pointer(&pointer).and_then(Value::as_str).unwrap_or("");
            (actual == v) == *eq
        })
    }
}

/// Both selectors of a list or watch request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selectors {
    /// The label selector.
    pub labels: LabelSelector,
    /// The field selector.
    pub fields: FieldSelector,
}

impl Selectors {
    /// Whether the object passes both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Value {
        json!({"metadata":{"name":"a","namespace":"n","labels":{"app":"web","tier":"fe"}}})
    }

    #[test]
    fn label_forms() {
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app in (web, db)", true),
            ("app notin (web)", false),
            ("app=web,tier=fe", true),
            ("app=web,tier=be", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&obj()),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn malformed_selectors_fail_as_the_api_server_says() {
        for (sel, message) in [
            ("tier=a b", "found 'b', expected: ',' or 'end of string'"),
            ("tier=in=web", "found '=', expected: ',' or 'end of string'"),
            ("a,", "found '', expected: identifier after ','"),
            (
                "a in b",
                "unable to parse requirement: found 'b' expected: '('",
            ),
            (
                "=a",
                "found '=', expected: !, identifier, or 'end of string'",
            ),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap_err().message,
                message,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("v in (in, notin)").is_ok());
    }

    #[test]
    fn what_is_not_a_selector_is_refused_not_matched() {
        for (sel, message) in [
            (
                "!!!===",
                "unable to parse requirement: found '!', expected: identifier",
            ),
            ("a==b==c", "found '==', expected: ',' or 'end of string'"),
            (
                "-app",
                "unable to parse requirement: key: Invalid value: \"-app\": name part must consist of",
            ),
            (
                "Bad_Prefix/x=y",
                "unable to parse requirement: key: Invalid value: \"Bad_Prefix/x\": prefix part a lowercase RFC 1123 subdomain",
            ),
            (
                "app=web.",
                "unable to parse requirement: values[0][app]: Invalid value: \"web.\": a valid label must be an empty string",
            ),
        ] {
            let e = LabelSelector::parse(sel).unwrap_err();
            assert_eq!(e.code, 400, "{sel}");
            assert!(e.message.starts_with(message), "{sel}: {}", e.message);
        }
        for sel in ["app.kubernetes.io/part-of=flux", "a=", "x in (a, b-c)"] {
            assert!(LabelSelector::parse(sel).is_ok(), "{sel}");
        }
    }

    #[test]
    fn field_forms() {
        let f = FieldSelector::parse("metadata.name=a,metadata.namespace!=x", &[]).unwrap();
        assert!(f.matches(&obj()));
        assert!(FieldSelector::parse("spec.foo=1", &[]).is_err());
    }
}
