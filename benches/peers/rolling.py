"""The rolling workload of examples/rolling.rs, in pandas or Polars, for side-by-side runs.

    python benches/peers/rolling.py pandas|polars /tmp/bench-data/groupby/G1_1e7_1e2_0_0.parquet

Reads v1 and v3 of the h2o groupby table, then times, on the in-memory columns: the rolling
mean of v3 over 100 rows, the rolling standard deviation of v3 over 100 rows, the rolling
maximum of v1 over 1,000 rows, and v3 shifted up one row minus v3 (diff(-1)). Prints
`RESULT name=rolling.<step>.<tool> seconds=<s> checksum=<c>` lines, as the Rust example does;
the checksum is the sum of the non-null results.
"""

import sys
import time


def main():
    tool, path = sys.argv[1], sys.argv[2]
    t = time.perf_counter()
    if tool == "pandas":
        import pandas as pd

        df = pd.read_parquet(path, columns=["v1", "v3"])
        load = time.perf_counter() - t
        steps = {
            "mean100": lambda: df["v3"].rolling(100).mean(),
            "std100": lambda: df["v3"].rolling(100).std(),
            "max1000": lambda: df["v1"].rolling(1000).max(),
            "diff": lambda: df["v3"].diff(-1),
        }
        total = lambda s: float(s.sum())
    else:
        import polars as pl

        df = pl.read_parquet(path, columns=["v1", "v3"])
        load = time.perf_counter() - t
        steps = {
            "mean100": lambda: df["v3"].rolling_mean(100),
            "std100": lambda: df["v3"].rolling_std(100),
            "max1000": lambda: df["v1"].cast(pl.Float64).rolling_max(1000),
            "diff": lambda: df["v3"] - df["v3"].shift(-1),
        }
        total = lambda s: float(s.sum())
    print(f"RESULT name=rolling.load.{tool} seconds={load:.4f}")
    for name, f in steps.items():
        t = time.perf_counter()
        out = f()
        s = time.perf_counter() - t
        print(f"RESULT name=rolling.{name}.{tool} seconds={s:.4f} checksum={total(out):.6f}")


main()
