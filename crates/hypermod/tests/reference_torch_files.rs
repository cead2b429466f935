//! The data-only PyTorch checkpoint reader against files written by `torch.save`
//! (`scripts/golden/t2l_reference_torch_files.py`): strided views sharing a storage, storage
//! offsets, f16/bf16/f64, 0-d and empty tensors, parameters, pickle protocols 2 and 4; and the
//! refusal of a pickle that would call `os.system`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hypermod::reference::{ReferenceError, read_state_dict};
use serde::Deserialize;

#[derive(Deserialize)]
struct Entry {
    shape: Vec<usize>,
    values: Vec<f32>,
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference/torch_files")
        .join(name)
}

fn check_views(file: &str) {
    let text = std::fs::read_to_string(fixture("views.json")).unwrap();
    let expected: BTreeMap<String, Entry> = serde_json::from_str(&text).unwrap();
    let sd = read_state_dict(&fixture(file)).unwrap();
    assert_eq!(
        sd.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{file}"
    );
    for (key, want) in &expected {
        let t = &sd[key];
        assert_eq!(t.shape.to_vec(), want.shape, "{file}: {key}");
        // Every value is converted exactly as torch's `.float()` does (bit-for-bit).
        assert_eq!(
            t.as_slice::<f32>().unwrap(),
            want.values.as_slice(),
            "{file}: {key}"
        );
    }
}

#[test]
fn reads_every_view_and_dtype_with_protocol_2() {
    check_views("views.pt");
}

#[test]
fn reads_every_view_and_dtype_with_protocol_4() {
    check_views("views_p4.pt");
}

#[test]
fn refuses_a_pickle_that_would_run_a_command() {
    let e = read_state_dict(&fixture("forbidden_global.pt")).unwrap_err();
    match &e {
        ReferenceError::ForbiddenGlobal { file, module, name } => {
            assert!(file.ends_with("forbidden_global.pt"), "{file}");
            assert_eq!((module.as_str(), name.as_str()), ("posix", "system"));
        }
        other => panic!("expected ForbiddenGlobal, got {other:?}"),
    }
    assert!(e.to_string().contains("posix.system"), "{e}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Corrupting bytes anywhere in a real checkpoint gives `Ok` or a typed error, never a panic.
    #[test]
    fn corrupted_checkpoints_never_panic(
        edits in proptest::collection::vec((0usize..4000, proptest::num::u8::ANY), 1..8),
    ) {
        let mut bytes = std::fs::read(fixture("views.pt")).unwrap();
        for (pos, byte) in edits {
            let i = pos % bytes.len();
            bytes[i] = byte;
        }
        let _ = hypermod::reference::torch_file::read_state_dict_from(
            std::io::Cursor::new(bytes),
            "corrupted.pt",
        );
    }
}
