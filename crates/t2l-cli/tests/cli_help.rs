//! Every `t2l` subcommand's `--help` shows examples of itself and the shared options
//! (`--device`, `--json`, `--quiet`, `--seed`).

use std::process::Command;

#[test]
fn every_subcommand_help_has_examples_and_the_shared_options() {
    for sub in ["inspect", "embed", "run", "generate", "train", "eval"] {
        let out = Command::new(env!("CARGO_BIN_EXE_t2l"))
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{sub}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Examples:"), "{sub}: {help}");
        assert!(help.contains(&format!("  t2l {sub} ")), "{sub}: {help}");
        for flag in ["--device", "--json", "--quiet", "--seed"] {
            assert!(help.contains(flag), "{sub} --help lacks {flag}");
        }
    }
}

#[test]
fn an_unknown_device_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_t2l"))
        .args(["inspect", "x", "--device", "tpu"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown device `tpu`"));
}
