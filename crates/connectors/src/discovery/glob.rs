//! Shell-style path patterns for the filesystem scanner's include and exclude lists: `*`, `?`, `**`, and
//! character classes. A pattern without a `/` matches the file name alone (as in `.gitignore`: `*.pem` matches
//! `/etc/ssl/a.pem`); a pattern with a `/` matches the whole path. Matching takes time proportional to the product
//! of pattern and path lengths at worst, never exponential time.

use std::fmt;
use std::str::FromStr;

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GlobError {
    /// The pattern is empty (or only slashes).
    #[error("the pattern is empty")]
    Empty,
    /// A `[` has no matching `]`.
    #[error("`{0}`: a `[` is not closed by `]`")]
    UnclosedClass(String),
    /// A class range runs backwards (`[z-a]`).
    #[error("`{0}`: a character range runs backwards")]
    BackwardRange(String),
    /// A class holds a `/`, which a path segment never contains.
    #[error("`{0}`: a `[...]` class cannot hold `/`")]
    SlashInClass(String),
    /// The pattern ends with a lone `\`.
    #[error("`{0}`: the pattern ends with a lone `\\`")]
    TrailingEscape(String),
}

/// One element of a segment pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Literal(char),
    /// `?`: any one character.
    Any,
    /// `*`: any run of characters within the segment.
    Star,
    /// `**`: a star standing alone in its segment spans segments; elsewhere it acts as `*`.
    DoubleStar,
    /// `[...]`: inclusive ranges (a single character is a range of one), possibly negated.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// The segment separator (only while parsing).
    Slash,
}

impl Tok {
    fn matches(&self, c: char) -> bool {
        match self {
            Tok::Literal(l) => *l == c,
            Tok::Any => true,
            Tok::Class { negated, ranges } => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated,
            Tok::Star | Tok::DoubleStar | Tok::Slash => false,
        }
    }

    fn is_star(&self) -> bool {
        matches!(self, Tok::Star | Tok::DoubleStar)
    }
}

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// `**`: any number of whole segments, zero included.
    AnySegments,
    Pattern(Vec<Tok>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// No `/` in the pattern: the file name is matched.
    Name(Vec<Tok>),
    /// The whole path is matched, segment by segment.
    Path(Vec<Seg>),
}

/// A compiled path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    kind: Kind,
}

impl Glob {
    /// Compiles `pattern`. `\` makes the next character literal; `[abc]`, `[a-z]` and `[!x]` (or `[^x]`) are
    /// classes, a `]` right after the opening `[` (or `[!`) being literal. Trailing slashes are ignored, so
    /// `cache/` is the same pattern as `cache`.
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let mut toks = tokenize(pattern)?;
        while toks.last() == Some(&Tok::Slash) {
            toks.pop();
        }
        if toks.is_empty() {
            return Err(GlobError::Empty);
        }
        let kind = if toks.contains(&Tok::Slash) {
            Kind::Path(
                toks.split(|t| *t == Tok::Slash)
                    .map(|seg| match seg {
                        [Tok::DoubleStar] => Seg::AnySegments,
                        _ => Seg::Pattern(seg.to_vec()),
                    })
                    .collect(),
            )
        } else {
            Kind::Name(toks)
        };
        Ok(Glob { pattern: pattern.to_owned(), kind })
    }

    /// Whether `path` matches: its last segment for a pattern without `/`, the whole of it otherwise. A trailing
    /// `/` on `path` is ignored.
    pub fn matches(&self, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        match &self.kind {
            Kind::Name(toks) => {
                let name: Vec<char> = path.rsplit('/').next().unwrap_or_default().chars().collect();
                match_segment(toks, &name)
            }
            Kind::Path(segs) => {
                let parts: Vec<Vec<char>> = path.split('/').map(|p| p.chars().collect()).collect();
                match_path(segs, &parts)
            }
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

impl FromStr for Glob {
    type Err = GlobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Glob::new(s)
    }
}

fn tokenize(pattern: &str) -> Result<Vec<Tok>, GlobError> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let tok = match c {
            '\\' => Tok::Literal(chars.next().ok_or_else(|| GlobError::TrailingEscape(pattern.to_owned()))?),
            '?' => Tok::Any,
            '/' => Tok::Slash,
            '*' => {
                let mut double = false;
                while chars.peek() == Some(&'*') {
                    chars.next();
                    double = true;
                }
                if double {
                    Tok::DoubleStar
                } else {
                    Tok::Star
                }
            }
            '[' => class(&mut chars, pattern)?,
            other => Tok::Literal(other),
        };
        out.push(tok);
    }
    Ok(out)
}

/// Parses a class after its `[`.
fn class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, pattern: &str) -> Result<Tok, GlobError> {
    let unclosed = || GlobError::UnclosedClass(pattern.to_owned());
    let negated = matches!(chars.peek(), Some('!' | '^'));
    if negated {
        chars.next();
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = chars.next().ok_or_else(unclosed)?;
        let lo = match c {
            ']' if !first => break,
            '\\' => chars.next().ok_or_else(unclosed)?,
            '/' => return Err(GlobError::SlashInClass(pattern.to_owned())),
            c => c,
        };
        first = false;
        let mut hi = lo;
        if chars.peek() == Some(&'-') {
            let mut ahead = chars.clone();
            ahead.next();
            // `-` right before the closing `]` is a literal dash.
            if !matches!(ahead.peek(), Some(']') | None) {
                chars.next();
                hi = match chars.next().ok_or_else(unclosed)? {
                    '\\' => chars.next().ok_or_else(unclosed)?,
                    '/' => return Err(GlobError::SlashInClass(pattern.to_owned())),
                    c => c,
                };
                if hi < lo {
                    return Err(GlobError::BackwardRange(pattern.to_owned()));
                }
            }
        }
        ranges.push((lo, hi));
    }
    Ok(Tok::Class { negated, ranges })
}

/// Matches one segment. A star remembers where it started; on a mismatch the most recent star takes one more
/// character and matching resumes after it. Earlier stars never need to be revisited, which bounds the work by
/// the product of the two lengths.
fn match_segment(toks: &[Tok], text: &[char]) -> bool {
    let (mut t, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = text.get(s) {
        match toks.get(t) {
            Some(tok) if tok.is_star() => {
                star = Some((t, s));
                t += 1;
            }
            Some(tok) if tok.matches(c) => {
                t += 1;
                s += 1;
            }
            _ => match star {
                Some((st, ss)) => {
                    t = st + 1;
                    s = ss + 1;
                    star = Some((st, ss + 1));
                }
                None => return false,
            },
        }
    }
    toks.get(t..).unwrap_or_default().iter().all(Tok::is_star)
}

/// The same walk one level up: `**` plays the star, each other segment pattern matches exactly one segment.
fn match_path(segs: &[Seg], parts: &[Vec<char>]) -> bool {
    let (mut t, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(part) = parts.get(s) {
        match segs.get(t) {
            Some(Seg::AnySegments) => {
                star = Some((t, s));
                t += 1;
            }
            Some(Seg::Pattern(toks)) if match_segment(toks, part) => {
                t += 1;
                s += 1;
            }
            _ => match star {
                Some((st, ss)) => {
                    t = st + 1;
                    s = ss + 1;
                    star = Some((st, ss + 1));
                }
                None => return false,
            },
        }
    }
    segs.get(t..).unwrap_or_default().iter().all(|s| *s == Seg::AnySegments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn m(pattern: &str, path: &str) -> bool {
        Glob::new(pattern).unwrap().matches(path)
    }

    #[test]
    fn a_pattern_without_slash_matches_the_file_name_anywhere() {
        assert!(m("*.pem", "/a/b/c.pem"));
        assert!(m("*.pem", "c.pem"));
        assert!(!m("*.pem", "/a/b.pem/c.key"));
        assert!(m("cache", "/var/lib/cache"));
        assert!(m("cache/", "/var/lib/cache"));
        assert!(!m("cache", "/var/lib/cache2"));
        assert!(m("**", "/x/y"));
    }

    #[test]
    fn a_pattern_with_slash_matches_the_whole_path() {
        assert!(m("/etc/ssl/*.pem", "/etc/ssl/a.pem"));
        assert!(!m("/etc/ssl/*.pem", "/etc/ssl/private/a.pem"));
        assert!(!m("ssl/*.pem", "/etc/ssl/a.pem"));
        assert!(m("/etc/ssl/", "/etc/ssl"));
    }

    #[test]
    fn a_single_star_stays_within_a_segment() {
        assert!(m("/a/*/c", "/a/b/c"));
        assert!(!m("/a/*/c", "/a/b/x/c"));
        assert!(!m("/a/*", "/a/"));
        assert!(m("/a/b*", "/a/b"));
        assert!(m("/a/*b*", "/a/xxbyy"));
    }

    #[test]
    fn a_double_star_spans_any_number_of_segments() {
        assert!(m("**/*.pem", "/a/b/c.pem"));
        assert!(m("**/*.pem", "c.pem"));
        assert!(m("/etc/**/private/*", "/etc/private/k.key"));
        assert!(m("/etc/**/private/*", "/etc/ssl/x/private/k.key"));
        assert!(!m("/etc/**/private/*", "/etc/ssl/private"));
        assert!(!m("/etc/**/private/*", "/var/etc/private/k"));
        assert!(m("/srv/**", "/srv/a/b/c"));
        assert!(m("/srv/**", "/srv"));
        assert!(m("/a/**/b/**/c", "/a/x/b/y/z/c"));
        assert!(!m("/a/**/b/**/c", "/a/x/c"));
        // `**` sharing its segment with other characters is a plain star.
        assert!(m("/a/x**", "/a/xyz"));
        assert!(!m("/a/x**", "/a/xy/z"));
    }

    #[test]
    fn question_marks_and_classes_match_one_character() {
        assert!(m("?.pem", "a.pem"));
        assert!(!m("?.pem", "ab.pem"));
        assert!(m("[abc].pem", "b.pem"));
        assert!(!m("[abc].pem", "d.pem"));
        assert!(m("[a-c][0-9].pem", "c7.pem"));
        assert!(!m("[a-c][0-9].pem", "c.pem"));
        assert!(m("[!x].pem", "y.pem"));
        assert!(!m("[!x].pem", "x.pem"));
        assert!(m("[^x].pem", "y.pem"));
        assert!(m("[]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("[!]]", "a"));
        assert!(!m("[!]]", "]"));
        assert!(m("é?", "éü"));
    }

    #[test]
    fn a_backslash_makes_the_next_character_literal() {
        assert!(m(r"\*.pem", "*.pem"));
        assert!(!m(r"\*.pem", "a.pem"));
        assert!(m(r"[\]]", "]"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        assert_eq!(Glob::new(""), Err(GlobError::Empty));
        assert_eq!(Glob::new("//"), Err(GlobError::Empty));
        assert!(matches!(Glob::new("[abc"), Err(GlobError::UnclosedClass(_))));
        assert!(matches!(Glob::new("[z-a]"), Err(GlobError::BackwardRange(_))));
        assert!(matches!(Glob::new("a[/]b"), Err(GlobError::SlashInClass(_))));
        assert!(matches!(Glob::new("a\\"), Err(GlobError::TrailingEscape(_))));
        assert_eq!("*.pem".parse::<Glob>().unwrap().to_string(), "*.pem");
    }

    #[test]
    fn hostile_patterns_finish_quickly() {
        let started = Instant::now();
        let long = "a".repeat(20_000);
        assert!(!m("*a*a*a*a*a*a*b", &long));
        let deep = format!("/{}", vec!["a"; 5_000].join("/"));
        assert!(!m("/**/a/**/a/**/a/**/a/**/b", &deep));
        assert!(m("/**/a/**/a/**/a/**/a/**/a", &deep));
        assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    }
}
