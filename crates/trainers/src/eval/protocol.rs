//! The two scoring protocols on one batch of examples.
//!
//! - [`Protocol::Generate`] (the paper's): greedy generation after the chat prompt (+ prefill),
//!   then the reference's parsing ([`crate::eval::parse`]); code replies run their tests in the
//!   sandbox ([`crate::eval::code`]).
//! - [`Protocol::Loglik`]: for every answer label (`A`…`D`, `0`/`1`, `true`/`false`), the total
//!   log-probability of its tokens as the start of the assistant's reply after the same chat
//!   prompt ([`base_llm::Llama::score`]); the highest wins (ties: the first label). Only for
//!   benchmarks with a closed answer set.

use std::fmt;
use std::str::FromStr;

use base_llm::{Adapters, GenerationConfig, Llama};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::eval::benchmark::{AnswerKind, Benchmark, EvalExample, Gold};
use crate::eval::codec::EvalCodec;
use crate::eval::parse;

/// How answers are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Greedy generation, then parsing (the paper's protocol).
    Generate,
    /// The answer label with the highest total log-probability.
    Loglik,
}

impl Protocol {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Generate => "generate",
            Protocol::Loglik => "loglik",
        }
    }

    /// `generate`, `loglik` or `both`.
    pub fn parse_set(s: &str) -> Result<Vec<Protocol>> {
        match s {
            "both" => Ok(vec![Protocol::Generate, Protocol::Loglik]),
            other => Ok(vec![other.parse()?]),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "generate" => Ok(Protocol::Generate),
            "loglik" => Ok(Protocol::Loglik),
            other => Err(Error::config(
                "protocol",
                format!("unknown protocol `{other}` (expected generate, loglik or both)"),
            )),
        }
    }
}

/// One generated reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Prompt tokens (prefill included).
    pub prompt_tokens: usize,
    /// The generated text (after the prefill), special tokens left out.
    pub text: String,
}

/// The user turn: `context + "\n\n" + prompt` (the reference's `in_context_message`), or the
/// prompt alone when the context is empty.
pub fn user_turn(context: &str, prompt: &str) -> String {
    if context.is_empty() {
        prompt.to_string()
    } else {
        format!("{context}\n\n{prompt}")
    }
}

/// The last `room` ids (prompts longer than the model's context lose their start, as the SFT
/// data's left truncation does).
fn keep_tail(mut ids: Vec<u32>, room: usize) -> Vec<u32> {
    if ids.len() > room {
        ids.drain(..ids.len() - room);
    }
    ids
}

/// Greedy replies to `users` (one batch, left-padded), each after `prefill`; prompts are cut
/// from the left to leave `max_new_tokens` of context.
pub fn generate_replies<B: Backend>(
    model: &Llama<B>,
    codec: &dyn EvalCodec,
    users: &[String],
    prefill: &str,
    max_new_tokens: usize,
    stop_strings: &[String],
) -> Result<Vec<Reply>> {
    let room = model
        .config()
        .max_position_embeddings
        .saturating_sub(max_new_tokens)
        .max(1);
    let prompts = users
        .iter()
        .map(|u| Ok(keep_tail(codec.prompt_ids(u, prefill)?, room)))
        .collect::<Result<Vec<_>>>()?;
    let config = GenerationConfig {
        max_new_tokens,
        stop_token_ids: codec.stop_ids(),
        stop_strings: stop_strings.to_vec(),
        ..GenerationConfig::default()
    };
    let decode = |ids: &[u32]| codec.decode(ids).unwrap_or_default();
    let decoder: Option<base_llm::generate::Decoder<'_>> =
        (!stop_strings.is_empty()).then_some(&decode);
    let out = model.generate(&prompts, &config, Adapters::None, decoder)?;
    out.rows
        .iter()
        .zip(&prompts)
        .map(|(row, p)| {
            Ok(Reply {
                prompt_tokens: p.len(),
                text: codec.decode(&row.tokens)?,
            })
        })
        .collect()
}

/// Total log-probabilities of every choice of every example (one batch of all pairs), and the
/// prompt length of each example.
pub fn choice_logprobs<B: Backend>(
    model: &Llama<B>,
    codec: &dyn EvalCodec,
    users: &[String],
    choices: &[&[String]],
) -> Result<Vec<(usize, Vec<f64>)>> {
    let max_pos = model.config().max_position_embeddings;
    let mut pairs = Vec::new();
    let mut prompt_lens = Vec::with_capacity(users.len());
    for (user, labels) in users.iter().zip(choices) {
        if labels.is_empty() {
            return Err(Error::data("loglik", "an example has no answer choices"));
        }
        let mut len = 0;
        for label in labels.iter() {
            let p = codec.prompt_ids(user, "")?;
            let r = codec.encode_text(label)?;
            let room = max_pos.saturating_sub(r.len()).max(1);
            let p = keep_tail(p, room);
            len = p.len();
            pairs.push((p, r));
        }
        prompt_lens.push(len);
    }
    let scores = model.score(&pairs, Adapters::None)?;
    let mut at = 0;
    Ok(choices
        .iter()
        .zip(prompt_lens)
        .map(|(labels, len)| {
            let lp = scores[at..at + labels.len()]
                .iter()
                .map(|s| s.sum_logprob)
                .collect();
            at += labels.len();
            (len, lp)
        })
        .collect())
}

/// Index of the largest value (the first on ties; NaN never wins).
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best
}

/// The parsed prediction of a generated reply and whether it is correct (not for code).
pub fn judge_reply(
    benchmark: Benchmark,
    example: &EvalExample,
    reply: &str,
) -> (Option<String>, bool) {
    match (benchmark.answer_kind(), &example.gold) {
        (AnswerKind::Choice, _) => (
            parse::get_choice(reply),
            parse::choice_correct(reply, &example.gold_text),
        ),
        (AnswerKind::Boolean, _) => (
            parse::bool_value(reply).map(|b| b.to_string()),
            parse::bool_correct(reply, &example.gold_text),
        ),
        (AnswerKind::Number, Gold::Number(n)) => (
            parse::gsm8k_number(reply).map(|x| x.to_string()),
            parse::number_correct(reply, *n),
        ),
        _ => (None, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names() {
        assert_eq!(Protocol::parse_set("both").unwrap().len(), 2);
        assert_eq!(
            Protocol::parse_set("loglik").unwrap(),
            vec![Protocol::Loglik]
        );
        assert!(Protocol::parse_set("logprob").is_err());
    }

    #[test]
    fn argmax_first_on_ties_and_nan() {
        assert_eq!(argmax(&[-1.0, -0.5, -0.5]), 1);
        assert_eq!(argmax(&[f64::NAN, -3.0]), 1);
        assert_eq!(argmax(&[-2.0]), 0);
    }

    #[test]
    fn user_turn_prepends_context() {
        assert_eq!(user_turn("", "Q"), "Q");
        assert_eq!(user_turn("Task.", "Q"), "Task.\n\nQ");
    }
}
