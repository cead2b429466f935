//! [`BertEmbedder`]: sentence embeddings from a BERT-family model directory in Hugging Face /
//! sentence-transformers layout (all-MiniLM-L6-v2, BGE, other CLS- or mean-pooled BERTs).

pub mod config;
pub mod model;
pub mod weights;

use std::path::Path;

use burn::prelude::*;
use sha2::{Digest, Sha256};

use crate::embedder::TextEmbedder;
use crate::error::{Error, Result};
use crate::pooling::{Pooling, l2_normalize};
use crate::tokenize::{PadSide, TextTokenizer, embed_sorted_chunks, pad_batch};
pub use config::{Activation, BertConfig, SentenceTransformerConfig};
pub use model::BertModel;
pub use weights::SafetensorsWeights;

/// Overrides of what a model directory says; `None` keeps the directory's choice.
#[derive(Debug, Clone, PartialEq)]
pub struct BertEmbedderOptions {
    /// Pooling; default: the sentence-transformers `Pooling` module, else [`Pooling::Mean`]
    /// (sentence-transformers' default for a bare Hugging Face model).
    pub pooling: Option<Pooling>,
    /// L2-normalise the vectors; default: whether `modules.json` lists a `Normalize` module.
    pub normalize: Option<bool>,
    /// Longest input in tokens, special tokens included; longer texts are truncated. Default:
    /// `max_seq_length` of `sentence_bert_config.json`, else `max_position_embeddings`.
    pub max_length: Option<usize>,
    /// Most texts run through the model at once (texts are sorted by length first).
    pub batch_size: usize,
}

impl Default for BertEmbedderOptions {
    fn default() -> Self {
        Self {
            pooling: None,
            normalize: None,
            max_length: None,
            batch_size: 32,
        }
    }
}

/// A BERT-family sentence encoder: tokenizer, [`BertModel`], pooling and optional L2
/// normalisation, matching sentence-transformers' `encode`.
///
/// ```no_run
/// use text_embed::{BertEmbedder, TextEmbedder};
/// let device = Default::default();
/// let e = BertEmbedder::<burn::backend::Flex>::load("assets/all-minilm-l6-v2".as_ref(), &device)?;
/// let v = e.embed(&["A man is eating food."])?; // [1, 384], unit norm
/// # Ok::<(), text_embed::Error>(())
/// ```
#[derive(Debug)]
pub struct BertEmbedder<B: Backend> {
    model: BertModel<B>,
    tokenizer: TextTokenizer,
    pooling: Pooling,
    normalize: bool,
    batch_size: usize,
    id: String,
    device: B::Device,
}

impl<B: Backend> BertEmbedder<B> {
    /// Loads `dir` (`config.json`, `tokenizer.json`, `model.safetensors` and the optional
    /// sentence-transformers files) with the directory's own pooling, normalisation and length.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self> {
        Self::load_with(dir, &BertEmbedderOptions::default(), device)
    }

    /// Loads `dir` with `options` overriding the directory's choices.
    pub fn load_with(
        dir: &Path,
        options: &BertEmbedderOptions,
        device: &B::Device,
    ) -> Result<Self> {
        let config_path = dir.join("config.json");
        let config = BertConfig::from_file(&config_path)?;
        let activation = config.activation(&config_path)?;
        let st = SentenceTransformerConfig::from_dir(dir)?;
        let pooling = options.pooling.or(st.pooling).unwrap_or(Pooling::Mean);
        if pooling == Pooling::LastToken {
            return Err(Error::config(
                dir.join("1_Pooling/config.json"),
                "pooling_mode_lasttoken",
                "last-token pooling is for decoder models, not BERT",
            ));
        }
        let normalize = options.normalize.unwrap_or(st.normalize);
        let max_length = options
            .max_length
            .or(st.max_seq_length)
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings);
        let tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json"), max_length)?;
        let weights_path = dir.join("model.safetensors");
        let bytes = std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?;
        let weights = SafetensorsWeights::parse(&weights_path, &bytes)?;
        let model = BertModel::from_safetensors(&config, activation, &weights, device)?;
        let digest = Sha256::digest(&bytes);
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bert".into());
        let id = format!(
            "bert:{name}@{hex}:{}{}:max{max_length}",
            pooling.name(),
            if normalize { "+l2" } else { "" }
        );
        Ok(Self {
            model,
            tokenizer,
            pooling,
            normalize,
            batch_size: options.batch_size.max(1),
            id,
            device: device.clone(),
        })
    }

    /// Assembles an embedder from parts (e.g. a [`BertModel::random`] for tests).
    pub fn from_parts(
        model: BertModel<B>,
        tokenizer: TextTokenizer,
        pooling: Pooling,
        normalize: bool,
        id: String,
        device: &B::Device,
    ) -> Result<Self> {
        if tokenizer.max_length() > model.max_positions() {
            return Err(Error::input(
                "tokenizer",
                format!(
                    "max_length {} exceeds the model's {} positions",
                    tokenizer.max_length(),
                    model.max_positions()
                ),
            ));
        }
        Ok(Self {
            model,
            tokenizer,
            pooling,
            normalize,
            batch_size: 32,
            id,
            device: device.clone(),
        })
    }

    /// The pooling in use.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Whether vectors are L2-normalised.
    pub fn normalize(&self) -> bool {
        self.normalize
    }

    /// The longest input in tokens (longer texts are truncated).
    pub fn max_length(&self) -> usize {
        self.tokenizer.max_length()
    }

    /// The encoder.
    pub fn model(&self) -> &BertModel<B> {
        &self.model
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// Sets how many texts run through the model at once.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Embeds already tokenized sequences (each with its special tokens), one chunk of similar
    /// lengths at a time.
    pub fn embed_ids(&self, seqs: &[Vec<u32>]) -> Result<Tensor<B, 2>> {
        embed_sorted_chunks(seqs, self.batch_size, &self.device, |batch| {
            let tb = pad_batch::<B>(batch, 0, PadSide::Right, &self.device)?;
            let hidden = self.model.forward(tb.ids, tb.mask.clone())?;
            let pooled = self.pooling.apply(hidden, tb.mask);
            Ok(if self.normalize {
                l2_normalize(pooled)
            } else {
                pooled
            })
        })
    }
}

impl<B: Backend> TextEmbedder<B> for BertEmbedder<B> {
    fn embed(&self, texts: &[&str]) -> Result<Tensor<B, 2>> {
        let seqs = self.tokenizer.encode(texts)?;
        self.embed_ids(&seqs)
    }

    fn device(&self) -> B::Device {
        self.device.clone()
    }

    fn dim(&self) -> usize {
        self.model.hidden_size()
    }

    fn id(&self) -> String {
        self.id.clone()
    }
}
