//! GGUF tensor names (llama.cpp's `token_embd`, `blk.N.attn_q`, ...) to Hugging Face state-dict keys.

/// What a GGUF tensor becomes in a [`crate::WeightMap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HfName {
    /// A weight under this Hugging Face name.
    Weight(String),
    /// A tensor the model does not use (`rope_freqs.weight` is handled by the config reader).
    Ignored,
}

/// The Hugging Face name of a Llama-family GGUF tensor, or `None` when the name is not one of
/// llama.cpp's Llama/Qwen2 tensor names.
///
/// ```
/// use base_llm::loading::gguf::names::{hf_name, HfName};
/// assert_eq!(
///     hf_name("blk.3.attn_q.weight"),
///     Some(HfName::Weight("model.layers.3.self_attn.q_proj.weight".into()))
/// );
/// assert_eq!(hf_name("output.weight"), Some(HfName::Weight("lm_head.weight".into())));
/// ```
pub fn hf_name(gguf: &str) -> Option<HfName> {
    let w = |s: &str| Some(HfName::Weight(s.to_string()));
    match gguf {
        "token_embd.weight" => return w("model.embed_tokens.weight"),
        "output_norm.weight" => return w("model.norm.weight"),
        "output.weight" => return w("lm_head.weight"),
        "rope_freqs.weight" => return Some(HfName::Ignored),
        _ => {}
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, kind) = rest.rsplit_once('.')?;
    if kind != "weight" && kind != "bias" {
        return None;
    }
    let hf = match module {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    w(&format!("model.layers.{layer}.{hf}.{kind}"))
}

/// The GGUF name of a Hugging Face Llama-family weight (the inverse of [`hf_name`]).
pub fn gguf_name(hf: &str) -> Option<String> {
    match hf {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, kind) = rest.rsplit_once('.')?;
    let g = match module {
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{g}.{kind}"))
}
