"""The build-input digests the images are tagged with (fraud_mlops/registry/images.py).

An image's inputs are its Dockerfile and every file the Dockerfile copies in (the generated
requirement lock, the model server's project modules): what ``docker build`` reads, not what
else lies in the folder (an editor's backup, a Finder file). The digest is SHA-256 over each
file's path and its bytes with line endings as ``\n`` (a Windows checkout's CRLF gives the same
tag), in path order.

    .venv/bin/python -m scripts.image_digests           # print them
    .venv/bin/python -m scripts.image_digests --write   # write them into images.py (make image-digests)
    .venv/bin/python -m scripts.image_digests --check   # exit 1 when images.py names other digests
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shlex
from pathlib import Path

from fraud_mlops.registry.images import MODEL_SERVER_IMAGE, TRAINING_IMAGE
from fraud_mlops.settings import REPO_ROOT

IMAGES_DIR = REPO_ROOT / "images"
IMAGES_MODULE = REPO_ROOT / "plugins" / "fraud_mlops" / "registry" / "images.py"
DIGEST_LENGTH = 12
#: The folder of each image (``images/<folder>``) by its Artifact Registry name: ``-`` as ``_``,
#: the rule ``make images`` names them by.
FOLDERS = {image: image.replace("-", "_") for image in (MODEL_SERVER_IMAGE, TRAINING_IMAGE)}


def copied_sources(dockerfile: Path) -> list[str]:
    """The repository paths a Dockerfile's ``COPY`` instructions read (flags and the
    destination left out; continued lines joined)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    sources: list[str] = []
    for line in text.splitlines():
        instruction = line.split(maxsplit=1)[:1]
        if not instruction or instruction[0].upper() != "COPY":  # Docker takes any case
            continue
        words = shlex.split(line, comments=True)
        if any(w.startswith("--from") for w in words):
            raise ValueError(
                f"{dockerfile}: a COPY from another stage or image is no repository input: {line}"
            )
        sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def build_inputs(image: str, root: Path = REPO_ROOT) -> list[Path]:
    """Every file the image is built from, sorted by path."""
    folder = root / "images" / FOLDERS[image]
    files = {folder / "Dockerfile"}
    for source in copied_sources(folder / "Dockerfile"):
        path = root / source
        if path.is_dir():
            files |= {
                p
                for p in path.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            }
        elif path.is_file():
            files.add(path)
        else:
            raise FileNotFoundError(f"{folder / 'Dockerfile'} copies {source}, which does not exist")
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def digest(image: str, root: Path = REPO_ROOT) -> str:
    sha = hashlib.sha256()
    for path in build_inputs(image, root):
        sha.update(path.relative_to(root).as_posix().encode() + b"\0")
        sha.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return sha.hexdigest()[:DIGEST_LENGTH]


def digests(root: Path = REPO_ROOT) -> dict[str, str]:
    return {image: digest(image, root) for image in sorted(FOLDERS)}


def write(module: Path = IMAGES_MODULE) -> bool:
    """Write the digests into ``IMAGE_DIGESTS``; whether the module changed."""
    text = module.read_text()
    block = "".join(f'    "{image}": "{value}",\n' for image, value in digests().items())
    new, count = re.subn(
        r"(IMAGE_DIGESTS: dict\[str, str\] = \{\n)(.*?)(\}\n)", rf"\g<1>{block}\g<3>", text, flags=re.S
    )
    if count != 1:
        raise ValueError(f"{module} has no IMAGE_DIGESTS block to write")
    module.write_text(new)
    return new != text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the digests into registry/images.py")
    mode.add_argument(
        "--check", action="store_true", help="exit 1 when registry/images.py names other digests"
    )
    args = parser.parse_args()
    if args.write:
        print(f"{IMAGES_MODULE.relative_to(REPO_ROOT)}: {'written' if write() else 'unchanged'}")
    if args.check:
        from fraud_mlops.registry.images import IMAGE_DIGESTS

        if digests() != IMAGE_DIGESTS:
            raise SystemExit(
                f"images.py names {IMAGE_DIGESTS}, the inputs give {digests()}: run `make image-digests`"
            )
    for image, value in digests().items():
        print(f"{image}: {value}")


if __name__ == "__main__":
    main()
