//! A progress bar with ETA on stderr (indicatif), or nothing when disabled.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The training progress bar: position = optimizer steps done, message = latest loss.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar over `total` steps starting at `done`; hidden when `enabled` is false.
    pub fn new(total: usize, done: usize, enabled: bool) -> Self {
        if !enabled {
            return Self { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  eta {eta}  {msg}",
            )
            .expect("valid template"),
        );
        bar.set_position(done as u64);
        bar.reset_eta();
        Self { bar: Some(bar) }
    }

    /// Advances to `step` and shows `message`.
    pub fn update(&self, step: usize, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_position(step as u64);
            bar.set_message(message.to_string());
        }
    }

    /// Prints a line above the bar (nothing when the bar is hidden).
    pub fn println(&self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.println(line);
        }
    }

    /// Leaves the bar in its final state.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
