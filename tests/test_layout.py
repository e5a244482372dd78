"""The layout's import rule (docs/design.md): app → tabs → ui → pipelines, and inside pipelines the keepsakes (what
is made of a run's frames) over the tasks over the engine and models over the defaults. Nothing imports upward, no
tab imports another, and nothing of the torch side (pipelines/, train/) imports Gradio."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipelines", "ui", "tabs", "train", "bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    paths = [ROOT / "app.py", ROOT / "deploy.py"]
    for package in PACKAGES:
        paths += sorted((ROOT / package).rglob("*.py"))
    return {module_name(path): path for path in paths}


MODULES = project_modules()


def rank(module: str) -> int:
    """Higher may import lower or equal, never higher."""
    if module in ("app", "deploy") or module.startswith("bench"):
        return 9
    if module.startswith("tabs"):
        return 8
    if module.startswith("ui"):
        return 7
    if module.startswith("train"):
        return 6  # the training scripts use the tasks' generators, never the UI
    if module.startswith(("pipelines.defaults", "pipelines.lazy")):
        return 0  # plain Python, what the UI is built from before torch loads
    if module.startswith(("pipelines.engine", "pipelines.models")) or module == "pipelines":
        return 1
    if module.startswith("pipelines.keepsakes"):
        return 3  # files and figures made of the tasks' frames
    return 2  # a task at the top of pipelines/


def imported_names(path: Path) -> set[str]:
    """Every module name `path` imports, and for `from package import name` also `package.name`; a module made
    lazy (`lazy("pipelines.x")`, imported at its first use) counts as imported."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "lazy":
            found |= {argument.value for argument in node.args if isinstance(argument, ast.Constant)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def imports(path: Path) -> set[str]:
    """The project modules `path` imports (`from package import module` counts as the module)."""
    return {name for name in imported_names(path) if name in MODULES}


def test_no_module_imports_upward_and_no_tab_imports_another() -> None:
    violations = []
    for module, path in MODULES.items():
        for imported in imports(path):
            if rank(imported) > rank(module):
                violations.append(f"{module} imports {imported}")
            elif module.startswith("tabs.") and imported.startswith("tabs.") and imported != module:
                violations.append(f"{module} imports another tab, {imported}")
    assert not violations, "\n".join(violations)


def test_the_torch_side_never_imports_gradio() -> None:
    for module, path in MODULES.items():
        if module.startswith(("pipelines", "train")):
            names = {name.split(".")[0] for name in imported_names(path)}
            assert "gradio" not in names, f"{module} imports Gradio"


def test_the_top_level_holds_only_the_app_and_deploy() -> None:
    assert sorted(path.name for path in ROOT.glob("*.py")) == ["app.py", "deploy.py"]


def test_every_tab_is_one_module_that_app_assembles() -> None:
    import app
    from tabs import png_info

    tab_modules = {module for module in MODULES if module.startswith("tabs.")}
    assembled = {tab.__name__ for tab in (*app.TABS, png_info)}
    assert assembled == tab_modules
    for module in tab_modules:
        assert {"TITLE", "ID", "build"} <= set(vars(__import__(module, fromlist=["build"])))


def test_the_rule_sees_an_upward_import(tmp_path: Path) -> None:
    """The check above is not vacuous: an engine module importing a task would be caught."""
    assert rank("pipelines.engine.loading") < rank("pipelines.text_to_image") < rank("pipelines.keepsakes.plots")
    assert rank("pipelines.keepsakes.plots") < rank("ui.stream") < rank("tabs.compare") < rank("app")
    assert imports(ROOT / "app.py") >= {"tabs.unconditional", "ui.components"}
    assert "pipelines.unconditional" in imports(ROOT / "tabs" / "unconditional.py")  # through `lazy`
    assert rank("pipelines.defaults.unconditional") < rank("pipelines.engine.loading")
