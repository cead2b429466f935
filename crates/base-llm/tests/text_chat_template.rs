//! Chat templates rendered with minijinja as transformers renders them: block trimming, loop
//! controls, Python string methods, `raise_exception`, `tojson`, special-token variables, and
//! typed errors.

use base_llm::Error;
use base_llm::text::{ChatMessage, ChatTemplate, TemplateTokens, TextError};

fn tokens() -> TemplateTokens {
    TemplateTokens {
        bos_token: Some("<s>".into()),
        eos_token: Some("</s>".into()),
        ..Default::default()
    }
}

fn render(source: &str, messages: &[ChatMessage], add: bool) -> base_llm::Result<String> {
    ChatTemplate::new(source)?.render(messages, add, &tokens())
}

#[test]
fn trims_blocks_like_transformers() {
    // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before it.
    let source = "{% for m in messages %}\n    {% if m.role == 'user' %}\nU:{{ m.content }}\n    {% endif %}\n{% endfor %}\n{% if add_generation_prompt %}\nA:\n{% endif %}\n";
    let out = render(source, &[ChatMessage::user("hi")], true).unwrap();
    assert_eq!(out, "U:hi\nA:\n");
}

#[test]
fn python_string_methods_and_loop_controls() {
    let source = "{% for m in messages %}{% if m.content.startswith('skip') %}{% continue %}{% endif %}\
                  {{ m.role.upper() }}={{ m.content.strip().split(',') | join('|') }};\
                  {% if loop.index >= 2 %}{% break %}{% endif %}{% endfor %}";
    let messages = [
        ChatMessage::system(" a,b "),
        ChatMessage::user("skip me"),
        ChatMessage::user("c"),
        ChatMessage::assistant("never"),
    ];
    assert_eq!(
        render(source, &messages, false).unwrap(),
        "SYSTEM=a|b;USER=c;"
    );
}

#[test]
fn special_tokens_and_generation_prompt() {
    let source = "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}\
                  {% if add_generation_prompt %}>>{% endif %}";
    let messages = [ChatMessage::user("x")];
    assert_eq!(render(source, &messages, true).unwrap(), "<s>x</s>>>");
    assert_eq!(render(source, &messages, false).unwrap(), "<s>x</s>");
}

#[test]
fn raise_exception_is_a_typed_render_error_with_the_message() {
    let source = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with user') }}{% endif %}ok";
    assert_eq!(
        render(source, &[ChatMessage::user("x")], false).unwrap(),
        "ok"
    );
    let err = render(source, &[ChatMessage::assistant("x")], false).unwrap_err();
    match &err {
        Error::Text(TextError::ChatTemplate { stage, reason }) => {
            assert_eq!(*stage, "render");
            assert!(
                reason.contains("Conversation must start with user"),
                "{reason}"
            );
        }
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn tojson_is_python_json_dumps() {
    let source =
        "{{ messages | tojson }}|{{ messages[0] | tojson(indent=2) }}|{{ 'é<>' | tojson }}";
    let out = render(source, &[ChatMessage::user("a \"b\"")], false).unwrap();
    assert_eq!(
        out,
        "[{\"role\": \"user\", \"content\": \"a \\\"b\\\"\"}]|{\n  \"role\": \"user\",\n  \"content\": \"a \\\"b\\\"\"\n}|\"é<>\""
    );
}

#[test]
fn syntax_errors_are_typed_compile_errors() {
    let err = ChatTemplate::new("{% for m in messages %}no end").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Text(TextError::ChatTemplate {
                stage: "compile",
                ..
            })
        ),
        "{err}"
    );
}

#[test]
fn strftime_now_renders_a_date() {
    let out = render("{{ strftime_now('%Y-%m-%d') }}", &[], false).unwrap();
    assert_eq!(out.len(), 10);
    assert!(out.starts_with("20"), "{out}");
}
