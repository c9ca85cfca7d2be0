"""The committed tag: within its size budget, described by its manifest, rebuilt byte for byte."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import TagFiles

GZIP_BUDGET = 2048

# Node's bundled zlib and CPython's system zlib may deflate the same bytes to sizes a few bytes
# apart; the manifest records Node's, as build.mjs computes it.
NODE_GZIP_SIZE = (
    "const fs = require('fs'), zlib = require('zlib');"
    "const gz = zlib.gzipSync(fs.readFileSync(process.argv[1]), {level: 9});"
    "process.stdout.write(String(gz.length));"
)


def test_committed_tag_is_within_the_gzip_budget(tag_files: TagFiles) -> None:
    assert len(gzip.compress(tag_files.built.read_bytes(), 9, mtime=0)) <= GZIP_BUDGET


def test_manifest_describes_the_committed_tag_and_its_source(
    tag_files: TagFiles, node: str
) -> None:
    data = tag_files.built.read_bytes()
    manifest = json.loads(tag_files.manifest.read_text())
    package = json.loads((tag_files.tag_dir / "package.json").read_text())
    node_gzip = subprocess.run(
        [node, "-e", NODE_GZIP_SIZE, str(tag_files.built)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout

    assert set(manifest) == {"version", "bytes", "gzip_bytes", "sha384", "source_sha256"}
    assert manifest["version"] == package["version"]
    assert manifest["bytes"] == len(data)
    assert manifest["gzip_bytes"] == int(node_gzip)
    assert (
        manifest["sha384"] == "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    )
    source_sha256 = hashlib.sha256(tag_files.source.read_bytes()).hexdigest()
    assert manifest["source_sha256"] == source_sha256, (
        "the committed build is stale: run tag/build.sh"
    )


def test_esbuild_is_pinned_to_one_exact_version(tag_files: TagFiles) -> None:
    package = json.loads((tag_files.tag_dir / "package.json").read_text())
    lock = json.loads((tag_files.tag_dir / "package-lock.json").read_text())
    pinned = package["devDependencies"]["esbuild"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned)
    assert lock["packages"]["node_modules/esbuild"]["version"] == pinned


@pytest.mark.usefixtures("esbuild_installed")
def test_two_fresh_builds_are_identical_to_the_committed_one(
    tag_files: TagFiles, node: str, tmp_path: Path
) -> None:
    outs = [tmp_path / "first", tmp_path / "second"]
    for out in outs:
        build = [node, str(tag_files.build_script), "--out", str(out)]
        subprocess.run(build, check=True, capture_output=True, timeout=120)

    for name in ("heliograph.js", "heliograph.manifest.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    assert (outs[0] / "heliograph.js").read_bytes() == tag_files.built.read_bytes()
    assert (outs[0] / "heliograph.manifest.json").read_bytes() == tag_files.manifest.read_bytes()
