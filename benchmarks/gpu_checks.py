"""Every check that needs a GPU, in one script (under 8 minutes on one H100), writing its figures to one file.

    python benchmarks/gpu_checks.py --out gpu_checks.json            # on the GPU machine
    python benchmarks/gpu_checks.py --device cpu --small --out x.json   # the same code path, here, in seconds

Checks:
  ensemble   member-steps/s of N = 1000 members stacked against a sequential loop over them on the same GPU,
             for the fa-vs-bp MLP (FA), a 64-unit leaky RNN trained by e-prop and the compositional GRU
             (target: >= 50x; benchmarks/ensemble.py's cases, the loop timed over a sample of members)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import ensemble as ensemble_bench  # noqa: E402  (benchmarks/ensemble.py: the cases)


def ensemble_check(device: str, members: int, sample: int, seconds: float) -> dict:
    """Stacked N members against the sequential loop; the loop's rate is measured on `sample` members (its
    per-member cost does not depend on how many follow)."""
    out = {}
    for name in ("fa-mlp", "eprop-rnn", "gru"):
        stacked = ensemble_bench.measure(name, members, "stacked", device, seconds)
        sequential = ensemble_bench.measure(name, sample, "sequential", device, seconds)
        out[name] = {"members": members, "stacked": stacked, "sequential": sequential,
                     "speedup": stacked["member_steps_per_s"] / sequential["member_steps_per_s"]}
        print(f"ensemble {name}: {out[name]['speedup']:.1f}x at N = {members}", file=sys.stderr, flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", default="gpu_checks.json")
    p.add_argument("--small", action="store_true", help="tiny sizes: check the script itself, anywhere")
    args = p.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here; use --device cpu --small to check the script")
    members, sample, seconds = (4, 2, 0.2) if args.small else (1000, 20, 5.0)
    start = time.perf_counter()
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    results = {"device": device_name, "torch": torch.__version__,
               "ensemble": ensemble_check(args.device, members, sample, seconds)}
    results["seconds"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out} ({results['seconds']:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
