//! Reconstruction T2L over a library of oracle LoRAs: one hypernetwork per variant (L, M, S ×
//! one-hot or description embeddings), its reconstruction error per task, and the adapters it
//! regenerates, saved as PEFT for evaluation. Cached in the work directory.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use hypermod::{HyperModulator, Variant};
use lora_core::tensor_file::SaveDtype;
use lora_core::{LoraAdapter, average, load_peft, save_peft};
use serde::{Deserialize, Serialize};
use trainers::config::OptimConfig;
use trainers::hyper_settings::HyperSettings;
use trainers::metrics::read_metrics;
use trainers::recon::{ReconConfig, ReconLoss, ReconTarget, train_recon};
use trainers::task_embeddings::{EmbeddingSource, TaskEmbeddings};
use trainers::{Error, Result};

use crate::compression::cache::cached;
use crate::compression::{run_config, warmup_tenth};

/// How the hypernetwork sees a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskEncoding {
    /// The task's index as a unit vector.
    OneHot,
    /// Sentence embeddings of the task's training descriptions.
    Descriptions,
}

impl TaskEncoding {
    /// Short name (`one-hot`, `desc`).
    pub fn short(self) -> &'static str {
        match self {
            TaskEncoding::OneHot => "one-hot",
            TaskEncoding::Descriptions => "desc",
        }
    }
}

impl std::str::FromStr for TaskEncoding {
    type Err = Error;

    /// `one_hot` (or `one-hot`) and `descriptions` (or `desc`).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "one_hot" | "one-hot" => Ok(TaskEncoding::OneHot),
            "descriptions" | "desc" => Ok(TaskEncoding::Descriptions),
            other => Err(Error::config(
                "encoding",
                format!("unknown task encoding `{other}` (expected one_hot or descriptions)"),
            )),
        }
    }
}

/// One reconstruction T2L: head variant and task encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconVariant {
    /// L, M or S.
    pub variant: Variant,
    /// One-hot or descriptions.
    pub encoding: TaskEncoding,
}

impl ReconVariant {
    /// The row label, e.g. `T2L-M (one-hot)`.
    pub fn label(&self) -> String {
        format!("T2L-{:?} ({})", self.variant, self.encoding.short())
    }

    /// A directory name, e.g. `m-one-hot`.
    pub fn slug(&self) -> String {
        format!("{:?}-{}", self.variant, self.encoding.short()).to_lowercase()
    }

    /// Every combination of `variants` × `encodings`, variants outermost.
    pub fn grid(variants: &[Variant], encodings: &[TaskEncoding]) -> Vec<Self> {
        variants
            .iter()
            .flat_map(|&variant| {
                encodings
                    .iter()
                    .map(move |&encoding| ReconVariant { variant, encoding })
            })
            .collect()
    }
}

/// One adapter of the library to compress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibraryEntry {
    /// Task name.
    pub name: String,
    /// Its PEFT adapter directory.
    pub adapter_dir: PathBuf,
    /// Its training descriptions (the first one generates the evaluated adapter).
    pub descriptions: Vec<String>,
}

/// The reconstruction budget (everything else: the trainers' §4.2 defaults — z-score L1, AdamW
/// lr 1e-3, weight decay 1e-3, 10 % warmup, trunk dropout 0.05).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconSettings {
    /// Optimizer steps.
    pub steps: usize,
    /// Tasks per batch (§4.2: 4), one description each.
    pub tasks_per_batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Latent width D of the hypernetwork (§2.10: 128).
    pub latent: usize,
    /// Head input width H (§2.10: 512).
    pub head_in: usize,
    /// The sentence encoder of description embeddings.
    pub embedder: PathBuf,
    /// Seed.
    pub seed: u64,
}

/// What one reconstruction run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconOutcome {
    /// The variant.
    pub variant: ReconVariant,
    /// The hypernetwork checkpoint directory.
    pub hypermod_dir: PathBuf,
    /// Per library entry (in order), its name, the mean |generated − oracle| over all A and B
    /// entries, and the directory of the generated adapter (PEFT).
    pub tasks: Vec<TaskReconstruction>,
    /// Mean of the per-task L1 errors.
    pub mean_l1: f64,
    /// Mean |oracle entry| over the library: the scale the L1 error compares with.
    pub mean_abs_target: f64,
    /// Mean L1 error of the library's average adapter (the trivial reconstruction that knows no
    /// task): the baseline the per-task error should beat. The oracles share their LoRA
    /// initialisation (same seed), so most of every A is common to all tasks.
    pub library_mean_l1: f64,
    /// Steps trained.
    pub steps: usize,
    /// Training wall time in seconds.
    pub train_seconds: f64,
    /// The training objective without dropout (z-score L1 over every task, first description)
    /// at each validation step: `(step, loss)`, step 0 being the untrained hypernetwork.
    #[serde(default)]
    pub curve: Vec<(usize, f64)>,
}

/// One task's reconstruction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReconstruction {
    /// Task name.
    pub name: String,
    /// Mean absolute error of the generated adapter's A and B entries.
    pub l1: f64,
    /// The generated adapter (PEFT), from the task's first description (or its one-hot vector).
    pub adapter_dir: PathBuf,
}

/// The directory of `variant`'s reconstruction of `library` under `work`: keyed by the library's
/// task names, so that every experiment compressing the same library shares the run.
pub fn recon_dir(work: &Path, library: &[LibraryEntry], variant: ReconVariant) -> PathBuf {
    let mut h = DefaultHasher::new();
    for e in library {
        e.name.hash(&mut h);
    }
    work.join("recon")
        .join(format!("{}tasks-{:08x}", library.len(), h.finish() as u32))
        .join(variant.slug())
}

/// Trains `variant` on `library` in `dir` (or reads the cached run back) and writes the
/// regenerated adapters to `dir/generated/NAME/`.
pub fn train_recon_variant<B: AutodiffBackend>(
    dir: &Path,
    library: &[LibraryEntry],
    variant: ReconVariant,
    settings: &ReconSettings,
    progress: bool,
    device: &B::Device,
) -> Result<(ReconOutcome, bool)> {
    let spec = (library, variant, settings);
    cached(dir, &spec, |dir| {
        let embedding = match variant.encoding {
            TaskEncoding::OneHot => EmbeddingSource::OneHot,
            TaskEncoding::Descriptions => EmbeddingSource::Descriptions {
                embedder: settings.embedder.clone(),
            },
        };
        if variant.encoding == TaskEncoding::Descriptions
            && let Some(e) = library.iter().find(|e| e.descriptions.is_empty())
        {
            return Err(Error::data(
                &e.name,
                "no descriptions for description embeddings",
            ));
        }
        let cfg = ReconConfig {
            targets: library
                .iter()
                .map(|e| ReconTarget {
                    name: e.name.clone(),
                    adapter: e.adapter_dir.clone(),
                    descriptions: e.descriptions.clone(),
                })
                .collect(),
            data_dir: None,
            embedding: embedding.clone(),
            loss: ReconLoss::ZScore,
            hyper: HyperSettings {
                variant: variant.variant,
                latent: settings.latent,
                head_in: settings.head_in,
                dropout: 0.05,
            },
            tasks_per_batch: settings.tasks_per_batch,
            optim: OptimConfig {
                lr: settings.lr,
                weight_decay: 1e-3,
                ..OptimConfig::default()
            },
            schedule: warmup_tenth(),
            run: run_config(
                settings.seed,
                settings.steps,
                dir,
                Some((settings.steps / 20).max(1)),
                progress,
            ),
        };
        let start = Instant::now();
        let report = train_recon::<B>(&cfg, None, device)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let curve = read_metrics(&report.metrics)?
            .into_iter()
            .filter_map(|r| r.val_loss.map(|v| (r.step, v)))
            .collect();

        // Regenerate each task's adapter from its first description (as evaluation uses it).
        let model = HyperModulator::<B>::load(&report.hypermod_dir, device)?;
        let first: Vec<Vec<String>> = library
            .iter()
            .map(|e| e.descriptions.iter().take(1).cloned().collect())
            .collect();
        let embeddings = TaskEmbeddings::<B>::build(&embedding, &first, device)?;
        let picks: Vec<(usize, usize)> = (0..library.len()).map(|t| (t, 0)).collect();
        let generated = model.generate(embeddings.rows(&picks))?;
        let targets = library
            .iter()
            .map(|e| load_peft::<B>(&e.adapter_dir, device))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mean = average(&targets.iter().collect::<Vec<_>>())?;
        let mut tasks = Vec::with_capacity(library.len());
        let (mut abs_sum, mut abs_count, mut mean_l1_sum) = (0.0, 0usize, 0.0);
        for (i, (entry, target)) in library.iter().zip(&targets).enumerate() {
            let g = generated.get(i)?;
            let (l1, sum, count) = factor_l1(&g, target, &entry.name)?;
            abs_sum += sum;
            abs_count += count;
            mean_l1_sum += factor_l1(&mean, target, &entry.name)?.0;
            let adapter_dir = dir.join("generated").join(&entry.name);
            save_peft(&g, &adapter_dir, SaveDtype::F32)?;
            tasks.push(TaskReconstruction {
                name: entry.name.clone(),
                l1,
                adapter_dir,
            });
        }
        let mean_l1 = tasks.iter().map(|t| t.l1).sum::<f64>() / tasks.len() as f64;
        Ok(ReconOutcome {
            variant,
            hypermod_dir: report.hypermod_dir,
            tasks,
            mean_l1,
            mean_abs_target: abs_sum / abs_count.max(1) as f64,
            library_mean_l1: mean_l1_sum / library.len() as f64,
            steps: report.steps,
            train_seconds,
            curve,
        })
    })
}

/// Mean |generated − target| over every A and B entry, with Σ|target| and the entry count.
fn factor_l1<B: Backend>(
    generated: &LoraAdapter<B>,
    target: &LoraAdapter<B>,
    name: &str,
) -> Result<(f64, f64, usize)> {
    let (mut diff, mut abs, mut count) = (0.0, 0.0, 0usize);
    for (module, t) in target.modules() {
        let g = generated.module(module).ok_or_else(|| {
            Error::data(name, format!("generated adapter lacks module `{module}`"))
        })?;
        for (x, y) in [(&g.a, &t.a), (&g.b, &t.b)] {
            if x.dims() != y.dims() {
                return Err(Error::data(
                    name,
                    format!("module `{module}`: shapes {:?} vs {:?}", x.dims(), y.dims()),
                ));
            }
            diff += (x.clone() - y.clone())
                .abs()
                .sum()
                .into_scalar()
                .elem::<f64>();
            abs += y.clone().abs().sum().into_scalar().elem::<f64>();
            count += y.shape().num_elements();
        }
    }
    Ok((diff / count.max(1) as f64, abs, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use lora_core::{AdapterLayout, LoraConfig, ModuleShape};

    type AB = Autodiff<Flex>;

    /// `n` random adapters (2 layers, q 8→8 and v 8→4, rank 2) saved as PEFT directories.
    fn library(dir: &Path, n: usize) -> Vec<LibraryEntry> {
        let shape = |name: &str, d_out| ModuleShape {
            name: name.into(),
            d_in: 8,
            d_out,
        };
        let layout = AdapterLayout::new(2, vec![shape("q_proj", 8), shape("v_proj", 4)]);
        let cfg = LoraConfig::new(2, 4.0, ["q_proj", "v_proj"]);
        let dev = Default::default();
        (0..n)
            .map(|i| {
                let ad = LoraAdapter::<Flex>::init_like_peft(cfg.clone(), layout.clone(), &dev, 7)
                    .map_tensors(|t| {
                        let offset = 0.1 * (i as f32 + 1.0);
                        t.ones_like().mul_scalar(offset) + t.mul_scalar(0.5)
                    });
                let adapter_dir = dir.join(format!("lora{i}"));
                save_peft(&ad, &adapter_dir, SaveDtype::F32).unwrap();
                LibraryEntry {
                    name: format!("task{i}"),
                    adapter_dir,
                    descriptions: vec![],
                }
            })
            .collect()
    }

    /// A small hypernetwork (D = H = 16) without an embedder.
    fn tiny_settings(steps: usize, tasks_per_batch: usize, lr: f64) -> ReconSettings {
        ReconSettings {
            steps,
            tasks_per_batch,
            lr,
            latent: 16,
            head_in: 16,
            embedder: PathBuf::from("unused"),
            seed: 0,
        }
    }

    #[test]
    fn encoding_names_parse() {
        assert_eq!(
            "desc".parse::<TaskEncoding>().unwrap(),
            TaskEncoding::Descriptions
        );
        assert!("bag".parse::<TaskEncoding>().is_err());
    }

    #[test]
    fn one_hot_reconstruction_regenerates_the_library_and_is_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = library(tmp.path(), 3);
        let settings = tiny_settings(300, 3, 1e-2);
        let variant = ReconVariant {
            variant: Variant::M,
            encoding: TaskEncoding::OneHot,
        };
        let dir = tmp.path().join("recon");
        let dev = Default::default();
        let (out, reused) =
            train_recon_variant::<AB>(&dir, &lib, variant, &settings, false, &dev).unwrap();
        assert!(!reused);
        assert_eq!(out.tasks.len(), 3);
        assert!(out.mean_l1 < 0.1 * out.library_mean_l1);
        // Validation every 15 steps from the untrained hypernetwork on, falling.
        assert_eq!(out.curve.first().map(|c| c.0), Some(0));
        assert_eq!(out.curve.last().map(|c| c.0), Some(300));
        assert!(
            out.curve.last().unwrap().1 < 0.5 * out.curve[0].1,
            "{:?}",
            out.curve
        );
        assert!(
            out.mean_l1 < 0.1 * out.mean_abs_target,
            "L1 {} vs scale {}",
            out.mean_l1,
            out.mean_abs_target
        );
        // The generated adapters on disk are the ones measured.
        let g = load_peft::<AB>(&out.tasks[1].adapter_dir, &dev).unwrap();
        let t = load_peft::<AB>(&lib[1].adapter_dir, &dev).unwrap();
        let (l1, _, _) = factor_l1(&g, &t, "task1").unwrap();
        assert!((l1 - out.tasks[1].l1).abs() < 1e-6);
        let (again, reused) =
            train_recon_variant::<AB>(&dir, &lib, variant, &settings, false, &dev).unwrap();
        assert!(reused);
        assert_eq!(again.tasks.len(), out.tasks.len());
        assert_eq!(again.tasks[2].adapter_dir, out.tasks[2].adapter_dir);
        assert!((again.mean_l1 - out.mean_l1).abs() < 1e-12);
    }

    #[test]
    fn description_encoding_needs_descriptions() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = library(tmp.path(), 2);
        let settings = tiny_settings(1, 2, 1e-3);
        let variant = ReconVariant {
            variant: Variant::S,
            encoding: TaskEncoding::Descriptions,
        };
        let err = train_recon_variant::<AB>(
            &tmp.path().join("r"),
            &lib,
            variant,
            &settings,
            false,
            &Default::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("task0"), "{err}");
    }
}
