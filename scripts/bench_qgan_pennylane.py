#!/usr/bin/env python3
"""Peer benchmark: one training iteration of PennyLane's patch quantum GAN demo.

Reproduces the set-up of https://pennylane.ai/qml/demos/tutorial_quantum_gans (Huang et al. 2021,
"Experimental quantum generative adversarial networks for image generation"): UCI optdigits 8x8
images of one digit (pixels / 16), 4 patch generators of 5 qubits (1 ancilla) and depth 6 on
lightning.qubit with parameter-shift gradients through torch, a 64-64-16-1 classical discriminator,
BCE loss, SGD (lrG 0.3, lrD 0.01), batch size 1, torch.manual_seed(42). One timed iteration is
exactly the demo's loop body (noise, generator forward, D step on real + fake, G step).

Run with the peers' virtualenv:
  /work/venv-peers/bin/python scripts/bench_qgan_pennylane.py [--quick] [--iterations 30]
      [--warmup 3] [--threads 1] [--digit 0] [--out results/bench/qgan-pennylane.json]

Prints one JSON object on stdout (and writes it to --out); progress goes to stderr.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_CANDIDATES = [
    "/work/shared/data/optdigits/optdigits.tra",
    os.path.join(HERE, "..", "data", "optdigits", "optdigits.tra"),
]

# The demo's constants.
N_QUBITS, N_A_QUBITS, Q_DEPTH, N_GENERATORS = 5, 1, 6, 4
BATCH_SIZE, LR_G, LR_D, Q_DELTA, SEED, IMAGE_SIZE = 1, 0.3, 0.01, 1.0, 42, 8


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=30, help="timed iterations (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed warm-up iterations (default 3)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch/OpenMP (default 1)")
    p.add_argument("--quick", action="store_true", help="10 timed, 2 warm-up iterations")
    p.add_argument("--digit", type=int, default=0, help="optdigits class to train on (default 0)")
    p.add_argument("--data", default=None, help="path to optdigits.tra (default: shared/data)")
    p.add_argument("--out", default=None, help="also write the JSON object to this file")
    a = p.parse_args()
    if a.quick:
        a.iterations, a.warmup = 10, 2
    return a


def main():
    args = parse_args()
    # Thread limits must be in the environment before torch / lightning load their runtimes.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import importlib.metadata as md

    import numpy as np
    import pennylane as qml
    import torch
    import torch.nn as nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)

    # ---- data: the demo's DigitsDataset (label filter, pixels / 16, 8x8), shuffled loader ----
    path = args.data or next((p for p in DATA_CANDIDATES if os.path.exists(p)), DATA_CANDIDATES[0])
    raw = np.loadtxt(path, delimiter=",", dtype=np.int64)
    raw = raw[raw[:, -1] == args.digit]
    images = torch.from_numpy((raw[:, :-1] / 16).astype(np.float32)).reshape(-1, 1, 8, 8)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, torch.full((len(images),), args.digit)),
        batch_size=BATCH_SIZE, shuffle=True, drop_last=True)
    log(f"data: {path}, digit {args.digit}: {len(images)} images")

    # ---- discriminator and quantum generator, as in the demo ----
    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(
                nn.Linear(IMAGE_SIZE * IMAGE_SIZE, 64), nn.ReLU(),
                nn.Linear(64, 16), nn.ReLU(),
                nn.Linear(16, 1), nn.Sigmoid())

        def forward(self, x):
            return self.model(x)

    dev = qml.device("lightning.qubit", wires=N_QUBITS)

    @qml.qnode(dev, interface="torch", diff_method="parameter-shift")
    def quantum_circuit(noise, weights):
        weights = weights.reshape(Q_DEPTH, N_QUBITS)
        for i in range(N_QUBITS):
            qml.RY(noise[i], wires=i)
        for i in range(Q_DEPTH):
            for y in range(N_QUBITS):
                qml.RY(weights[i][y], wires=y)
            for y in range(N_QUBITS - 1):
                qml.CZ(wires=[y, y + 1])
        return qml.probs(wires=list(range(N_QUBITS)))

    def partial_measure(noise, weights):
        probs = quantum_circuit(noise, weights)
        probsgiven0 = probs[: (2 ** (N_QUBITS - N_A_QUBITS))]
        probsgiven0 /= torch.sum(probs)
        probsgiven = probsgiven0 / torch.max(probsgiven0)
        return probsgiven

    class PatchQuantumGenerator(nn.Module):
        def __init__(self, n_generators, q_delta=1):
            super().__init__()
            self.q_params = nn.ParameterList([
                nn.Parameter(q_delta * torch.rand(Q_DEPTH * N_QUBITS), requires_grad=True)
                for _ in range(n_generators)])
            self.n_generators = n_generators

        def forward(self, x):
            patch_size = 2 ** (N_QUBITS - N_A_QUBITS)
            images = torch.Tensor(x.size(0), 0)
            for params in self.q_params:
                patches = torch.Tensor(0, patch_size)
                for elem in x:
                    q_out = partial_measure(elem, params).float().unsqueeze(0)
                    patches = torch.cat((patches, q_out))
                images = torch.cat((images, patches), 1)
            return images

    discriminator = Discriminator()
    generator = PatchQuantumGenerator(N_GENERATORS, Q_DELTA)
    criterion = nn.BCELoss()
    optD = torch.optim.SGD(discriminator.parameters(), lr=LR_D)
    optG = torch.optim.SGD(generator.parameters(), lr=LR_G)
    real_labels = torch.full((BATCH_SIZE,), 1.0, dtype=torch.float)
    fake_labels = torch.full((BATCH_SIZE,), 0.0, dtype=torch.float)

    def batches():
        while True:
            for data, _ in loader:
                yield data

    data_iter = batches()

    def iteration():
        """The demo's training-loop body, verbatim."""
        data = next(data_iter)
        real_data = data.reshape(-1, IMAGE_SIZE * IMAGE_SIZE)
        noise = torch.rand(BATCH_SIZE, N_QUBITS, device="cpu") * math.pi / 2
        fake_data = generator(noise)

        discriminator.zero_grad()
        outD_real = discriminator(real_data).view(-1)
        outD_fake = discriminator(fake_data.detach()).view(-1)
        errD_real = criterion(outD_real, real_labels)
        errD_fake = criterion(outD_fake, fake_labels)
        errD_real.backward()
        errD_fake.backward()
        errD = errD_real + errD_fake
        optD.step()

        generator.zero_grad()
        outD_fake = discriminator(fake_data).view(-1)
        errG = criterion(outD_fake, real_labels)
        errG.backward()
        optG.step()
        return errD.item(), errG.item()

    # ---- warm-up (the first one also counts device executions), then timed iterations ----
    executions = None
    for w in range(args.warmup):
        if w == 0:
            with qml.Tracker(dev) as tracker:
                iteration()
            executions = int(tracker.totals.get("executions", 0)) or None
        else:
            iteration()
    log(f"warm-up: {args.warmup} iterations, {executions} circuit executions/iteration")

    samples, errD, errG = [], float("nan"), float("nan")
    for i in range(args.iterations):
        t0 = time.perf_counter()
        errD, errG = iteration()
        samples.append((time.perf_counter() - t0) * 1e3)
        log(f"iter {i + 1}/{args.iterations}: {samples[-1]:.2f} ms  errD {errD:.4f}  errG {errG:.4f}")
    if not (math.isfinite(errD) and math.isfinite(errG)):
        log("warning: non-finite losses")

    try:
        lightning_version = md.version("pennylane-lightning")
    except md.PackageNotFoundError:
        lightning_version = None
    result = {
        "peer": "pennylane-lightning-parameter-shift",
        "pennylane_version": qml.__version__,
        "lightning_version": lightning_version,
        "torch_version": torch.__version__,
        "threads": args.threads,
        "iterations": args.iterations,
        "ms_per_iteration_median": statistics.median(samples) if samples else None,
        "ms_per_iteration_min": min(samples) if samples else None,
        "ms_per_iteration_max": max(samples) if samples else None,
        "samples_ms": samples,
        "circuit_executions_per_iteration": executions,
        "final_errD": errD,
        "final_errG": errG,
        "setup": {
            "n_qubits": N_QUBITS, "n_a_qubits": N_A_QUBITS, "q_depth": Q_DEPTH,
            "n_generators": N_GENERATORS, "batch_size": BATCH_SIZE, "lrG": LR_G, "lrD": LR_D,
            "q_delta": Q_DELTA, "seed": SEED, "digit": args.digit, "n_images": len(images),
            "device": "lightning.qubit", "diff_method": "parameter-shift", "interface": "torch",
            "warmup": args.warmup, "data": os.path.abspath(path),
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
