//! The globals and filters Hugging Face gives chat templates, for minijinja.
//!
//! transformers renders chat templates in a Jinja2 sandbox with `trim_blocks`, `lstrip_blocks`,
//! loop controls, Python string/dict methods, and three additions: `raise_exception(msg)`,
//! `strftime_now(fmt)` and a `tojson` filter that is Python's `json.dumps` (`", "` / `": "`
//! separators, `indent=`, `sort_keys=`, `ensure_ascii=`, no HTML escaping). [`install`] puts the
//! same into a minijinja [`Environment`].

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};

/// Configures `env` like transformers' chat-template environment.
pub fn install(env: &mut Environment<'_>) {
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(false);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now);
    env.add_filter("tojson", tojson);
}

/// `raise_exception(message)`: aborts rendering with `message`.
fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!("raise_exception: {message}"),
    ))
}

/// `strftime_now(format)`: the current UTC time formatted like Python's `strftime` (the
/// directives `%Y %y %m %d %-d %B %b %A %a %H %M %S %j %%`; others are kept as written).
fn strftime_now(format: String) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    strftime_utc(&format, secs)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Formats the UTC time `unix_seconds` with Python `strftime` directives.
pub fn strftime_utc(format: &str, unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs_of_day = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday (Monday = 0).
    let day_of_year = days - days_from_civil(year, 1, 1) + 1;
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let no_pad = chars.peek() == Some(&'-');
        if no_pad {
            chars.next();
        }
        let Some(d) = chars.next() else {
            out.push('%');
            break;
        };
        let num = |v: i64, width: usize| {
            if no_pad {
                v.to_string()
            } else {
                format!("{v:0width$}")
            }
        };
        let piece = match d {
            'Y' => year.to_string(),
            'y' => num(year.rem_euclid(100), 2),
            'm' => num(month, 2),
            'd' => num(day, 2),
            'B' => MONTHS[(month - 1) as usize].to_string(),
            'b' => MONTHS[(month - 1) as usize][..3].to_string(),
            'A' => WEEKDAYS[weekday].to_string(),
            'a' => WEEKDAYS[weekday][..3].to_string(),
            'H' => num(secs_of_day / 3600, 2),
            'M' => num(secs_of_day / 60 % 60, 2),
            'S' => num(secs_of_day % 60, 2),
            'j' => num(day_of_year, 3),
            '%' => "%".to_string(),
            other if no_pad => format!("%-{other}"),
            other => format!("%{other}"),
        };
        out.push_str(&piece);
    }
    out
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a civil date (inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The `tojson` filter: Python's `json.dumps(value, ensure_ascii=False, indent=None,
/// sort_keys=False)`, with those three as keyword arguments.
fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    kwargs.assert_all_used()?;
    let opts = DumpOptions {
        indent,
        sort_keys: sort_keys.unwrap_or(false),
        ensure_ascii: ensure_ascii.unwrap_or(false),
    };
    let mut out = String::new();
    python_json_dump(value, &opts, 0, &mut out)?;
    Ok(Value::from(out))
}

/// How [`python_json_dump`] formats.
#[derive(Debug, Clone, Copy, Default)]
pub struct DumpOptions {
    /// Pretty-print with this many spaces per level (`None`: one line with `", "` / `": "`).
    pub indent: Option<usize>,
    /// Sort mapping keys.
    pub sort_keys: bool,
    /// Escape every non-ASCII character as `\uXXXX`.
    pub ensure_ascii: bool,
}

/// Writes `value` as Python's `json.dumps` would.
pub fn python_json_dump(
    value: &Value,
    opts: &DumpOptions,
    level: usize,
    out: &mut String,
) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if let Some(i) = value.as_i64().filter(|_| value.is_integer()) {
                let _ = write!(out, "{i}");
            } else {
                let f = f64::try_from(value.clone())?;
                out.push_str(&python_float(f));
            }
        }
        ValueKind::String => write_string(value.as_str().unwrap_or_default(), opts, out),
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if opts.sort_keys {
                keys.sort_by_key(|a| a.to_string());
            }
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                separator(i, opts, level + 1, out);
                let key_text = match key.as_str() {
                    Some(s) => s.to_string(),
                    None => key.to_string(),
                };
                write_string(&key_text, opts, out);
                out.push_str(": ");
                python_json_dump(&value.get_item(key)?, opts, level + 1, out)?;
            }
            closing(opts, level, out);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                separator(i, opts, level + 1, out);
                python_json_dump(item, opts, level + 1, out)?;
            }
            closing(opts, level, out);
            out.push(']');
        }
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: a {} value is not JSON serializable", value.kind()),
            ));
        }
    }
    Ok(())
}

fn separator(index: usize, opts: &DumpOptions, level: usize, out: &mut String) {
    match opts.indent {
        Some(n) => {
            if index > 0 {
                out.push(',');
            }
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', n * level));
        }
        None if index > 0 => out.push_str(", "),
        None => {}
    }
}

fn closing(opts: &DumpOptions, level: usize, out: &mut String) {
    if let Some(n) = opts.indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', n * level));
    }
}

fn write_string(s: &str, opts: &DumpOptions, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (opts.ensure_ascii && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr` of a float, as `json.dumps` writes it.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if f == f.trunc() && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_formats_known_dates() {
        // 2024-02-29 13:05:09 UTC, a Thursday, day 60 of a leap year.
        let t = 1_709_211_909;
        assert_eq!(strftime_utc("%Y-%m-%d %H:%M:%S", t), "2024-02-29 13:05:09");
        assert_eq!(strftime_utc("%d %b %Y", t), "29 Feb 2024");
        assert_eq!(
            strftime_utc("%A %B %-d, %y (%j) %%", t),
            "Thursday February 29, 24 (060) %"
        );
        assert_eq!(strftime_utc("%d %b %Y", 0), "01 Jan 1970");
    }

    #[test]
    fn tojson_matches_python_json_dumps() {
        let v = Value::from_serialize(serde_json::json!({
            "name": "f", "n": 3, "x": 1.0, "ok": true, "none": null,
            "list": [1, "é\"\n", []], "empty": {}
        }));
        let mut out = String::new();
        python_json_dump(&v, &DumpOptions::default(), 0, &mut out).unwrap();
        // serde_json's map (no preserve_order) iterates keys sorted.
        assert_eq!(
            out,
            r#"{"empty": {}, "list": [1, "é\"\n", []], "n": 3, "name": "f", "none": null, "ok": true, "x": 1.0}"#
        );
        let mut pretty = String::new();
        let opts = DumpOptions {
            indent: Some(2),
            ensure_ascii: true,
            ..Default::default()
        };
        python_json_dump(
            &Value::from_serialize(serde_json::json!({"a": [1, "é😀"]})),
            &opts,
            0,
            &mut pretty,
        )
        .unwrap();
        assert_eq!(
            pretty,
            "{\n  \"a\": [\n    1,\n    \"\\u00e9\\ud83d\\ude00\"\n  ]\n}"
        );
    }
}
