"""The code a step ships: the job file as submit_app, the `selection` package as a py-files zip.

Both are staged in a directory named after their content. The SDK hashes the *paths and bytes*
of submit_app and submit_py_files into the S3 prefix it uploads them to, and that prefix is
part of the step's cache key; content-addressed paths and a byte-reproducible zip therefore give
identical definitions for identical code, whichever checkout or temp dir the build ran from.

Standard library only, so that the same zip can be built where neither the SageMaker SDK nor
pydantic is installed, for spark-submit on a cluster (`make package`):

    python -m builders.active_sample_selection.package --output dist/selection.zip
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

JOB_MODULE = "jobs.active_sample_selection"
LIBRARY_PACKAGE = "selection"
ENTRY_POINT = JOB_MODULE.rsplit(".", 1)[1] + ".py"
ZIP_NAME = LIBRARY_PACKAGE + ".zip"
DEFAULT_STAGING_ROOT = Path(tempfile.gettempdir()) / "active-sample-selection-code"
# The earliest time a zip entry can hold; any fixed value makes the archive reproducible.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o644


@dataclass(frozen=True)
class StagedCode:
    submit_app: Path
    py_files: Path
    digest: str


def _module_origin(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"cannot locate {name}; is the project installed?")
    return Path(spec.origin)


def package_root(name: str = LIBRARY_PACKAGE) -> Path:
    """The directory of package `name`, found without importing it."""
    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ModuleNotFoundError(f"{name} is not an importable package")
    return Path(locations[0])


def library_files(root: Path) -> list[tuple[str, Path]]:
    """(archive name, file) for every module under `root`, sorted; caches and dotfiles left out."""
    files = []
    for path in root.rglob("*.py"):
        relative = path.relative_to(root)
        if any(part.startswith((".", "__pycache__")) for part in relative.parts):
            continue
        files.append(((Path(root.name) / relative).as_posix(), path))
    return sorted(files)


def zip_bytes(root: Path) -> bytes:
    """The package as a zip with the package directory at its root, byte-for-byte reproducible."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in library_files(root):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so external_attr means the same on every build host
            info.external_attr = (0o100000 | _FILE_MODE) << 16
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return buffer.getvalue()


def _write_if_changed(path: Path, data: bytes) -> None:
    if path.is_file() and path.read_bytes() == data:
        return
    # Write-then-rename: a concurrent build never sees a half-written file.
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
        handle.write(data)
    os.chmod(handle.name, _FILE_MODE)
    os.replace(handle.name, path)


def stage_code(staging_root: Path | None = None) -> StagedCode:
    """Write the job file and the library zip under `<staging_root>/<content digest>/`."""
    job = _module_origin(JOB_MODULE).read_bytes()
    library = zip_bytes(package_root())
    digest = hashlib.sha256(
        hashlib.sha256(job).digest() + hashlib.sha256(library).digest()
    ).hexdigest()[:16]
    directory = (staging_root or DEFAULT_STAGING_ROOT) / digest
    directory.mkdir(parents=True, exist_ok=True)
    submit_app, py_files = directory / ENTRY_POINT, directory / ZIP_NAME
    _write_if_changed(submit_app, job)
    _write_if_changed(py_files, library)
    return StagedCode(submit_app=submit_app, py_files=py_files, digest=digest)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the library zip the step ships (same bytes) to --output."""
    parser = argparse.ArgumentParser(
        prog="python -m builders.active_sample_selection.package",
        description="Write the selection package as the py-files zip the SageMaker step ships.",
    )
    parser.add_argument("--output", type=Path, default=Path("dist") / ZIP_NAME)
    args = parser.parse_args(argv)
    data = zip_bytes(package_root())
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    _write_if_changed(output, data)
    print(f"{output}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
