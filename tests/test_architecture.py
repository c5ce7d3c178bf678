"""The package's tiers, read from the code's own imports: each tier imports only the tiers
below it, the front-ends do not import each other, and the command line's help answers
without importing torch. The public names README documents import as before."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "photostyle"

#: The tiers, lowest first; the modules at the package's top (errors, interrupts, the
#: compatibility step) lie under all of them and import none of them.
TIERS = {"files": 0, "engine": 1, "runs": 2, "cli": 3, "app": 3}
BASE = {"photostyle.errors", "photostyle.interrupts", "photostyle._compat",
        "photostyle._version"}
FRONT_ENDS = {"cli", "app"}


def module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(REPO).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every photostyle module ``path`` imports, at the top or inside functions (not under
    ``if TYPE_CHECKING``), resolved to absolute names."""
    tree = ast.parse(path.read_text())
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("photostyle"):
                found.add(module)
                found.update(f"{module}.{a.name}" for a in node.names
                             if (PACKAGE.parent / f"{module}.{a.name}".replace(".", "/")
                                 ).with_suffix(".py").exists())
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("photostyle"))
    return found - {name}


def tier_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in TIERS else None


def test_every_module_lies_in_a_tier_or_the_base() -> None:
    loose = [module_name(p) for p in PACKAGE.glob("*.py")
             if module_name(p) not in BASE | {"photostyle", "photostyle.__main__"}]
    assert loose == [], f"modules outside the tiers: {loose}"


def test_imports_point_down_and_front_ends_stand_alone() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name in ("photostyle", "photostyle.__main__"):  # the public names; the entry point
            continue
        mine = tier_of(name)
        for target in sorted(imports(path)):
            theirs = tier_of(target)
            if name in BASE:
                if target not in BASE:
                    problems.append(f"{name} (base) imports {target}")
                continue
            if target in BASE or target == "photostyle":
                continue
            assert mine is not None and theirs is not None, (name, target)
            if mine in FRONT_ENDS and theirs in FRONT_ENDS and mine != theirs:
                problems.append(f"front-end {name} imports front-end {target}")
            elif TIERS[theirs] > TIERS[mine]:
                problems.append(f"{name} ({mine}) imports {target} ({theirs}), a tier above")
    assert problems == [], "\n".join(problems)


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The rule's own test: an import inside a function counts, TYPE_CHECKING ones do not."""
    source = PACKAGE / "files" / "_probe_for_test.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from photostyle.runs import batch\n"
                      "def f():\n    from photostyle.engine.pipeline import transfer\n")
    try:
        assert imports(source) == {"photostyle.engine.pipeline"}
    finally:
        source.unlink()


@pytest.mark.parametrize("argv", [["--help"], ["transfer", "--help"], ["video", "--help"]])
def test_help_answers_without_importing_torch(argv: list[str]) -> None:
    code = (f"import sys\nfrom photostyle.cli import main\ntry:\n    main({argv!r})\n"
            "except SystemExit:\n    pass\nprint('torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False", proc.stdout[-500:]
    assert "usage: photostyle" in proc.stdout


def test_the_documented_names_import_as_before() -> None:
    import photostyle

    for name in ("transfer", "apply_look", "Look", "TransferConfig", "TransferResult",
                 "preset_config", "MaskSet", "LabelMap", "__version__"):
        assert getattr(photostyle, name) is not None, name
    from photostyle.engine.pipeline import TransferResult, apply_look, transfer

    assert photostyle.transfer is transfer and photostyle.apply_look is apply_look
    assert photostyle.TransferResult is TransferResult
