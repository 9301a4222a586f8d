"""The plug-in registries and the lazy-import helper (issue #15): no TensorFlow needed."""
from __future__ import annotations

import subprocess
import sys

import pytest

from edgekit.errors import EnvironmentProblem
from edgekit.lazy import LazyModule
from edgekit.recipe import STEP_NAMES, STEPS, Step, check_order
from edgekit.recipe.base import RecipeStep, StepBase

HEAVY = ("tensorflow", "tf_keras", "keras", "coremltools", "tensorflowjs", "tensorflow_model_optimization", "h5py",
         "brotli", "ai_edge_litert")


def test_recipe_order_comes_from_the_steps_own_declarations():
    assert list(STEP_NAMES) == sorted(STEPS, key=lambda name: STEPS[name].order)
    assert STEP_NAMES == ("distill", "prune", "cluster", "qat")
    for name, step in STEPS.items():
        assert isinstance(step, RecipeStep) and step.name == name
        assert issubclass(step.settings, StepBase)
        assert step.settings.model_fields["step"].annotation.__args__ == (name,)  # Literal["<name>"]


def test_config_union_and_order_check_read_the_registry():
    from pydantic import TypeAdapter

    adapter = TypeAdapter(Step)
    parsed = [adapter.validate_python({"step": name}) for name in reversed(STEP_NAMES)]
    assert [type(p) for p in parsed] == [STEPS[n].settings for n in reversed(STEP_NAMES)]
    with pytest.raises(ValueError, match="use distill -> prune -> cluster -> qat"):
        check_order(parsed)
    check_order(list(reversed(parsed)))
    with pytest.raises(ValueError, match="twice"):
        check_order([parsed[0], parsed[0]])


def test_lazy_module_imports_on_first_use_and_names_the_package_when_missing():
    present = LazyModule("json", package="json")
    assert "not loaded yet" in repr(present)
    assert present.dumps([1]) == "[1]" and "(loaded)" in repr(present)
    missing = LazyModule("edgekit_no_such_library", package="no-such-library==1.0")
    with pytest.raises(EnvironmentProblem) as caught:
        missing.anything  # noqa: B018 - the attribute read is the import
    assert caught.value.exit_code == 4 and "no-such-library==1.0" in caught.value.one_line()
    with pytest.raises(TypeError, match="patch the module"):
        present.dumps = None


def test_importing_edgekit_its_cli_config_and_registries_loads_no_heavy_library():
    code = ("import sys, edgekit, edgekit.cli, edgekit.config, edgekit.recipe, edgekit.lazy, edgekit.targets.registry, "
            "edgekit.report.model; print(sorted({m.split('.')[0] for m in sys.modules} & set(%r)))" % (HEAVY,))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_each_target_is_one_folder_with_the_parts_the_interface_names():
    import importlib
    from pathlib import Path

    from edgekit.targets import registry

    root = Path(registry.__file__).parent
    for target in registry.TARGETS:
        folder = root / target.name
        assert (folder / "defaults.toml").is_file() and target.defaults(), target.name
        assert importlib.import_module(f"edgekit.targets.{target.name}").TARGET is target
        assert target.settings.__module__ == f"edgekit.targets.{target.name}.settings"
        assert callable(target.part("build").build)
        assert callable(target.profiler().run)
        report = target.part("report")
        assert report.PLACE in ("runtimes", "details") and callable(report.section)
        assert "budgets" in target.settings.model_fields


def test_no_module_outside_the_target_folders_lists_the_target_names():
    """"No list of target names anywhere else": a literal tuple/list/set/dict naming two or more targets
    outside `edgekit/targets/` would be a second registry that a new target has to be added to."""
    import ast
    from pathlib import Path

    from edgekit.targets import registry

    names = set(registry.NAMES)
    package = Path(registry.__file__).parent.parent
    found = []
    for path in package.rglob("*.py"):
        if "targets" in path.relative_to(package).parts[:1] or "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            items = (node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set))
                     else node.keys if isinstance(node, ast.Dict) else [])
            named = {item.value for item in items if isinstance(item, ast.Constant) and item.value in names}
            if len(named) >= 2:
                found.append(f"{path.relative_to(package)}:{node.lineno} {sorted(named)}")
    assert not found, found
