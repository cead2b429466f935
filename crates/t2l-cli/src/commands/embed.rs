//! `t2l embed --model DIR|GGUF --text TEXT [--text TEXT ...]`: sentence embeddings of texts, and
//! the cosine similarity of two. A directory is a BERT-family sentence encoder; a GGUF file is a
//! base LLM used as encoder (final hidden state of the last token, or the mean).

use std::path::PathBuf;

use burn::prelude::Backend;
use clap::Args;
use serde::Serialize;
use text_embed::{
    BertEmbedder, LlmEmbedder, LlmEmbedderOptions, Pooling, TaskEmbedder, TextEmbedder,
    cosine_similarity,
};

use crate::cli::GlobalArgs;
use crate::device::{BackendTask, run_on};
use crate::error::CliError;

/// `t2l embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// A BERT-family model directory (config.json, tokenizer.json, model.safetensors and the
    /// optional sentence-transformers files), e.g. assets/all-minilm-l6-v2; or a GGUF file of a
    /// Llama-family LLM, used as encoder (T2L's base-LLM embedding).
    #[arg(long)]
    pub model: PathBuf,
    /// Pooling of an LLM encoder (GGUF --model): `last` (the reference) or `mean`.
    #[arg(long, default_value = "last", value_parser = ["last", "mean"])]
    pub pooling: String,
    /// A text to embed; repeat for several.
    #[arg(long = "text", required = true)]
    pub texts: Vec<String>,
    /// T2L task embeddings: a full stop appended to texts ending in a letter, vectors scaled to
    /// norm √dim (what the hypernetwork is conditioned on).
    #[arg(long)]
    pub task: bool,
}

/// What `t2l embed --json` prints.
#[derive(Debug, Serialize)]
pub struct EmbedReport {
    /// The embedder id (model, pooling, normalisation, maximum length).
    pub id: String,
    /// Vector width.
    pub dim: usize,
    /// One vector per `--text`, in order (a list of lists).
    pub embeddings: Vec<Vec<f32>>,
    /// Cosine similarity of the two texts, when exactly two were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cosine_similarity: Option<f64>,
}

/// Embeds the texts with the model.
pub fn report<B: Backend>(args: &EmbedArgs, device: &B::Device) -> Result<EmbedReport, CliError> {
    let base: Box<dyn TextEmbedder<B>> = if args.model.is_dir() {
        Box::new(BertEmbedder::<B>::load(&args.model, device)?)
    } else if args.model.is_file() {
        let bundle = base_llm::ModelBundle::<B>::load(&args.model, device)
            .map_err(text_embed::Error::Llm)?;
        let name = args
            .model
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let pooling = match args.pooling.as_str() {
            "mean" => Pooling::Mean,
            _ => Pooling::LastToken,
        };
        let options = LlmEmbedderOptions {
            pooling,
            ..Default::default()
        };
        Box::new(LlmEmbedder::new(
            bundle.model,
            bundle.tokenizer,
            &name,
            options,
        )?)
    } else {
        return Err(CliError::Input(format!(
            "{}: no such model directory or GGUF file",
            args.model.display()
        )));
    };
    let embedder: Box<dyn TextEmbedder<B>> = if args.task {
        Box::new(TaskEmbedder::new(base))
    } else {
        base
    };
    let texts: Vec<&str> = args.texts.iter().map(String::as_str).collect();
    let out = embedder.embed(&texts)?;
    let dim = embedder.dim();
    let values: Vec<f32> = out
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|e| CliError::Input(format!("reading the embeddings back: {e:?}")))?;
    let embeddings: Vec<Vec<f32>> = values.chunks_exact(dim).map(<[f32]>::to_vec).collect();
    let cosine_similarity = match embeddings.as_slice() {
        [a, b] => Some(cosine_similarity(a, b)),
        _ => None,
    };
    Ok(EmbedReport {
        id: embedder.id(),
        dim,
        embeddings,
        cosine_similarity,
    })
}

struct Embed<'a>(&'a EmbedArgs, &'a GlobalArgs);

impl BackendTask for Embed<'_> {
    type Output = ();
    fn run<B: Backend>(self, device: B::Device) -> Result<(), CliError> {
        let Embed(args, global) = self;
        let rep = report::<B>(args, &device)?;
        if global.json {
            println!(
                "{}",
                serde_json::to_string(&rep).expect("report serialises")
            );
            return Ok(());
        }
        println!("{} (dim {})", rep.id, rep.dim);
        for (text, v) in args.texts.iter().zip(&rep.embeddings) {
            let values: Vec<String> = v.iter().map(|x| format!("{x:.6}")).collect();
            println!("{text:?}: [{}]", values.join(", "));
        }
        if let Some(c) = rep.cosine_similarity {
            println!("cosine similarity: {c:.4}");
        }
        Ok(())
    }
}

/// Runs `t2l embed`.
pub fn run(args: &EmbedArgs, global: &GlobalArgs) -> Result<(), CliError> {
    run_on(global.device, Embed(args, global))
}
