//! `--device cpu|cuda[:N]|wgpu`: picking a burn backend at run time among those compiled in.

use std::fmt;
use std::str::FromStr;

use burn::prelude::Backend;

use crate::error::CliError;

/// A device named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// burn's pure-Rust `flex` CPU backend (feature `flex`, the default).
    Cpu,
    /// An NVIDIA GPU through burn-cuda (feature `cuda`), by index.
    Cuda(usize),
    /// The default wgpu adapter (Vulkan/Metal/DX12; feature `wgpu`).
    Wgpu,
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" | "flex" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            "wgpu" | "vulkan" => Ok(Self::Wgpu),
            other => match other.strip_prefix("cuda:") {
                Some(n) => n
                    .parse()
                    .map(Self::Cuda)
                    .map_err(|_| format!("bad CUDA device index in `{other}`")),
                None => Err(format!(
                    "unknown device `{other}` (expected cpu, cuda, cuda:N or wgpu)"
                )),
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Wgpu => write!(f, "wgpu"),
        }
    }
}

/// Work that can run on any backend; the CLI picks the backend from a [`DeviceChoice`].
pub trait BackendTask {
    /// What the task returns.
    type Output;
    /// Runs on backend `B` and `device`.
    fn run<B: Backend>(self, device: B::Device) -> Result<Self::Output, CliError>;
}

// Unused only in a build that has every backend compiled in.
#[cfg_attr(
    all(feature = "flex", feature = "cuda", feature = "wgpu"),
    allow(dead_code)
)]
fn not_compiled(choice: DeviceChoice, feature: &str) -> CliError {
    CliError::Device(format!(
        "device `{choice}` needs the `{feature}` feature; this t2l was built without it \
         (rebuild with `cargo build -p t2l-cli --features {feature}`)"
    ))
}

/// Checks that a CUDA driver can be loaded before burn-cuda touches it (it panics otherwise).
#[cfg(feature = "cuda")]
fn cuda_driver_present() -> bool {
    ["libcuda.so.1", "libcuda.so"].iter().any(|lib| {
        std::ffi::CString::new(*lib)
            .map(|name| {
                // SAFETY: dlopen with RTLD_LAZY on a library name; the handle is closed at once.
                unsafe {
                    let h = libc_dlopen(name.as_ptr());
                    !h.is_null()
                }
            })
            .unwrap_or(false)
    })
}

#[cfg(feature = "cuda")]
unsafe fn libc_dlopen(name: *const std::os::raw::c_char) -> *mut std::ffi::c_void {
    unsafe extern "C" {
        fn dlopen(
            filename: *const std::os::raw::c_char,
            flag: std::os::raw::c_int,
        ) -> *mut std::ffi::c_void;
    }
    const RTLD_LAZY: std::os::raw::c_int = 1;
    unsafe { dlopen(name, RTLD_LAZY) }
}

/// Opens the default wgpu adapter before burn does: burn (cubecl-wgpu) panics when no adapter
/// exists ("No possible adapter available for backend"), so the first initialisation runs here
/// under `catch_unwind` with the panic message silenced, and turns that case into an error.
/// The runtime it creates is the one burn then uses for `WgpuDevice::default()`.
#[cfg(feature = "wgpu")]
pub fn wgpu_ready() -> Result<(), CliError> {
    use burn::backend::wgpu::{RuntimeOptions, WgpuDevice, graphics::AutoGraphicsApi, init_setup};
    use std::sync::OnceLock;
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let outcome = std::panic::catch_unwind(|| {
                init_setup::<AutoGraphicsApi>(&WgpuDevice::default(), RuntimeOptions::default());
            });
            std::panic::set_hook(hook);
            outcome.map_err(|panic| {
                let why = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("unknown reason");
                format!(
                    "no wgpu adapter (Vulkan/Metal/DX12) on this machine: {why} \
                     (on a machine without a GPU, Mesa's lavapipe provides one: \
                     apt-get install mesa-vulkan-drivers libvulkan1)"
                )
            })
        })
        .clone()
        .map_err(CliError::Device)
}

/// Runs `task` on the backend that `choice` names.
// Each arm returns from whichever of its `cfg` branches is compiled in; with a GPU feature on,
// clippy sees that branch's `return` as the block's last expression.
#[allow(clippy::needless_return)]
pub fn run_on<T: BackendTask>(choice: DeviceChoice, task: T) -> Result<T::Output, CliError> {
    match choice {
        DeviceChoice::Cpu => {
            #[cfg(feature = "flex")]
            return task.run::<burn::backend::Flex>(Default::default());
            #[cfg(not(feature = "flex"))]
            return Err(not_compiled(choice, "flex"));
        }
        DeviceChoice::Cuda(_index) => {
            #[cfg(feature = "cuda")]
            {
                if !cuda_driver_present() {
                    return Err(CliError::Device(
                        "no CUDA driver (libcuda.so) found on this machine".into(),
                    ));
                }
                return task
                    .run::<burn::backend::Cuda>(burn::backend::cuda::CudaDevice::new(_index));
            }
            #[cfg(not(feature = "cuda"))]
            return Err(not_compiled(choice, "cuda"));
        }
        DeviceChoice::Wgpu => {
            #[cfg(feature = "wgpu")]
            {
                wgpu_ready()?;
                return task.run::<burn::backend::Wgpu>(burn::backend::wgpu::WgpuDevice::default());
            }
            #[cfg(not(feature = "wgpu"))]
            return Err(not_compiled(choice, "wgpu"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda".parse(), Ok(DeviceChoice::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(DeviceChoice::Cuda(3)));
        assert_eq!("wgpu".parse(), Ok(DeviceChoice::Wgpu));
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
        assert!("tpu".parse::<DeviceChoice>().unwrap_err().contains("tpu"));
    }
}
