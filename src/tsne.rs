//! Exact t-SNE (van der Maaten & Hinton, 2008) to 2-D, deterministic for a seed, plus two
//! measures of how well an embedding keeps neighbourhoods ([`knn_label_agreement`],
//! [`trustworthiness`]).
//!
//! The algorithm follows the reference implementation (`tsne.py` / `bhtsne`'s exact path):
//! Gaussian input affinities with a per-point bandwidth found by binary search to match the
//! perplexity, symmetrised `P = (P + Pᵀ) / 2n`; Student-t output affinities; gradient descent
//! with early exaggeration, momentum (0.5 → 0.8) and per-coordinate adaptive gains; the
//! embedding is re-centred every step. Cost is O(n²) per iteration: meant for up to a few
//! thousand points.
//!
//! Why not a crate: `bhtsne` 0.7 (the maintained Rust t-SNE) seeds its random initialisation
//! from an unseeded RNG and sums the output affinities with a parallel float reduction whose
//! order depends on rayon's work stealing, so the same input does not give the same picture.
//! Here every loop runs in a fixed order on one thread, and the initialisation comes from a
//! seeded [`rand::rngs::StdRng`].
//!
//! ```
//! use text_to_lora::tsne::{Tsne, knn_label_agreement};
//! // Two well-separated groups in 3-D.
//! let data: Vec<Vec<f32>> = (0..20)
//!     .map(|i| vec![(i / 10) as f32 * 10.0 + (i % 10) as f32 * 0.1, (i % 3) as f32 * 0.1, 0.0])
//!     .collect();
//! let labels: Vec<usize> = (0..20).map(|i| i / 10).collect();
//! let tsne = Tsne { perplexity: 5.0, ..Tsne::default() };
//! let embedding = tsne.fit(&data)?;
//! assert_eq!(embedding.points.len(), 20);
//! let agreement = knn_label_agreement(&embedding.points, &labels, 3);
//! assert!(agreement >= 0.9, "{agreement}");
//! # Ok::<(), text_to_lora::tsne::TsneError>(())
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Errors of t-SNE.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TsneError {
    /// Too few points for the perplexity (it must be below `n − 1`).
    #[error("t-SNE needs more than perplexity + 1 points: {n} points, perplexity {perplexity}")]
    TooFewPoints {
        /// Number of points.
        n: usize,
        /// The perplexity asked for.
        perplexity: f64,
    },
    /// Rows of different widths.
    #[error("t-SNE input row {row} has {found} values, row 0 has {expected}")]
    Ragged {
        /// The offending row.
        row: usize,
        /// Width of row 0.
        expected: usize,
        /// Width of this row.
        found: usize,
    },
    /// A NaN or infinite input value.
    #[error("t-SNE input row {row} has a non-finite value")]
    NonFinite {
        /// The offending row.
        row: usize,
    },
    /// A setting out of range.
    #[error("t-SNE setting `{name}` = {value} is out of range ({expected})")]
    Setting {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What is allowed.
        expected: &'static str,
    },
}

/// Result of t-SNE.
pub type Result<T> = std::result::Result<T, TsneError>;

/// t-SNE settings (the reference implementation's defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Tsne {
    /// Effective number of neighbours of each point (typically 5–50; below `n − 1`).
    pub perplexity: f64,
    /// Gradient-descent iterations.
    pub iterations: usize,
    /// Step size; `None`: `max(n / early_exaggeration / 4, 50)` (Belkina et al. 2019, sklearn's
    /// `auto`).
    pub learning_rate: Option<f64>,
    /// Factor on the input affinities during the first iterations.
    pub early_exaggeration: f64,
    /// Iterations with exaggeration.
    pub exaggeration_iterations: usize,
    /// Momentum before [`Self::momentum_switch`].
    pub momentum: f64,
    /// Momentum from [`Self::momentum_switch`] on.
    pub final_momentum: f64,
    /// Iteration at which the momentum switches.
    pub momentum_switch: usize,
    /// Seed of the initial embedding (N(0, 10⁻⁴) per coordinate).
    pub seed: u64,
}

impl Default for Tsne {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            iterations: 1000,
            learning_rate: None,
            early_exaggeration: 12.0,
            exaggeration_iterations: 250,
            momentum: 0.5,
            final_momentum: 0.8,
            momentum_switch: 250,
            seed: 0,
        }
    }
}

/// A 2-D t-SNE embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// One `[x, y]` per input row, in input order.
    pub points: Vec<[f64; 2]>,
    /// KL(P ‖ Q) of the final embedding (without exaggeration).
    pub kl_divergence: f64,
}

/// Largest binary-search steps per point when matching the perplexity.
const BANDWIDTH_STEPS: usize = 200;
/// Tolerance on the entropy (nats) when matching the perplexity.
const ENTROPY_TOL: f64 = 1e-5;
/// Floor of the joint probabilities.
const P_MIN: f64 = 1e-12;
/// Floor of the adaptive gains.
const MIN_GAIN: f64 = 0.01;

impl Tsne {
    /// Embeds the rows of `data` in 2-D.
    pub fn fit(&self, data: &[Vec<f32>]) -> Result<Embedding> {
        self.validate(data)?;
        let n = data.len();
        let d2 = squared_distances(data);
        let p = self.joint_probabilities(&d2, n);
        Ok(self.optimise(&p, n))
    }

    fn validate(&self, data: &[Vec<f32>]) -> Result<()> {
        let setting = |name, value: f64, ok: bool, expected| {
            if ok {
                Ok(())
            } else {
                Err(TsneError::Setting {
                    name,
                    value,
                    expected,
                })
            }
        };
        setting(
            "perplexity",
            self.perplexity,
            self.perplexity.is_finite() && self.perplexity >= 1.0,
            ">= 1",
        )?;
        if let Some(lr) = self.learning_rate {
            setting("learning_rate", lr, lr.is_finite() && lr > 0.0, "> 0")?;
        }
        setting(
            "early_exaggeration",
            self.early_exaggeration,
            self.early_exaggeration.is_finite() && self.early_exaggeration >= 1.0,
            ">= 1",
        )?;
        for (name, m) in [
            ("momentum", self.momentum),
            ("final_momentum", self.final_momentum),
        ] {
            setting(name, m, (0.0..1.0).contains(&m), "in [0, 1)")?;
        }
        let n = data.len();
        if (n as f64) - 1.0 <= self.perplexity {
            return Err(TsneError::TooFewPoints {
                n,
                perplexity: self.perplexity,
            });
        }
        let width = data[0].len();
        for (row, r) in data.iter().enumerate() {
            if r.len() != width {
                return Err(TsneError::Ragged {
                    row,
                    expected: width,
                    found: r.len(),
                });
            }
            if r.iter().any(|v| !v.is_finite()) {
                return Err(TsneError::NonFinite { row });
            }
        }
        Ok(())
    }

    /// Symmetrised joint probabilities `[n × n]` (row-major, zero diagonal).
    fn joint_probabilities(&self, d2: &[f64], n: usize) -> Vec<f64> {
        let target = self.perplexity.ln();
        let mut p = vec![0.0; n * n];
        for i in 0..n {
            let row = &d2[i * n..(i + 1) * n];
            let min = (0..n)
                .filter(|&j| j != i)
                .map(|j| row[j])
                .fold(f64::INFINITY, f64::min);
            let (mut beta, mut lo, mut hi) = (1.0f64, f64::NEG_INFINITY, f64::INFINITY);
            // Scale the first guess to the distances so that the search starts near the answer.
            let mean = (0..n)
                .filter(|&j| j != i)
                .map(|j| row[j] - min)
                .sum::<f64>()
                / (n - 1) as f64;
            if mean > 0.0 {
                beta = 1.0 / mean;
            }
            let out = &mut p[i * n..(i + 1) * n];
            for _ in 0..BANDWIDTH_STEPS {
                let (mut sum, mut weighted) = (0.0, 0.0);
                for j in 0..n {
                    if j == i {
                        out[j] = 0.0;
                        continue;
                    }
                    let shifted = row[j] - min;
                    let v = (-shifted * beta).exp();
                    out[j] = v;
                    sum += v;
                    weighted += shifted * v;
                }
                let entropy = sum.ln() + beta * weighted / sum;
                let diff = entropy - target;
                if diff.abs() < ENTROPY_TOL {
                    break;
                }
                if diff > 0.0 {
                    lo = beta;
                    beta = if hi.is_finite() {
                        (beta + hi) / 2.0
                    } else {
                        beta * 2.0
                    };
                } else {
                    hi = beta;
                    beta = if lo.is_finite() {
                        (beta + lo) / 2.0
                    } else {
                        beta / 2.0
                    };
                }
            }
            let sum: f64 = out.iter().sum();
            out.iter_mut().for_each(|v| *v /= sum);
        }
        let scale = 1.0 / (2.0 * n as f64);
        let mut joint = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    joint[i * n + j] = ((p[i * n + j] + p[j * n + i]) * scale).max(P_MIN);
                }
            }
        }
        joint
    }

    /// Gradient descent on KL(P ‖ Q).
    fn optimise(&self, p: &[f64], n: usize) -> Embedding {
        let lr = self
            .learning_rate
            .unwrap_or_else(|| (n as f64 / self.early_exaggeration / 4.0).max(50.0));
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut y: Vec<f64> = (0..2 * n)
            .map(|_| 1e-2 * standard_normal(&mut rng))
            .collect();
        let mut update = vec![0.0f64; 2 * n];
        let mut gains = vec![1.0f64; 2 * n];
        let mut grad = vec![0.0f64; 2 * n];
        let mut num = vec![0.0f64; n * n];
        for it in 0..self.iterations {
            let exaggeration = if it < self.exaggeration_iterations {
                self.early_exaggeration
            } else {
                1.0
            };
            let momentum = if it < self.momentum_switch {
                self.momentum
            } else {
                self.final_momentum
            };
            let z = student_t(&y, n, &mut num);
            grad.iter_mut().for_each(|g| *g = 0.0);
            for i in 0..n {
                let (yi0, yi1) = (y[2 * i], y[2 * i + 1]);
                let (mut g0, mut g1) = (0.0, 0.0);
                for j in 0..n {
                    if i == j {
                        continue;
                    }
                    let q = num[i * n + j];
                    let m = (exaggeration * p[i * n + j] - q / z) * q;
                    g0 += m * (yi0 - y[2 * j]);
                    g1 += m * (yi1 - y[2 * j + 1]);
                }
                grad[2 * i] = 4.0 * g0;
                grad[2 * i + 1] = 4.0 * g1;
            }
            for k in 0..2 * n {
                gains[k] = if (grad[k] > 0.0) != (update[k] > 0.0) {
                    gains[k] + 0.2
                } else {
                    gains[k] * 0.8
                }
                .max(MIN_GAIN);
                update[k] = momentum * update[k] - lr * gains[k] * grad[k];
                y[k] += update[k];
            }
            for c in 0..2 {
                let mean = (0..n).map(|i| y[2 * i + c]).sum::<f64>() / n as f64;
                (0..n).for_each(|i| y[2 * i + c] -= mean);
            }
        }
        let z = student_t(&y, n, &mut num);
        let mut kl = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let pij = p[i * n + j];
                    kl += pij * (pij / (num[i * n + j] / z).max(P_MIN)).ln();
                }
            }
        }
        Embedding {
            points: (0..n).map(|i| [y[2 * i], y[2 * i + 1]]).collect(),
            kl_divergence: kl,
        }
    }
}

/// Fills `num[i·n + j] = 1 / (1 + ‖yᵢ − yⱼ‖²)` (zero diagonal) and returns their sum.
fn student_t(y: &[f64], n: usize, num: &mut [f64]) -> f64 {
    let mut z = 0.0;
    for i in 0..n {
        num[i * n + i] = 0.0;
        for j in i + 1..n {
            let (dx, dy) = (y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
            let v = 1.0 / (1.0 + dx * dx + dy * dy);
            num[i * n + j] = v;
            num[j * n + i] = v;
            z += 2.0 * v;
        }
    }
    z
}

/// A standard normal draw (Box–Muller).
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Pairwise squared Euclidean distances `[n × n]` in f64.
fn squared_distances<R: AsRef<[f32]>>(data: &[R]) -> Vec<f64> {
    let n = data.len();
    let mut d = vec![0.0; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let v: f64 = data[i]
                .as_ref()
                .iter()
                .zip(data[j].as_ref())
                .map(|(&a, &b)| {
                    let t = f64::from(a) - f64::from(b);
                    t * t
                })
                .sum();
            d[i * n + j] = v;
            d[j * n + i] = v;
        }
    }
    d
}

/// Indices of the other points ordered by distance from point `i` (ties by index).
fn ranked_neighbours(d: &[f64], n: usize, i: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).filter(|&j| j != i).collect();
    order.sort_by(|&a, &b| d[i * n + a].total_cmp(&d[i * n + b]).then(a.cmp(&b)));
    order
}

/// Squared distances of points given as f64 coordinates.
fn squared_distances_f64<P: AsRef<[f64]>>(points: &[P]) -> Vec<f64> {
    let n = points.len();
    let mut d = vec![0.0; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let v: f64 = points[i]
                .as_ref()
                .iter()
                .zip(points[j].as_ref())
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            d[i * n + j] = v;
            d[j * n + i] = v;
        }
    }
    d
}

/// The share of (point, one of its `k` nearest neighbours) pairs with the same label: 1.0 when
/// every neighbourhood is pure, about Σ share² for random labels. Works on any dimension
/// (`[f64; 2]` t-SNE points or high-dimensional rows as `Vec<f64>`). Returns 0 for fewer than
/// two points.
pub fn knn_label_agreement<P: AsRef<[f64]>>(points: &[P], labels: &[usize], k: usize) -> f64 {
    let n = points.len().min(labels.len());
    if n < 2 || k == 0 {
        return 0.0;
    }
    let k = k.min(n - 1);
    let d = squared_distances_f64(&points[..n]);
    let same: usize = (0..n)
        .map(|i| {
            ranked_neighbours(&d, n, i)
                .into_iter()
                .take(k)
                .filter(|&j| labels[j] == labels[i])
                .count()
        })
        .sum();
    same as f64 / (n * k) as f64
}

/// Trustworthiness T(k) ∈ [0, 1] of a low-dimensional embedding (Venna & Kaski 2001; sklearn's
/// definition): penalises points that are among a point's `k` nearest neighbours in `low` but
/// not in `high`, by how far down they rank in `high`. Needs `k < n / 2`; returns `None`
/// otherwise or when the lengths differ.
pub fn trustworthiness<H: AsRef<[f32]>>(high: &[H], low: &[[f64; 2]], k: usize) -> Option<f64> {
    let n = high.len();
    if n != low.len() || k == 0 || 2 * k >= n {
        return None;
    }
    let dh = squared_distances(high);
    let dl = squared_distances_f64(low);
    let mut penalty = 0.0;
    let mut rank = vec![0usize; n];
    for i in 0..n {
        for (r, j) in ranked_neighbours(&dh, n, i).into_iter().enumerate() {
            rank[j] = r + 1;
        }
        for j in ranked_neighbours(&dl, n, i).into_iter().take(k) {
            if rank[j] > k {
                penalty += (rank[j] - k) as f64;
            }
        }
    }
    let (n, k) = (n as f64, k as f64);
    Some(1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * penalty)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clusters` isotropic Gaussian clusters of `per` points in `dim` dimensions, centres 10
    /// apart on the axes, unit spread; labels by cluster.
    fn gaussian_clusters(
        clusters: usize,
        per: usize,
        dim: usize,
        seed: u64,
    ) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for c in 0..clusters {
            for _ in 0..per {
                let row = (0..dim)
                    .map(|k| {
                        let centre = if k == c % dim { 10.0 } else { 0.0 };
                        (centre + standard_normal(&mut rng)) as f32
                    })
                    .collect();
                data.push(row);
                labels.push(c);
            }
        }
        (data, labels)
    }

    #[test]
    fn separable_gaussian_clusters_stay_separated() {
        let (data, labels) = gaussian_clusters(4, 30, 10, 7);
        let tsne = Tsne {
            perplexity: 10.0,
            iterations: 500,
            ..Tsne::default()
        };
        let e = tsne.fit(&data).unwrap();
        assert_eq!(e.points.len(), 120);
        let agreement = knn_label_agreement(&e.points, &labels, 5);
        assert!(agreement > 0.98, "5-NN label agreement {agreement}");
        let t = trustworthiness(&data, &e.points, 5).unwrap();
        assert!(t > 0.9, "trustworthiness {t}");
        assert!(e.kl_divergence.is_finite() && e.kl_divergence > 0.0 && e.kl_divergence < 2.0);
        // Clusters are compact relative to their separation in the picture.
        let centroid = |c: usize| {
            let pts: Vec<&[f64; 2]> = e
                .points
                .iter()
                .zip(&labels)
                .filter(|(_, l)| **l == c)
                .map(|(p, _)| p)
                .collect();
            let m = pts.len() as f64;
            [
                pts.iter().map(|p| p[0]).sum::<f64>() / m,
                pts.iter().map(|p| p[1]).sum::<f64>() / m,
            ]
        };
        let (c0, c1) = (centroid(0), centroid(1));
        let between = ((c0[0] - c1[0]).powi(2) + (c0[1] - c1[1]).powi(2)).sqrt();
        let within = e
            .points
            .iter()
            .zip(&labels)
            .filter(|(_, l)| **l == 0)
            .map(|(p, _)| ((p[0] - c0[0]).powi(2) + (p[1] - c0[1]).powi(2)).sqrt())
            .fold(0.0, f64::max);
        assert!(
            between > 2.0 * within,
            "between {between}, within radius {within}"
        );
    }

    #[test]
    fn same_seed_same_picture_other_seed_other_picture() {
        let (data, _) = gaussian_clusters(3, 12, 5, 1);
        let tsne = Tsne {
            perplexity: 5.0,
            iterations: 200,
            seed: 3,
            ..Tsne::default()
        };
        let a = tsne.fit(&data).unwrap();
        let b = tsne.fit(&data).unwrap();
        assert_eq!(a, b);
        let c = Tsne { seed: 4, ..tsne }.fit(&data).unwrap();
        assert_ne!(a.points, c.points);
    }

    #[test]
    fn perplexity_search_matches_the_target_entropy() {
        let (data, _) = gaussian_clusters(2, 20, 4, 2);
        let tsne = Tsne {
            perplexity: 8.0,
            ..Tsne::default()
        };
        let n = data.len();
        let joint = tsne.joint_probabilities(&squared_distances(&data), n);
        let total: f64 = joint.iter().sum();
        assert!((total - 1.0).abs() < 1e-6, "sum of P {total}");
        for i in 0..n {
            for j in 0..n {
                assert_eq!(joint[i * n + j], joint[j * n + i]);
            }
        }
    }

    #[test]
    fn bad_input_and_settings_are_typed_errors() {
        let tsne = Tsne::default();
        let few = vec![vec![0.0f32; 3]; 10];
        assert_eq!(
            tsne.fit(&few).unwrap_err(),
            TsneError::TooFewPoints {
                n: 10,
                perplexity: 30.0
            }
        );
        let small = Tsne {
            perplexity: 2.0,
            ..Tsne::default()
        };
        let mut ragged = vec![vec![0.0f32; 3]; 10];
        ragged[4] = vec![0.0; 2];
        assert_eq!(
            small.fit(&ragged).unwrap_err(),
            TsneError::Ragged {
                row: 4,
                expected: 3,
                found: 2
            }
        );
        let mut nan = vec![vec![0.0f32; 3]; 10];
        nan[7][1] = f32::NAN;
        assert_eq!(
            small.fit(&nan).unwrap_err(),
            TsneError::NonFinite { row: 7 }
        );
        let bad = Tsne {
            momentum: 1.5,
            ..small
        };
        assert!(matches!(
            bad.fit(&few),
            Err(TsneError::Setting {
                name: "momentum",
                ..
            })
        ));
    }

    #[test]
    fn neighbour_measures_on_known_layouts() {
        let pts = vec![[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]];
        assert_eq!(knn_label_agreement(&pts, &[0, 0, 1, 1], 1), 1.0);
        assert_eq!(knn_label_agreement(&pts, &[0, 1, 0, 1], 1), 0.0);
        // An embedding identical to the data is perfectly trustworthy.
        let high: Vec<Vec<f32>> = (0..12)
            .map(|i| vec![i as f32, (i * i) as f32 * 0.1])
            .collect();
        let low: Vec<[f64; 2]> = high.iter().map(|r| [r[0] as f64, r[1] as f64]).collect();
        assert!((trustworthiness(&high, &low, 3).unwrap() - 1.0).abs() < 1e-12);
        // Reversing the order within a line keeps neighbourhoods; shuffling does not.
        let shuffled: Vec<[f64; 2]> = (0..12).map(|i| [((i * 5) % 12) as f64, 0.0]).collect();
        assert!(trustworthiness(&high, &shuffled, 3).unwrap() < 0.8);
        assert_eq!(trustworthiness(&high, &low, 6), None);
    }
}
