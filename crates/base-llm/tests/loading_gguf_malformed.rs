//! Malformed GGUF files give typed errors naming the file, key or tensor — never a panic:
//! wrong magic, unsupported version, every truncation, data out of range, unknown and
//! unsupported tensor types, missing config keys, bad value types, lying counts, random damage.

mod loading_support;

use std::path::Path;

use base_llm::Error;
use base_llm::config::Architecture;
use base_llm::loading::gguf::reader::parse_header;
use base_llm::loading::gguf::{GgufFile, GgufValue};
use base_llm::loading::{LoadError, load_checkpoint};
use loading_support::{GgufBuilder, RawTensor, tiny_config, tiny_gguf, write_temp};
use proptest::prelude::*;

fn open_bytes(bytes: &[u8]) -> base_llm::Result<GgufFile> {
    let (_dir, path) = write_temp("bad.gguf", bytes);
    GgufFile::open(&path)
}

fn load_err(e: Error) -> LoadError {
    match e {
        Error::Load(l) => l,
        other => panic!("expected a load error, got {other:?}"),
    }
}

#[test]
fn wrong_magic_and_empty_file() {
    let mut bytes = tiny_gguf(&tiny_config(Architecture::Llama, true), 1)
        .0
        .build();
    bytes[3] = b'X';
    match load_err(open_bytes(&bytes).unwrap_err()) {
        LoadError::BadMagic { found, .. } => assert_eq!(found, b"GGUX"),
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        load_err(open_bytes(&[]).unwrap_err()),
        LoadError::BadMagic { .. }
    ));
    assert!(matches!(
        load_err(open_bytes(b"GG").unwrap_err()),
        LoadError::BadMagic { .. }
    ));
}

#[test]
fn unsupported_version() {
    let mut b = GgufBuilder::new().kv("a", GgufValue::U8(1));
    b.version = 1;
    match load_err(open_bytes(&b.build()).unwrap_err()) {
        LoadError::UnsupportedVersion { version, .. } => assert_eq!(version, 1),
        e => panic!("{e:?}"),
    }
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = tiny_gguf(&tiny_config(Architecture::Llama, true), 1)
        .0
        .build();
    let path = Path::new("cut.gguf");
    let full = parse_header(path, &bytes).unwrap();
    for n in 0..bytes.len() {
        let r = parse_header(path, &bytes[..n]);
        match r {
            Err(LoadError::BadMagic { .. })
            | Err(LoadError::Truncated { .. })
            | Err(LoadError::TensorOutOfRange { .. }) => {}
            Ok(_) => panic!("a file cut at {n} of {} bytes parsed", bytes.len()),
            Err(e) => panic!("cut at {n}: unexpected error {e}"),
        }
        // Cut inside the header: the message says what was being read.
        if n > 24 && (n as u64) < full.data_offset - 32 {
            let msg = parse_header(path, &bytes[..n]).unwrap_err().to_string();
            assert!(
                msg.contains("cut.gguf") && msg.contains("truncated"),
                "{msg}"
            );
        }
    }
    // Through the file API too.
    let e = load_err(open_bytes(&bytes[..bytes.len() - 1]).unwrap_err());
    assert!(matches!(e, LoadError::TensorOutOfRange { .. }), "{e:?}");
}

#[test]
fn tensor_data_out_of_range_names_the_tensor() {
    let mut b = GgufBuilder::new();
    b.tensors.push(RawTensor {
        name: "far.weight".into(),
        dims: vec![4],
        type_id: 0,
        data: vec![0; 16],
        offset_override: Some(1 << 20),
    });
    match load_err(open_bytes(&b.build()).unwrap_err()) {
        LoadError::TensorOutOfRange { tensor, offset, .. } => {
            assert_eq!(tensor, "far.weight");
            assert!(offset >= 1 << 20);
        }
        e => panic!("{e:?}"),
    }
    // An offset near u64::MAX must not overflow.
    b.tensors[0].offset_override = Some(u64::MAX - 31);
    assert!(matches!(
        load_err(open_bytes(&b.build()).unwrap_err()),
        LoadError::TensorOutOfRange { .. }
    ));
    // A hand-made info pointing outside an open file.
    b.tensors[0].offset_override = None;
    let (_dir, path) = write_temp("ok.gguf", &b.build());
    let file = GgufFile::open(&path).unwrap();
    let mut info = file.tensors[0].clone();
    info.offset = u64::MAX - 7;
    assert!(matches!(
        load_err(file.tensor_bytes(&info).unwrap_err()),
        LoadError::TensorOutOfRange { .. }
    ));
    assert!(file.dequantize_info(&info).is_err());
    // A misaligned offset.
    b.tensors[0].offset_override = Some(3);
    assert!(matches!(
        load_err(open_bytes(&b.build()).unwrap_err()),
        LoadError::TensorShape { .. }
    ));
}

#[test]
fn unknown_and_unsupported_tensor_types_name_tensor_and_id() {
    let config = tiny_config(Architecture::Llama, true);
    for (type_id, type_name) in [(99u32, "unknown"), (10, "Q2_K")] {
        let (mut b, _) = tiny_gguf(&config, 1);
        let t = b
            .tensors
            .iter_mut()
            .find(|t| t.name == "blk.1.ffn_up.weight")
            .unwrap();
        t.type_id = type_id;
        if type_id == 10 {
            // Q2_K needs rows of whole 256-weight super-blocks: two of them.
            t.dims = vec![256, 2];
            t.data.truncate(2 * 84);
        }
        let (_dir, path) = write_temp("m.gguf", &b.build());
        let file = GgufFile::open(&path).expect("an unknown type does not stop opening");
        let check = |e: LoadError| match e {
            LoadError::UnsupportedTensorType {
                tensor,
                type_id: id,
                type_name: n,
                ..
            } => {
                assert_eq!(tensor, "blk.1.ffn_up.weight");
                assert_eq!((id, n.as_str()), (type_id, type_name));
            }
            e => panic!("{e:?}"),
        };
        check(load_err(
            file.tensor_f32("blk.1.ffn_up.weight").unwrap_err(),
        ));
        check(load_err(load_checkpoint(&path).unwrap_err()));
    }
}

#[test]
fn missing_config_keys_are_named() {
    let config = tiny_config(Architecture::Llama, true);
    for key in [
        "llama.block_count",
        "llama.embedding_length",
        "llama.feed_forward_length",
        "llama.attention.head_count",
        "llama.context_length",
        "llama.attention.layer_norm_rms_epsilon",
        "general.architecture",
    ] {
        let (mut b, _) = tiny_gguf(&config, 1);
        b.remove(key);
        let (_dir, path) = write_temp("m.gguf", &b.build());
        match load_err(load_checkpoint(&path).unwrap_err()) {
            LoadError::MissingKey { key: k, path: p } => {
                assert_eq!(k, key);
                assert_eq!(p, path);
            }
            e => panic!("{key}: {e:?}"),
        }
    }
    // A key of the wrong type.
    let (mut b, _) = tiny_gguf(&config, 1);
    b.remove("llama.block_count");
    b.metadata
        .push(("llama.block_count".into(), GgufValue::String("two".into())));
    let (_dir, path) = write_temp("m.gguf", &b.build());
    assert!(matches!(
        load_err(load_checkpoint(&path).unwrap_err()),
        LoadError::KeyType { key, .. } if key == "llama.block_count"
    ));
}

#[test]
fn unsupported_architecture_and_unknown_tensor_name() {
    let config = tiny_config(Architecture::Llama, true);
    let (mut b, _) = tiny_gguf(&config, 1);
    b.metadata[0].1 = GgufValue::String("gemma3".into());
    let (_dir, path) = write_temp("m.gguf", &b.build());
    assert!(matches!(
        load_err(load_checkpoint(&path).unwrap_err()),
        LoadError::UnsupportedArchitecture { arch, .. } if arch == "gemma3"
    ));
    let (mut b, _) = tiny_gguf(&config, 1);
    b.tensors[0].name = "blk.0.attn_q_norm.weight".into();
    let (_dir, path) = write_temp("m.gguf", &b.build());
    assert!(matches!(
        load_err(load_checkpoint(&path).unwrap_err()),
        LoadError::UnknownTensorName { tensor, .. } if tensor == "blk.0.attn_q_norm.weight"
    ));
}

#[test]
fn bad_value_types_and_lying_counts() {
    // Value type 13 does not exist.
    let mut bytes = GgufBuilder::new().kv("k", GgufValue::U8(1)).build();
    let type_pos = 4 + 4 + 8 + 8 + 8 + 1;
    bytes[type_pos] = 13;
    assert!(matches!(
        load_err(open_bytes(&bytes).unwrap_err()),
        LoadError::Malformed { .. }
    ));
    // A string array announcing 2^40 elements in a small file: an error, not an allocation.
    let mut b = GgufBuilder::new().kv("a", GgufValue::Array(vec![GgufValue::U8(1)]));
    let mut bytes = b.build();
    let count_pos = 24 + 8 + 1 + 4 + 4;
    bytes[count_pos..count_pos + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(
        load_err(open_bytes(&bytes).unwrap_err()),
        LoadError::Truncated { .. }
    ));
    // A tensor count of u64::MAX.
    b.tensors.clear();
    let mut bytes = b.build();
    bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        load_err(open_bytes(&bytes).unwrap_err()),
        LoadError::Truncated { .. }
    ));
    // A non-power-of-two alignment.
    let bytes = GgufBuilder::new()
        .kv("general.alignment", GgufValue::U32(24))
        .build();
    assert!(matches!(
        load_err(open_bytes(&bytes).unwrap_err()),
        LoadError::Malformed { .. }
    ));
    // Invalid UTF-8 in a key.
    let mut bytes = GgufBuilder::new().kv("k", GgufValue::U8(1)).build();
    bytes[24 + 8] = 0xFF;
    assert!(matches!(
        load_err(open_bytes(&bytes).unwrap_err()),
        LoadError::Malformed { .. }
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Random byte damage anywhere in a small model file: parsing and loading never panic.
    #[test]
    fn random_damage_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let (b, _) = tiny_gguf(&tiny_config(Architecture::Llama, true), 1);
        let mut bytes = b.build();
        let header_len = parse_header(Path::new("x"), &bytes).unwrap().data_offset as usize;
        for (i, v) in edits {
            let at = i.index(header_len);
            bytes[at] = v;
        }
        if parse_header(Path::new("x"), &bytes).is_ok() {
            let (_dir, path) = write_temp("d.gguf", &bytes);
            let _ = load_checkpoint(&path);
        }
    }
}
