"""``python -m devtools.generator generate|land|from-kaggle`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from devtools.generator.synth import DEMO_FRAUD_RATE, KAGGLE_FRAUD_RATE, GeneratorConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.generator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a landing CSV and its oracle file")
    gen.add_argument("--rows", type=int, default=300_000)
    gen.add_argument("--fraud-rate", type=float, default=KAGGLE_FRAUD_RATE,
                     help=f"mean fraud probability (Kaggle {KAGGLE_FRAUD_RATE}; demo {DEMO_FRAUD_RATE})")  # fmt: skip
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--days", type=int, default=30)
    gen.add_argument("--out", type=Path, default=Path("data/transactions.csv"))
    land = sub.add_parser("land", help="upload a file to the landing bucket of the active target")
    land.add_argument("file", type=Path)
    land.add_argument("--name", help="object name under the landing prefix (default: file name)")
    kaggle = sub.add_parser("from-kaggle", help="map Kaggle's creditcard.csv into the landing schema")
    kaggle.add_argument("creditcard_csv", type=Path)
    kaggle.add_argument("--out", type=Path, default=Path("data/kaggle_transactions.csv"))
    args = parser.parse_args(argv)

    if args.command == "generate":
        from tqdm import tqdm

        from devtools.generator.files import write_batch
        from devtools.generator.synth import generate

        config = GeneratorConfig(rows=args.rows, fraud_rate=args.fraud_rate, seed=args.seed, days=args.days)
        started = time.perf_counter()
        with tqdm(total=6, desc="generate", unit="step") as bar:

            def progress(step: str) -> None:
                bar.set_postfix_str(step)
                bar.update(1)

            batch = generate(config, progress=progress)
        elapsed = time.perf_counter() - started
        landing, oracle = write_batch(batch, args.out)
        frauds = int(batch.landing["class"].sum())
        print(f"{len(batch.landing):,} rows ({frauds:,} fraud, {frauds / len(batch.landing):.2%}) "
              f"generated in {elapsed:.2f} s ({len(batch.landing) / elapsed:,.0f} rows/s)")  # fmt: skip
        print(f"landing file: {landing}\noracle file:  {oracle} (never landed)")
    elif args.command == "land":
        from devtools.landing import land_file

        print(land_file(args.file, args.name))
    else:
        from devtools.generator.files import write_landing_csv
        from devtools.generator.kaggle import from_kaggle

        print(write_landing_csv(from_kaggle(args.creditcard_csv), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
