//! Malformed reference checkpoints give typed errors that name the file and the key or field at
//! fault: truncated or non-zip files, missing archive entries, missing or mis-shaped tensors,
//! unsupported or inconsistent `args.yaml` / `module_order.json`.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use burn::backend::Flex;
use burn::tensor::TensorData;
use hypermod::reference::{
    ImportOptions, ReferenceArgs, ReferenceCheckpoint, ReferenceError, StateDict, read_state_dict,
};
use hypermod::{Error, HyperModulator, TensorProblem};
use lora_core::LoraConfig;

type B = Flex;

fn case_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(name)
}

/// The parts of the `s_sft` fixture (S variant, head bias), ready to be damaged.
fn parts() -> (StateDict, ReferenceArgs, LoraConfig, Vec<String>) {
    let dir = case_dir("s_sft");
    let sd = read_state_dict(&dir.join("hypermod.pt")).unwrap();
    let args = ReferenceArgs::from_yaml_file(&dir.join("args.yaml")).unwrap();
    let lora = LoraConfig::from_json_file(&dir.join("adapter_config.json")).unwrap();
    let order = lora.target_modules.clone();
    (sd, args, lora, order)
}

fn map(
    sd: StateDict,
    args: ReferenceArgs,
    lora: LoraConfig,
    order: Vec<String>,
) -> Result<ReferenceCheckpoint, ReferenceError> {
    ReferenceCheckpoint::from_parts(sd, args, lora, order, "damaged/hypermod.pt")
}

/// A copy of `dir`'s reference files in a temporary directory, with `hypermod.pt` replaced.
fn dir_with_checkpoint(bytes: &[u8]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["args.yaml", "adapter_config.json"] {
        std::fs::copy(case_dir("s_sft").join(f), tmp.path().join(f)).unwrap();
    }
    std::fs::write(tmp.path().join("hypermod.pt"), bytes).unwrap();
    tmp
}

fn import(dir: &Path) -> Result<HyperModulator<B>, Error> {
    HyperModulator::<B>::import_reference(dir, &ImportOptions::default(), &Default::default())
}

#[test]
fn a_truncated_checkpoint_is_a_zip_error_naming_the_file() {
    let bytes = std::fs::read(case_dir("s_sft").join("hypermod.pt")).unwrap();
    for cut in [bytes.len() / 2, bytes.len() - 10, 0] {
        let tmp = dir_with_checkpoint(&bytes[..cut]);
        let e = import(tmp.path()).unwrap_err();
        match &e {
            Error::Reference(ReferenceError::Zip { file, .. }) => {
                assert!(file.ends_with("hypermod.pt"), "{file}")
            }
            other => panic!("cut at {cut}: expected a zip error, got {other:?}"),
        }
        assert!(e.to_string().contains("hypermod.pt"), "{e}");
    }
}

#[test]
fn a_missing_storage_entry_is_named() {
    // Rewrite the archive without the entry of the first storage.
    let bytes = std::fs::read(case_dir("s_sft").join("hypermod.pt")).unwrap();
    let mut src = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..src.len() {
        let mut f = src.by_index(i).unwrap();
        if f.name() == "hypermod/data/0" {
            continue;
        }
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).unwrap();
        out.start_file(f.name().to_string(), opts).unwrap();
        out.write_all(&buf).unwrap();
    }
    let damaged = out.finish().unwrap().into_inner();
    let e = hypermod::reference::torch_file::read_state_dict_from(Cursor::new(damaged), "mem.pt")
        .unwrap_err();
    assert!(
        matches!(&e, ReferenceError::MissingEntry { file, entry } if file == "mem.pt" && entry == "hypermod/data/0"),
        "{e:?}"
    );
}

#[test]
fn a_missing_tensor_is_named() {
    // Needed by the mapping itself: a typed import error.
    let (mut sd, args, lora, order) = parts();
    sd.remove("task_encoder.mlp.0.weight");
    let e = map(sd, args, lora, order).unwrap_err();
    assert!(
        matches!(&e, ReferenceError::MissingKey { file, key } if file == "damaged/hypermod.pt" && key == "task_encoder.mlp.0.weight"),
        "{e:?}"
    );
    // Needed only by the module tree: every problem is listed by hypermod's loader.
    let (mut sd, args, lora, order) = parts();
    sd.remove("mixer.1.weight");
    sd.remove("heads.q_proj.bias");
    let e = map(sd, args.clone(), lora.clone(), order.clone()).unwrap_err();
    assert!(
        matches!(&e, ReferenceError::MissingKey { key, .. } if key == "heads.q_proj.bias"),
        "a head without its bias while the other has one: {e:?}"
    );
    let (mut sd, ..) = parts();
    sd.remove("mixer.1.weight");
    let ckpt = map(sd, args, lora, order).unwrap();
    let e = ckpt
        .into_modulator::<B>(&Default::default(), "damaged/hypermod.pt")
        .unwrap_err();
    match &e {
        Error::Tensors { origin, problems } => {
            assert_eq!(origin, "damaged/hypermod.pt");
            assert_eq!(
                problems,
                &[TensorProblem::Missing {
                    name: "mixer.1.weight".into(),
                    expected: vec![64, 16]
                }]
            );
        }
        other => panic!("expected a tensor mismatch, got {other:?}"),
    }
}

#[test]
fn a_wrong_shape_is_named() {
    let (mut sd, args, lora, order) = parts();
    sd.insert(
        "AB_offset.A.q_proj".into(),
        TensorData::new(vec![0f32; 6], [3, 2]),
    );
    let e = map(sd, args.clone(), lora.clone(), order.clone()).unwrap_err();
    assert!(
        matches!(&e, ReferenceError::Shape { key, found, .. } if key == "AB_offset.A.q_proj" && found == &[3, 2]),
        "{e:?}"
    );
    let (mut sd, ..) = parts();
    sd.insert(
        "heads.v_proj.weight".into(),
        TensorData::new(vec![0f32; 24 * 15], [15, 24]),
    );
    let e = map(sd, args, lora, order)
        .unwrap()
        .into_modulator::<B>(&Default::default(), "damaged/hypermod.pt")
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("`heads.v_proj.weight`: expected [16, 24], found [15, 24]"),
        "{e}"
    );
}

#[test]
fn unsupported_or_inconsistent_settings_name_the_field() {
    let field_of = |e: ReferenceError| match e {
        ReferenceError::Field { field, .. } => field,
        other => panic!("expected a field error, got {other:?}"),
    };
    let (sd, args, lora, order) = parts();
    let with = |f: &dyn Fn(&mut ReferenceArgs)| {
        let mut a = args.clone();
        f(&mut a);
        field_of(map(sd.clone(), a, lora.clone(), order.clone()).unwrap_err())
    };
    assert_eq!(with(&|a| a.encoder_type = "vq".into()), "encoder_type");
    assert_eq!(with(&|a| a.learnable_pos_emb = true), "learnable_pos_emb");
    assert_eq!(
        with(&|a| a.use_one_hot_task_emb = true),
        "use_one_hot_task_emb"
    );
    assert_eq!(with(&|a| a.shared_ab_head = false), "autoreg_gen");
    assert_eq!(with(&|a| a.training_task = "dpo".into()), "training_task");
    assert_eq!(
        with(&|a| {
            a.training_task = "recon".into();
            a.pred_z_score = true;
            a.factorized = false;
        }),
        "pred_z_score"
    );
    assert_eq!(
        with(&|a| a.target_modules = Some(vec!["q_proj".into(), "k_proj".into()])),
        "target_modules"
    );
    let e = map(sd, args, lora, vec!["q_proj".into(), "o_proj".into()]).unwrap_err();
    assert_eq!(field_of(e), "module_order");
}

#[test]
fn bad_side_files_name_the_file() {
    let bytes = std::fs::read(case_dir("s_sft").join("hypermod.pt")).unwrap();
    let tmp = dir_with_checkpoint(&bytes);
    std::fs::write(tmp.path().join("module_order.json"), "{\"q_proj\": 0}").unwrap();
    let e = import(tmp.path()).unwrap_err();
    assert!(
        matches!(&e, Error::Reference(ReferenceError::Json { file, .. }) if file.ends_with("module_order.json")),
        "{e:?}"
    );
    std::fs::remove_file(tmp.path().join("module_order.json")).unwrap();
    std::fs::write(
        tmp.path().join("args.yaml"),
        "hypernet_latent_size: [1, 2]\n",
    )
    .unwrap();
    let e = import(tmp.path()).unwrap_err();
    assert!(
        matches!(&e, Error::Reference(ReferenceError::Yaml { file, .. }) if file.ends_with("args.yaml")),
        "{e:?}"
    );
    assert!(e.to_string().contains("hypernet_latent_size"), "{e}");
    std::fs::remove_file(tmp.path().join("args.yaml")).unwrap();
    let e = import(tmp.path()).unwrap_err();
    assert!(
        matches!(&e, Error::Reference(ReferenceError::Io { file, .. }) if file.ends_with("args.yaml")),
        "{e:?}"
    );
}
