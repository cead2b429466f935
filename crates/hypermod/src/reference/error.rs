//! [`ReferenceError`]: what can go wrong reading a reference (PyTorch) checkpoint directory.

/// Everything that can go wrong importing a reference checkpoint directory (`hypermod.pt`,
/// `args.yaml`, `adapter_config.json`, `module_order.json`).
///
/// Every variant names the file at fault and, where there is one, the tensor key or field.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// Reading a file failed.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The checkpoint is not a readable zip archive (truncated, not a zip, compressed with a method
    /// we do not read) or an entry of it cannot be read.
    #[error("{file}: not a readable PyTorch zip checkpoint: {reason}")]
    Zip {
        /// The checkpoint file.
        file: String,
        /// What the zip reader reported.
        reason: String,
    },
    /// An entry the checkpoint format requires is absent from the archive.
    #[error("{file}: archive entry `{entry}` is missing")]
    MissingEntry {
        /// The checkpoint file.
        file: String,
        /// The entry (`<prefix>/data.pkl`, `<prefix>/data/3`, ...).
        entry: String,
    },
    /// The pickle program uses an opcode outside the data-only subset that state dicts need.
    #[error(
        "{file}: pickle opcode {name} (0x{opcode:02x}) at byte {offset} is not allowed in a state dict (refused, nothing executed)"
    )]
    ForbiddenOpcode {
        /// The checkpoint file.
        file: String,
        /// The opcode byte.
        opcode: u8,
        /// Its name in Python's `pickletools` (or `unknown`).
        name: &'static str,
        /// Byte offset inside `data.pkl`.
        offset: usize,
    },
    /// The pickle program refers to a Python global outside the allow-list
    /// (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
    /// `torch._utils._rebuild_parameter`, `torch.*Storage`).
    #[error("{file}: pickle global `{module}.{name}` is not allowed (refused, nothing executed)")]
    ForbiddenGlobal {
        /// The checkpoint file.
        file: String,
        /// The Python module.
        module: String,
        /// The name inside the module.
        name: String,
    },
    /// The pickle program is malformed (truncated, stack underflow, wrong argument types).
    #[error("{file}: malformed pickle at byte {offset}: {reason}")]
    Pickle {
        /// The checkpoint file.
        file: String,
        /// Byte offset inside `data.pkl`.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The unpickled object is not a state dict (a mapping from names to tensors).
    #[error("{file}: not a state dict: {reason}")]
    NotAStateDict {
        /// The checkpoint file.
        file: String,
        /// What was found instead.
        reason: String,
    },
    /// A tensor's storage has an element type we do not read (we read f32, f16, bf16 and f64).
    #[error(
        "{file}: tensor `{key}` is stored as {dtype}; only float storages (f32, f16, bf16, f64) are read"
    )]
    Dtype {
        /// The checkpoint file.
        file: String,
        /// The state-dict key.
        key: String,
        /// The storage type found (`LongStorage`, ...).
        dtype: String,
    },
    /// A tensor view reaches outside its storage, or a storage is shorter than declared.
    #[error("{file}: tensor `{key}`: {reason}")]
    Storage {
        /// The checkpoint file.
        file: String,
        /// The state-dict key.
        key: String,
        /// What is inconsistent.
        reason: String,
    },
    /// The `byteorder` entry holds something other than `little` or `big`.
    #[error("{file}: unknown byte order {found:?}")]
    ByteOrder {
        /// The checkpoint file.
        file: String,
        /// The entry's content.
        found: String,
    },
    /// A YAML file (`args.yaml`) could not be parsed or has a field of the wrong type.
    #[error("{file}: invalid YAML: {source}")]
    Yaml {
        /// The YAML file.
        file: String,
        /// The parser error (it names the field).
        source: serde_yaml_ng::Error,
    },
    /// A JSON file (`module_order.json`) could not be parsed.
    #[error("{file}: invalid JSON: {source}")]
    Json {
        /// The JSON file.
        file: String,
        /// The parser error.
        source: serde_json::Error,
    },
    /// A field of `args.yaml`, `adapter_config.json` or `module_order.json` has a value the import
    /// cannot use, or the files disagree with each other or with the checkpoint.
    #[error("{file}: field `{field}`: {reason}")]
    Field {
        /// The file.
        file: String,
        /// The field at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A tensor the import needs is absent from the state dict.
    #[error("{file}: missing tensor `{key}`")]
    MissingKey {
        /// The checkpoint file.
        file: String,
        /// The state-dict key.
        key: String,
    },
    /// `adapter_config.json` is unreadable or not a LoRA config (from `lora-core`, naming the file).
    #[error(transparent)]
    Lora(#[from] lora_core::Error),
    /// A tensor has another rank or shape than the import needs.
    #[error("{file}: tensor `{key}`: expected shape {expected}, found {found:?}")]
    Shape {
        /// The checkpoint file.
        file: String,
        /// The state-dict key.
        key: String,
        /// The shape required (`[3, 2, *]` style: `*` where any size is accepted).
        expected: String,
        /// The shape present.
        found: Vec<usize>,
    },
}

impl ReferenceError {
    pub(crate) fn io(file: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            file: file.display().to_string(),
            source,
        }
    }

    pub(crate) fn field(file: &str, field: &str, reason: impl Into<String>) -> Self {
        Self::Field {
            file: file.to_string(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}
