//! [`EvalCodec`]: what evaluation needs from a tokenizer on top of [`PairEncoder`] (prompt and
//! response spans through the chat template): plain text encoding (the response prefill), decoding
//! of generated tokens, and the tokens that end a reply.

use crate::data::chat::ChatEncoder;
use crate::data::encode::{ByteEncoder, PairEncoder};
use crate::data::tasks::Example;
use crate::error::Result;

/// A [`PairEncoder`] that can also encode and decode plain text.
pub trait EvalCodec: PairEncoder {
    /// Token ids of `text`, no special tokens added.
    fn encode_text(&self, text: &str) -> Result<Vec<u32>>;
    /// The text of generated ids, special tokens left out.
    fn decode(&self, ids: &[u32]) -> Result<String>;
    /// Ids that end a reply.
    fn stop_ids(&self) -> Vec<u32>;

    /// The prompt ids of a user turn, followed by the response prefill (may be empty).
    fn prompt_ids(&self, user: &str, prefill: &str) -> Result<Vec<u32>> {
        let (mut ids, _) = self.encode_pair(&Example {
            input: user.to_string(),
            output: String::new(),
        })?;
        if !prefill.is_empty() {
            ids.extend(self.encode_text(prefill)?);
        }
        Ok(ids)
    }
}

impl EvalCodec for ChatEncoder {
    fn encode_text(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer().encode(text, false)?)
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        Ok(self.tokenizer().decode(ids, true)?)
    }

    fn stop_ids(&self) -> Vec<u32> {
        self.tokenizer().eos_token_ids().to_vec()
    }
}

impl EvalCodec for ByteEncoder {
    fn encode_text(&self, text: &str) -> Result<Vec<u32>> {
        Ok(text.bytes().map(|b| b as u32 + 3).collect())
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        let bytes: Vec<u8> = ids
            .iter()
            .filter(|&&i| (3..259).contains(&i))
            .map(|&i| (i - 3) as u8)
            .collect();
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn stop_ids(&self) -> Vec<u32> {
        vec![2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_codec_round_trip_and_spans() {
        let c = ByteEncoder;
        let ids = c.encode_text("hé").unwrap();
        assert_eq!(c.decode(&ids).unwrap(), "hé");
        assert_eq!(c.decode(&[1, 3 + b'a' as u32, 2]).unwrap(), "a");
        assert_eq!(c.prompt_ids("a", "b").unwrap(), vec![1, 100, 1, 101]);
    }
}
