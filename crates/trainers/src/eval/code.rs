//! HumanEval and MBPP: a reply (after the ```` ```python ```` prefill) becomes a program with its
//! tests, run in the [`Sandbox`]; pass@1 with greedy decoding.

use crate::error::Result;
use crate::eval::benchmark::CodeTask;
use crate::eval::parse::code_block;
use crate::eval::sandbox::{Outcome, Sandbox};

/// The program that tests a reply: the code up to the closing fence, then the tests.
///
/// For HumanEval, a reply that does not define the entry point is taken as the function body
/// and appended to the prompt (signature + docstring); one that does define it gets the prompt's
/// import lines in front.
///
/// ```
/// use trainers::eval::benchmark::CodeTask;
/// use trainers::eval::code::program;
/// let task = CodeTask { test: "assert f() == 1\n".into(), entry_point: None, prompt_code: None };
/// assert_eq!(program("def f():\n    return 1\n```\n", &task), "def f():\n    return 1\n\n\nassert f() == 1\n");
/// ```
pub fn program(reply: &str, task: &CodeTask) -> String {
    let code = code_block(reply);
    let body = match (&task.entry_point, &task.prompt_code) {
        (Some(entry), Some(prompt)) if !code.contains(&format!("def {entry}")) => {
            format!("{prompt}{code}")
        }
        (Some(_), Some(prompt)) => {
            let imports: Vec<&str> = prompt
                .lines()
                .filter(|l| l.starts_with("import ") || l.starts_with("from "))
                .collect();
            format!("{}\n{code}", imports.join("\n"))
        }
        _ => code.to_string(),
    };
    format!("{body}\n\n{}", task.test)
}

/// Runs a reply's program in the sandbox.
pub fn run_tests(sandbox: &Sandbox, reply: &str, task: &CodeTask) -> Result<Outcome> {
    sandbox.run(&program(reply, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn he_task() -> CodeTask {
        CodeTask {
            test: "def check(c):\n    assert c(2) == 4\n\ncheck(sq)\n".into(),
            entry_point: Some("sq".into()),
            prompt_code: Some("import math\n\ndef sq(x):\n    \"\"\"Square.\"\"\"\n".into()),
        }
    }

    #[test]
    fn humaneval_body_and_full_function() {
        let p = program("    return x * x\n```", &he_task());
        assert!(
            p.starts_with("import math\n\ndef sq(x):\n    \"\"\"Square.\"\"\"\n    return x * x\n")
        );
        let p = program("def sq(x):\n    return x * x\n```\ntext", &he_task());
        assert!(
            p.starts_with("import math\ndef sq(x):\n    return x * x\n"),
            "{p}"
        );
        assert!(p.ends_with("check(sq)\n") && !p.contains("text"));
    }
}
