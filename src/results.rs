//! Result files of the experiment examples: a markdown document (tables + notes + a metadata
//! block) and a JSON file with the same numbers, both written atomically.
//!
//! The metadata ([`RunMetadata`]) records how the numbers were made: the exact command line,
//! the wall time, the hardware (cores, CPU model), the git commit (and whether the work tree had
//! changes) and the UTC date.
//!
//! ```no_run
//! use std::time::Instant;
//! use text_to_lora::results::{Report, RunMetadata, Table};
//! let started = Instant::now();
//! // ... run the experiment ...
//! let mut table = Table::new(["method", "ArcE", "Avg."]);
//! table.push_row(["base model", "23.0", "23.0"])?;
//! let report = Report::new("Table 9: description alignment")
//!     .paragraph("SmolLM2-135M-Instruct, 40 examples per benchmark.")
//!     .table(table)
//!     .numbers(serde_json::json!({"base": {"arc_easy": 0.23}}));
//! let (md, json) = report.write("docs/results".as_ref(), "table9_alignment", &RunMetadata::collect(started))?;
//! # Ok::<(), text_to_lora::results::ResultsError>(())
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Errors of result writing.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// A table row has a different number of cells than the header.
    #[error("table `{table}`: row {row} has {found} cells, the header has {expected}")]
    RowWidth {
        /// The table's caption (or `<untitled>`).
        table: String,
        /// Index of the row.
        row: usize,
        /// Cells in the header.
        expected: usize,
        /// Cells in the row.
        found: usize,
    },
    /// Creating the output directory failed.
    #[error("creating {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Serialising the JSON failed.
    #[error("serialising {path}: {source}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The serialiser's error.
        source: serde_json::Error,
    },
    /// Writing a file failed.
    #[error(transparent)]
    Write(#[from] lora_core::Error),
}

/// Result of result writing.
pub type Result<T> = std::result::Result<T, ResultsError>;

/// How and where a result was produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetadata {
    /// The command line, arguments shell-quoted where needed.
    pub command: String,
    /// Wall time of the run in seconds.
    pub wall_seconds: f64,
    /// Logical CPU cores available to the process.
    pub cores: usize,
    /// CPU model (`/proc/cpuinfo`'s `model name`, or `unknown`).
    pub cpu_model: String,
    /// Load average (1 minute) when the metadata was taken, when readable: the machine is shared.
    pub load_average: Option<f64>,
    /// `git rev-parse HEAD` of the working directory (or `unknown`).
    pub commit: String,
    /// Whether tracked files differed from the commit.
    pub dirty: bool,
    /// UTC date and time the metadata was taken, `YYYY-MM-DD HH:MM:SS UTC`.
    pub date_utc: String,
    /// Free-form notes on the hardware or run (e.g. the compute device).
    pub notes: Vec<String>,
}

impl RunMetadata {
    /// The metadata of the current process, with the wall time since `started`.
    pub fn collect(started: Instant) -> Self {
        Self {
            command: command_line(std::env::args()),
            wall_seconds: started.elapsed().as_secs_f64(),
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu_model: cpu_model().unwrap_or_else(|| "unknown".into()),
            load_average: load_average(),
            commit: git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into()),
            dirty: git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty()),
            date_utc: utc_date(SystemTime::now()),
            notes: Vec::new(),
        }
    }

    /// Adds a note (e.g. `device: cpu (flex backend)`).
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The metadata as a markdown block (a bullet list with the command in a code block).
    pub fn markdown(&self) -> String {
        let mut s = String::from("## Run\n\n```sh\n");
        s.push_str(&self.command);
        s.push_str("\n```\n\n");
        s.push_str(&format!(
            "- wall time: {:.0} s ({})\n",
            self.wall_seconds,
            human_duration(self.wall_seconds)
        ));
        s.push_str(&format!(
            "- hardware: {} cores, {}\n",
            self.cores, self.cpu_model
        ));
        if let Some(l) = self.load_average {
            s.push_str(&format!("- load average at the end: {l:.2}\n"));
        }
        s.push_str(&format!(
            "- commit: `{}`{}\n",
            self.commit,
            if self.dirty {
                " (with uncommitted changes)"
            } else {
                ""
            }
        ));
        s.push_str(&format!("- date: {}\n", self.date_utc));
        for n in &self.notes {
            s.push_str(&format!("- {n}\n"));
        }
        s
    }
}

/// A markdown table: a header and rows of the same width.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Optional caption, printed in bold above the table.
    pub caption: Option<String>,
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            caption: None,
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// The same table with a caption.
    pub fn with_caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }

    /// Appends a row; refuses one whose width differs from the header's.
    pub fn push_row<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) -> Result<()> {
        let row: Vec<String> = row.into_iter().map(Into::into).collect();
        if row.len() != self.header.len() {
            return Err(ResultsError::RowWidth {
                table: self.caption.clone().unwrap_or_else(|| "<untitled>".into()),
                row: self.rows.len(),
                expected: self.header.len(),
                found: row.len(),
            });
        }
        self.rows.push(row);
        Ok(())
    }

    /// The table in GitHub markdown: the first column left-aligned, the others right-aligned
    /// (numbers); `|` inside cells is escaped.
    pub fn markdown(&self) -> String {
        let cell = |c: &str| c.replace('|', "\\|").replace('\n', " ");
        let mut s = String::new();
        if let Some(c) = &self.caption {
            s.push_str(&format!("**{c}**\n\n"));
        }
        let line = |cells: &[String]| {
            let inner: Vec<String> = cells.iter().map(|c| cell(c)).collect();
            format!("| {} |\n", inner.join(" | "))
        };
        s.push_str(&line(&self.header));
        let rule: Vec<&str> = (0..self.header.len())
            .map(|i| if i == 0 { "---" } else { "---:" })
            .collect();
        s.push_str(&format!("|{}|\n", rule.join("|")));
        for r in &self.rows {
            s.push_str(&line(r));
        }
        s
    }
}

/// One block of a [`Report`], in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Block {
    /// A paragraph of markdown text.
    Paragraph(String),
    /// A table.
    Table(Table),
    /// An image (relative path from the markdown file) with its alt text.
    Image {
        /// Alt text.
        alt: String,
        /// Path relative to the markdown file.
        path: String,
    },
}

/// A result document: title, blocks (text, tables, images), the raw numbers as JSON, and the
/// run's metadata at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The `#` heading.
    pub title: String,
    /// Paragraphs, tables and images in order.
    pub blocks: Vec<Block>,
    /// The numbers behind the tables (written to the JSON file under `numbers`).
    pub numbers: serde_json::Value,
}

impl Report {
    /// An empty report with this title.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            blocks: Vec::new(),
            numbers: serde_json::Value::Null,
        }
    }

    /// Appends a paragraph.
    pub fn paragraph(mut self, text: impl Into<String>) -> Self {
        self.blocks.push(Block::Paragraph(text.into()));
        self
    }

    /// Appends a table.
    pub fn table(mut self, table: Table) -> Self {
        self.blocks.push(Block::Table(table));
        self
    }

    /// Appends an image (path relative to the markdown file).
    pub fn image(mut self, alt: impl Into<String>, path: impl Into<String>) -> Self {
        self.blocks.push(Block::Image {
            alt: alt.into(),
            path: path.into(),
        });
        self
    }

    /// Sets the raw numbers.
    pub fn numbers(mut self, numbers: serde_json::Value) -> Self {
        self.numbers = numbers;
        self
    }

    /// The markdown document, ending with the metadata block.
    pub fn markdown(&self, meta: &RunMetadata) -> String {
        let mut s = format!("# {}\n\n", self.title);
        for b in &self.blocks {
            match b {
                Block::Paragraph(p) => s.push_str(p.trim_end()),
                Block::Table(t) => s.push_str(t.markdown().trim_end()),
                Block::Image { alt, path } => s.push_str(&format!("![{alt}]({path})")),
            }
            s.push_str("\n\n");
        }
        s.push_str(&meta.markdown());
        s
    }

    /// The JSON document: title, tables, numbers and metadata.
    pub fn json(&self, meta: &RunMetadata) -> serde_json::Value {
        let tables: Vec<&Table> = self
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Table(t) => Some(t),
                _ => None,
            })
            .collect();
        serde_json::json!({
            "title": self.title,
            "tables": tables,
            "numbers": self.numbers,
            "metadata": meta,
        })
    }

    /// Writes `dir/stem.md` and `dir/stem.json` atomically (creating `dir`); returns both paths.
    pub fn write(&self, dir: &Path, stem: &str, meta: &RunMetadata) -> Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir).map_err(|source| ResultsError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let md = dir.join(format!("{stem}.md"));
        let json = dir.join(format!("{stem}.json"));
        let text = serde_json::to_string_pretty(&self.json(meta)).map_err(|source| {
            ResultsError::Json {
                path: json.clone(),
                source,
            }
        })?;
        lora_core::fsutil::write_atomic(&json, format!("{text}\n").as_bytes())?;
        lora_core::fsutil::write_atomic(&md, self.markdown(meta).as_bytes())?;
        Ok((md, json))
    }
}

/// Formats a fraction in [0, 1] as a percentage with one decimal (`0.275` → `27.5`).
pub fn percent(fraction: f64) -> String {
    format!("{:.1}", 100.0 * fraction)
}

/// Joins arguments into one shell command line, single-quoting those that need it.
pub fn command_line(args: impl IntoIterator<Item = String>) -> String {
    args.into_iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
            if plain {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `1h 02m 03s` / `2m 03s` / `3.0s`.
fn human_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{seconds:.1}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m {:02}s", s / 3600, (s % 3600) / 60, s % 60),
    }
}

/// The first `model name` of `/proc/cpuinfo`.
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// The 1-minute load average from `/proc/loadavg`.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Output of a git command (trimmed), if it succeeded.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a time point (proleptic Gregorian calendar).
pub fn utc_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn meta() -> RunMetadata {
        RunMetadata {
            command: "target/debug/examples/x --quick".into(),
            wall_seconds: 3725.0,
            cores: 2,
            cpu_model: "Test CPU".into(),
            load_average: Some(3.5),
            commit: "abc123".into(),
            dirty: true,
            date_utc: "2026-11-23 21:00:00 UTC".into(),
            notes: vec!["device: cpu".into()],
        }
    }

    #[test]
    fn markdown_table_has_header_rule_and_rows_of_equal_width() {
        let mut t = Table::new(["method", "ArcE", "BQ"]).with_caption("generate");
        t.push_row(["base model", "20.0", "60.0"]).unwrap();
        t.push_row(["T2L (a|b)", "27.5", "61.0"]).unwrap();
        let md = t.markdown();
        let lines: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(lines.len(), 4, "{md}");
        assert_eq!(lines[0], "| method | ArcE | BQ |");
        assert_eq!(lines[1], "|---|---:|---:|");
        assert_eq!(lines[3], "| T2L (a\\|b) | 27.5 | 61.0 |");
        // Every line has the same number of unescaped separators.
        let seps = |l: &str| l.replace("\\|", "").matches('|').count();
        assert!(lines.iter().all(|l| seps(l) == 4), "{md}");
        assert!(md.starts_with("**generate**\n\n"));
    }

    #[test]
    fn a_row_of_the_wrong_width_is_refused() {
        let mut t = Table::new(["a", "b"]).with_caption("cap");
        let e = t.push_row(["1"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "table `cap`: row 0 has 1 cells, the header has 2"
        );
        assert!(t.rows.is_empty());
    }

    #[test]
    fn report_writes_markdown_and_json_with_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Table::new(["m", "x"]);
        t.push_row(["base", "1.0"]).unwrap();
        let report = Report::new("Table 9")
            .paragraph("Scale: SmolLM2-135M.")
            .table(t.clone())
            .image("fig", "fig5.png")
            .numbers(serde_json::json!({"base": 0.01}));
        let (md, json) = report
            .write(&dir.path().join("out"), "t9", &meta())
            .unwrap();
        let md = std::fs::read_to_string(md).unwrap();
        assert!(
            md.starts_with("# Table 9\n\nScale: SmolLM2-135M.\n\n| m | x |"),
            "{md}"
        );
        assert!(md.contains("![fig](fig5.png)"));
        assert!(md.contains("```sh\ntarget/debug/examples/x --quick\n```"));
        assert!(md.contains("- wall time: 3725 s (1h 02m 05s)"));
        assert!(md.contains("- hardware: 2 cores, Test CPU"));
        assert!(md.contains("- commit: `abc123` (with uncommitted changes)"));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        assert_eq!(v["numbers"]["base"], 0.01);
        assert_eq!(v["metadata"]["cores"], 2);
        let back: Table = serde_json::from_value(v["tables"][0].clone()).unwrap();
        assert_eq!(back, t);
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn collected_metadata_describes_this_process() {
        let m = RunMetadata::collect(Instant::now());
        assert!(m.cores >= 1);
        assert!(m.wall_seconds >= 0.0 && m.wall_seconds < 60.0);
        assert!(m.command.contains("text_to_lora") || !m.command.is_empty());
        assert!(
            m.date_utc.ends_with(" UTC") && m.date_utc.len() == 23,
            "{}",
            m.date_utc
        );
    }

    #[test]
    fn utc_dates_and_command_quoting() {
        assert_eq!(utc_date(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661); // 2000-02-29
        assert_eq!(utc_date(t), "2000-02-29 01:01:01 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_467_600); // 2026-11-23 21:00
        assert_eq!(utc_date(t), "2026-11-23 21:00:00 UTC");
        let cmd = command_line(["x".into(), "--desc".into(), "it's a test".into(), "".into()]);
        assert_eq!(cmd, "x --desc 'it'\\''s a test' ''");
        assert_eq!(percent(0.275), "27.5");
    }
}
