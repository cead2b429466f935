//! [`ChatEncoder`]: the base model's tokenizer and chat template as a [`PairEncoder`].
//!
//! The prompt is the chat template over `[system: "", user: input]` with the generation prompt
//! (the reference's empty system message, §4.1); the response is what the full conversation
//! `[system: "", user: input, assistant: output]` adds after it (for SmolLM2's ChatML:
//! `output<|im_end|>\n`). Rendering the response as the difference of two renderings keeps
//! templates that insert a default system prompt (SmolLM2 does when the first message is not a
//! system message) from leaking one into the targets.

use base_llm::text::{ChatMessage, Tokenizer};

use crate::data::encode::PairEncoder;
use crate::data::tasks::Example;
use crate::error::{Error, Result};

/// A model tokenizer with its chat template.
pub struct ChatEncoder {
    tokenizer: Tokenizer,
    pad: u32,
}

impl ChatEncoder {
    /// Wraps a tokenizer; errors when it has no chat template. Pads with the pad token, else the
    /// first end-of-sequence token (as the reference does when `pad_token_id` is missing).
    pub fn new(tokenizer: Tokenizer) -> Result<Self> {
        if tokenizer.chat_template().is_none() {
            return Err(Error::config("model", "the tokenizer has no chat template"));
        }
        let pad = tokenizer
            .pad_token_id()
            .or_else(|| tokenizer.eos_token_ids().first().copied())
            .ok_or_else(|| Error::config("model", "the tokenizer has neither pad nor eos token"))?;
        Ok(Self { tokenizer, pad })
    }

    /// The wrapped tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The rendered prompt and response texts of an example.
    pub fn render(&self, example: &Example) -> Result<(String, String)> {
        let mut messages = vec![ChatMessage::system(""), ChatMessage::user(&example.input)];
        let prompt = self.tokenizer.apply_chat_template(&messages, true)?;
        messages.push(ChatMessage::assistant(&example.output));
        let full = self.tokenizer.apply_chat_template(&messages, false)?;
        let response = full.strip_prefix(&prompt).ok_or_else(|| {
            Error::data(
                "chat template",
                "the conversation with the answer does not start with the prompt rendering",
            )
        })?;
        Ok((prompt, response.to_string()))
    }
}

impl PairEncoder for ChatEncoder {
    fn encode_pair(&self, example: &Example) -> Result<(Vec<u32>, Vec<u32>)> {
        let (prompt, response) = self.render(example)?;
        let p = self.tokenizer.encode(&prompt, false)?;
        let r = self.tokenizer.encode(&response, false)?;
        Ok((p, r))
    }

    fn pad_id(&self) -> u32 {
        self.pad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smollm2_chatml_prompt_and_response_spans() {
        let path = base_llm::assets::asset(base_llm::assets::SMOLLM2_GGUF).unwrap();
        let file = base_llm::loading::gguf::GgufFile::open(&path).unwrap();
        let enc = ChatEncoder::new(Tokenizer::from_gguf(&file.metadata).unwrap()).unwrap();
        let ex = Example {
            input: "Is the sky blue?".into(),
            output: "yes".into(),
        };
        let (prompt, response) = enc.render(&ex).unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nIs the sky blue?<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(response, "yes<|im_end|>\n");
        let (p, r) = enc.encode_pair(&ex).unwrap();
        let tok = enc.tokenizer();
        assert_eq!(tok.decode(&r, false).unwrap(), response);
        assert_eq!(r.len(), 3); // "yes", <|im_end|>, "\n"
        assert_eq!(tok.decode(&p, false).unwrap(), prompt);
    }
}
