//! [`LoraConfig`]: rank, scaling and targets of a LoRA, with a lossless round trip through PEFT's
//! `adapter_config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The hyper-parameters of a LoRA adapter, field-for-field PEFT's `LoraConfig`.
///
/// Unknown fields of an `adapter_config.json` are kept in [`LoraConfig::extra`] and written back
/// unchanged, so a config read from PEFT and saved again loses nothing.
///
/// ```
/// use lora_core::LoraConfig;
/// let cfg = LoraConfig::new(8, 16.0, ["q_proj", "v_proj"]).with_rslora(true);
/// assert!((cfg.scaling() - 16.0 / 8f64.sqrt()).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Always `"LORA"`.
    #[serde(default = "default_peft_type")]
    pub peft_type: String,
    /// The rank `r`.
    pub r: usize,
    /// `lora_alpha` (written as an integer when it is one, as PEFT does).
    #[serde(serialize_with = "ser_number")]
    pub lora_alpha: f64,
    /// rsLoRA: scale by `alpha / sqrt(r)` instead of `alpha / r`.
    #[serde(default)]
    pub use_rslora: bool,
    /// Dropout on the LoRA input path (training only).
    #[serde(default)]
    pub lora_dropout: f64,
    /// Target modules, in order (`q_proj`, `v_proj`, ...).
    #[serde(default, deserialize_with = "de_target_modules")]
    pub target_modules: Vec<String>,
    /// PEFT task type (`CAUSAL_LM`).
    #[serde(default)]
    pub task_type: Option<String>,
    /// Bias handling (`none`).
    #[serde(default = "default_bias")]
    pub bias: String,
    /// Whether the base layer stores weights as `[in, out]` (GPT-2 Conv1D); always `false` here.
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// The base model the adapter belongs to.
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// PEFT's inference flag.
    #[serde(default)]
    pub inference_mode: bool,
    /// Every other field of the file, preserved as-is.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn default_peft_type() -> String {
    "LORA".into()
}
/// Writes integral floats as JSON integers (`16`, not `16.0`), matching PEFT's files.
fn ser_number<S: serde::Serializer>(v: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

fn default_bias() -> String {
    "none".into()
}

/// PEFT allows `target_modules` to be a list or a single string (a regex); we keep a list.
fn de_target_modules<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
        Null(()),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
        OneOrMany::Null(()) => Vec::new(),
    })
}

impl LoraConfig {
    /// A config with rank `r`, `lora_alpha`, the given ordered targets, and PEFT's defaults otherwise
    /// (`task_type: CAUSAL_LM`, no rsLoRA, no dropout).
    pub fn new(
        r: usize,
        lora_alpha: f64,
        target_modules: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            peft_type: default_peft_type(),
            r,
            lora_alpha,
            use_rslora: false,
            lora_dropout: 0.0,
            target_modules: target_modules.into_iter().map(Into::into).collect(),
            task_type: Some("CAUSAL_LM".into()),
            bias: default_bias(),
            fan_in_fan_out: false,
            base_model_name_or_path: None,
            inference_mode: false,
            extra: serde_json::Map::new(),
        }
    }

    /// Sets rsLoRA scaling.
    pub fn with_rslora(mut self, use_rslora: bool) -> Self {
        self.use_rslora = use_rslora;
        self
    }

    /// Sets the LoRA-path dropout probability.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.lora_dropout = p;
        self
    }

    /// Sets the base model name written to `adapter_config.json`.
    pub fn with_base_model(mut self, name: impl Into<String>) -> Self {
        self.base_model_name_or_path = Some(name.into());
        self
    }

    /// The factor applied to `B·A`: `alpha / r`, or `alpha / sqrt(r)` with rsLoRA.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    /// Checks the values a LoRA needs (rank > 0, a PEFT type of `LORA`, no fan-in-fan-out).
    pub fn validate(&self, file: &str) -> Result<()> {
        let bad = |field: &str, reason: String| Error::ConfigField {
            file: file.to_string(),
            field: field.to_string(),
            reason,
        };
        if self.peft_type != "LORA" {
            return Err(bad(
                "peft_type",
                format!("expected \"LORA\", found {:?}", self.peft_type),
            ));
        }
        if self.r == 0 {
            return Err(bad("r", "rank must be at least 1".into()));
        }
        if !self.lora_alpha.is_finite() {
            return Err(bad("lora_alpha", "must be finite".into()));
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Err(bad(
                "lora_dropout",
                format!("{} is not in [0, 1)", self.lora_dropout),
            ));
        }
        if self.fan_in_fan_out {
            return Err(bad(
                "fan_in_fan_out",
                "transposed (Conv1D) base layers are not supported".into(),
            ));
        }
        Ok(())
    }

    /// Parses an `adapter_config.json` text; `file` names the source in errors.
    pub fn from_json_str(text: &str, file: &str) -> Result<Self> {
        let cfg: LoraConfig = serde_json::from_str(text).map_err(|e| Error::Json {
            path: file.into(),
            source: e,
        })?;
        cfg.validate(file)?;
        Ok(cfg)
    }

    /// Reads a PEFT `adapter_config.json`.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// The `adapter_config.json` text (pretty JSON).
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).expect("LoraConfig serialises to JSON")
    }

    /// Writes `adapter_config.json` atomically (temp file, then rename).
    pub fn to_json_file(&self, path: &Path) -> Result<()> {
        crate::fsutil::write_atomic(path, self.to_json_string().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_rules() {
        let c = LoraConfig::new(8, 16.0, ["q_proj"]);
        assert_eq!(c.scaling(), 2.0);
        let c = c.with_rslora(true);
        assert!((c.scaling() - 16.0 / 8f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn peft_round_trip_keeps_unknown_fields() {
        let text = r#"{"alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "m",
            "bias": "none", "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
            "lora_alpha": 16, "lora_dropout": 0.05, "peft_type": "LORA", "r": 8, "use_rslora": true,
            "target_modules": ["v_proj", "q_proj"], "task_type": "CAUSAL_LM", "use_dora": false,
            "some_future_field": [1, 2]}"#;
        let c = LoraConfig::from_json_str(text, "t").unwrap();
        assert_eq!(c.target_modules, vec!["v_proj", "q_proj"]);
        assert!(c.use_rslora && c.inference_mode);
        assert_eq!(c.extra["some_future_field"], serde_json::json!([1, 2]));
        let back: serde_json::Value = serde_json::from_str(&c.to_json_string()).unwrap();
        let orig: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn target_modules_as_string_and_bad_rank() {
        let c = LoraConfig::from_json_str(
            r#"{"r": 4, "lora_alpha": 8, "target_modules": "q_proj"}"#,
            "t",
        )
        .unwrap();
        assert_eq!(c.target_modules, vec!["q_proj"]);
        let e = LoraConfig::from_json_str(r#"{"r": 0, "lora_alpha": 8}"#, "cfg.json").unwrap_err();
        assert!(
            e.to_string().contains("cfg.json") && e.to_string().contains("`r`"),
            "{e}"
        );
        let e = LoraConfig::from_json_str(r#"{"lora_alpha": 8}"#, "cfg.json").unwrap_err();
        assert!(e.to_string().contains("cfg.json"), "{e}");
    }
}
