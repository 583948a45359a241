//! Typed TOML configs with `--set key.path=value` overrides.
//!
//! An experiment defines its config as a serde struct (with `#[serde(deny_unknown_fields)]` on
//! every struct). [`load_config`] reads a TOML file into it, then applies each override to the
//! *resolved* config (defaults included) and re-deserialises after each one, so every error names
//! the file (with line and column) or the override that caused it. The resolved config is what a
//! run writes into its `config.toml` ([`to_toml_string`]).

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::error::{Error, Result, one_line};
use crate::fsutil::read_text;

/// What the harness needs of an experiment's config beyond serde.
///
/// serde checks names and types (`deny_unknown_fields`, typed fields); [`validate`] checks what
/// types cannot say: ranges (`0 < lr`), combinations (`warmup_steps < total_steps`), files that
/// must exist. It runs on the resolved config (file, defaults, `--set`, `--seed`) before the run
/// directory is created, so a bad value never leaves an empty run behind.
///
/// [`validate`]: ExperimentConfig::validate
pub trait ExperimentConfig: Serialize + DeserializeOwned {
    /// `Err(message)` names the key, the value and the fix, e.g.
    /// `"train.epochs = 0: must be at least 1"`.
    fn validate(&self) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// Reads the TOML config `path` into `C`, applies `overrides` (`key.path=value`, in order) and
/// `seed` (as `seed=N`, last), and returns the resolved config with its TOML table (defaults
/// included: what `config.toml` holds).
///
/// Errors: syntax errors and unknown or mistyped keys name the file, line and column; a bad
/// override names the override (`--set train.epochs=abc: invalid type: ...`); an override of a key
/// the config does not have names the key and lists the keys that exist there.
pub fn load_config<C: Serialize + DeserializeOwned>(
    path: &Path,
    overrides: &[String],
    seed: Option<u64>,
) -> Result<(C, Table)> {
    let text = read_text(path)?;
    let config: C = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
    apply_overrides(config, overrides, seed)
}

/// The config built from `C`'s serde defaults alone (no file), then `overrides` and `seed`.
///
/// Fails with a usage error naming the first required field when `C` has fields without defaults.
pub fn default_config<C: Serialize + DeserializeOwned>(
    overrides: &[String],
    seed: Option<u64>,
) -> Result<(C, Table)> {
    let config = C::deserialize(Table::new()).map_err(|e| {
        Error::usage(format!(
            "no --config given and the experiment's config has no default for everything ({}); \
             pass --config with a preset, e.g. --config configs/quick.toml",
            e.message()
        ))
    })?;
    apply_overrides(config, overrides, seed)
}

/// Applies `overrides` (`key.path=value`, in order) and then `seed` (as `seed=N`) to `config`,
/// re-deserialising after each one. Returns the resolved config and its table.
pub fn apply_overrides<C: Serialize + DeserializeOwned>(
    config: C,
    overrides: &[String],
    seed: Option<u64>,
) -> Result<(C, Table)> {
    let mut table = to_table(&config)?;
    let mut config = config;
    for set in overrides {
        let (key, raw) = split_override(set)?;
        (config, table) = apply_one(&table, set, &key, candidates(raw))?;
    }
    if let Some(seed) = seed {
        let set = format!("seed={seed} (from --seed)");
        let value = i64::try_from(seed)
            .map(Value::Integer)
            .map_err(|_| Error::override_(&set, "a seed must be at most 2^63 - 1"))?;
        (config, table) = apply_one(&table, &set, &["seed".to_string()], vec![value])?;
    }
    Ok((config, table))
}

/// Serialises a config to TOML text (defaults included), as written to a run's `config.toml`.
pub fn to_toml_string<C: Serialize>(config: &C) -> Result<String> {
    toml::to_string(config).map_err(|e| {
        Error::usage(format!(
            "the config cannot be written as TOML ({e}); a config holds numbers, strings, booleans, \
             arrays and tables only (no None at top level, no integers above 2^63 - 1)"
        ))
    })
}

/// Serialises a config to a TOML table (defaults included).
pub fn to_table<C: Serialize>(config: &C) -> Result<Table> {
    Table::try_from(config).map_err(|e| {
        Error::usage(format!(
            "the config cannot be represented as a TOML table: {}",
            one_line(&e.to_string())
        ))
    })
}

/// Dotted paths of the keys whose values differ between `a` and `b` (sorted), e.g.
/// `["train.epochs"]`. Keys present in only one of them count as differing.
pub fn differing_keys(a: &Table, b: &Table) -> Vec<String> {
    let mut out = Vec::new();
    diff_into(a, b, "", &mut out);
    out.sort();
    out
}

/// The value at a dotted path in a table, if any.
pub fn get_path<'a>(table: &'a Table, dotted: &str) -> Option<&'a Value> {
    let mut parts = dotted.split('.');
    let mut current = table.get(parts.next()?)?;
    for part in parts {
        current = current.as_table()?.get(part)?;
    }
    Some(current)
}

fn diff_into(a: &Table, b: &Table, prefix: &str, out: &mut Vec<String>) {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (a.get(key), b.get(key)) {
            (Some(Value::Table(x)), Some(Value::Table(y))) => diff_into(x, y, &path, out),
            (x, y) if x == y => {}
            _ => out.push(path),
        }
    }
}

/// Splits `a.b.c=value` into its key path and raw value, checking the key's shape.
fn split_override(set: &str) -> Result<(Vec<String>, &str)> {
    let Some((key, raw)) = set.split_once('=') else {
        return Err(Error::override_(
            set,
            "expected KEY=VALUE, e.g. --set train.epochs=3",
        ));
    };
    let parts: Vec<String> = key.trim().split('.').map(str::to_string).collect();
    let bare = |p: &String| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !parts.iter().all(bare) {
        return Err(Error::override_(
            set,
            format!(
                "`{}` is not a key path; expected dot-separated names like train.epochs",
                key.trim()
            ),
        ));
    }
    Ok((parts, raw.trim()))
}

/// The values to try for a raw override: the TOML literal it spells (`3`, `0.1`, `true`, `"x"`,
/// `[1, 2]`), then the bare string (so `--set model.kind=cnn` works, and so does
/// `--set name=2024` for a string field).
fn candidates(raw: &str) -> Vec<Value> {
    let literal = toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .filter(|t| t.len() == 1)
        .and_then(|mut t| t.remove("v"));
    match literal {
        Some(v @ Value::String(_)) => vec![v],
        Some(v) => vec![v, Value::String(raw.to_string())],
        None => vec![Value::String(raw.to_string())],
    }
}

/// Applies one override to the resolved table and re-deserialises; the first candidate value that
/// deserialises wins, otherwise the first candidate's error is reported.
fn apply_one<C: Serialize + DeserializeOwned>(
    table: &Table,
    set: &str,
    key: &[String],
    candidates: Vec<Value>,
) -> Result<(C, Table)> {
    let existed = get_path(table, &key.join(".")).is_some();
    let mut first_error = None;
    for value in candidates {
        let mut t = table.clone();
        insert(&mut t, set, key, value)?;
        match C::deserialize(t) {
            Ok(config) => {
                let resolved = to_table(&config)?;
                if !existed && get_path(&resolved, &key.join(".")).is_none() {
                    return Err(no_such_key(table, set, key));
                }
                return Ok((config, resolved));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let msg = first_error
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    if !existed && msg.starts_with("unknown field") {
        return Err(no_such_key(table, set, key));
    }
    Err(Error::override_(set, msg))
}

/// Sets `key` (a path) to `value`, creating intermediate tables that do not exist yet.
fn insert(table: &mut Table, set: &str, key: &[String], value: Value) -> Result<()> {
    let Some((last, parents)) = key.split_last() else {
        return Err(Error::override_(set, "empty key"));
    };
    let mut current = table;
    for (i, part) in parents.iter().enumerate() {
        let entry = current
            .entry(part.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        current = match entry {
            Value::Table(t) => t,
            other => {
                return Err(Error::override_(
                    set,
                    format!(
                        "`{}` is a {}, not a table, so it has no key `{}`",
                        key[..=i].join("."),
                        other.type_str(),
                        key[i + 1]
                    ),
                ));
            }
        };
    }
    current.insert(last.clone(), value);
    Ok(())
}

/// The error for an override of a key the config does not have, listing the keys that exist at the
/// deepest level of the path that does exist.
fn no_such_key(table: &Table, set: &str, key: &[String]) -> Error {
    let mut level = table;
    let mut depth = 0;
    while depth + 1 < key.len() {
        match level.get(&key[depth]) {
            Some(Value::Table(t)) => {
                level = t;
                depth += 1;
            }
            _ => break,
        }
    }
    let known: Vec<String> = level.keys().map(|k| format!("`{k}`")).collect();
    let place = if depth == 0 {
        "top-level keys".to_string()
    } else {
        format!("keys in [{}]", key[..depth].join("."))
    };
    Error::override_(
        set,
        format!(
            "the config has no key `{}`; {place}: {}",
            key.join("."),
            if known.is_empty() {
                "(none)".to_string()
            } else {
                known.join(", ")
            }
        ),
    )
}

/// A TOML error as a one-line [`Error::Parse`] with the 1-based line and column of its span.
pub(crate) fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let msg = one_line(e.message());
    match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            Error::Parse {
                path: path.to_path_buf(),
                line,
                column,
                msg,
            }
        }
        None => Error::invalid(path, msg),
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        seed: u64,
        name: String,
        #[serde(default)]
        train: Train,
        model: Model,
        #[serde(default)]
        dropout: Option<f64>,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Train {
        epochs: usize,
        lr: f64,
        layers: Vec<u32>,
        shuffle: bool,
    }

    impl Default for Train {
        fn default() -> Self {
            Train {
                epochs: 2,
                lr: 0.1,
                layers: vec![4],
                shuffle: true,
            }
        }
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Model {
        kind: String,
    }

    const GOOD: &str = "seed = 1\nname = \"x\"\n\n[model]\nkind = \"mlp\"\n";

    fn load(text: &str, sets: &[&str]) -> Result<(Cfg, Table)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        load_config(&path, &sets, None)
    }

    fn err(text: &str, sets: &[&str]) -> String {
        let e = load(text, sets).unwrap_err().to_string();
        assert!(!e.contains('\n'), "not one line: {e}");
        e
    }

    #[test]
    fn loads_with_defaults_and_resolves_the_table() {
        let (c, t) = load(GOOD, &[]).unwrap();
        assert_eq!(c.train, Train::default());
        assert_eq!(get_path(&t, "train.epochs"), Some(&Value::Integer(2)));
        assert_eq!(c.model.kind, "mlp");
    }

    #[test]
    fn overrides_of_every_literal_kind_are_type_checked_and_applied() {
        let sets = [
            "train.epochs=5",
            "train.lr=1e-3",
            "train.layers=[8, 16]",
            "train.shuffle=false",
            "model.kind=cnn",
            "name=\"quoted\"",
            "dropout=0.5",
        ];
        let (c, t) = load(GOOD, &sets).unwrap();
        assert_eq!(c.train.epochs, 5);
        assert_eq!(c.train.lr, 1e-3);
        assert_eq!(c.train.layers, vec![8, 16]);
        assert!(!c.train.shuffle);
        assert_eq!(c.model.kind, "cnn");
        assert_eq!(c.name, "quoted");
        assert_eq!(c.dropout, Some(0.5));
        assert_eq!(get_path(&t, "train.epochs"), Some(&Value::Integer(5)));
    }

    #[test]
    fn integer_literal_for_a_float_and_number_for_a_string_are_accepted() {
        let (c, _) = load(GOOD, &["train.lr=1", "name=2024"]).unwrap();
        assert_eq!(c.train.lr, 1.0);
        assert_eq!(c.name, "2024");
    }

    #[test]
    fn later_overrides_win() {
        let (c, _) = load(GOOD, &["train.epochs=5", "train.epochs=7"]).unwrap();
        assert_eq!(c.train.epochs, 7);
    }

    #[test]
    fn nested_type_error_names_the_override() {
        let e = err(GOOD, &["train.epochs=abc"]);
        assert!(e.starts_with("--set train.epochs=abc: invalid type"), "{e}");
        assert!(e.contains("usize") || e.contains("integer"), "{e}");
        let e = err(GOOD, &["train.layers=[1, \"a\"]"]);
        assert!(e.starts_with("--set train.layers=[1, \"a\"]:"), "{e}");
        let e = err(GOOD, &["train.shuffle=3"]);
        assert!(
            e.contains("--set train.shuffle=3") && e.contains("bool"),
            "{e}"
        );
    }

    #[test]
    fn override_of_unknown_key_names_the_key_and_the_known_ones() {
        let e = err(GOOD, &["train.epoch=3"]);
        assert!(e.contains("no key `train.epoch`"), "{e}");
        assert!(e.contains("`epochs`") && e.contains("[train]"), "{e}");
        let e = err(GOOD, &["optimizer.lr=3"]);
        assert!(
            e.contains("no key `optimizer.lr`") && e.contains("top-level"),
            "{e}"
        );
    }

    #[test]
    fn override_of_unknown_key_is_caught_without_deny_unknown_fields() {
        #[derive(Serialize, Deserialize)]
        struct Loose {
            a: u32,
        }
        let (c, _) = apply_overrides(Loose { a: 1 }, &["a=2".into()], None).unwrap();
        assert_eq!(c.a, 2);
        let e = apply_overrides(Loose { a: 1 }, &["b=2".into()], None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no key `b`"), "{e}");
    }

    #[test]
    fn override_through_a_non_table_is_an_error() {
        let e = err(GOOD, &["name.first=3"]);
        assert!(e.contains("`name` is a string, not a table"), "{e}");
    }

    #[test]
    fn malformed_overrides_are_errors() {
        assert!(err(GOOD, &["train.epochs"]).contains("expected KEY=VALUE"));
        assert!(err(GOOD, &["train..epochs=3"]).contains("not a key path"));
    }

    #[test]
    fn unknown_key_in_file_names_key_file_and_line() {
        let text = "seed = 1\nname = \"x\"\n[model]\nkind = \"mlp\"\n[train]\nepoch = 3\n";
        let e = err(text, &[]);
        assert!(e.contains("c.toml:6:"), "{e}");
        assert!(e.contains("unknown field `epoch`"), "{e}");
    }

    #[test]
    fn type_error_in_file_names_file_and_line() {
        let text = "seed = 1\nname = \"x\"\n[model]\nkind = \"mlp\"\n[train]\nepochs = \"many\"\n";
        let e = err(text, &[]);
        assert!(e.contains("c.toml:6:"), "{e}");
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let e = err("seed = 1\nname = \"x\n", &[]);
        assert!(e.contains("c.toml:2:"), "{e}");
        let e = err("seed = = 1\n", &[]);
        assert!(e.contains("c.toml:1:"), "{e}");
    }

    #[test]
    fn missing_file_is_named() {
        let e = load_config::<Cfg>(Path::new("/nonexistent/c.toml"), &[], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/c.toml"), "{e}");
    }

    #[test]
    fn seed_is_applied_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, GOOD).unwrap();
        let (c, _) = load_config::<Cfg>(&path, &["seed=3".into()], Some(9)).unwrap();
        assert_eq!(c.seed, 9);
    }

    #[test]
    fn default_config_needs_defaults_everywhere() {
        let e = default_config::<Cfg>(&[], None).err().unwrap().to_string();
        assert!(e.contains("--config") && e.contains("missing field"), "{e}");
        let (t, _) = default_config::<Train>(&["epochs=9".into()], None).unwrap();
        assert_eq!(t.epochs, 9);
    }

    #[test]
    fn resolved_toml_round_trips() {
        let (c, _) = load(GOOD, &["train.lr=0.1", "dropout=0.25"]).unwrap();
        let text = to_toml_string(&c).unwrap();
        let back: Cfg = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn differing_keys_are_dotted_and_sorted() {
        let a: Table = toml::from_str("a = 1\n[t]\nx = 1\ny = 2\n").unwrap();
        let b: Table = toml::from_str("a = 1\nb = 2\n[t]\nx = 3\ny = 2\n").unwrap();
        assert_eq!(differing_keys(&a, &b), vec!["b", "t.x"]);
        assert!(differing_keys(&a, &a).is_empty());
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }
}
