"""Compile the training pipeline to ``include/pipelines/fraud_training.yaml``.

``make compile`` runs this; the YAML is committed, and a test fails when a fresh compile
differs from it (so the YAML Vertex and ``kfp.local`` run is always the code in the repo).
"""

import argparse
import tempfile
from pathlib import Path

from kfp import compiler

from include.pipelines.fraud_training import fraud_training

COMPILED_NAME = "fraud_training.yaml"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / COMPILED_NAME


def compiled_text() -> str:
    """The pipeline compiled in memory (byte-identical on every run and machine)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / COMPILED_NAME
        compiler.Compiler().compile(pipeline_func=fraud_training, package_path=str(path))
        return path.read_text()


def compile_pipeline(output: Path = DEFAULT_OUTPUT) -> Path:
    output.write_text(compiled_text())
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    print(compile_pipeline(parser.parse_args().output))


if __name__ == "__main__":
    main()
