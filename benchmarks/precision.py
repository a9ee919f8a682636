"""Does mixed bfloat16 change what the comparison finds? Final test accuracy across precisions.

Run from the repository root:

    python benchmarks/precision.py [--seeds 0 1 2 3 4] [--epochs 8]

The study's digits setting (`run_comparison("digits", image_size=24, epochs=8,
batch_size=64, augment=False, seeds=[0, 1, 2, 3, 4], precision=...)`) runs once in float32
and once in mixed_bfloat16. For each arm (baseline, GC) and for the GC - baseline gap, the
per-seed difference mixed_bfloat16 - float32 of the final test accuracy is summarized with
`gc_tutorial.stats.paired_summary` (mean, 95% interval, sign-flip p-value). The step
speedup of bfloat16 at the tutorial's 300x300 is throughput.py's `mixed_bfloat16` row.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

from common import at_least, check_output, load_average, print_table, write_results

PRECISIONS = ("float32", "mixed_bfloat16")
# The study's digits setting; the seeds and epochs come from the command line.
DIGITS_SETTING = {"image_size": 24, "batch_size": 64, "augment": False}


def final_accuracies(history) -> dict:
    """{arm: [final test accuracy per seed]} in seed order, from a comparison's history."""
    last = history.sort_values("epoch").groupby(["arm", "seed"]).tail(1)
    return {
        arm: last[last["arm"] == arm].sort_values("seed")["test_accuracy"].tolist()
        for arm in ("baseline", "gc")
    }


def main(argv=None) -> dict:
    from gc_tutorial.comparison import run_comparison
    from gc_tutorial.config import ComparisonConfig
    from gc_tutorial.stats import paired_summary

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=at_least(0), nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=at_least(1), default=8)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if len(set(args.seeds)) < 2 or len(set(args.seeds)) < len(args.seeds):
        parser.error(
            f"--seeds must be two or more distinct seeds, got {' '.join(map(str, args.seeds))}"
        )
    try:
        config = ComparisonConfig(
            dataset="digits", seeds=args.seeds, epochs=args.epochs, **DIGITS_SETTING
        )
    except ValueError as error:
        parser.error(str(error))
    check_output(parser, "precision", args.output)
    accuracies, wall = {}, {}
    for precision in PRECISIONS:
        print(f"{precision} ... (load average {load_average()})", flush=True)
        start = time.perf_counter()
        result = run_comparison(config, precision=precision, verbose=0)
        wall[precision] = time.perf_counter() - start
        accuracies[precision] = final_accuracies(result.history)
    rows = []
    f32, bf16 = accuracies["float32"], accuracies["mixed_bfloat16"]
    gaps = {p: [g - b for g, b in zip(a["gc"], a["baseline"])] for p, a in accuracies.items()}
    for name, low, high in [
        ("baseline", f32["baseline"], bf16["baseline"]),
        ("gc", f32["gc"], bf16["gc"]),
        ("gc - baseline", gaps["float32"], gaps["mixed_bfloat16"]),
    ]:
        summary = paired_summary([b - a for a, b in zip(low, high)])
        rows.append(
            {
                "final test accuracy": name,
                "float32 mean": sum(low) / len(low),
                "mixed_bfloat16 mean": sum(high) / len(high),
                "bf16 - f32": summary.mean,
                "ci_low": summary.ci_low,
                "ci_high": summary.ci_high,
                "p_value": summary.p_value,
                "summary": asdict(summary),
            }
        )
    print_table(rows, [key for key in rows[0] if key != "summary"])
    print(f"wall time: {wall}; load average at the end {load_average()}")
    write_results(
        "precision",
        {
            "parameters": vars(args) | {"dataset": "digits", **DIGITS_SETTING},
            "final_test_accuracy": accuracies,
            "rows": rows,
            "wall_s": wall,
            "load_average_end": load_average(),
        },
        args.output,
    )
    return {"rows": rows}


if __name__ == "__main__":
    main()
