//! The two hardware ceilings every benchmark is compared with, measured through burn in the same
//! process on the same device: GEMM throughput (FLOP/s) and memory bandwidth (bytes/s).

use burn::prelude::*;
use burn::tensor::Distribution;
use serde::Serialize;

use crate::error::{BenchError, sync};
use crate::timing::{Timing, time_iters};

/// Problem sizes of the ceiling measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CeilingSizes {
    /// `n` of the square `[n, n] × [n, n]` f32 GEMM (`2·n³` FLOPs).
    pub gemm_n: usize,
    /// f32 elements of the streamed tensor.
    pub stream_elems: usize,
}

impl CeilingSizes {
    /// Fast sizes for tests (the numbers mean little).
    pub const TINY: Self = Self {
        gemm_n: 128,
        stream_elems: 1 << 16,
    };
    /// CPU: a 1024² GEMM (2.1 GFLOP) and 2²⁶ floats (256 MiB, far beyond any cache).
    pub const CPU: Self = Self {
        gemm_n: 1024,
        stream_elems: 1 << 26,
    };
    /// GPU: an 8192² GEMM (1.1 TFLOP) and 2²⁸ floats (1 GiB).
    pub const GPU: Self = Self {
        gemm_n: 8192,
        stream_elems: 1 << 28,
    };

    /// [`Self::CPU`] on burn's CPU backends (`flex`, `ndarray`), else [`Self::GPU`].
    pub fn for_backend(backend_name: &str) -> Self {
        let name = backend_name.to_ascii_lowercase();
        if name.contains("flex") || name.contains("ndarray") {
            Self::CPU
        } else {
            Self::GPU
        }
    }
}

/// The measured ceilings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ceilings {
    /// Sizes used.
    pub sizes: CeilingSizes,
    /// f32 GEMM throughput, GFLOP/s (median run).
    pub gemm_gflops: f64,
    /// Streaming bandwidth, GB/s (10⁹ bytes/s): the better of a full reduction (`sum`: reads
    /// `4·N` bytes) and a scaled copy (`x·c`: reads and writes, `8·N` bytes), median runs.
    pub bandwidth_gbps: f64,
    /// The GEMM timing.
    pub gemm: Timing,
    /// The reduction timing.
    pub stream_sum: Timing,
    /// The scaled-copy timing.
    pub stream_scale: Timing,
}

impl Ceilings {
    /// GEMM FLOPs per second of process CPU time (all threads).
    pub fn gemm_flops_per_cpu_s(&self) -> f64 {
        2.0 * (self.sizes.gemm_n as f64).powi(3) / self.gemm.cpu_s
    }

    /// Streamed bytes per second of process CPU time (the better of the two streaming ops).
    pub fn bytes_per_cpu_s(&self) -> f64 {
        let bytes = 4.0 * self.sizes.stream_elems as f64;
        (bytes / self.stream_sum.cpu_s).max(2.0 * bytes / self.stream_scale.cpu_s)
    }
}

/// Measures both ceilings on `device` (`warmup` untimed then `iters` timed runs each).
pub fn measure_ceilings<B: Backend>(
    device: &B::Device,
    sizes: CeilingSizes,
    warmup: usize,
    iters: usize,
) -> Result<Ceilings, BenchError> {
    if sizes.gemm_n == 0 || sizes.stream_elems == 0 {
        return Err(BenchError::param("ceiling sizes", "must be positive"));
    }
    let n = sizes.gemm_n;
    let a = Tensor::<B, 2>::random([n, n], Distribution::Normal(0.0, 1.0), device);
    let b = Tensor::<B, 2>::random([n, n], Distribution::Normal(0.0, 1.0), device);
    let gemm = time_iters(warmup, iters, || {
        let c = a.clone().matmul(b.clone());
        sync::<B>(device, "the GEMM ceiling")?;
        drop(c);
        Ok::<_, BenchError>(())
    })?;
    let x = Tensor::<B, 1>::random(
        [sizes.stream_elems],
        Distribution::Uniform(-1.0, 1.0),
        device,
    );
    let stream_sum = time_iters(warmup, iters, || {
        let s = x.clone().sum();
        sync::<B>(device, "the streaming (sum) ceiling")?;
        drop(s);
        Ok::<_, BenchError>(())
    })?;
    let stream_scale = time_iters(warmup, iters, || {
        let y = x.clone().mul_scalar(1.0001);
        sync::<B>(device, "the streaming (scale) ceiling")?;
        drop(y);
        Ok::<_, BenchError>(())
    })?;
    let bytes = 4.0 * sizes.stream_elems as f64;
    Ok(Ceilings {
        sizes,
        gemm_gflops: 2.0 * (n as f64).powi(3) / gemm.median_s / 1e9,
        bandwidth_gbps: (bytes / stream_sum.median_s).max(2.0 * bytes / stream_scale.median_s)
            / 1e9,
        gemm,
        stream_sum,
        stream_scale,
    })
}
