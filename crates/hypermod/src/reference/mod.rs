//! Import of checkpoints of the public PyTorch reference (SakanaAI/text-to-lora, reference notes §6).
//!
//! A reference checkpoint directory holds `hypermod.pt` (`torch.save(hypermod.state_dict())`),
//! `args.yaml` (the training arguments) and `adapter_config.json` (the PEFT LoRA config), and may
//! carry a `module_order.json` (a JSON list of module names) that fixes which row of the
//! module-type embedding each module uses.
//!
//! - [`torch_file::read_state_dict`]: a data-only reader for PyTorch zip checkpoints (a restricted
//!   pickle interpreter, [`pickle`], that refuses every opcode and global a state dict does not need).
//! - [`ReferenceArgs`]: the architecture fields of `args.yaml`.
//! - [`ReferenceCheckpoint`]: the directory mapped onto a [`crate::HyperConfig`] and hypermod's
//!   named tensors (which use the reference's state-dict names); [`crate::HyperModulator::import_reference`]
//!   builds the hypernetwork from it.
//!
//! ```no_run
//! use burn::backend::Flex;
//! use hypermod::HyperModulator;
//! use hypermod::reference::ImportOptions;
//! let device = Default::default();
//! let hnet = HyperModulator::<Flex>::import_reference(
//!     "trained_t2l/mistral_7b_t2l".as_ref(),
//!     &ImportOptions::default(),
//!     &device,
//! )?;
//! # Ok::<(), hypermod::Error>(())
//! ```

pub mod args;
pub mod error;
pub mod import;
pub mod pickle;
pub mod torch_file;

pub use args::ReferenceArgs;
pub use error::ReferenceError;
pub use import::{
    ADAPTER_CONFIG_FILE, ARGS_FILE, CHECKPOINT_FILE, ImportOptions, MODULE_ORDER_FILE,
    ModuleOrderSource, ReferenceCheckpoint, is_reference_dir,
};
pub use torch_file::{StateDict, read_state_dict};
