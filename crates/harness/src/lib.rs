//! accel-harness: everything an experiment binary needs around the science.
//!
//! Typed TOML configs with `--set` overrides, the run directory, metrics, checkpoints, progress
//! bars, plots and the report generator for `paper/`. It knows no physics and no ML: it moves
//! configs, numbers, tensors and pictures.
