//! One channel in a quantum trajectory (Monte-Carlo wavefunction; Dalibard, Castin & Mølmer,
//! PRL 68, 580 (1992); Plenio & Knight, RMP 70, 101 (1998), §IV): each sample (lane) picks Kraus
//! branch `k` with probability `p_k = ||K_k ψ||²` and continues with `K_k ψ / √p_k`. Averaging
//! `|ψ><ψ|` over trajectories gives `Σ_k K_k ρ K_k†`.
//!
//! For a mixed-unitary channel (depolarizing, bit and phase flips) `p_k` is the fixed mixture
//! weight; otherwise (amplitude and phase damping, 1 qubit) `p_k = Tr(K_k† K_k ρ_q)` from the
//! qubit's reduced density matrix, one pass over the state. Every real lane draws exactly one
//! uniform per channel, whatever branch it takes, so two runs with one seed stay aligned (common
//! random numbers for parameter shifts). The chosen, renormalised operators of all lanes are
//! applied in one `Dense1`/`Dense2` kernel call with per-lane coefficients; when every lane takes
//! the identity branch nothing is applied.

use num_complex::Complex64 as C64;

use super::channel::Channel;
use crate::quantum::kernels::{Coefs, Form, KernelOp, apply};
use crate::quantum::state::{Block, LANES};
use crate::rng::RngStream;
use crate::{Error, Result};

/// The most Kraus branches of a supported channel (2-qubit depolarizing).
const MAX_BRANCHES: usize = 16;

/// A channel on given qubits, ready for trajectories.
#[derive(Debug, Clone)]
pub(crate) struct KrausStep {
    kernel: KernelOp,
    qubit: usize,
    /// `[re, im]` of each Kraus operator, or of `K_k / √q_k` for a mixed-unitary channel.
    ops: Vec<Vec<f64>>,
    /// The mixture weights `q_k` of a mixed-unitary channel.
    fixed: Option<Vec<f64>>,
    /// `K_k† K_k` of a 1-qubit channel: `[g00, g11, Re g01, Im g01]`.
    gram: Vec<[f64; 4]>,
    /// The identity in the kernel's form (padding lanes).
    identity: Vec<f64>,
}

fn flatten(m: &[C64]) -> Vec<f64> {
    m.iter().flat_map(|z| [z.re, z.im]).collect()
}

impl KrausStep {
    pub(crate) fn new(channel: &Channel, qubits: &[usize]) -> Result<KrausStep> {
        let kraus = channel.kraus();
        let d = 1usize << qubits.len();
        if qubits.len() != channel.num_qubits() || kraus.len() > MAX_BRANCHES {
            return Err(Error::invalid(
                "trajectory channel",
                format!("{} on qubits {qubits:?} is not supported", channel.name()),
            ));
        }
        let fixed = channel.mixture();
        if fixed.is_none() && d != 2 {
            return Err(Error::invalid(
                "trajectory channel",
                format!(
                    "{} is a 2-qubit channel that is not mixed-unitary; not supported",
                    channel.name()
                ),
            ));
        }
        let ops = match &fixed {
            Some(q) => kraus
                .iter()
                .zip(q)
                .map(|(k, &qk)| {
                    let s = qk.sqrt();
                    if s > 0.0 {
                        flatten(&k.iter().map(|z| z / s).collect::<Vec<_>>())
                    } else {
                        vec![0.0; 2 * d * d]
                    }
                })
                .collect(),
            None => kraus.iter().map(|k| flatten(k)).collect(),
        };
        let gram = kraus
            .iter()
            .map(|k| {
                if d != 2 {
                    return [0.0; 4];
                }
                let g = |i: usize, j: usize| -> C64 {
                    (0..2).map(|m| k[m * 2 + i].conj() * k[m * 2 + j]).sum()
                };
                let g01 = g(0, 1);
                [g(0, 0).re, g(1, 1).re, g01.re, g01.im]
            })
            .collect();
        let mut identity = vec![0.0; 2 * d * d];
        for r in 0..d {
            identity[2 * (r * d + r)] = 1.0;
        }
        let form = if d == 2 { Form::Dense1 } else { Form::Dense2 };
        Ok(KrausStep {
            kernel: KernelOp::new(form, qubits.to_vec(), &[]),
            qubit: qubits[0],
            ops,
            fixed,
            gram,
            identity,
        })
    }

    /// Per lane, the reduced density matrix of the target qubit: `(ρ00, ρ11, ρ10)`.
    fn reduced(&self, blk: &Block) -> [(f64, f64, C64); LANES] {
        match blk.lanes {
            1 => reduced_l::<1>(&blk.re, &blk.im, self.qubit),
            _ => reduced_l::<LANES>(&blk.re, &blk.im, self.qubit),
        }
    }

    /// Applies the channel to one trajectory per lane of `blk` (`n` qubits); `streams` holds one
    /// stream per real lane (padding lanes beyond it are left unchanged).
    pub(crate) fn apply(&self, blk: &mut Block, n: usize, streams: &mut [RngStream]) {
        let l = blk.lanes;
        let width = self.identity.len();
        let reduced = match self.fixed {
            Some(_) => None,
            None => Some(self.reduced(blk)),
        };
        let mut buf = [0.0f64; 32 * LANES];
        let mut probs = [0.0f64; MAX_BRANCHES];
        let mut act = false;
        for lane in 0..l {
            let Some(rng) = streams.get_mut(lane) else {
                for (j, &x) in self.identity.iter().enumerate() {
                    buf[j * l + lane] = x;
                }
                continue;
            };
            let nb = self.ops.len();
            match (&self.fixed, &reduced) {
                (Some(q), _) => probs[..nb].copy_from_slice(q),
                (None, Some(r)) => {
                    let (r00, r11, r10) = r[lane];
                    for (p, g) in probs.iter_mut().zip(&self.gram) {
                        // Tr(G ρ) = g00 ρ00 + g11 ρ11 + 2 Re(g01 ρ10)
                        let v = g[0] * r00 + g[1] * r11 + 2.0 * (g[2] * r10.re - g[3] * r10.im);
                        *p = v.max(0.0);
                    }
                }
                (None, None) => {}
            }
            let k = pick(&probs[..nb], rng.uniform());
            let scale = match self.fixed {
                Some(_) => 1.0,
                None => 1.0 / probs[k].sqrt(),
            };
            if self.fixed.is_none() || k != 0 {
                act = true;
            }
            for (j, &x) in self.ops[k].iter().enumerate().take(width) {
                buf[j * l + lane] = x * scale;
            }
        }
        if act {
            apply(&self.kernel, Coefs::Lanes(&buf[..width * l]), blk, n);
        }
    }
}

/// [`KrausStep::reduced`] for `L` lanes per block: pairs of runs of `2^q` indices that differ in
/// bit `q`, lane innermost.
fn reduced_l<const L: usize>(re: &[f64], im: &[f64], q: usize) -> [(f64, f64, C64); LANES] {
    let len = (1usize << q) * L;
    let (mut a00, mut a11, mut br, mut bi) = ([0.0; L], [0.0; L], [0.0; L], [0.0; L]);
    for (cr, ci) in re.chunks_exact(2 * len).zip(im.chunks_exact(2 * len)) {
        let (r0, r1) = cr.split_at(len);
        let (i0, i1) = ci.split_at(len);
        let groups = r0
            .chunks_exact(L)
            .zip(r1.chunks_exact(L))
            .zip(i0.chunks_exact(L).zip(i1.chunks_exact(L)));
        for ((r0, r1), (i0, i1)) in groups {
            for lane in 0..L {
                let (x0r, x0i, x1r, x1i) = (r0[lane], i0[lane], r1[lane], i1[lane]);
                a00[lane] += x0r * x0r + x0i * x0i;
                a11[lane] += x1r * x1r + x1i * x1i;
                // ρ10 += x1 conj(x0)
                br[lane] += x1r * x0r + x1i * x0i;
                bi[lane] += x1i * x0r - x1r * x0i;
            }
        }
    }
    let mut out = [(0.0, 0.0, C64::new(0.0, 0.0)); LANES];
    for (lane, o) in out.iter_mut().enumerate().take(L) {
        *o = (a00[lane], a11[lane], C64::new(br[lane], bi[lane]));
    }
    out
}

/// The branch a uniform `u` in `[0, 1)` selects from weights `p` (need not be normalised): the
/// first `k` with `u Σp < Σ_{j<=k} p_j`; never a branch of weight 0.
fn pick(p: &[f64], u: f64) -> usize {
    let total: f64 = p.iter().sum();
    let target = u * total;
    let mut cum = 0.0;
    for (k, &pk) in p.iter().enumerate() {
        cum += pk;
        if pk > 0.0 && target < cum {
            return k;
        }
    }
    p.iter().rposition(|&x| x > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_follows_the_cumulative_weights_and_skips_empty_branches() {
        let p = [0.5, 0.0, 0.25, 0.25];
        assert_eq!(pick(&p, 0.0), 0);
        assert_eq!(pick(&p, 0.49), 0);
        assert_eq!(pick(&p, 0.5), 2);
        assert_eq!(pick(&p, 0.99), 3);
        assert_eq!(pick(&[0.0, 1.0], 0.0), 1);
        assert_eq!(pick(&[2.0, 2.0], 0.75), 1);
    }

    #[test]
    fn branches_of_amplitude_damping_on_one() {
        // |1> under amplitude damping: branch 1 (decay) with probability γ, then |0>.
        let step = KrausStep::new(&Channel::AmplitudeDamping { gamma: 0.3 }, &[0]).unwrap();
        let mut decays = 0;
        for t in 0..2000u64 {
            let mut s = crate::quantum::StateBatch::zeros(1, 1).unwrap();
            s.set_sample(0, &[C64::new(0.0, 0.0), C64::new(1.0, 0.0)])
                .unwrap();
            let mut rng = [RngStream::new(t, "branch-test")];
            step.apply(&mut s.blocks_mut()[0], 1, &mut rng);
            let a = s.amplitudes(0).unwrap();
            assert!((a[0].norm_sqr() + a[1].norm_sqr() - 1.0).abs() < 1e-14);
            if a[0].norm() > 0.5 {
                decays += 1;
            }
        }
        // 600 expected, sd ≈ 20.5.
        assert!((520..680).contains(&decays), "{decays}");
    }
}
