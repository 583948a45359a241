#!/usr/bin/env python3
"""Markdown table of `scripts/bench-train.sh`: our training step against PyTorch's, as ratios.

Usage: bench_train_table.py RAW_DIR THREADS   (RAW_DIR holds ours.t<N>.jsonl and torch.t<N>.json)
Standard library only.
"""
import json
import os
import sys


def main():
    raw, threads = sys.argv[1], sys.argv[2].split(",")
    print("# Training step: accel vs PyTorch (same run)\n")
    print("Batch 32 per optimizer step, random 32x32x3 inputs, SGD momentum 0.9, models in train mode.")
    print("Ratio = our img/s / PyTorch img/s (> 1: we are faster). Medians of the timed steps.\n")
    for t in threads:
        ours, profiles = {}, {}
        with open(os.path.join(raw, f"ours.t{t}.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                if "profile" in r:
                    profiles[r["model"]] = r["profile"]
                else:
                    ours[(r["model"], r["precision"], r["accum"])] = r
        with open(os.path.join(raw, f"torch.t{t}.json")) as f:
            peer = json.load(f)
        theirs = {(r["model"], r["precision"], r["accum"]): r for r in peer["records"] if "step_s" in r}
        print(f"## {t} thread(s)\n")
        print("| model | precision | batching | accel img/s | PyTorch img/s | ratio | accel bf16 / f32 |")
        print("|---|---|---|---|---|---|---|")
        for key in sorted(ours, key=lambda k: (k[0], k[1] != "f32", k[2])):
            m, p, a = key
            o = ours[key]
            th = theirs.get(key)
            f32 = ours.get((m, "f32", a))
            own = f"{o['images_per_s'] / f32['images_per_s']:.2f}x" if f32 and p != "f32" else "-"
            if th:
                ratio = o["images_per_s"] / th["images_per_s"]
                print(f"| {m} | {p} | {a}x{32 // a} | {o['images_per_s']:.1f} | {th['images_per_s']:.1f} | "
                      f"**{ratio:.2f}x** | {own} |")
            else:
                print(f"| {m} | {p} | {a}x{32 // a} | {o['images_per_s']:.1f} | n/a | n/a | {own} |")
        if profiles:
            print(f"\nWhere our f32 1x32 step goes ({t} thread(s), seconds):\n")
            print("| model | forward | backward | optimizer |")
            print("|---|---|---|---|")
            for m, p in profiles.items():
                print(f"| {m} | {p['forward_s']:.3f} | {p['backward_s']:.3f} | {p['optimizer_s']:.3f} |")
        env = peer.get("env", {})
        torch_version = (env.get("packages") or {}).get("torch", "?")
        flags = env.get("cpu_flags") or {}
        print(f"\nPyTorch {torch_version}, CPU capability {env.get('cpu_capability', '?')}, "
              f"avx512_bf16 {flags.get('avx512_bf16', '?')}, amx_bf16 {flags.get('amx_bf16', '?')}; "
              f"bf16 supported by the CPU per PyTorch: {env.get('bf16_supported_cpu', '?')}\n")
    with open(os.path.join(raw, "load.txt")) as f:
        print("Load average (1/5/15 min): " + "; ".join(l.strip() for l in f))


if __name__ == "__main__":
    main()
