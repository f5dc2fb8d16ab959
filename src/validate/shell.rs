//! Where a `{{ name }}` reference sits in the shell source of a `script`, so that
//! its value can be pasted as one quoted shell word, or refused where quoting
//! cannot make it safe.
//!
//! A value is pasted as one single-quoted word (`'it'\''s'`), which the shell reads
//! back as exactly the value wherever it reads a command's words: at top level,
//! inside `$( )`, `<( )` and `( )`. Inside double quotes, single quotes are literal
//! and a `"` in the value would end the string; inside single quotes a `'` would;
//! in a here-document a line of the value could end it; inside backticks quoting
//! nests differently. There planrun refuses the reference (the script can read
//! the value from `$PLANRUN_VAR_<NAME>` instead). In a comment it is left as written.
//!
//! The lexer knows quotes (`'`, `"`, `$'`), backslash escapes, comments, `$( )`,
//! `<( )`, `>( )` and parentheses, `case ... esac` patterns, backticks and
//! here-documents (`<<`, `<<-`, quoted delimiters; `<<<` is a here-string). When
//! it cannot follow the source (a `)` closing nothing), every later reference is
//! refused rather than guessed at.

use std::ops::Range;

/// Where a reference sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Where the shell reads words: a quoted word is read back as the value.
    Word,
    /// Inside double quotes, single quotes or `$'...'`.
    Quoted,
    /// In a here-document's body.
    HereDoc,
    /// Inside backticks.
    Backticks,
    /// In a comment: not run.
    Comment,
    /// After something the lexer could not follow.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// Commands: the top level, or inside `$( )`; `parens` counts open `(`, `cases`
    /// open `case` statements (whose patterns end with an unmatched `)`).
    Code {
        parens: u32,
        cases: u32,
    },
    Double,
    Single,
    AnsiC,
    Backtick,
}

/// A here-document announced on the current line, read from the next one.
struct PendingHereDoc {
    delimiter: Vec<u8>,
    strip_tabs: bool,
}

/// The place of each reference in `script`; `refs` are the references' byte
/// ranges, sorted and disjoint. The references' own text is not shell source.
pub fn places(script: &str, refs: &[Range<usize>]) -> Vec<Place> {
    let s = script.as_bytes();
    let mut out = vec![Place::Unknown; refs.len()];
    let mut next_ref = 0;
    let mut stack = vec![Frame::Code {
        parens: 0,
        cases: 0,
    }];
    let mut pending: Vec<PendingHereDoc> = Vec::new();
    let mut word_start = true;
    // At the start of a command, where `case` is a keyword (elsewhere a word).
    let mut cmd_start = true;
    let mut confused = false;
    let mut i = 0;
    // Marks every reference starting before `end` with `place` (or Unknown once
    // confused), and returns whether `i` is at a reference.
    macro_rules! mark_until {
        ($end:expr, $place:expr) => {
            while next_ref < refs.len() && refs[next_ref].start < $end {
                out[next_ref] = if confused { Place::Unknown } else { $place };
                next_ref += 1;
            }
        };
    }
    while i < s.len() {
        if next_ref < refs.len() && refs[next_ref].start == i {
            let place = match stack.last() {
                Some(Frame::Code { .. }) => Place::Word,
                Some(Frame::Double | Frame::Single | Frame::AnsiC) => Place::Quoted,
                Some(Frame::Backtick) | None => Place::Backticks,
            };
            mark_until!(i + 1, place);
            i = refs[next_ref - 1].end;
            word_start = false;
            cmd_start = false;
            continue;
        }
        let b = s[i];
        let next = s.get(i + 1).copied();
        let top = stack.last().copied().unwrap_or(Frame::Code {
            parens: 0,
            cases: 0,
        });
        match top {
            Frame::Code { parens, cases } => {
                let at_word_start = word_start;
                let at_cmd_start = cmd_start;
                word_start = matches!(
                    b,
                    b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'{' | b'}'
                );
                cmd_start = match b {
                    b'\n' | b';' | b'&' | b'|' | b'(' => true,
                    b' ' | b'\t' => at_cmd_start,
                    _ => false,
                };
                match b {
                    b'#' if at_word_start => {
                        let end = find(s, i, b'\n').unwrap_or(s.len());
                        mark_until!(end, Place::Comment);
                        i = end;
                        word_start = true;
                        continue;
                    }
                    b'\\' => {
                        i += 2;
                        continue;
                    }
                    // `${x#prefix}`, `${#x}`: no comment, no word start.
                    b'$' if next == Some(b'{') => {
                        i += 2;
                        continue;
                    }
                    b'\'' => stack.push(Frame::Single),
                    b'"' => stack.push(Frame::Double),
                    b'`' => stack.push(Frame::Backtick),
                    b'$' if next == Some(b'\'') => {
                        stack.push(Frame::AnsiC);
                        i += 2;
                        continue;
                    }
                    b'$' | b'<' | b'>' if next == Some(b'(') => {
                        enter_substitution(&mut stack, &mut word_start, &mut cmd_start);
                        i += 2;
                        continue;
                    }
                    b'(' => set_top(&mut stack, parens + 1, cases),
                    b')' => {
                        if parens > 0 {
                            set_top(&mut stack, parens - 1, cases);
                        } else if cases > 0 {
                            // A case pattern ends.
                        } else if stack.len() > 1 {
                            stack.pop();
                        } else {
                            confused = true;
                        }
                    }
                    b'<' if next == Some(b'<') => {
                        if s.get(i + 2) == Some(&b'<') {
                            i += 3;
                            continue;
                        }
                        match here_doc(s, i + 2) {
                            Some((doc, end)) => {
                                pending.push(doc);
                                i = end;
                                continue;
                            }
                            None => confused = true,
                        }
                    }
                    b'\n' if !pending.is_empty() => {
                        let mut at = i + 1;
                        for doc in pending.drain(..) {
                            match body_end(s, at, &doc) {
                                Some(end) => {
                                    mark_until!(end, Place::HereDoc);
                                    at = end;
                                }
                                None => {
                                    confused = true;
                                    at = s.len();
                                }
                            }
                        }
                        i = at;
                        word_start = true;
                        continue;
                    }
                    _ if at_cmd_start && keyword(s, i, b"case") => {
                        set_top(&mut stack, parens, cases + 1);
                        i += 4;
                        continue;
                    }
                    _ if at_cmd_start && keyword(s, i, b"esac") => {
                        set_top(&mut stack, parens, cases.saturating_sub(1));
                        i += 4;
                        continue;
                    }
                    _ if at_cmd_start => {
                        // Words after which a command starts again.
                        if let Some(word) = [&b"then"[..], b"do", b"else", b"elif", b"!"]
                            .into_iter()
                            .find(|w| keyword(s, i, w))
                        {
                            cmd_start = true;
                            i += word.len();
                            continue;
                        }
                    }
                    _ => {}
                }
            }
            Frame::Double => match b {
                b'\\' => {
                    i += 2;
                    continue;
                }
                b'"' => {
                    stack.pop();
                }
                b'`' => stack.push(Frame::Backtick),
                b'$' if next == Some(b'(') => {
                    enter_substitution(&mut stack, &mut word_start, &mut cmd_start);
                    i += 2;
                    continue;
                }
                _ => {}
            },
            Frame::Single => {
                if b == b'\'' {
                    stack.pop();
                }
            }
            Frame::AnsiC | Frame::Backtick => match b {
                b'\\' => {
                    i += 2;
                    continue;
                }
                b'\'' if top == Frame::AnsiC => {
                    stack.pop();
                }
                b'`' if top == Frame::Backtick => {
                    stack.pop();
                }
                _ => {}
            },
        }
        i += 1;
    }
    out
}

/// Enters `$( )`, `<( )` or `>( )`: a command context of its own.
fn enter_substitution(stack: &mut Vec<Frame>, word_start: &mut bool, cmd_start: &mut bool) {
    stack.push(Frame::Code {
        parens: 0,
        cases: 0,
    });
    *word_start = true;
    *cmd_start = true;
}

fn set_top(stack: &mut [Frame], parens: u32, cases: u32) {
    if let Some(top) = stack.last_mut() {
        *top = Frame::Code { parens, cases };
    }
}

fn find(s: &[u8], from: usize, byte: u8) -> Option<usize> {
    s.get(from..)?
        .iter()
        .position(|&b| b == byte)
        .map(|p| from + p)
}

/// Whether the word `word` starts at `i` (followed by a blank, `;` or the end).
fn keyword(s: &[u8], i: usize, word: &[u8]) -> bool {
    s[i..].starts_with(word)
        && s.get(i + word.len())
            .is_none_or(|b| matches!(b, b' ' | b'\t' | b'\n' | b';' | b')'))
}

/// A here-document operator's delimiter, from just after `<<`: the pending document
/// and where the delimiter ends.
fn here_doc(s: &[u8], mut i: usize) -> Option<(PendingHereDoc, usize)> {
    let strip_tabs = s.get(i) == Some(&b'-');
    if strip_tabs {
        i += 1;
    }
    while matches!(s.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let mut delimiter = Vec::new();
    let mut quote: Option<u8> = None;
    while let Some(&b) = s.get(i) {
        match (quote, b) {
            (None, b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')') => break,
            (None, b'\'' | b'"') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'\\') => {
                i += 1;
                delimiter.push(*s.get(i)?);
            }
            _ => delimiter.push(b),
        }
        i += 1;
    }
    if quote.is_some() || delimiter.is_empty() {
        return None;
    }
    Some((
        PendingHereDoc {
            delimiter,
            strip_tabs,
        },
        i,
    ))
}

/// Where a here-document's body starting at `from` ends (just after its delimiter
/// line), if it does.
fn body_end(s: &[u8], from: usize, doc: &PendingHereDoc) -> Option<usize> {
    let mut at = from;
    while at < s.len() {
        let end = find(s, at, b'\n').unwrap_or(s.len());
        let mut line = &s[at..end];
        if doc.strip_tabs {
            while let [b'\t', rest @ ..] = line {
                line = rest;
            }
        }
        if line == doc.delimiter.as_slice() {
            return Some((end + 1).min(s.len()));
        }
        at = end + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The places of every `@` in `script` (a stand-in for a reference).
    fn at(script: &str) -> Vec<Place> {
        let refs: Vec<Range<usize>> = script.match_indices('@').map(|(i, _)| i..i + 1).collect();
        places(script, &refs)
    }

    #[test]
    fn words_quotes_and_substitutions() {
        use Place::*;
        assert_eq!(at("echo @ x@y"), [Word, Word]);
        assert_eq!(at(r#"echo "a @" 'b @' $'c @' d"#), [Quoted, Quoted, Quoted]);
        assert_eq!(at(r#"echo "it's" @"#), [Word]);
        assert_eq!(at(r#"echo 'say "hi"' @"#), [Word]);
        assert_eq!(at(r#"echo \" @ \' @"#), [Word, Word]);
        assert_eq!(
            at(r#"echo "$(printf @)" "$(echo "x @")" @"#),
            [Word, Quoted, Word]
        );
        assert_eq!(
            at("diff <(cat @) >(tee @) $((1 + 2)) @"),
            [Word, Word, Word]
        );
        assert_eq!(at("echo `date @` @"), [Backticks, Word]);
    }

    #[test]
    fn comments_and_here_documents() {
        use Place::*;
        assert_eq!(at("echo a # not @\necho @"), [Comment, Word]);
        assert_eq!(
            at("echo a#b @"),
            [Word],
            "# inside a word starts no comment"
        );
        assert_eq!(at("cat <<EOF\nbody @\nEOF\necho @"), [HereDoc, Word]);
        assert_eq!(
            at("cat <<-'END' | sort\n\tbody @\n\tEND\necho @"),
            [HereDoc, Word]
        );
        assert_eq!(at("cat <<< @"), [Word], "a here-string is a word");
        assert_eq!(at("cat <<EOF\nnever ends @"), [Unknown]);
    }

    #[test]
    fn case_patterns_do_not_close_substitutions() {
        use Place::*;
        assert_eq!(
            at(r#"x="$(case a in a) echo " @ ";; esac)" ; echo @"#),
            [Quoted, Word]
        );
        assert_eq!(
            at("case @ in (a) echo @;; b) echo @;; esac; echo @"),
            [Word, Word, Word, Word]
        );
    }

    #[test]
    fn case_is_a_keyword_only_where_a_command_starts() {
        use Place::*;
        // `case` as an argument opens no case: the `)` closes the substitution.
        assert_eq!(at(r#"echo "$(echo case) @ ""#), [Quoted]);
        assert_eq!(
            at("if true; then case a in a) echo @;; esac; fi; echo @"),
            [Word, Word]
        );
        // `${x#y}` is no comment, `${#x}` neither.
        assert_eq!(at("echo ${x#a} \"\n@ \""), [Quoted]);
        assert_eq!(at("echo ${#x} @"), [Word]);
    }

    #[test]
    fn after_something_it_cannot_follow_every_reference_is_refused() {
        use Place::*;
        assert_eq!(at("echo @ ) echo @"), [Word, Unknown]);
    }
}
