#!/usr/bin/env python3
"""Generate the checked-in Python code for Gyre's protos.

Runs ``grpc_tools.protoc`` (the compiler bundled with grpcio-tools, so the
output depends only on the pinned grpcio-tools version) over every
``protos/gyre/**/*.proto`` and writes ``*_pb2.py``, ``*_pb2.pyi`` and
``*_pb2_grpc.py`` under ``libs/sdk/src`` (``gyre/<domain>/v1/...``).

Vendored foreign protos (``protos/third_party``) are only import paths: their
Python runtime comes from ``googleapis-common-protos``, and the well-known
types from ``protobuf``.

Usage::

    python scripts/gen_protos.py           # regenerate in place
    python scripts/gen_protos.py --check   # exit 1 if the checked-in code is stale

The output is deterministic: files are compiled in sorted order in one protoc
invocation, into a fresh temporary directory, and then replace every
previously generated file (stale ones included).
"""

from __future__ import annotations

import argparse
import difflib
import filecmp
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "protos"
THIRD_PARTY_ROOT = PROTO_ROOT / "third_party"
OUTPUT_ROOT = REPO_ROOT / "libs" / "sdk" / "src"
# Only Gyre's own protos are generated; everything else is an import path.
GENERATED_PACKAGE = "gyre"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
# Lines of unified diff shown per stale file in --check mode.
MAX_DIFF_LINES = 20


def proto_sources() -> list[Path]:
    """Return Gyre's proto files relative to ``protos/``, sorted."""
    root = PROTO_ROOT / GENERATED_PACKAGE
    return sorted(p.relative_to(PROTO_ROOT) for p in root.rglob("*.proto"))


def well_known_include() -> Path:
    """Return grpc_tools' bundled include dir (google/protobuf/*.proto)."""
    return Path(str(resources.files("grpc_tools") / "_proto"))


def generate(out_dir: Path) -> None:
    """Compile every Gyre proto into ``out_dir``.

    Raises:
        SystemExit: if protoc reports an error.
    """
    from grpc_tools import protoc  # type: ignore[import-untyped]

    sources = proto_sources()
    out_dir.mkdir(parents=True, exist_ok=True)
    if not sources:
        raise SystemExit(f"no .proto files under {PROTO_ROOT / GENERATED_PACKAGE}")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{THIRD_PARTY_ROOT}",
        f"-I{well_known_include()}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(s) for s in sources),
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise SystemExit(f"protoc failed with exit code {rc}")


def generated_files(root: Path) -> dict[str, Path]:
    """Map relative path -> file for every generated file under ``root/gyre``."""
    base = root / GENERATED_PACKAGE
    if not base.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(base.rglob("*"))
        if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    }


def compare(expected_root: Path, actual_root: Path) -> list[str]:
    """Describe how the generated files under the two roots differ."""
    expected = generated_files(expected_root)
    actual = generated_files(actual_root)
    problems: list[str] = []
    for rel in sorted(expected.keys() - actual.keys()):
        problems.append(f"missing: {rel}")
    for rel in sorted(actual.keys() - expected.keys()):
        problems.append(f"stale (no longer generated): {rel}")
    for rel in sorted(expected.keys() & actual.keys()):
        if filecmp.cmp(expected[rel], actual[rel], shallow=False):
            continue
        diff = list(
            difflib.unified_diff(
                actual[rel].read_text().splitlines(),
                expected[rel].read_text().splitlines(),
                fromfile=f"checked-in/{rel}",
                tofile=f"regenerated/{rel}",
                lineterm="",
            )
        )
        shown = "\n".join("    " + line for line in diff[:MAX_DIFF_LINES])
        more = (
            f"\n    ... {len(diff) - MAX_DIFF_LINES} more lines"
            if len(diff) > MAX_DIFF_LINES
            else ""
        )
        problems.append(f"differs: {rel}\n{shown}{more}")
    return problems


def replace_generated(fresh_root: Path, target_root: Path) -> int:
    """Delete all previously generated files under ``target_root`` and copy in
    the fresh ones. Returns the number of files written."""
    base = target_root / GENERATED_PACKAGE
    emptied: set[Path] = set()
    for path in generated_files(target_root).values():
        path.unlink()
        emptied.update(p for p in path.parents if p.is_relative_to(base) and p != base)
    # Remove directories left empty by deleted protos (deepest first); never
    # touch directories that held no generated code.
    for directory in sorted(emptied, key=lambda d: len(d.parts), reverse=True):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    fresh = generated_files(fresh_root)
    for rel, src in fresh.items():
        dest = target_root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    return len(fresh)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temporary directory and fail if the checked-in code differs",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gyre-protos-") as tmp:
        fresh_root = Path(tmp)
        generate(fresh_root)
        if args.check:
            problems = compare(fresh_root, OUTPUT_ROOT)
            if problems:
                print(
                    f"generated code is out of date ({len(problems)} file(s));"
                    " run `make protos` (python scripts/gen_protos.py):",
                    file=sys.stderr,
                )
                for problem in problems:
                    print("  " + problem, file=sys.stderr)
                return 1
            print(f"generated code is up to date ({len(generated_files(fresh_root))} files)")
            return 0
        count = replace_generated(fresh_root, OUTPUT_ROOT)
        print(f"wrote {count} files under {OUTPUT_ROOT.relative_to(REPO_ROOT)}/{GENERATED_PACKAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
