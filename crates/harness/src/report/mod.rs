//! `accel report`: `paper/<slug>.md` for each experiment, from its `claims.toml` and its newest
//! finished run, plus the index `paper/README.md`.
//!
//! For each experiment (every `experiments/<slug>/claims.toml`, or the ones asked for) the newest
//! finished run in `results/<slug>/` is read (`summary.json`, `meta.toml`, `config.toml`), its
//! plots are copied to `paper/figures/<slug>/`, and the chapter is written: citation, the run,
//! the claims with verdicts, every number of the summary, the figures. An experiment without a
//! finished run gets a chapter that says so. Output is deterministic: the same runs give
//! byte-identical files.

pub mod claims;
pub mod markdown;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::{create_dir_all, read_text, write_atomic};
use crate::plot::PlotsSpec;
use crate::run::{PLOTS_SPEC_FILE, RunDir, newest_finished};

pub use claims::{Check, Claim, Claims, Verdict};
pub use markdown::{Figure, RunInfo, RunPart};

/// Where `accel report` reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// The results directory (`results`).
    pub results: PathBuf,
    /// The output directory (`paper`).
    pub paper: PathBuf,
    /// The experiments directory (`experiments`), holding `<slug>/claims.toml`.
    pub experiments: PathBuf,
    /// Experiments to write chapters for; empty means all. The index always lists all.
    pub only: Vec<String>,
}

/// Writes the chapters and the index; returns the files written, sorted.
pub fn generate(opts: &ReportOptions) -> Result<Vec<PathBuf>> {
    let slugs = discover(&opts.experiments)?;
    for s in &opts.only {
        if !slugs.contains(s) {
            return Err(Error::usage(format!(
                "no experiment `{s}`: {} does not exist",
                opts.experiments.join(s).join("claims.toml").display()
            )));
        }
    }
    create_dir_all(&opts.paper)?;
    let mut written = Vec::new();
    let mut rows = Vec::new();
    for slug in &slugs {
        let claims = Claims::read(&opts.experiments.join(slug).join("claims.toml"))?;
        let run = newest_finished(&opts.results, slug)?;
        let selected = opts.only.is_empty() || opts.only.contains(slug);
        let part = match &run {
            Some(run) => Some(run_part(run, slug, opts, selected, &mut written)?),
            None => None,
        };
        if selected {
            let path = opts.paper.join(format!("{slug}.md"));
            write_atomic(
                &path,
                markdown::chapter(slug, &claims, part.as_ref()).as_bytes(),
            )?;
            written.push(path);
        }
        let counts = part
            .as_ref()
            .map(|p| markdown::verdict_counts(&claims, &p.summary));
        rows.push(markdown::IndexRow {
            slug: slug.clone(),
            title: claims.title.clone(),
            run: part.map(|p| p.info.id),
            counts,
        });
    }
    let index = opts.paper.join("README.md");
    write_atomic(&index, markdown::index(&rows).as_bytes())?;
    written.push(index);
    written.sort();
    Ok(written)
}

/// Slugs of the experiments that have a `claims.toml`, sorted.
pub fn discover(experiments: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(experiments).map_err(|e| Error::io(experiments, e))?;
    let mut slugs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(experiments, e))?;
        if entry.path().join("claims.toml").is_file() {
            slugs.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    slugs.sort();
    Ok(slugs)
}

/// Reads a finished run; when `copy` is set, copies its figures into `paper/figures/<slug>/`.
fn run_part(
    run: &RunDir,
    slug: &str,
    opts: &ReportOptions,
    copy: bool,
    written: &mut Vec<PathBuf>,
) -> Result<RunPart> {
    let summary_text = read_text(&run.summary_path())?;
    let summary: serde_json::Value = serde_json::from_str(&summary_text)
        .map_err(|e| Error::invalid(run.summary_path(), format!("not valid JSON: {e}")))?;
    let info = run_info(run, opts);
    let figures = if copy {
        copy_figures(run, slug, &opts.paper, written)?
    } else {
        Vec::new()
    };
    Ok(RunPart {
        info,
        summary,
        figures,
    })
}

/// What `meta.toml` and `config.toml` say about a run; absent fields read as unknown, so reports
/// of older runs still work.
fn run_info(run: &RunDir, opts: &ReportOptions) -> RunInfo {
    let table = |p: PathBuf| -> toml::Table {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or_default()
    };
    let meta = table(run.meta_path());
    let config = table(run.config_path());
    let text = |t: &toml::Table, k: &str| -> Option<String> {
        t.get(k).map(|v| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let git = text(&meta, "git_revision").unwrap_or_else(|| "unknown".into());
    let dirty = meta.get("git_dirty").and_then(toml::Value::as_bool) == Some(true);
    let features = meta
        .get("features")
        .and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    RunInfo {
        id: run.id().to_string(),
        dir: opts
            .results
            .join(run.experiment())
            .join(run.id())
            .display()
            .to_string(),
        config_source: text(&meta, "config_source").unwrap_or_else(|| "unknown".into()),
        seed: text(&config, "seed"),
        git: if dirty { format!("{git} (dirty)") } else { git },
        wall_time_s: meta
            .get("wall_time_s")
            .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64))),
        threads: text(&meta, "threads"),
        features,
        resumes: meta
            .get("resumes")
            .and_then(toml::Value::as_integer)
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0),
        finished: text(&meta, "finished"),
    }
}

/// Replaces `paper/figures/<slug>/*.png` with the run's plots; captions come from the run's
/// `plots.toml` (in its order), other PNGs follow sorted by name.
fn copy_figures(
    run: &RunDir,
    slug: &str,
    paper: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<Vec<Figure>> {
    let dest = paper.join("figures").join(slug);
    if dest.is_dir() {
        for entry in std::fs::read_dir(&dest).map_err(|e| Error::io(&dest, e))? {
            let p = entry.map_err(|e| Error::io(&dest, e))?.path();
            if p.extension().is_some_and(|e| e == "png") {
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
    }
    let plots_dir = run.plots_dir();
    let mut pngs: Vec<String> = match std::fs::read_dir(&plots_dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".png") && !n.starts_with('.'))
            .collect(),
        Err(_) => Vec::new(),
    };
    pngs.sort();
    let spec = PlotsSpec::read(&run.join(PLOTS_SPEC_FILE)).unwrap_or_default();
    let mut ordered: Vec<(String, String)> = spec
        .plot
        .iter()
        .filter(|p| pngs.contains(&p.file))
        .map(|p| (p.file.clone(), p.title()))
        .collect();
    for name in &pngs {
        if !ordered.iter().any(|(f, _)| f == name) {
            ordered.push((name.clone(), name.trim_end_matches(".png").to_string()));
        }
    }
    if !ordered.is_empty() {
        create_dir_all(&dest)?;
    }
    let mut figures = Vec::new();
    for (file, title) in ordered {
        let src = plots_dir.join(&file);
        let bytes = std::fs::read(&src).map_err(|e| Error::io(&src, e))?;
        let to = dest.join(&file);
        write_atomic(&to, &bytes)?;
        written.push(to);
        figures.push(Figure {
            title,
            path: format!("figures/{slug}/{file}"),
        });
    }
    Ok(figures)
}
