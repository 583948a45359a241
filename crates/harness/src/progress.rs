//! Progress bars on stderr: elapsed time, ETA, rate and a message (e.g. the current loss).
//!
//! Bars are hidden when stderr is not a terminal (logs, CI, `cargo test`) or when the environment
//! variable `ACCEL_QUIET` is set to anything but `0`; [`Progress::log`] lines are printed either
//! way: above the bar when one is drawn, plainly to stderr otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const TEMPLATE: &str = "{prefix:.bold} [{elapsed_precise}] {wide_bar:.cyan/blue} {pos}/{len} {per_sec} ETA {eta} {msg}";

/// A progress bar over a known number of steps.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar over `total` steps labelled `label`; hidden when bars should not be drawn
    /// (see [`bars_enabled`]).
    pub fn new(total: u64, label: &str) -> Self {
        let target = if bars_enabled() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let style =
            ProgressStyle::with_template(TEMPLATE).unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::with_draw_target(Some(total), target).with_style(style);
        bar.set_prefix(label.to_string());
        Progress { bar }
    }

    /// Whether the bar is not drawn.
    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }

    /// Advances by `n` steps.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Sets the number of steps done (e.g. after resuming).
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
    }

    /// Sets the message shown after the bar, e.g. `loss 0.213`.
    pub fn set_message(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
    }

    /// Prints a line (a per-epoch summary) above the bar, or plainly to stderr when the bar is
    /// hidden.
    pub fn log(&self, msg: impl AsRef<str>) {
        if self.bar.is_hidden() {
            log(msg);
        } else {
            self.bar.println(msg.as_ref());
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

/// Prints a line to stderr (use [`Progress::log`] while a bar is shown).
pub fn log(msg: impl AsRef<str>) {
    eprintln!("{}", msg.as_ref());
}

/// Whether progress bars are drawn: stderr is a terminal and `ACCEL_QUIET` is unset (or `0`).
pub fn bars_enabled() -> bool {
    let quiet = std::env::var_os("ACCEL_QUIET").is_some_and(|v| !v.is_empty() && v != "0");
    !quiet && std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_hidden_without_a_terminal_and_still_count() {
        // `cargo test` captures stderr, which is not a terminal.
        if std::io::stderr().is_terminal() {
            return;
        }
        assert!(!bars_enabled());
        let p = Progress::new(10, "train");
        assert!(p.is_hidden());
        p.inc(3);
        p.set_message("loss 0.5");
        p.log("epoch 1: loss 0.5");
        assert_eq!(p.bar.position(), 3);
        p.finish();
    }
}
