//! [`ChatTemplate`]: a model's Jinja chat template, rendered with minijinja the way transformers'
//! `apply_chat_template` renders it.

use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::text::error::TextError;
use crate::text::jinja_compat;

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `"system"`, `"user"` or `"assistant"` (templates may accept others).
    pub role: String,
    /// The text of the turn.
    pub content: String,
}

impl ChatMessage {
    /// A message with any role.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// The special-token strings a template may print (`{{ bos_token }}`, `{{ eos_token }}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateTokens {
    /// Beginning-of-sequence text, if the tokenizer has one.
    pub bos_token: Option<String>,
    /// End-of-sequence text, if the tokenizer has one.
    pub eos_token: Option<String>,
    /// Unknown-token text, if any.
    pub unk_token: Option<String>,
    /// Padding text, if any.
    pub pad_token: Option<String>,
}

const TEMPLATE_NAME: &str = "chat_template";

/// A compiled chat template.
///
/// ```
/// use base_llm::text::{ChatMessage, ChatTemplate, TemplateTokens};
/// let t = ChatTemplate::new(
///     "{% for m in messages %}<|{{ m.role }}|>{{ m.content.strip() }}\n{% endfor %}\
///      {% if add_generation_prompt %}<|assistant|>{% endif %}",
/// )?;
/// let text = t.render(&[ChatMessage::user(" Hi ")], true, &TemplateTokens::default())?;
/// assert_eq!(text, "<|user|>Hi\n<|assistant|>");
/// # Ok::<(), base_llm::Error>(())
/// ```
#[derive(Clone)]
pub struct ChatTemplate {
    source: String,
    env: Environment<'static>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles a Jinja template; a syntax error is a [`TextError::ChatTemplate`].
    pub fn new(source: impl Into<String>) -> Result<Self> {
        let source = source.into();
        let mut env = Environment::new();
        jinja_compat::install(&mut env);
        env.add_template_owned(TEMPLATE_NAME, source.clone())
            .map_err(|e| TextError::ChatTemplate {
                stage: "compile",
                reason: describe(&e),
            })?;
        Ok(Self { source, env })
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders `messages` (with `add_generation_prompt`, the special-token strings, and
    /// `raise_exception`, `tojson`, Python string methods available to the template).
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        tokens: &TemplateTokens,
    ) -> Result<String> {
        let template =
            self.env
                .get_template(TEMPLATE_NAME)
                .map_err(|e| TextError::ChatTemplate {
                    stage: "render",
                    reason: describe(&e),
                })?;
        let ctx = context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => tokens.bos_token.as_deref().unwrap_or(""),
            eos_token => tokens.eos_token.as_deref().unwrap_or(""),
            unk_token => tokens.unk_token.as_deref().unwrap_or(""),
            pad_token => tokens.pad_token.as_deref().unwrap_or(""),
        };
        Ok(template.render(ctx).map_err(|e| TextError::ChatTemplate {
            stage: "render",
            reason: describe(&e),
        })?)
    }
}

/// The error with its causes and the template line.
fn describe(e: &minijinja::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
