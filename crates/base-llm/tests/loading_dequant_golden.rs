//! Dequantization against the `gguf` Python package (fixture made by
//! `scripts/golden/gguf_dequant.py`): random valid blocks of every supported type and real blocks
//! of the SmolLM2 file agree within 1e-6 (relative to max(1, |value|)).

use std::path::PathBuf;

use base_llm::loading::gguf::{GgmlType, can_dequantize, dequantize};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn every_type_matches_gguf_python() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/loading/gguf_dequant.json");
    let fx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = fx["cases"].as_array().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let ty = GgmlType(c["type_id"].as_u64().unwrap() as u32);
        assert_eq!(ty.name(), c["type"].as_str().unwrap(), "{name}: type name");
        let got = dequantize(ty, &hex(c["hex"].as_str().unwrap())).expect(name);
        let want: Vec<f32> = c["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(got.len(), want.len(), "{name}: length");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                "{name}[{i}]: {g} vs gguf {w}"
            );
        }
        seen.insert(ty.name());
    }
    for t in [
        "F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K",
    ] {
        assert!(seen.contains(t), "fixture lacks {t}");
    }
}

#[test]
fn unsupported_types_and_partial_blocks_are_refused() {
    assert!(!can_dequantize(GgmlType::Q2_K));
    assert!(dequantize(GgmlType::Q2_K, &[0; 84]).is_none());
    assert!(dequantize(GgmlType(99), &[0; 32]).is_none());
    // 33 bytes is not a whole Q8_0 block (34 bytes).
    assert!(dequantize(GgmlType::Q8_0, &[0; 33]).is_none());
    assert_eq!(dequantize(GgmlType::Q8_0, &[]).unwrap(), Vec::<f32>::new());
}
