//! Classification metrics: the confusion matrix and what derives from it.
//!
//! `counts[t][p]` is the number of samples of true class `t` predicted as `p`. Per class `c`:
//! precision `TP/(TP+FP)`, recall `TP/(TP+FN)`, F1 `2TP/(2TP+FP+FN)` (0 when the denominator
//! is 0). Macro F1 is the unweighted mean of F1 over the classes that occur, as true or as
//! predicted labels (scikit-learn's `f1_score(average="macro")` with its default label set);
//! classes that never occur are left out instead of counting as 0.

use candle_core::Tensor;

use super::loss::predictions;
use crate::{Error, Result};

/// A `classes x classes` confusion matrix (rows: true class, columns: predicted class).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An all-zero matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// The matrix of paired `predictions` and `targets`. Errors on different lengths or a class
    /// `>= classes`.
    pub fn from_predictions(predictions: &[u32], targets: &[u32], classes: usize) -> Result<Self> {
        let mut m = Self::new(classes);
        m.add(predictions, targets)?;
        Ok(m)
    }

    /// The matrix of `logits: [N, C]` (argmax) against `targets: [N]` (u32).
    pub fn from_logits(logits: &Tensor, targets: &Tensor) -> Result<Self> {
        let classes = logits.dims().last().copied().unwrap_or(0);
        let targets = targets.to_vec1::<u32>()?;
        Self::from_predictions(&predictions(logits)?, &targets, classes)
    }

    /// Adds more samples.
    pub fn add(&mut self, predictions: &[u32], targets: &[u32]) -> Result<()> {
        if predictions.len() != targets.len() {
            return Err(Error::Shape {
                op: "confusion_matrix",
                msg: format!(
                    "{} predictions but {} targets",
                    predictions.len(),
                    targets.len()
                ),
            });
        }
        if let Some(bad) = predictions
            .iter()
            .chain(targets)
            .find(|&&c| c as usize >= self.classes)
        {
            return Err(Error::invalid(
                "confusion_matrix class",
                format!("{bad} is out of range for {} classes", self.classes),
            ));
        }
        for (&p, &t) in predictions.iter().zip(targets) {
            self.counts[t as usize * self.classes + p as usize] += 1;
        }
        Ok(())
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Samples of true class `truth` predicted as `predicted` (0 out of range).
    pub fn get(&self, truth: usize, predicted: usize) -> u64 {
        if truth < self.classes && predicted < self.classes {
            self.counts[truth * self.classes + predicted]
        } else {
            0
        }
    }

    /// Total number of samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Fraction of samples on the diagonal (0 when empty).
    pub fn accuracy(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        let diag: u64 = (0..self.classes).map(|c| self.get(c, c)).sum();
        diag as f64 / total as f64
    }

    /// `(TP, FP, FN)` of class `c`.
    fn tp_fp_fn(&self, c: usize) -> (u64, u64, u64) {
        let tp = self.get(c, c);
        let predicted: u64 = (0..self.classes).map(|t| self.get(t, c)).sum();
        let actual: u64 = (0..self.classes).map(|p| self.get(c, p)).sum();
        (tp, predicted - tp, actual - tp)
    }

    fn ratio(num: u64, den: u64) -> f64 {
        if den == 0 {
            0.0
        } else {
            num as f64 / den as f64
        }
    }

    /// Precision of class `c`, `TP/(TP+FP)` (0 when nothing was predicted as `c`).
    pub fn precision(&self, c: usize) -> f64 {
        let (tp, fp, _) = self.tp_fp_fn(c);
        Self::ratio(tp, tp + fp)
    }

    /// Recall of class `c`, `TP/(TP+FN)` (0 when `c` never occurs).
    pub fn recall(&self, c: usize) -> f64 {
        let (tp, _, fn_) = self.tp_fp_fn(c);
        Self::ratio(tp, tp + fn_)
    }

    /// F1 of class `c`, `2TP/(2TP+FP+FN)` (0 when the class never occurs nor is predicted).
    pub fn f1(&self, c: usize) -> f64 {
        let (tp, fp, fn_) = self.tp_fp_fn(c);
        Self::ratio(2 * tp, 2 * tp + fp + fn_)
    }

    /// Mean F1 over the classes that occur as a true or predicted label (0 when empty).
    pub fn macro_f1(&self) -> f64 {
        let present: Vec<usize> = (0..self.classes)
            .filter(|&c| {
                let (tp, fp, fn_) = self.tp_fp_fn(c);
                tp + fp + fn_ > 0
            })
            .collect();
        if present.is_empty() {
            return 0.0;
        }
        present.iter().map(|&c| self.f1(c)).sum::<f64>() / present.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// targets     0 0 0 1 1 2 2 2 2
    /// predictions 0 0 1 1 2 2 2 0 2
    fn example() -> ConfusionMatrix {
        ConfusionMatrix::from_predictions(
            &[0, 0, 1, 1, 2, 2, 2, 0, 2],
            &[0, 0, 0, 1, 1, 2, 2, 2, 2],
            4,
        )
        .unwrap()
    }

    #[test]
    fn counts_on_a_hand_made_example() {
        let m = example();
        // Row = truth: 0 -> [2, 1, 0], 1 -> [0, 1, 1], 2 -> [1, 0, 3].
        let rows: Vec<Vec<u64>> = (0..3)
            .map(|t| (0..3).map(|p| m.get(t, p)).collect())
            .collect();
        assert_eq!(rows, vec![vec![2, 1, 0], vec![0, 1, 1], vec![1, 0, 3]]);
        assert_eq!(m.total(), 9);
        assert!((m.accuracy() - 6.0 / 9.0).abs() < 1e-15);
    }

    #[test]
    fn precision_recall_f1_and_macro_f1() {
        let m = example();
        // class 0: TP 2, FP 1, FN 1 -> P 2/3, R 2/3, F1 2/3
        // class 1: TP 1, FP 1, FN 1 -> 1/2, 1/2, 1/2
        // class 2: TP 3, FP 1, FN 1 -> 3/4, 3/4, 3/4
        // class 3: absent everywhere -> excluded from the macro mean.
        assert!((m.precision(0) - 2.0 / 3.0).abs() < 1e-15);
        assert!((m.recall(2) - 0.75).abs() < 1e-15);
        assert!((m.f1(1) - 0.5).abs() < 1e-15);
        assert_eq!(m.f1(3), 0.0);
        let want = (2.0 / 3.0 + 0.5 + 0.75) / 3.0;
        assert!((m.macro_f1() - want).abs() < 1e-15);
    }

    #[test]
    fn asymmetric_precision_and_recall() {
        // Everything predicted as class 0: class 0 P = 1/2, R = 1, F1 = 2/3; class 1 all 0.
        let m = ConfusionMatrix::from_predictions(&[0, 0, 0, 0], &[0, 0, 1, 1], 2).unwrap();
        assert_eq!(m.precision(0), 0.5);
        assert_eq!(m.recall(0), 1.0);
        assert!((m.f1(0) - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(m.precision(1), 0.0);
        assert!((m.macro_f1() - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(ConfusionMatrix::new(3).macro_f1(), 0.0);
    }

    #[test]
    fn from_logits_and_errors() {
        let logits = Tensor::new(&[[0.1f32, 0.9], [0.8, 0.2], [0.3, 0.7]], &Device::Cpu).unwrap();
        let targets = Tensor::new(&[1u32, 1, 1], &Device::Cpu).unwrap();
        let m = ConfusionMatrix::from_logits(&logits, &targets).unwrap();
        assert_eq!((m.get(1, 1), m.get(1, 0)), (2, 1));
        assert!(ConfusionMatrix::from_predictions(&[0, 1], &[0], 2).is_err());
        assert!(ConfusionMatrix::from_predictions(&[0, 2], &[0, 1], 2).is_err());
        let mut m = ConfusionMatrix::new(2);
        m.add(&[1], &[1]).unwrap();
        assert_eq!(m.get(1, 1), 1);
        assert_eq!(m.get(5, 1), 0);
    }
}
