//! FLOPs and bytes of each benchmark, counted from the shapes.
//!
//! Conventions: a matrix product `[m, k] × [k, n]` costs `2·m·k·n` FLOPs; element-wise ops,
//! norms, softmax and activations are not counted (they are a few percent of the total at these
//! shapes). Bytes count the minimum traffic to main/device memory: every weight read once per
//! pass (f32 unless stated), the outputs written once, the KV cache read once per decoded token;
//! activations that fit in cache are not counted. So `bytes / bandwidth` is a floor, not a model.

use base_llm::{BasePrecision, LlamaConfig};
use hypermod::{HyperConfig, Variant};
use serde::Serialize;

/// Floating-point operations and bytes moved by one run of a benchmark body.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Work {
    /// Floating-point operations (multiply and add counted separately).
    pub flops: f64,
    /// Bytes read from and written to memory.
    pub bytes: f64,
}

/// Bytes of an f32.
const F32: f64 = 4.0;

/// Rows of the head input per module for `n` tasks: `n·L` (L), `2·n·L` (M: A and B rows),
/// `2·n·L·r` (S: one row per rank).
pub fn head_rows(cfg: &HyperConfig, n: usize) -> usize {
    let (l, r) = (cfg.layout.n_layers, cfg.lora.r);
    match cfg.variant {
        Variant::L => n * l,
        Variant::M => 2 * n * l,
        Variant::S => 2 * n * l * r,
    }
}

/// FLOPs of the head GEMMs for `n` tasks: `Σ_modules 2 · head_rows · H · head_out`, with
/// `head_out = r·(d_in+d_out)` (L), `r·max(d_in,d_out)` (M), `max(d_in,d_out)` (S).
pub fn head_flops(cfg: &HyperConfig, n: usize) -> f64 {
    let rows = head_rows(cfg, n) as f64;
    cfg.layout
        .modules
        .iter()
        .map(|m| {
            2.0 * rows
                * cfg.head_in as f64
                * cfg.variant.head_out(cfg.lora.r, m.d_in, m.d_out) as f64
        })
        .sum()
}

/// FLOPs of one hypernetwork forward for `n` tasks (hypermod's trunk, `hypermod::forward`):
/// with `E` task width, `D` latent, `H` head input, `m` modules, `R = m·n·L` trunk rows:
///
/// - task encoder `2·n·E·D/2`;
/// - mixer and `mlp1` (each `D→4D→D`): `16·R·D²` each;
/// - `mlp2` (`D→4D→D`): `16·D²` per row over `R` rows (L), `2R` (M), `2R + 2R·r` (S: once on
///   the A/B rows, once more per rank);
/// - `mlp3` (`D→4D→H`): `8·D² + 8·D·H` per head row (`m · head_rows`);
/// - the heads: [`head_flops`].
pub fn hyper_forward_flops(cfg: &HyperConfig, n: usize) -> f64 {
    let (e, d, h) = (cfg.task_dim as f64, cfg.latent as f64, cfg.head_in as f64);
    let (l, r, m) = (
        cfg.layout.n_layers as f64,
        cfg.lora.r as f64,
        cfg.layout.modules.len() as f64,
    );
    let n = n as f64;
    let rows = m * n * l;
    let mlp2_rows = match cfg.variant {
        Variant::L => rows,
        Variant::M => 2.0 * rows,
        Variant::S => 2.0 * rows + 2.0 * rows * r,
    };
    let trunk_out_rows = m * head_rows(cfg, n as usize) as f64;
    2.0 * n * e * d / 2.0
        + 2.0 * 16.0 * rows * d * d
        + 16.0 * mlp2_rows * d * d
        + trunk_out_rows * (8.0 * d * d + 8.0 * d * h)
        + head_flops(cfg, n as usize)
}

/// Values of the generated adapters for `n` tasks: `Σ_modules n·L·r·(d_in + d_out)`.
pub fn adapter_values(cfg: &HyperConfig, n: usize) -> usize {
    cfg.layout
        .modules
        .iter()
        .map(|m| n * cfg.layout.n_layers * cfg.lora.r * (m.d_in + m.d_out))
        .sum()
}

/// FLOPs of the head-GEMM outputs that reach the adapters for `n` tasks: `2 · H` per adapter
/// value ([`adapter_values`]), the same for L, M and S. M and S compute `r·max(d_in, d_out)` or
/// `max(d_in, d_out)` columns per row ([`head_flops`]); where `d_out < d_in` the reference
/// discards the B rows' extra columns, which the packed path does not compute (up to its panel
/// rounding). A rate counted with these FLOPs is therefore a floor of the rate the hardware ran.
pub fn adapter_head_flops(cfg: &HyperConfig, n: usize) -> f64 {
    2.0 * cfg.head_in as f64 * adapter_values(cfg, n) as f64
}

/// Adapter generation for `n` tasks: [`hyper_forward_flops`]; bytes = every trainable weight
/// read once (f32) + the head outputs written once (f32). The head weights dominate: this is the
/// memory-bandwidth floor of the H100 target.
pub fn generate_work(cfg: &HyperConfig, n: usize) -> Work {
    Work {
        flops: hyper_forward_flops(cfg, n),
        bytes: F32 * (cfg.num_trainable_params() + adapter_values(cfg, n)) as f64,
    }
}

/// Weights of the matrix products of one decoder layer: `d·(H·hd)` (q) + `2·d·(KV·hd)` (k, v) +
/// `(H·hd)·d` (o) + `3·d·ff` (gate, up, down).
pub fn layer_matmul_params(c: &LlamaConfig) -> usize {
    let (d, q, kv) = (
        c.hidden_size,
        c.num_attention_heads * c.head_dim,
        c.num_key_value_heads * c.head_dim,
    );
    d * q + 2 * d * kv + q * d + 3 * d * c.intermediate_size
}

/// FLOPs of the attention products (`QKᵀ` and `P·V`) of `new` query tokens against `ctx` keys
/// in all layers: `4 · new · ctx · H·hd · layers` (the full rectangle, as the kernels compute it).
pub fn attention_flops(c: &LlamaConfig, new: usize, ctx: usize) -> f64 {
    4.0 * new as f64
        * ctx as f64
        * (c.num_attention_heads * c.head_dim) as f64
        * c.num_hidden_layers as f64
}

/// Prefill of `t` prompt tokens (batch 1) through the KV-cache path, LM head on the last
/// position only: FLOPs `2·t·L·P_layer + attention(t, t) + 2·d·V`; bytes = all matmul weights and
/// the LM head read once (f32) + the KV cache written (`2·t·KV·hd·L` values).
pub fn prefill_work(c: &LlamaConfig, t: usize) -> Work {
    prefill_work_in(c, t, BasePrecision::F32)
}

/// [`prefill_work`] with the frozen weights stored in `precision` (2 bytes each in f16/bf16;
/// the KV cache stays f32).
pub fn prefill_work_in(c: &LlamaConfig, t: usize, precision: BasePrecision) -> Work {
    let wb = precision.bytes_per_weight() as f64;
    let layers = c.num_hidden_layers as f64;
    let p_layer = layer_matmul_params(c) as f64;
    let head = (c.hidden_size * c.vocab_size) as f64;
    let kv = 2.0 * t as f64 * (c.num_key_value_heads * c.head_dim) as f64 * layers;
    Work {
        flops: 2.0 * t as f64 * layers * p_layer + attention_flops(c, t, t) + 2.0 * head,
        bytes: wb * (layers * p_layer + head) + F32 * kv,
    }
}

/// Greedy decoding of `n` tokens after a prompt of `p` tokens (batch 1): token `i` (0-based)
/// attends to `p + i + 1` positions. Per token: FLOPs `2·(L·P_layer + d·V) + attention(1, ctx)`;
/// bytes = all matmul weights and the LM head read (f32) + the KV cache read
/// (`2·ctx·KV·hd·L` values). Summed over the `n` tokens.
pub fn decode_work(c: &LlamaConfig, p: usize, n: usize) -> Work {
    decode_work_in(c, p, n, BasePrecision::F32)
}

/// [`decode_work`] with the frozen weights stored in `precision` (2 bytes each in f16/bf16;
/// the KV cache stays f32).
pub fn decode_work_in(c: &LlamaConfig, p: usize, n: usize, precision: BasePrecision) -> Work {
    let wb = precision.bytes_per_weight() as f64;
    let layers = c.num_hidden_layers as f64;
    let weights = layers * layer_matmul_params(c) as f64 + (c.hidden_size * c.vocab_size) as f64;
    let kv_per_pos = 2.0 * (c.num_key_value_heads * c.head_dim) as f64 * layers;
    (0..n).fold(
        Work {
            flops: 0.0,
            bytes: 0.0,
        },
        |acc, i| {
            let ctx = p + i + 1;
            Work {
                flops: acc.flops + 2.0 * weights + attention_flops(c, 1, ctx),
                bytes: acc.bytes + wb * weights + F32 * kv_per_pos * ctx as f64,
            }
        },
    )
}

/// One T2L SFT step on a batch of `rows` sequences of `seq` tokens with `targets` target tokens in
/// all, `n` generated adapters:
///
/// - base forward: `2·rows·seq·L·P_layer + attention(seq, seq)·rows + 2·targets·d·V` (LM head on
///   target positions only, as `trainers::loss::head_loss` does);
/// - base backward: the frozen weights get no gradient, only the activations do, which costs one
///   more forward's worth of matmul FLOPs (`×2` in total for the base);
/// - hypernetwork: forward + backward = `3 ×` [`hyper_forward_flops`];
/// - bytes: the base weights read twice (forward and backward), the hypernetwork's trainable
///   weights read twice and their gradient written, and AdamW's 7 tensor passes (read
///   parameter, gradient, two moments; write parameter and two moments) over them. Activations
///   are not counted (a floor).
pub fn sft_step_work(
    c: &LlamaConfig,
    hyper: &HyperConfig,
    rows: usize,
    seq: usize,
    targets: usize,
) -> Work {
    sft_step_work_in(c, hyper, rows, seq, targets, BasePrecision::F32)
}

/// [`sft_step_work`] with the frozen base's weights stored in `precision` (2 bytes each in
/// f16/bf16); the hypernetwork and its AdamW state stay f32.
pub fn sft_step_work_in(
    c: &LlamaConfig,
    hyper: &HyperConfig,
    rows: usize,
    seq: usize,
    targets: usize,
    precision: BasePrecision,
) -> Work {
    let wb = precision.bytes_per_weight() as f64;
    let layers = c.num_hidden_layers as f64;
    let p_layer = layer_matmul_params(c) as f64;
    let head = (c.hidden_size * c.vocab_size) as f64;
    let tokens = (rows * seq) as f64;
    let base_fwd = 2.0 * tokens * layers * p_layer
        + rows as f64 * attention_flops(c, seq, seq)
        + 2.0 * targets as f64 * head;
    let hp = hyper.num_trainable_params() as f64;
    Work {
        flops: 2.0 * base_fwd + 3.0 * hyper_forward_flops(hyper, rows),
        bytes: wb * 2.0 * (layers * p_layer + head) + F32 * (3.0 + 7.0) * hp,
    }
}

/// One reconstruction step for `n` tasks: forward + backward of the hypernetwork
/// (`3 ×` [`hyper_forward_flops`]) plus the L1 loss over the predictions (negligible); bytes =
/// trainable weights read twice, gradients written, AdamW's 7 passes, and the targets read once
/// ([`adapter_values`] for `n` tasks).
pub fn recon_step_work(hyper: &HyperConfig, n: usize) -> Work {
    let hp = hyper.num_trainable_params() as f64;
    Work {
        flops: 3.0 * hyper_forward_flops(hyper, n),
        bytes: F32 * ((3.0 + 7.0) * hp + adapter_values(hyper, n) as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lora_core::{AdapterLayout, LoraConfig, ModuleShape};

    fn layout() -> AdapterLayout {
        AdapterLayout::new(
            2,
            vec![ModuleShape {
                name: "q_proj".into(),
                d_in: 8,
                d_out: 4,
            }],
        )
    }

    #[test]
    fn head_flops_follow_the_variant() {
        let lora = LoraConfig::new(2, 4.0, ["q_proj"]);
        let cfg = |v| HyperConfig::new(v, 16, layout(), lora.clone()).with_head_in(8);
        // L: rows n·L = 2, out r·(d_in+d_out) = 24: 2·2·8·24.
        assert_eq!(head_flops(&cfg(Variant::L), 1), 768.0);
        // M: rows 2·n·L = 4, out r·max = 16: 2·4·8·16.
        assert_eq!(head_flops(&cfg(Variant::M), 1), 1024.0);
        // S: rows 2·n·L·r = 8, out max = 8: 2·8·8·8.
        assert_eq!(head_flops(&cfg(Variant::S), 1), 1024.0);
        assert_eq!(adapter_values(&cfg(Variant::L), 3), 3 * 2 * 2 * 12);
        // The outputs kept: 2·H per adapter value, whatever the variant; L computes no others,
        // M and S compute max(d_in, d_out) = 8 columns where B keeps d_out = 4.
        for v in [Variant::L, Variant::M, Variant::S] {
            assert_eq!(adapter_head_flops(&cfg(v), 1), 2.0 * 8.0 * 2.0 * 2.0 * 12.0);
        }
        assert!(adapter_head_flops(&cfg(Variant::S), 1) < head_flops(&cfg(Variant::S), 1));
    }

    #[test]
    fn decode_reads_every_weight_per_token() {
        let c = LlamaConfig::tiny(32);
        let one = decode_work(&c, 4, 1);
        let weights = 2.0 * layer_matmul_params(&c) as f64 + 16.0 * 32.0;
        // Context 5: K and V of 2 kv heads × 4 dims in 2 layers per position.
        assert_eq!(one.bytes, 4.0 * (weights + 5.0 * 2.0 * 8.0 * 2.0));
        assert_eq!(one.flops, 2.0 * weights + 4.0 * 5.0 * 16.0 * 2.0);
        let two = decode_work(&c, 4, 2);
        assert!(two.flops > 2.0 * one.flops);
    }
}
