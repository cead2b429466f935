//! The reference's answer parsing (`utils/eval_tasks.py`, fishfarm's GSM8K task), reproduced
//! exactly, quirks included:
//!
//! - [`get_choice`]: strip whitespace, then the characters `` :`'"(.) `` and space from both
//!   ends, lower-case, then the first of `a`…`z`, `0`…`9`, `10` the text *starts with*.
//! - [`bool_value`]: the first hit, in this order, of the substrings `1` → true, `0` → false,
//!   `yes`, `no`, `true`, `false`, `positive`, `negative`, `valid`, `invalid` (so "not true" reads
//!   as *no* → false, as in the reference).
//! - [`gsm8k_number`]: the last match of the regex `\d*\.?\d+` (no sign, commas not part of a
//!   number: "1,000" reads as 0, as in the reference), as a float.

/// The choice a reply starts with (`"a"`…`"z"`, `"0"`…`"9"`), or `None`.
///
/// ```
/// use trainers::eval::parse::get_choice;
/// assert_eq!(get_choice(" (B). because"), Some("b".into()));
/// assert_eq!(get_choice("`3`"), Some("3".into()));
/// assert_eq!(get_choice("!?"), None);
/// ```
pub fn get_choice(text: &str) -> Option<String> {
    const STRIP: &[char] = &[':', '`', '\'', '"', '(', '.', ')', ' '];
    let t = text.trim().trim_matches(STRIP).to_lowercase();
    let first = t.chars().next()?;
    (first.is_ascii_lowercase() || first.is_ascii_digit()).then(|| first.to_string())
}

/// Whether a reply picks the gold choice: `get_choice(reply) == get_choice(gold)`, both present
/// (the reference compares two `None`s as equal; a gold label always parses, so this differs only
/// for a malformed gold).
pub fn choice_correct(reply: &str, gold: &str) -> bool {
    match (get_choice(reply), get_choice(gold)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The boolean a reply expresses, or `None`.
///
/// ```
/// use trainers::eval::parse::bool_value;
/// assert_eq!(bool_value("True"), Some(true));
/// assert_eq!(bool_value("false."), Some(false));
/// assert_eq!(bool_value("I cannot say"), Some(false)); // "no" in "cannot", as the reference
/// assert_eq!(bool_value("maybe"), None);
/// ```
pub fn bool_value(text: &str) -> Option<bool> {
    let lower = text.to_lowercase();
    if text.contains('1') {
        return Some(true);
    }
    if text.contains('0') {
        return Some(false);
    }
    for (needle, value) in [
        ("yes", true),
        ("no", false),
        ("true", true),
        ("false", false),
        ("positive", true),
        ("negative", false),
        ("valid", true),
        ("invalid", false),
    ] {
        if lower.contains(needle) {
            return Some(value);
        }
    }
    None
}

/// BoolQ's flexible match: both sides parse and agree.
pub fn bool_correct(reply: &str, gold: &str) -> bool {
    matches!((bool_value(reply), bool_value(gold)), (Some(a), Some(b)) if a == b)
}

/// All matches of `\d*\.?\d+` in `text`, leftmost first, non-overlapping (regex semantics).
fn number_matches(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let d = digits(i);
        let end = if b.get(i + d) == Some(&b'.') && b.get(i + d + 1).is_some_and(u8::is_ascii_digit)
        {
            Some(i + d + 1 + digits(i + d + 1))
        } else if d > 0 {
            Some(i + d)
        } else {
            None
        };
        match end {
            Some(e) => {
                out.push(&text[i..e]);
                i = e;
            }
            None => i += 1,
        }
    }
    out
}

/// The last number of a reply (GSM8K), or `None`.
///
/// ```
/// use trainers::eval::parse::gsm8k_number;
/// assert_eq!(gsm8k_number("3 + 4 = 7. #### 7"), Some(7.0));
/// assert_eq!(gsm8k_number("costs $2.50 each"), Some(2.5));
/// assert_eq!(gsm8k_number("no digits"), None);
/// ```
pub fn gsm8k_number(text: &str) -> Option<f64> {
    number_matches(text).last()?.parse().ok()
}

/// GSM8K's check: the reply's last number equals the gold integer.
pub fn number_correct(reply: &str, gold: f64) -> bool {
    gsm8k_number(reply).is_some_and(|x| x == gold)
}

/// The code of a reply that started after a ```` ```python ```` prefill: everything up to the
/// closing fence (or the whole reply when there is none).
pub fn code_block(reply: &str) -> &str {
    match reply.find("```") {
        Some(end) => &reply[..end],
        None => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_parsing_matches_the_reference() {
        for (reply, want) in [
            ("A", Some("a")),
            ("  b: the second", Some("b")),
            ("(C)", Some("c")),
            ("`D`.", Some("d")),
            ("'1'", Some("1")),
            ("\"2\"", Some("2")),
            ("10", Some("1")), // "1" comes before "10" in the reference's list
            ("The answer is A", Some("t")),
            ("", None),
            ("  ", None),
            ("*A*", None),
            ("É", None),
        ] {
            assert_eq!(get_choice(reply).as_deref(), want, "{reply:?}");
        }
        assert!(choice_correct("B) blue", "B"));
        assert!(!choice_correct("A", "B"));
        assert!(choice_correct("3", "3"));
        assert!(!choice_correct("", ""));
    }

    #[test]
    fn boolean_parsing_order_and_quirks() {
        assert_eq!(bool_value("true"), Some(true));
        assert_eq!(bool_value("FALSE"), Some(false));
        assert_eq!(bool_value("Yes, it is"), Some(true));
        assert_eq!(bool_value("not true"), Some(false)); // "no" in "not"
        assert_eq!(bool_value("1 false"), Some(true)); // digits first
        assert_eq!(bool_value("10"), Some(true));
        assert_eq!(bool_value("0"), Some(false));
        assert_eq!(bool_value("positive"), Some(true));
        assert_eq!(bool_value("invalid"), Some(true)); // "valid" is found first
        assert_eq!(bool_value("maybe"), None);
        assert!(bool_correct("true", "True"));
        assert!(bool_correct("False", "False"));
        assert!(!bool_correct("false", "True"));
        assert!(!bool_correct("unsure", "True"));
    }

    #[test]
    fn gsm8k_last_number_regex_semantics() {
        assert_eq!(number_matches("a1b22c.5d3.x"), vec!["1", "22", ".5", "3"]);
        assert_eq!(number_matches("12.34.56"), vec!["12.34", ".56"]);
        assert_eq!(number_matches("-7"), vec!["7"]);
        assert_eq!(gsm8k_number("1,000"), Some(0.0));
        assert_eq!(gsm8k_number("so 18."), Some(18.0));
        assert!(number_correct("The total is 72.0", 72.0));
        assert!(!number_correct("The total is 72.5", 72.0));
        assert!(!number_correct("none", 0.0));
        let gold = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n#### 18";
        assert_eq!(gsm8k_number(gold), Some(18.0));
    }

    #[test]
    fn code_block_cuts_at_the_fence() {
        assert_eq!(
            code_block("def f():\n    return 1\n```\nbye"),
            "def f():\n    return 1\n"
        );
        assert_eq!(code_block("x = 1"), "x = 1");
    }
}
