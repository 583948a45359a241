//! `experiments/<slug>/claims.toml`: the paper's numbers we check, and how.
//!
//! ```toml
//! title = "Accelerating ... (short title)"
//! citation = "A. Author, B. Author. Title. arXiv:2312.10024, 2023."
//! notes = "Optional prose shown under the tables."    # optional
//!
//! [[claim]]
//! name = "MLP test accuracy"
//! source = "Table 2"                 # where the paper's number comes from
//! paper = 0.98
//! metric = "test.accuracy"           # dotted path into summary.json (array indices allowed)
//! check = "at_least"                 # at_least | at_most | within
//! tolerance = 0.01                   # absolute; or rel_tolerance = 0.05 (5 % of |paper|)
//! note = "CPU, 3 epochs"             # optional
//! modelled = false                   # optional: our number is modelled, not measured
//! needs = "a GPU"                    # optional: a failure reads "not reproduced on this hardware (needs a GPU)"
//! ```

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::read_text;

/// The whole `claims.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The chapter title.
    pub title: String,
    /// The full citation.
    pub citation: String,
    /// Optional prose shown under the tables (deviations, hardware, fallbacks).
    #[serde(default)]
    pub notes: Option<String>,
    /// The claims, in table order.
    #[serde(default)]
    pub claim: Vec<Claim>,
}

/// How our number is compared with the paper's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Ours >= paper - tolerance (e.g. accuracy).
    AtLeast,
    /// Ours <= paper + tolerance (e.g. loss, time).
    AtMost,
    /// |ours - paper| <= tolerance.
    Within,
}

/// One checked number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// What is claimed, in a few words.
    pub name: String,
    /// Where the paper's number comes from (table, figure, section).
    pub source: String,
    /// The paper's number.
    pub paper: f64,
    /// Dotted path of our number in `summary.json`.
    pub metric: String,
    /// The comparison.
    pub check: Check,
    /// Absolute tolerance.
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// Tolerance relative to |paper|.
    #[serde(default)]
    pub rel_tolerance: Option<f64>,
    /// Optional remark shown under the table.
    #[serde(default)]
    pub note: Option<String>,
    /// Our number is modelled rather than measured: "(modelled)" follows it wherever it appears.
    #[serde(default)]
    pub modelled: bool,
    /// The claim rests on hardware this run may lack (e.g. `"a GPU"`, `"AVX512-BF16"`): a failed
    /// check then reads "not reproduced on this hardware (needs ...)" instead of a plain refusal.
    #[serde(default)]
    pub needs: Option<String>,
}

/// The outcome of one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Our number passes the check.
    Reproduced,
    /// Our number fails the check (NaN fails every check).
    NotReproduced,
    /// `summary.json` has no number at the claim's metric path.
    Missing,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced => "not reproduced",
            Verdict::Missing => "missing",
        })
    }
}

impl Claims {
    /// Reads and checks `claims.toml`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        let claims: Claims =
            toml::from_str(&text).map_err(|e| crate::config::toml_error(path, &text, &e))?;
        for c in &claims.claim {
            let bad = match (c.tolerance, c.rel_tolerance) {
                (Some(_), Some(_)) => Some("give `tolerance` or `rel_tolerance`, not both"),
                (Some(t), None) | (None, Some(t)) if !(t >= 0.0 && t.is_finite()) => {
                    Some("a tolerance must be a finite number >= 0")
                }
                _ if !c.paper.is_finite() => Some("`paper` must be a finite number"),
                _ if c.metric.is_empty() => Some("`metric` must name a path in summary.json"),
                _ => None,
            };
            if let Some(msg) = bad {
                return Err(Error::invalid(path, format!("claim `{}`: {msg}", c.name)));
            }
        }
        Ok(claims)
    }
}

impl Claim {
    /// The verdict as the report prints it: [`Verdict`]'s text, qualified by [`Claim::needs`]
    /// when the check failed.
    pub fn verdict_text(&self, ours: Option<f64>) -> String {
        match (self.verdict(ours), &self.needs) {
            (Verdict::NotReproduced, Some(needs)) => {
                format!("not reproduced on this hardware (needs {needs})")
            }
            (v, _) => v.to_string(),
        }
    }

    /// The absolute tolerance (0 when none is given).
    pub fn tolerance(&self) -> f64 {
        match (self.tolerance, self.rel_tolerance) {
            (Some(t), _) => t,
            (None, Some(r)) => r * self.paper.abs(),
            (None, None) => 0.0,
        }
    }

    /// The verdict for our number (`None` when it is missing). Comparisons allow a rounding slack
    /// of 1e-9 relative, so `0.97` is within `0.01` of `0.98`.
    pub fn verdict(&self, ours: Option<f64>) -> Verdict {
        let Some(ours) = ours else {
            return Verdict::Missing;
        };
        let slack = 1e-9 * self.paper.abs().max(ours.abs()).max(1.0);
        let tol = self.tolerance() + slack;
        let ok = match self.check {
            Check::AtLeast => ours >= self.paper - tol,
            Check::AtMost => ours <= self.paper + tol,
            Check::Within => (ours - self.paper).abs() <= tol,
        };
        if ok {
            Verdict::Reproduced
        } else {
            Verdict::NotReproduced
        }
    }

    /// The tolerance column: `≥ paper − 0.01`, `≤ paper + 5%`, `± 0.01`.
    pub fn tolerance_text(&self) -> String {
        let amount = match (self.tolerance, self.rel_tolerance) {
            (Some(t), _) => super::markdown::format_number(t),
            (None, Some(r)) => format!("{}%", super::markdown::format_number(r * 100.0)),
            (None, None) => "0".to_string(),
        };
        match self.check {
            Check::AtLeast => format!("≥ paper − {amount}"),
            Check::AtMost => format!("≤ paper + {amount}"),
            Check::Within => format!("± {amount}"),
        }
    }
}

/// The value at a dotted path in a JSON document (`a.b.0.c`: object keys and array indices).
pub fn lookup<'a>(doc: &'a serde_json::Value, dotted: &str) -> Option<&'a serde_json::Value> {
    dotted.split('.').try_fold(doc, |v, part| match v {
        serde_json::Value::Object(map) => map.get(part),
        serde_json::Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// The number at a dotted path, if there is one there.
pub fn lookup_number(doc: &serde_json::Value, dotted: &str) -> Option<f64> {
    lookup(doc, dotted).and_then(serde_json::Value::as_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(check: Check, tolerance: Option<f64>, rel: Option<f64>) -> Claim {
        Claim {
            name: "c".into(),
            source: "Table 1".into(),
            paper: 0.98,
            metric: "a".into(),
            check,
            tolerance,
            rel_tolerance: rel,
            note: None,
            modelled: false,
            needs: None,
        }
    }

    #[test]
    fn verdicts_follow_the_check() {
        let c = claim(Check::AtLeast, Some(0.01), None);
        assert_eq!(
            c.verdict(Some(0.97)),
            Verdict::Reproduced,
            "boundary counts"
        );
        assert_eq!(c.verdict(Some(0.99)), Verdict::Reproduced);
        assert_eq!(c.verdict(Some(0.96)), Verdict::NotReproduced);
        assert_eq!(c.verdict(Some(f64::NAN)), Verdict::NotReproduced);
        assert_eq!(c.verdict(None), Verdict::Missing);
        let mut g = c.clone();
        g.needs = Some("a GPU".into());
        assert_eq!(
            g.verdict_text(Some(0.96)),
            "not reproduced on this hardware (needs a GPU)"
        );
        assert_eq!(g.verdict_text(Some(0.99)), "reproduced");
        let c = claim(Check::AtMost, Some(0.01), None);
        assert_eq!(c.verdict(Some(0.5)), Verdict::Reproduced);
        assert_eq!(c.verdict(Some(1.0)), Verdict::NotReproduced);
        let c = claim(Check::Within, None, Some(0.1));
        assert!((c.tolerance() - 0.098).abs() < 1e-12);
        assert_eq!(c.verdict(Some(1.07)), Verdict::Reproduced);
        assert_eq!(c.verdict(Some(0.87)), Verdict::NotReproduced);
        assert_eq!(c.tolerance_text(), "± 10%");
        assert_eq!(
            claim(Check::AtLeast, Some(0.01), None).tolerance_text(),
            "≥ paper − 0.01"
        );
    }

    #[test]
    fn lookup_walks_objects_and_arrays() {
        let doc =
            serde_json::json!({"test": {"accuracy": 0.9, "per_class": [0.1, 0.2]}, "name": "x"});
        assert_eq!(lookup_number(&doc, "test.accuracy"), Some(0.9));
        assert_eq!(lookup_number(&doc, "test.per_class.1"), Some(0.2));
        assert_eq!(lookup_number(&doc, "name"), None);
        assert_eq!(lookup_number(&doc, "test.nope"), None);
    }

    #[test]
    fn claims_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("claims.toml");
        let head = "title = \"T\"\ncitation = \"C\"\n[[claim]]\nname = \"n\"\nsource = \"s\"\npaper = 1.0\nmetric = \"m\"\ncheck = \"within\"\n";
        std::fs::write(&p, format!("{head}tolerance = 0.1\n")).unwrap();
        assert_eq!(Claims::read(&p).unwrap().claim.len(), 1);
        std::fs::write(&p, format!("{head}tolerance = 0.1\nrel_tolerance = 0.1\n")).unwrap();
        let e = Claims::read(&p).unwrap_err().to_string();
        assert!(e.contains("claims.toml") && e.contains("not both"), "{e}");
        std::fs::write(&p, format!("{head}tolerence = 0.1\n")).unwrap();
        let e = Claims::read(&p).unwrap_err().to_string();
        assert!(
            e.contains("claims.toml:9:") && e.contains("tolerence"),
            "{e}"
        );
        std::fs::write(&p, head.replace("within", "roughly")).unwrap();
        assert!(Claims::read(&p).is_err());
    }
}
