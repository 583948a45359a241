//! Tests of the pooling ops: forward against a naive reference, backward against finite
//! differences, the candle trap, errors, and an `#[ignore]`d timing against candle.

#![cfg(test)]

use super::*;
use crate::nn::grad_check::GradCheck;
use crate::rng::RngStream;
use candle_core::{Device, Var};

fn randn(dims: &[usize], name: &str) -> Tensor {
    let n = dims.iter().product();
    let mut rng = RngStream::new(17, name);
    let v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

fn flat(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Naive pooling: every window element visited through explicit (possibly padded) coordinates.
fn reference(x: &[f64], dims: [usize; 4], cfg: &Pool2dConfig, kind: Kind) -> Vec<f64> {
    let [n, c, h, w] = dims;
    let (kh, kw) = cfg.kernel;
    let (sh, sw) = cfg.stride;
    let (ph, pw) = cfg.padding;
    let oh = (h + 2 * ph - kh) / sh + 1;
    let ow = (w + 2 * pw - kw) / sw + 1;
    let mut out = Vec::new();
    for plane in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best = f64::NEG_INFINITY;
                let mut sum = 0.0;
                let mut count = 0;
                for ky in 0..kh {
                    for kx in 0..kw {
                        let iy = (oy * sh + ky) as i64 - ph as i64;
                        let ix = (ox * sw + kx) as i64 - pw as i64;
                        if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                            continue; // padding
                        }
                        let v = x[plane * h * w + iy as usize * w + ix as usize];
                        best = best.max(v);
                        sum += v;
                        count += 1;
                    }
                }
                out.push(match kind {
                    Kind::Max => best,
                    Kind::Avg {
                        count_include_pad: true,
                    } => sum / (kh * kw) as f64,
                    Kind::Avg {
                        count_include_pad: false,
                    } => sum / count as f64,
                });
            }
        }
    }
    out
}

const KINDS: [Kind; 3] = [
    Kind::Max,
    Kind::Avg {
        count_include_pad: true,
    },
    Kind::Avg {
        count_include_pad: false,
    },
];

fn apply(x: &Tensor, cfg: &Pool2dConfig, kind: Kind) -> Result<Tensor> {
    match kind {
        Kind::Max => max_pool2d(x, cfg),
        Kind::Avg { count_include_pad } => avg_pool2d(x, cfg, count_include_pad),
    }
}

/// (input dims, config) pairs covering the cases the brief names.
fn cases() -> Vec<([usize; 4], Pool2dConfig)> {
    vec![
        ([2, 3, 8, 8], Pool2dConfig::square(2, 2, 0).unwrap()), // k = stride
        ([1, 2, 9, 7], Pool2dConfig::square(3, 2, 1).unwrap()), // ResNet stem, odd sizes
        ([2, 1, 5, 5], Pool2dConfig::square(2, 2, 0).unwrap()), // 5 not divisible by 2
        (
            [1, 2, 6, 7],
            Pool2dConfig::new((2, 3), (1, 2), (1, 1)).unwrap(),
        ), // non-square
        (
            [1, 1, 4, 6],
            Pool2dConfig::new((3, 1), (3, 1), (0, 0)).unwrap(),
        ),
        ([1, 1, 3, 3], Pool2dConfig::square(3, 1, 1).unwrap()), // "same" size
    ]
}

#[test]
fn forward_matches_naive_reference() {
    for (dims, cfg) in cases() {
        let x = randn(&dims, "fwd");
        for kind in KINDS {
            let y = apply(&x, &cfg, kind).unwrap();
            let want = reference(&flat(&x), dims, &cfg, kind);
            let (oh, ow) = cfg.output_size(dims[2], dims[3]).unwrap();
            assert_eq!(y.dims(), &[dims[0], dims[1], oh, ow]);
            let got = flat(&y);
            for (a, e) in got.iter().zip(&want) {
                assert!(
                    (a - e).abs() < 1e-12,
                    "{dims:?} {cfg:?} {kind:?}: {a} vs {e}"
                );
            }
            // f32 agrees too.
            let y32 = apply(&x.to_dtype(DType::F32).unwrap(), &cfg, kind).unwrap();
            assert_eq!(y32.dtype(), DType::F32);
            for (a, e) in flat(&y32).iter().zip(&want) {
                assert!((a - e).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn large_input_uses_parallel_path_and_matches_reference() {
    let dims = [4, 32, 20, 20];
    let cfg = Pool2dConfig::square(3, 2, 1).unwrap();
    let g = cfg.geom(&dims).unwrap();
    assert!(
        g.planes * g.oh * g.ow * g.kh * g.kw >= 1 << 15,
        "test must hit the parallel path"
    );
    let x = randn(&dims, "large");
    for kind in KINDS {
        let want = reference(&flat(&x), dims, &cfg, kind);
        let got = flat(&apply(&x, &cfg, kind).unwrap());
        assert!(got.iter().zip(&want).all(|(a, e)| (a - e).abs() < 1e-12));
    }
    // Backward on the parallel path against the small-path result on each plane separately.
    let xv = Var::from_tensor(&x).unwrap();
    let r = randn(&[4, 32, 10, 10], "large-r");
    let gx = (max_pool2d(xv.as_tensor(), &cfg).unwrap() * &r)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gx = flat(gx.get(xv.as_tensor()).unwrap());
    for plane in [0usize, 77, 127] {
        let (n, c) = (plane / 32, plane % 32);
        let xp = Var::from_tensor(&x.narrow(0, n, 1).unwrap().narrow(1, c, 1).unwrap()).unwrap();
        let rp = r.narrow(0, n, 1).unwrap().narrow(1, c, 1).unwrap();
        let gp = (max_pool2d(xp.as_tensor(), &cfg).unwrap() * &rp)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gp = flat(gp.get(xp.as_tensor()).unwrap());
        assert_eq!(gp, gx[plane * 400..(plane + 1) * 400].to_vec());
    }
}

#[test]
fn non_contiguous_input_is_handled() {
    let base = randn(&[2, 3, 7, 6], "nc");
    let x = base.transpose(2, 3).unwrap(); // [2, 3, 6, 7], strided
    assert!(!x.is_contiguous());
    let xc = x.contiguous().unwrap();
    let cfg = Pool2dConfig::square(3, 2, 1).unwrap();
    for kind in KINDS {
        let want = reference(&flat(&xc), [2, 3, 6, 7], &cfg, kind);
        assert_eq!(
            flat(&apply(&x, &cfg, kind).unwrap()),
            flat(&apply(&xc, &cfg, kind).unwrap())
        );
        assert!(
            flat(&apply(&x, &cfg, kind).unwrap())
                .iter()
                .zip(&want)
                .all(|(a, e)| (a - e).abs() < 1e-12)
        );
    }
    // Gradients flow back through the transpose.
    let report = GradCheck::default()
        .check(
            |a| Ok(max_pool2d(&a[0].transpose(2, 3)?, &cfg)?.sqr()?.sum_all()?),
            &[base],
        )
        .unwrap();
    assert!(report.passed(), "{report}");
}

#[test]
fn backward_matches_finite_differences() {
    for (dims, cfg) in cases() {
        let x = randn(&dims, "bwd");
        let (oh, ow) = cfg.output_size(dims[2], dims[3]).unwrap();
        // Weighted sum with distinct weights so misrouted gradients are visible.
        let r = randn(&[dims[0], dims[1], oh, ow], "bwd-r");
        for kind in KINDS {
            let report = GradCheck::default()
                .check(
                    |a| Ok((apply(&a[0], &cfg, kind)? * &r)?.sum_all()?),
                    std::slice::from_ref(&x),
                )
                .unwrap();
            assert!(report.passed(), "{dims:?} {cfg:?} {kind:?}: {report}");
            assert!(report.missing_gradients().is_empty());
        }
    }
}

#[test]
fn ties_send_the_gradient_to_the_first_element() {
    // All equal: every 2x2 window's first (top-left) element gets the gradient, as in PyTorch.
    let x = Var::ones((1, 1, 4, 4), DType::F32, &Device::Cpu).unwrap();
    let cfg = Pool2dConfig::square(2, 2, 0).unwrap();
    let g = max_pool2d(x.as_tensor(), &cfg)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = flat(g.get(x.as_tensor()).unwrap());
    #[rustfmt::skip]
    let want = [1., 0., 1., 0.,
                0., 0., 0., 0.,
                1., 0., 1., 0.,
                0., 0., 0., 0.];
    assert_eq!(g, want);
    // Overlapping windows (3x3/s1/p1 on a constant 3x3): the first in-bounds element of each
    // window. Windows start at rows/cols {-1, 0, 1} clipped: first elements (0,0) x4, (0,1) x2,
    // (1,0) x2, (1,1) x1.
    let x = Var::ones((1, 1, 3, 3), DType::F64, &Device::Cpu).unwrap();
    let cfg = Pool2dConfig::square(3, 1, 1).unwrap();
    let g = max_pool2d(x.as_tensor(), &cfg)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = flat(g.get(x.as_tensor()).unwrap());
    assert_eq!(g, [4., 2., 0., 2., 1., 0., 0., 0., 0.]);
}

/// The trap, kept as a test: candle 0.11's max-pool backward is scaled by 1/(k*k), fails for
/// kernel != stride and misroutes gradients on sizes not divisible by the kernel. Ours is right.
/// If this test fails after a candle upgrade, candle's backward may have been fixed.
#[test]
fn candle_max_pool_backward_is_wrong() {
    let grad_of = |x: &Var, y: Tensor| -> Vec<f64> {
        let g = y.sum_all().unwrap().backward().unwrap();
        flat(g.get(x.as_tensor()).unwrap())
    };
    // 1. k = stride = 2 on 4x4 with distinct values: the true gradient is 1 at each of the 4
    //    argmaxes; candle gives 1/4.
    let x = Var::from_tensor(&randn(&[1, 1, 4, 4], "trap")).unwrap();
    let theirs = grad_of(&x, x.as_tensor().max_pool2d(2).unwrap());
    let cfg = Pool2dConfig::square(2, 2, 0).unwrap();
    let ours = grad_of(&x, max_pool2d(x.as_tensor(), &cfg).unwrap());
    assert_eq!(ours.iter().sum::<f64>(), 4.0);
    assert!(ours.iter().all(|&g| g == 0.0 || g == 1.0));
    let theirs_sum: f64 = theirs.iter().sum();
    assert!(
        (theirs_sum - 1.0).abs() < 1e-12,
        "candle's gradient sums to {theirs_sum}"
    );
    for (t, o) in theirs.iter().zip(&ours) {
        assert!((t - o / 4.0).abs() < 1e-12, "candle = ours / (k*k)");
    }
    // 2. kernel 3, stride 2: candle's backward fails.
    let y = x.as_tensor().max_pool2d_with_stride(3, 2).unwrap();
    assert!(y.sum_all().unwrap().backward().is_err());
    // 3. 5x5 with k = 2: the 2x2 output covers rows/cols 0..4, but candle upsamples the output
    //    gradient to 5x5 by nearest neighbour, so its mask lines up with the wrong windows.
    let x = Var::from_tensor(&randn(&[1, 1, 5, 5], "trap5")).unwrap();
    let theirs = grad_of(&x, x.as_tensor().max_pool2d(2).unwrap());
    let ours = grad_of(&x, max_pool2d(x.as_tensor(), &cfg).unwrap());
    let ours_fd = GradCheck::default()
        .check(
            |a| Ok(max_pool2d(&a[0], &cfg)?.sum_all()?),
            &[x.as_tensor().clone()],
        )
        .unwrap();
    assert!(ours_fd.passed(), "{ours_fd}");
    let scaled: Vec<f64> = theirs.iter().map(|t| t * 4.0).collect();
    assert_ne!(
        scaled, ours,
        "candle's gradient is not just scaled here, it is misplaced"
    );
}

/// NaN propagates as in PyTorch: a window holding a NaN outputs NaN, and the NaN gets the
/// gradient.
#[test]
fn nan_propagates_and_gets_the_gradient() {
    let x = Var::from_tensor(
        &Tensor::new(
            &[[[[1.0f32, f32::NAN, 3.0, 0.0], [5.0, 2.0, 1.0, 4.0]]]],
            &Device::Cpu,
        )
        .unwrap(),
    )
    .unwrap();
    let cfg = Pool2dConfig::square(2, 2, 0).unwrap();
    let y = max_pool2d(x.as_tensor(), &cfg).unwrap();
    let yv = flat(&y);
    assert!(yv[0].is_nan());
    assert_eq!(yv[1], 4.0);
    let g = y.sum_all().unwrap().backward().unwrap();
    assert_eq!(
        flat(g.get(x.as_tensor()).unwrap()),
        [0., 1., 0., 0., 0., 0., 0., 1.]
    );
}

#[test]
fn bf16_and_f16_go_through_f32() {
    let x = randn(&[1, 2, 6, 6], "half");
    let cfg = Pool2dConfig::square(3, 2, 1).unwrap();
    for dt in [DType::BF16, DType::F16] {
        let xh = x.to_dtype(dt).unwrap();
        for kind in KINDS {
            let y = apply(&xh, &cfg, kind).unwrap();
            assert_eq!(y.dtype(), dt);
            let want = reference(&flat(&xh), [1, 2, 6, 6], &cfg, kind);
            assert!(
                flat(&y)
                    .iter()
                    .zip(&want)
                    .all(|(a, e)| (a - e).abs() < 2e-2 * e.abs().max(1.0))
            );
        }
        let v = Var::from_tensor(&xh).unwrap();
        let g = max_pool2d(v.as_tensor(), &cfg)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g = g.get(v.as_tensor()).unwrap();
        assert_eq!(g.dtype(), dt);
        assert_eq!(
            flat(g).iter().sum::<f64>(),
            2.0 * 9.0,
            "one unit per output element"
        );
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    assert!(Pool2dConfig::square(0, 1, 0).is_err());
    assert!(Pool2dConfig::square(2, 0, 0).is_err());
    assert!(
        Pool2dConfig::square(3, 2, 2).is_err(),
        "padding > kernel / 2"
    );
    assert!(Pool2dConfig::new((3, 2), (1, 1), (1, 2)).is_err());
    let cfg = Pool2dConfig::square(2, 2, 0).unwrap();
    let x3 = randn(&[1, 4, 4], "e");
    assert!(max_pool2d(&x3, &cfg).is_err(), "rank 3");
    assert!(avg_pool2d(&x3, &cfg, true).is_err());
    let tiny = randn(&[1, 1, 1, 3], "e");
    assert!(
        max_pool2d(&tiny, &cfg).is_err(),
        "input smaller than the kernel"
    );
    let empty = Tensor::zeros((1, 1, 0, 4), DType::F32, &Device::Cpu).unwrap();
    assert!(max_pool2d(&empty, &Pool2dConfig::square(1, 1, 0).unwrap()).is_err());
    let ints = Tensor::zeros((1, 1, 4, 4), DType::U32, &Device::Cpu).unwrap();
    assert!(max_pool2d(&ints, &cfg).is_err());
    // A config built without `new` is still checked.
    let raw = Pool2dConfig {
        kernel: (2, 2),
        stride: (0, 1),
        padding: (0, 0),
    };
    assert!(max_pool2d(&randn(&[1, 1, 4, 4], "e"), &raw).is_err());
    assert!(MaxPool2d::new(raw).is_err());
    // Module forward surfaces the error too.
    let layer = AvgPool2d::new(cfg).unwrap().with_count_include_pad(false);
    assert!(!layer.count_include_pad());
    assert!(layer.forward(&x3).is_err());
    // An empty batch is fine.
    let none = Tensor::zeros((0, 3, 4, 4), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(max_pool2d(&none, &cfg).unwrap().dims(), &[0, 3, 2, 2]);
}

#[test]
fn config_deserialises() {
    let cfg: Pool2dConfig =
        serde_json::from_str(r#"{"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]}"#).unwrap();
    assert_eq!(cfg, Pool2dConfig::square(3, 2, 1).unwrap());
    assert!(
        serde_json::from_str::<Pool2dConfig>(
            r#"{"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1], "ceil": true}"#
        )
        .is_err()
    );
}

/// Timing against candle's own forward (k = stride = 2, MNIST-CNN-like shapes). Not a test of
/// speed (no assertion): run with
/// `cargo test -p accel-core --release --lib nn::pool::tests::timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing_against_candle_max_pool2d() {
    let time = |f: &dyn Fn()| {
        f();
        let reps = 20;
        let t0 = std::time::Instant::now();
        for _ in 0..reps {
            f();
        }
        t0.elapsed().as_secs_f64() / reps as f64
    };
    let cfg = Pool2dConfig::square(2, 2, 0).unwrap();
    for dims in [[64usize, 32, 28, 28], [64, 64, 14, 14], [32, 64, 56, 56]] {
        let x = randn(&dims, "timing").to_dtype(DType::F32).unwrap();
        let candle = time(&|| {
            x.max_pool2d(2).unwrap();
        });
        let ours = time(&|| {
            max_pool2d(&x, &cfg).unwrap();
        });
        let xv = Var::from_tensor(&x).unwrap();
        let ours_bwd = time(&|| {
            max_pool2d(xv.as_tensor(), &cfg)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
        });
        let candle_bwd = time(&|| {
            xv.as_tensor()
                .max_pool2d(2)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
        });
        println!(
            "{dims:?}: forward candle {:.3} ms, ours {:.3} ms (ours/candle {:.2}); \
             forward+backward candle {:.3} ms, ours {:.3} ms (ours/candle {:.2})",
            candle * 1e3,
            ours * 1e3,
            ours / candle,
            candle_bwd * 1e3,
            ours_bwd * 1e3,
            ours_bwd / candle_bwd
        );
    }
}
