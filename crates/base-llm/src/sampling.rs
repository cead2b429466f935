//! [`Sampler`]: picks the next token from logits (greedy, or temperature with top-p), seeded.

use rand::{Rng, SeedableRng, rngs::StdRng};

/// Chooses next tokens. Greedy takes the arg-max (the first one on ties); sampling draws from
/// `softmax(logits / temperature)` restricted to the smallest set of most likely tokens whose
/// probability reaches `top_p` (nucleus sampling). The generator is seeded, so runs repeat.
#[derive(Debug, Clone)]
pub struct Sampler {
    rng: StdRng,
    temperature: f32,
    top_p: f32,
    greedy: bool,
}

impl Sampler {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        Self {
            rng: StdRng::seed_from_u64(0),
            temperature: 1.0,
            top_p: 1.0,
            greedy: true,
        }
    }

    /// Temperature / top-p sampling; a temperature of 0 means greedy.
    pub fn sampling(temperature: f32, top_p: f32, seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            temperature,
            top_p: top_p.clamp(0.0, 1.0),
            greedy: temperature <= 0.0,
        }
    }

    /// The next token for one row of logits.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.greedy {
            return argmax(logits);
        }
        let t = self.temperature;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut probs: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, ((l - max) / t).exp()))
            .collect();
        let total: f32 = probs.iter().map(|p| p.1).sum();
        probs.iter_mut().for_each(|p| p.1 /= total);
        if self.top_p < 1.0 {
            probs.sort_by(|a, b| b.1.total_cmp(&a.1));
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, p) in probs.iter().enumerate() {
                acc += p.1;
                if acc >= self.top_p {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep.max(1));
        }
        let mass: f32 = probs.iter().map(|p| p.1).sum();
        let mut u = self.rng.random::<f32>() * mass;
        for &(id, p) in &probs {
            if u < p {
                return id;
            }
            u -= p;
        }
        probs.last().map_or(0, |p| p.0)
    }
}

/// Index of the largest value (the first on ties; NaN never wins).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in values.iter().enumerate() {
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    best as u32
}
