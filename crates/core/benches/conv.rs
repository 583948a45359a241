//! Convolution forward + backward: our im2col [`accel_core::nn::conv::conv2d`] against candle's
//! own CPU `conv2d`, on the MNIST CNN's layers and ResNet-50 layers at CIFAR size (early 3x3, late
//! 1x1 and 3x3 with 2x2 and 1x1 outputs); and our
//! [`accel_core::nn::depthwise_conv2d`] against candle's grouped `conv2d` (`groups = C`) on
//! EfficientNet-B0-like depthwise layers at CIFAR size (`cargo bench --bench conv -- depthwise`).
//! The ratio is what matters (both measured in the same run); see ARCHITECTURE.md.

// A benchmark may stop on a failed setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use accel_core::nn::conv::conv2d;
use accel_core::nn::depthwise_conv2d;
use accel_core::rng::RngStream;
use candle_core::{Device, Tensor, Var};
use candle_nn::Conv2dConfig;
use criterion::{Criterion, criterion_group, criterion_main};

fn randn(shape: &[usize], name: &str) -> Tensor {
    let mut rng = RngStream::new(0, name);
    let n: usize = shape.iter().product();
    let mut v = vec![0f32; n];
    rng.fill_normal_f32(&mut v, 0.0, 1.0);
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn bench(c: &mut Criterion) {
    // (label, input, out channels, kernel, padding, stride)
    type Case = (&'static str, [usize; 4], usize, usize, usize, usize);
    let cases: [Case; 5] = [
        ("mnist_cnn_conv0_b64", [64, 1, 28, 28], 16, 5, 2, 1),
        ("mnist_cnn_conv1_b64", [64, 16, 14, 14], 32, 5, 2, 1),
        ("resnet_3x3_64ch_b32", [32, 64, 16, 16], 64, 3, 1, 1),
        // ResNet-50's late stages at 32x32 input: whole-batch gemm (small outputs).
        (
            "resnet_1x1_1024to256_2x2_b32",
            [32, 1024, 2, 2],
            256,
            1,
            0,
            1,
        ),
        ("resnet_3x3_512ch_1x1_b32", [32, 512, 1, 1], 512, 3, 1, 1),
    ];
    let mut g = c.benchmark_group("conv2d_fwd_bwd");
    g.sample_size(10);
    for (label, shape, out, k, pad, stride) in cases {
        let x = Var::from_tensor(&randn(&shape, "x")).unwrap();
        let w = Var::from_tensor(&randn(&[out, shape[1], k, k], "w")).unwrap();
        let cfg = Conv2dConfig {
            padding: pad,
            stride,
            dilation: 1,
            groups: 1,
            cudnn_fwd_algo: None,
        };
        g.bench_function(format!("{label}/accel_im2col"), |b| {
            b.iter(|| {
                let y = conv2d(x.as_tensor(), w.as_tensor(), &cfg).unwrap();
                y.sum_all().and_then(|s| s.backward()).unwrap()
            })
        });
        g.bench_function(format!("{label}/candle"), |b| {
            b.iter(|| {
                let y = x.conv2d(&w, pad, stride, 1, 1).unwrap();
                y.sum_all().and_then(|s| s.backward()).unwrap()
            })
        });
    }
    g.finish();
}

fn bench_depthwise(c: &mut Criterion) {
    // (label, input, kernel, padding, stride): EfficientNet-B0 stages at 32x32 input, batch 32.
    type Case = (&'static str, [usize; 4], usize, usize, usize);
    let cases: [Case; 3] = [
        ("effnet_k3s2_96ch_16x16_b32", [32, 96, 16, 16], 3, 1, 2),
        ("effnet_k5_144ch_8x8_b32", [32, 144, 8, 8], 5, 2, 1),
        ("effnet_k3_480ch_2x2_b32", [32, 480, 2, 2], 3, 1, 1),
    ];
    let mut g = c.benchmark_group("depthwise_conv2d_fwd_bwd");
    g.sample_size(10);
    for (label, shape, k, pad, stride) in cases {
        let ch = shape[1];
        let x = Var::from_tensor(&randn(&shape, "x")).unwrap();
        let w = Var::from_tensor(&randn(&[ch, 1, k, k], "w")).unwrap();
        g.bench_function(format!("{label}/accel_depthwise"), |b| {
            b.iter(|| {
                let y = depthwise_conv2d(x.as_tensor(), w.as_tensor(), stride, pad).unwrap();
                y.sum_all().and_then(|s| s.backward()).unwrap()
            })
        });
        g.bench_function(format!("{label}/candle_grouped"), |b| {
            b.iter(|| {
                let y = x.conv2d(&w, pad, stride, 1, ch).unwrap();
                y.sum_all().and_then(|s| s.backward()).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_depthwise);
criterion_main!(benches);
