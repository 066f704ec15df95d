//! "Did you mean" for an undefined step, in the user's own words: the closest catalog pattern,
//! filled with the values the user wrote (`Then the respons status is 200` → `Then the response
//! status is 200`, not the catalog's example `… is 401`).
//!
//! ```text
//!   user text ──tokens──┐
//!                       ├─ align (edit distance over tokens: a literal word against a word
//!   pattern ───tokens───┘   costs its spelling distance, a parameter against a value of its
//!                           type costs nothing) ─► cheapest pattern ─► filled with the aligned
//!                           values (the example's value where the user wrote none)
//! ```
//! The same tokens give a matched step's arguments in order ([`arguments`]), for `check`'s name
//! checks.

use super::catalog::{StepDoc, CATALOG};
use crate::units::parse_duration;

/// A piece of a step's text.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A word, as written.
    Word(String),
    /// A value: a quoted string, a number (with its unit), a percentage, a percentile.
    Value(String),
}

impl Token {
    fn raw(&self) -> &str {
        match self {
            Token::Word(s) | Token::Value(s) => s,
        }
    }
}

/// Units a number may carry, written after a space (`30 seconds`).
const UNIT_WORDS: &[&str] = &[
    "ms",
    "millisecond",
    "milliseconds",
    "µs",
    "us",
    "microsecond",
    "microseconds",
    "s",
    "sec",
    "secs",
    "second",
    "seconds",
    "m",
    "min",
    "mins",
    "minute",
    "minutes",
    "h",
    "hr",
    "hrs",
    "hour",
    "hours",
    "d",
    "day",
    "days",
];

fn is_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    !s.is_empty()
        && s.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// Splits a step's text into words and values. A number followed by a unit word is one value
/// (`30 seconds`).
fn tokens(text: &str) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|x| *x == c)
                .map(|p| i + 1 + p);
            let stop = end.map_or(chars.len(), |e| e + 1);
            out.push(Token::Value(chars[i..stop].iter().collect()));
            i = stop;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let is_value = is_number(&word)
            || parse_duration(&word).is_ok()
            || word.strip_suffix('%').is_some_and(is_number)
            || (word.len() > 1 && word.starts_with(['p', 'P']) && is_number(&word[1..]));
        if is_value {
            out.push(Token::Value(word));
        } else if UNIT_WORDS.contains(&word.as_str())
            && matches!(out.last(), Some(Token::Value(v)) if is_number(v))
        {
            if let Some(Token::Value(v)) = out.last_mut() {
                v.push(' ');
                v.push_str(&word);
            }
        } else {
            out.push(Token::Word(word));
        }
    }
    out
}

/// A piece of a pattern: a literal word (with an optional `(s)` suffix) or a parameter.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal {
        word: String,
        optional: String,
    },
    Param {
        name: String,
        prefix: String,
        suffix: String,
    },
}

fn pieces(pattern: &str) -> Vec<Piece> {
    pattern
        .split_whitespace()
        .map(|word| {
            if let (Some(open), Some(close)) = (word.find('{'), word.find('}')) {
                if open < close {
                    return Piece::Param {
                        name: word[open + 1..close].to_string(),
                        prefix: word[..open].to_string(),
                        suffix: word[close + 1..].to_string(),
                    };
                }
            }
            match word.split_once('(') {
                Some((base, rest)) if rest.ends_with(')') => Piece::Literal {
                    word: base.to_string(),
                    optional: rest.trim_end_matches(')').to_string(),
                },
                _ => Piece::Literal {
                    word: word.to_string(),
                    optional: String::new(),
                },
            }
        })
        .collect()
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Whether `raw` can stand for the parameter `name` (its prefix and suffix already removed).
fn fits(name: &str, raw: &str, token: &Token) -> bool {
    let quoted = raw.len() >= 2
        && ((raw.starts_with('"') && raw.ends_with('"'))
            || (raw.starts_with('\'') && raw.ends_with('\'')));
    match name {
        "string" => quoted,
        "int" => is_number(raw) && !raw.contains('.'),
        "float" => is_number(raw),
        "method" => METHODS.contains(&raw.to_ascii_uppercase().as_str()),
        "duration" | "latency" => {
            raw.chars().any(char::is_alphabetic) && parse_duration(raw).is_ok()
        }
        "percentile" => raw.len() > 1 && raw.starts_with(['p', 'P']) && is_number(&raw[1..]),
        "percent" => raw.strip_suffix('%').is_some_and(is_number),
        // {word} and unknown types: one unquoted word.
        _ => !quoted && matches!(token, Token::Word(_) | Token::Value(_)),
    }
}

/// The spelling distance of a literal against a word, 0 (same) to 1 (nothing alike).
fn word_cost(literal: &str, optional: &str, word: &str) -> f64 {
    let forms = [literal.to_string(), format!("{literal}{optional}")];
    forms
        .iter()
        .map(|form| {
            if form.eq_ignore_ascii_case(word) {
                0.0
            } else {
                let d = strsim::levenshtein(&form.to_lowercase(), &word.to_lowercase());
                (d as f64 / form.chars().count().max(word.chars().count()) as f64).min(1.0)
            }
        })
        .fold(1.0, f64::min)
}

/// The cost of matching `piece` to `token`, or `None` when a parameter cannot take it.
fn substitution(piece: &Piece, token: &Token) -> f64 {
    match piece {
        Piece::Literal { word, optional } => match token {
            Token::Word(w) => word_cost(word, optional, w),
            Token::Value(_) => 1.0,
        },
        Piece::Param {
            name,
            prefix,
            suffix,
        } => {
            let raw = token.raw();
            let inner = raw
                .strip_prefix(prefix.as_str())
                .and_then(|r| r.strip_suffix(suffix.as_str()));
            match inner {
                Some(inner) if fits(name, inner, token) => 0.0,
                _ => 0.9,
            }
        }
    }
}

/// One step of an alignment: a piece matched to a token, a piece missing, a token extra.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Move {
    Match(usize, usize),
    Skip(usize),
    Extra,
}

/// The cheapest alignment of `pieces` to `tokens`: its cost and its moves in order.
fn align(pieces: &[Piece], tokens: &[Token]) -> (f64, Vec<Move>) {
    let (n, m) = (pieces.len(), tokens.len());
    let mut cost = vec![vec![0.0f64; m + 1]; n + 1];
    for (i, row) in cost.iter_mut().enumerate() {
        row[0] = i as f64;
    }
    for (j, cell) in cost[0].iter_mut().enumerate() {
        *cell = j as f64;
    }
    for i in 1..=n {
        for j in 1..=m {
            let sub = cost[i - 1][j - 1] + substitution(&pieces[i - 1], &tokens[j - 1]);
            cost[i][j] = sub.min(cost[i - 1][j] + 1.0).min(cost[i][j - 1] + 1.0);
        }
    }
    let mut moves = Vec::new();
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        if i > 0 && j > 0 {
            let sub = cost[i - 1][j - 1] + substitution(&pieces[i - 1], &tokens[j - 1]);
            if (cost[i][j] - sub).abs() < 1e-9 {
                moves.push(Move::Match(i - 1, j - 1));
                i -= 1;
                j -= 1;
                continue;
            }
        }
        if i > 0 && (j == 0 || (cost[i][j] - (cost[i - 1][j] + 1.0)).abs() < 1e-9) {
            moves.push(Move::Skip(i - 1));
            i -= 1;
        } else {
            moves.push(Move::Extra);
            j -= 1;
        }
    }
    moves.reverse();
    (cost[n][m], moves)
}

/// The value each parameter of `pieces` takes in `tokens` (`None` where none fits).
fn values(pieces: &[Piece], tokens: &[Token]) -> Vec<Option<String>> {
    let (_, moves) = align(pieces, tokens);
    let mut out: Vec<Option<String>> = pieces.iter().map(|_| None).collect();
    for mv in moves {
        if let Move::Match(i, j) = mv {
            if let Piece::Param {
                name,
                prefix,
                suffix,
            } = &pieces[i]
            {
                let raw = tokens[j].raw();
                let inner = raw
                    .strip_prefix(prefix.as_str())
                    .and_then(|r| r.strip_suffix(suffix.as_str()));
                if let Some(inner) = inner.filter(|inner| fits(name, inner, &tokens[j])) {
                    out[i] = Some(normalize(name, inner));
                }
            }
        }
    }
    out
}

/// A value as the parameter's canonical spelling (`get` → `GET`, `P99` → `p99`).
fn normalize(name: &str, raw: &str) -> String {
    match name {
        "method" => raw.to_ascii_uppercase(),
        "percentile" => raw.to_ascii_lowercase(),
        _ => raw.to_string(),
    }
}

/// The variants of a documented pattern (`{duration} pass / {duration} passes`).
fn variants(doc: &StepDoc) -> impl Iterator<Item = &'static str> {
    doc.pattern.split(" / ")
}

/// A suggestion: the catalog entry and its pattern filled with the user's values.
#[derive(Debug, Clone)]
pub struct Suggestion {
    pub doc: &'static StepDoc,
    /// The step text to write (without keyword).
    pub text: String,
}

/// The catalog step closest to `text`, filled with the user's own values.
pub fn suggest(text: &str) -> Option<Suggestion> {
    let user = tokens(text);
    let mut best: Option<(f64, usize, &'static StepDoc, &'static str)> = None;
    for doc in CATALOG {
        for variant in variants(doc) {
            let p = pieces(variant);
            let (cost, _) = align(&p, &user);
            // Ties go to the pattern closest in characters.
            let chars = strsim::levenshtein(text, variant);
            let better = match best {
                None => true,
                Some((c, ch, _, _)) => cost < c - 1e-9 || ((cost - c).abs() < 1e-9 && chars < ch),
            };
            if better {
                best = Some((cost, chars, doc, variant));
            }
        }
    }
    let (_, _, doc, variant) = best?;
    let p = pieces(variant);
    let mine = values(&p, &user);
    let example = values(&p, &tokens(doc.example));
    let (_, moves) = align(&p, &user);
    let aligned: Vec<Option<&Token>> = (0..p.len())
        .map(|i| {
            moves.iter().find_map(|mv| match mv {
                Move::Match(pi, tj) if *pi == i => Some(&user[*tj]),
                _ => None,
            })
        })
        .collect();
    let words: Vec<String> = p
        .iter()
        .enumerate()
        .zip(mine.iter().zip(&example))
        .map(|((i, piece), (mine, example))| match piece {
            // `request(s)`: the form the user wrote, else the plural.
            Piece::Literal { word, optional } if !optional.is_empty() => {
                let plural = format!("{word}{optional}");
                match aligned[i].map(Token::raw) {
                    Some(w) if w.eq_ignore_ascii_case(word) => word.clone(),
                    _ => plural,
                }
            }
            Piece::Literal { word, .. } => word.clone(),
            Piece::Param {
                name,
                prefix,
                suffix,
            } => {
                let value = mine
                    .clone()
                    .or_else(|| example.clone())
                    .unwrap_or_else(|| format!("{{{name}}}"));
                format!("{prefix}{value}{suffix}")
            }
        })
        .collect();
    Some(Suggestion {
        doc,
        text: words.join(" "),
    })
}

/// The arguments of `text` in the order of `doc`'s parameters, when `text` is written in one of
/// its forms (quotes kept on strings).
pub fn arguments(doc: &StepDoc, text: &str) -> Option<Vec<String>> {
    let user = tokens(text);
    variants(doc).find_map(|variant| {
        let p = pieces(variant);
        let (cost, _) = align(&p, &user);
        if cost > 1e-9 {
            return None;
        }
        let params: Vec<Option<String>> = values(&p, &user)
            .into_iter()
            .zip(&p)
            .filter(|(_, piece)| matches!(piece, Piece::Param { .. }))
            .map(|(v, _)| v)
            .collect();
        params.into_iter().collect()
    })
}

/// The catalog entry `text` is written in, with its arguments.
pub fn match_catalog(text: &str) -> Option<(&'static StepDoc, Vec<String>)> {
    CATALOG
        .iter()
        .find_map(|doc| arguments(doc, text).map(|args| (doc, args)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suggested(text: &str) -> String {
        suggest(text).map(|s| s.text).unwrap_or_default()
    }

    #[test]
    fn a_misspelt_step_is_suggested_with_the_users_own_values() {
        assert_eq!(
            suggested("the respons status is 200"),
            "the response status is 200"
        );
        assert_eq!(
            suggested("I sent a GET request to \"/api/v1/commitments\""),
            "I send a GET request to \"/api/v1/commitments\""
        );
        assert_eq!(
            suggested("the circuit breaker of \"value-committer\" is opne OPEN"),
            "the circuit breaker of \"value-committer\" is OPEN"
        );
        assert_eq!(
            suggested("I have a token for \"frontend-app\" that expire in 90 s"),
            "I have a token for \"frontend-app\" that expires in 90 s"
        );
        assert_eq!(suggested("the stack is runing"), "the stack is running");
    }

    #[test]
    fn values_the_user_did_not_write_come_from_the_example() {
        assert_eq!(
            suggested("the P99 latency is under 50ms"),
            "the p99 latency is below 50ms"
        );
        assert_eq!(
            suggested("\"value-architect\" answers to every request"),
            "\"value-architect\" answers 500 to every request"
        );
    }

    #[test]
    fn every_catalog_example_is_read_back_as_its_own_entry() {
        for doc in CATALOG {
            let (found, args) = match_catalog(doc.example)
                .unwrap_or_else(|| panic!("{} reads as no entry", doc.example));
            assert_eq!(found.pattern, doc.pattern, "{}", doc.example);
            let params = doc
                .pattern
                .split(" / ")
                .next()
                .unwrap()
                .matches('{')
                .count();
            assert_eq!(args.len(), params, "{}", doc.example);
            assert_eq!(suggested(doc.example), doc.example.to_string());
        }
    }

    #[test]
    fn a_matching_step_gives_its_arguments_in_order() {
        let (doc, args) =
            match_catalog("\"value-architect\" answers 503 to the next 2 requests").unwrap();
        assert_eq!(
            doc.pattern,
            "{string} answers {int} to the next {int} request(s)"
        );
        assert_eq!(args, ["\"value-architect\"", "503", "2"]);
        let (_, args) = match_catalog("61 seconds pass").unwrap();
        assert_eq!(args, ["61 seconds"]);
        let (_, args) = match_catalog("1 second passes").unwrap();
        assert_eq!(args, ["1 second"]);
        assert!(match_catalog("the stack is runing").is_none());
    }
}
