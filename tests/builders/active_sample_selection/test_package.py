"""The py-files zip: reproducible, cache-free, importable as `selection` by a fresh Python."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from builders.active_sample_selection import package
from builders.active_sample_selection.package import (
    ENTRY_POINT,
    ZIP_TIMESTAMP,
    library_files,
    package_root,
    stage_code,
    zip_bytes,
)
from selection.names import METADATA_FILE

SITE_PACKAGES = sysconfig.get_paths()["purelib"]


def fresh_python_env(*path: str) -> dict[str, str]:
    """An environment whose Python sees `path` and site-packages, never this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([*path, SITE_PACKAGES])
    env["PYTHONNOUSERSITE"] = "1"
    return env


def test_zip_is_reproducible_sorted_and_timestamp_free() -> None:
    data = zip_bytes(package_root())
    assert data == zip_bytes(package_root())
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert all(n.startswith("selection/") and n.endswith(".py") for n in names)
    assert "selection/__init__.py" in names and "selection/names.py" in names
    assert {i.date_time for i in infos} == {ZIP_TIMESTAMP}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    on_disk = {
        p.relative_to(package_root().parent).as_posix()
        for p in package_root().rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert set(names) == on_disk


def test_caches_and_stray_files_do_not_change_the_zip(tmp_path: Path) -> None:
    copy = tmp_path / "selection"
    shutil.copytree(package_root(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    clean = zip_bytes(copy)
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "names.cpython-312.pyc").write_bytes(b"\x00cache")
    (copy / "stale.pyc").write_bytes(b"\x00cache")
    (copy / ".scratch.py").write_text("x = 1\n")
    (copy / "notes.txt").write_text("not code\n")
    os.utime(copy / "names.py", (0, 0))  # mtimes are not part of the archive
    assert zip_bytes(copy) == clean
    assert all(
        "__pycache__" not in name and not name.endswith(".pyc") for name, _ in library_files(copy)
    )


def test_zip_imports_in_a_fresh_python(tmp_path: Path) -> None:
    archive = tmp_path / "selection.zip"
    archive.write_bytes(zip_bytes(package_root()))
    modules = sorted(
        name[:-3].replace("/", ".").removesuffix(".__init__")
        for name in zipfile.ZipFile(archive).namelist()
    )
    script = (
        "import importlib, json, sys\n"
        f"names = {modules!r}\n"
        "files = {n: importlib.import_module(n).__file__ for n in names}\n"
        "print(json.dumps(files))\n"
    )
    # -S: no site processing, so the editable install of this checkout cannot answer.
    result = subprocess.run(
        [sys.executable, "-S", "-c", script],
        cwd=tmp_path,
        env=fresh_python_env(str(archive)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    files = json.loads(result.stdout)
    assert set(files) == set(modules)
    assert all(path.startswith(str(archive) + os.sep) for path in files.values())


def test_staged_entry_point_runs_with_the_zip_alone(tmp_path: Path) -> None:
    code = stage_code(tmp_path / "stage")
    result = subprocess.run(
        [sys.executable, "-S", str(code.submit_app), "--help"],
        cwd=tmp_path,
        env=fresh_python_env(str(code.py_files)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--job_type" in result.stdout and "--selection-strategy" in result.stdout


def test_make_package_writes_the_zip_the_step_ships(tmp_path: Path) -> None:
    output = tmp_path / "dist" / "selection.zip"
    assert package.main(["--output", str(output)]) == 0
    assert output.read_bytes() == stage_code(tmp_path / "stage").py_files.read_bytes()
    assert output.stat().st_mode & 0o777 == 0o644


def test_make_package_needs_only_the_standard_library(tmp_path: Path) -> None:
    """What `make package` runs, in a Python that sees this checkout and nothing installed."""
    repo = Path(__file__).resolve().parents[3]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    output = tmp_path / "selection.zip"
    result = subprocess.run(
        [sys.executable, "-S", "-m", "builders.active_sample_selection.package",
         "--output", str(output)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert output.read_bytes() == zip_bytes(package_root())
    assert f"{output}: {output.stat().st_size} bytes, sha256 " in result.stdout
    check = (
        "import sys; import builders.active_sample_selection.package; print(sorted(sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-S", "-c", check], cwd=repo, env=env, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "pydantic" not in loaded.stdout and "sagemaker" not in loaded.stdout


def test_staging_is_content_addressed_and_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = stage_code(tmp_path)
    assert first.submit_app.parent.name == first.digest
    assert (first.submit_app.name, first.py_files.name) == (ENTRY_POINT, "selection.zip")
    stamp = first.py_files.stat().st_mtime_ns
    again = stage_code(tmp_path)
    assert again == first and first.py_files.stat().st_mtime_ns == stamp

    changed = tmp_path / "changed" / "selection"
    shutil.copytree(package_root(), changed, ignore=shutil.ignore_patterns("__pycache__"))
    (changed / "names.py").write_text((changed / "names.py").read_text() + "\n# edited\n")
    monkeypatch.setattr(package, "package_root", lambda name="selection": changed)
    edited = stage_code(tmp_path)
    assert edited.digest != first.digest


@pytest.mark.e2e
def test_spark_submit_runs_the_staged_job_with_py_files(tmp_path: Path) -> None:
    """What smspark-submit does in the container, on a local master."""
    spark_submit = Path(SITE_PACKAGES) / "pyspark" / "bin" / "spark-submit"
    if shutil.which("java") is None or not spark_submit.exists():
        pytest.skip("needs java and pyspark's spark-submit")
    code = stage_code(tmp_path / "stage")
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    with open(predictions / "part-00000.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prob_class_0", "prob_class_1"])
        for i in range(20):
            p = (i + 0.5) / 20
            writer.writerow([i, repr(1 - p), repr(p)])
    out, meta = tmp_path / "selected", tmp_path / "metadata"
    conf = Path(__file__).resolve().parents[3] / "conf" / "spark-defaults.conf"
    # Driver and workers run `python -S`: the editable install of this checkout is invisible,
    # so `selection` can only come from --py-files (site-packages still give numpy, py4j).
    python = tmp_path / "python-without-site"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    python.chmod(0o755)
    env = fresh_python_env()
    env |= {
        "PYSPARK_PYTHON": str(python),
        "PYSPARK_DRIVER_PYTHON": str(python),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SELECTION_STRATEGY": "confidence_threshold",
        "USE_CASE": "ssl",
        "CONFIDENCE_THRESHOLD": "0.9",
    }
    result = subprocess.run(
        [
            str(spark_submit),
            "--properties-file",
            str(conf),
            "--master",
            "local[1]",
            "--py-files",
            str(code.py_files),
            str(code.submit_app),
            "--job_type",
            "ssl_selection",
            "--input",
            str(predictions),
            "--output",
            str(out),
            "--metadata-output",
            str(meta),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metadata = (meta / METADATA_FILE).read_text()
    assert "ssl_selection" in metadata
    with open(out / "selected_samples.csv", newline="") as handle:
        selected = list(csv.DictReader(handle))
    # confidence is the top probability: both ends of the range clear 0.9
    assert sorted(int(r["id"]) for r in selected) == [0, 1, 18, 19]
