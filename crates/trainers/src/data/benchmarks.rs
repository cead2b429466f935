//! Benchmark train splits (`shared/data/benchmarks/`, Hugging Face row schemas) formatted with
//! the paper's prompt templates (paper Listing 4; reference §5) into `{input, output}` pairs.
//!
//! The templates, response fields and assistant prefills are T2L's own, read from
//! `tasks/benchmarks.json` (`t2l_user_prompt_template`, `t2l_response_field`,
//! `t2l_assistant_prefill`). Placeholders follow Python's `str.format`: `{question}`,
//! `{choices[text][0]}`, `{endings[2]}`.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::data::tasks::{Example, read_jsonl_gz};
use crate::error::{Error, Result};

/// T2L's formatting of one benchmark.
#[derive(Debug, Clone, Deserialize)]
pub struct BenchmarkTemplate {
    /// The user-turn template.
    #[serde(rename = "t2l_user_prompt_template")]
    pub user_template: String,
    /// The row field that holds the answer.
    #[serde(rename = "t2l_response_field")]
    pub response_field: String,
    /// Text the assistant turn starts with (GSM8K: `"Let's think step by step. "`).
    #[serde(rename = "t2l_assistant_prefill", default)]
    pub assistant_prefill: String,
    /// T2L's training descriptions of the benchmark.
    pub descriptions: Vec<String>,
    /// The held-out evaluation descriptions.
    pub eval_descriptions: Vec<String>,
}

#[derive(Deserialize)]
struct BenchmarksFile {
    benchmarks: std::collections::BTreeMap<String, BenchmarkTemplate>,
}

/// A benchmark's formatted train split.
#[derive(Debug, Clone)]
pub struct FormattedBenchmark {
    /// The benchmark name (`arc_easy`, ...).
    pub name: String,
    /// Its template and descriptions.
    pub template: BenchmarkTemplate,
    /// The formatted rows.
    pub examples: Vec<Example>,
    /// Rows skipped because the template does not fit them (e.g. an ARC question with 3 or 5
    /// choices where the template lists 4).
    pub skipped: usize,
}

/// Reads `benchmarks.json` (next to the task index) and returns the template of `name`.
pub fn benchmark_template(tasks_dir: &Path, name: &str) -> Result<BenchmarkTemplate> {
    let path = tasks_dir.join("benchmarks.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut file: BenchmarksFile = serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.display().to_string(),
        source,
    })?;
    file.benchmarks.remove(name).ok_or_else(|| {
        Error::data(
            path.display().to_string(),
            format!("no benchmark named `{name}`"),
        )
    })
}

/// Formats the train split of benchmark `name` from `data_root/benchmarks/NAME.train.jsonl.gz`.
pub fn load_benchmark_train(data_root: &Path, name: &str) -> Result<FormattedBenchmark> {
    let template = benchmark_template(&data_root.join("tasks"), name)?;
    let path = data_root
        .join("benchmarks")
        .join(format!("{name}.train.jsonl.gz"));
    if !path.is_file() {
        return Err(Error::data(
            path.display().to_string(),
            format!("benchmark `{name}` has no train split"),
        ));
    }
    let rows: Vec<Value> = read_jsonl_gz(&path)?;
    let mut examples = Vec::with_capacity(rows.len());
    let mut skipped = 0;
    for (i, row) in rows.iter().enumerate() {
        let at = format!("{}:{}", path.display(), i + 1);
        match format_row(&template, row, &at)? {
            Some(ex) => examples.push(ex),
            None => skipped += 1,
        }
    }
    Ok(FormattedBenchmark {
        name: name.to_string(),
        template,
        examples,
        skipped,
    })
}

/// One row as `{input, output}`; `None` when the row's lists do not have the lengths the template
/// enumerates. `at` names the row in errors.
pub fn format_row(template: &BenchmarkTemplate, row: &Value, at: &str) -> Result<Option<Example>> {
    let mut lists = Vec::new();
    let input = format_template(&template.user_template, row, at, &mut lists)?;
    // Every list the template indexes must have exactly the entries it shows.
    for (path, max_index) in &lists {
        let len = lookup(row, path)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if len != max_index + 1 {
            return Ok(None);
        }
    }
    let answer = row
        .get(&template.response_field)
        .ok_or_else(|| Error::data(at, format!("no field `{}`", template.response_field)))?;
    Ok(Some(Example {
        input,
        output: format!("{}{}", template.assistant_prefill, value_text(answer)),
    }))
}

/// A JSON scalar as template text: strings as they are, booleans lowercase, numbers in decimal.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Key {
    Field(String),
    Index(usize),
}

fn lookup<'a>(v: &'a Value, path: &[Key]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| match k {
        Key::Field(f) => v.get(f),
        Key::Index(i) => v.get(*i),
    })
}

/// `str.format`-style substitution of `{a[b][0]}` placeholders; `{{`/`}}` are literal braces.
/// Records, for every list indexed by number, the largest index used.
fn format_template(
    template: &str,
    row: &Value,
    at: &str,
    lists: &mut Vec<(Vec<Key>, usize)>,
) -> Result<String> {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(pos) = rest.find(['{', '}']) {
        out.push_str(&rest[..pos]);
        let c = rest.as_bytes()[pos];
        let after = &rest[pos + 1..];
        if after.as_bytes().first() == Some(&c) {
            out.push(c as char);
            rest = &after[1..];
            continue;
        }
        if c == b'}' {
            return Err(Error::data(at, "unmatched `}` in template"));
        }
        let end = after
            .find('}')
            .ok_or_else(|| Error::data(at, "unclosed `{` in template"))?;
        let spec = &after[..end];
        let path = parse_placeholder(spec).ok_or_else(|| {
            Error::data(
                at,
                format!("unsupported placeholder `{{{spec}}}` in template"),
            )
        })?;
        for (i, k) in path.iter().enumerate() {
            if let Key::Index(n) = k {
                let list = path[..i].to_vec();
                match lists.iter_mut().find(|(p, _)| *p == list) {
                    Some((_, m)) => *m = (*m).max(*n),
                    None => lists.push((list, *n)),
                }
            }
        }
        match lookup(row, &path) {
            Some(v) => out.push_str(&value_text(v)),
            // A missing list entry is caught by the length check of `format_row`.
            None if path.iter().any(|k| matches!(k, Key::Index(_))) => {}
            None => return Err(Error::data(at, format!("no field for `{{{spec}}}`"))),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_placeholder(spec: &str) -> Option<Vec<Key>> {
    let (head, mut tail) = match spec.find('[') {
        Some(i) => (&spec[..i], &spec[i..]),
        None => (spec, ""),
    };
    if head.is_empty() {
        return None;
    }
    let mut path = vec![Key::Field(head.to_string())];
    while !tail.is_empty() {
        let close = tail.find(']')?;
        if !tail.starts_with('[') {
            return None;
        }
        let key = &tail[1..close];
        path.push(match key.parse::<usize>() {
            Ok(n) => Key::Index(n),
            Err(_) => Key::Field(key.to_string()),
        });
        tail = &tail[close + 1..];
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn arc_template() -> BenchmarkTemplate {
        BenchmarkTemplate {
            user_template: "Q: {question}\n\n{choices[label][0]}: {choices[text][0]}\n{choices[label][1]}: {choices[text][1]}\n\n{{ok}}".into(),
            response_field: "answerKey".into(),
            assistant_prefill: String::new(),
            descriptions: vec!["d".into()],
            eval_descriptions: vec![],
        }
    }

    #[test]
    fn formats_nested_placeholders() {
        let row = json!({"question": "Why?", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "B"});
        let ex = format_row(&arc_template(), &row, "row").unwrap().unwrap();
        assert_eq!(ex.input, "Q: Why?\n\nA: a\nB: b\n\n{ok}");
        assert_eq!(ex.output, "B");
    }

    #[test]
    fn skips_rows_whose_lists_do_not_fit() {
        let row = json!({"question": "?", "choices": {"text": ["a", "b", "c"], "label": ["A", "B", "C"]}, "answerKey": "A"});
        assert!(format_row(&arc_template(), &row, "r").unwrap().is_none());
        let row =
            json!({"question": "?", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "A"});
        assert!(format_row(&arc_template(), &row, "r").unwrap().is_none());
    }

    #[test]
    fn booleans_numbers_and_prefill() {
        let t = BenchmarkTemplate {
            user_template: "{passage} {n}".into(),
            response_field: "answer".into(),
            assistant_prefill: "So: ".into(),
            descriptions: vec![],
            eval_descriptions: vec![],
        };
        let ex = format_row(&t, &json!({"passage": "p", "n": 3, "answer": true}), "r")
            .unwrap()
            .unwrap();
        assert_eq!((ex.input.as_str(), ex.output.as_str()), ("p 3", "So: true"));
        let e = format_row(&t, &json!({"passage": "p", "answer": 1}), "f.jsonl:7").unwrap_err();
        assert!(
            e.to_string().contains("f.jsonl:7") && e.to_string().contains("{n}"),
            "{e}"
        );
    }

    #[test]
    fn real_benchmarks_when_present() {
        let Ok(root) = crate::data::tasks::data_root() else {
            return;
        };
        let arc = load_benchmark_train(&root, "arc_easy").unwrap();
        assert_eq!(arc.skipped, 10); // 6 rows with 3 choices, 4 with 5
        assert!(
            arc.examples[0]
                .input
                .starts_with("Answer the question below")
        );
        assert!(arc.examples[0].input.contains("\nD: "));
        let gsm = load_benchmark_train(&root, "gsm8k").unwrap();
        assert!(
            gsm.examples[0]
                .output
                .starts_with("Let's think step by step. ")
        );
        let boolq = load_benchmark_train(&root, "boolq").unwrap();
        assert!(matches!(
            boolq.examples[0].output.as_str(),
            "true" | "false"
        ));
        assert!(load_benchmark_train(&root, "humaneval").is_err());
    }
}
