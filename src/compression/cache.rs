//! Artefacts cached in a work directory, keyed by the spec that made them.
//!
//! A step writes its outputs into a directory and, last, `spec.json` (what produced them) and
//! `outcome.json` (what it measured). A rerun with an equal spec reads the outcome back instead
//! of recomputing; a different spec clears the directory and runs the step again. A killed step
//! leaves no `outcome.json`, so it is redone; so is one whose outcome no longer parses (written
//! by an older version of the outcome type).

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use trainers::checkpoint::write_atomic;
use trainers::{Error, Result};

/// The outcome of the step whose spec is `spec` in `dir`: read back when `dir` holds it, else
/// produced by `run(dir)` and stored. Returns the outcome and whether it came from the cache.
///
/// ```no_run
/// use text_to_lora::compression::cache::cached;
/// let (sum, reused) = cached(std::path::Path::new("train_outputs/sum"), &(2, 3), |_| Ok(5u32))?;
/// # Ok::<(), trainers::Error>(())
/// ```
pub fn cached<S, T>(dir: &Path, spec: &S, run: impl FnOnce(&Path) -> Result<T>) -> Result<(T, bool)>
where
    S: Serialize,
    T: Serialize + DeserializeOwned,
{
    let spec_text = to_json(spec, dir)?;
    let spec_path = dir.join("spec.json");
    let outcome_path = dir.join("outcome.json");
    if let (Ok(old), Ok(outcome)) = (
        std::fs::read_to_string(&spec_path),
        std::fs::read_to_string(&outcome_path),
    ) && old == spec_text
        && let Ok(value) = serde_json::from_str(&outcome)
    {
        return Ok((value, true));
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let outcome = run(dir)?;
    write_atomic(&spec_path, spec_text.as_bytes())?;
    write_atomic(&outcome_path, to_json(&outcome, dir)?.as_bytes())?;
    Ok((outcome, false))
}

fn to_json<T: Serialize>(value: &T, dir: &Path) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|source| Error::Json {
        path: dir.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_equal_specs_and_reruns_changed_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("step");
        let (a, hit) = cached(&dir, &1u32, |_| Ok(10u32)).unwrap();
        assert_eq!((a, hit), (10, false));
        let (b, hit) = cached(&dir, &1u32, |_| Ok(99u32)).unwrap();
        assert_eq!((b, hit), (10, true), "equal spec: the stored outcome");
        let (c, hit) = cached(&dir, &2u32, |_| Ok(20u32)).unwrap();
        assert_eq!((c, hit), (20, false), "changed spec: run again");
    }

    #[test]
    fn a_failed_step_is_not_cached() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("step");
        let err = cached::<_, u32>(&dir, &1u32, |_| Err(Error::config("x", "boom")));
        assert!(err.is_err());
        let (v, hit) = cached(&dir, &1u32, |_| Ok(3u32)).unwrap();
        assert_eq!((v, hit), (3, false));
    }
}
