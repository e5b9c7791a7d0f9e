"""The import-linter contracts list the ground floor's modules one by one (a layer cannot contain another, and
`mlops` contains `mlops.cli`): a new module left out of them would escape every check, so this test fails."""

from __future__ import annotations

import tomllib

from tests.conftest import REPO


def test_every_ground_floor_module_is_in_the_layer_contracts() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in config if c["type"] == "layers")["layers"]
    ground = {m.strip() for m in layers[-1].split(":")}
    forbidden = next(c for c in config if c["name"].startswith("The ground floor"))["source_modules"]
    on_disk = {f"mlops.{p.stem}" for p in (REPO / "mlops").glob("*.py") if p.stem != "__init__"} | {
        f"mlops.{p.name}"
        for p in (REPO / "mlops").iterdir()
        if (p / "__init__.py").exists() and p.name != "cli"
    }
    assert on_disk == ground, f"add to the layers contract: {sorted(on_disk - ground)}"
    assert on_disk == set(forbidden), f"add to the ground-floor contract: {sorted(on_disk - set(forbidden))}"
    assert layers[:3] == ["mlops.cli", "flows", "tasks"]
