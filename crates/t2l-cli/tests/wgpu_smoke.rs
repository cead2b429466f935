//! wgpu smoke test (feature `wgpu`; not part of the default `cargo test`): `t2l --device wgpu`
//! works on an adapter and fails with one line without one. The numerics on wgpu (every crate's
//! core path against flex, f16/bf16 matmuls) are `backend_parity.rs`, run the same way.
//!
//! Runs on a machine without a GPU through Mesa's lavapipe Vulkan driver:
//!
//! ```text
//! apt-get install -y --no-install-recommends mesa-vulkan-drivers libvulkan1
//! XDG_RUNTIME_DIR=$(mktemp -d) CUBECL_WGPU_DEFAULT_DEVICE=Cpu \
//!     cargo test -p t2l-cli --features wgpu --test wgpu_smoke
//! ```
#![cfg(feature = "wgpu")]

use std::process::Command;

/// `t2l --device wgpu` runs on the adapter; with the Vulkan loader pointed at no driver it is
/// one error line naming the problem, not a panic.
#[test]
fn cli_on_wgpu_and_without_an_adapter() {
    let t2l = || Command::new(env!("CARGO_BIN_EXE_t2l"));
    let args = [
        "--device",
        "wgpu",
        "--json",
        "bench",
        "generate",
        "--tiny",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--variant",
        "L",
    ];
    let out = t2l().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["device"], "wgpu");
    assert!(v["results"][0]["timing"]["median_s"].as_f64().unwrap() > 0.0);

    let out = t2l()
        .args(args)
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no wgpu adapter"), "{err}");
}
