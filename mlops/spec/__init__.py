"""The pipeline spec: one YAML file per pipeline under deployments/, checked by a pydantic schema.

`schema` holds the models (what a file may say); `loading` reads a file into a `LoadedSpec` or a `SpecError`
that lists every problem at once.
"""

from mlops.spec.loading import LoadedSpec, load_spec, project_root, semantic_problems
from mlops.spec.schema import (
    Approval,
    Bootstrap,
    CategoricalPreprocessing,
    Data,
    Features,
    Guardrail,
    Model,
    Monitoring,
    NumericPreprocessing,
    PipelineSpec,
    Preprocessing,
    Promotion,
    Quality,
    Registry,
    SliceGuardrail,
    Source,
    Split,
    Strict,
    Window,
)
from mlops.text import did_you_mean

__all__ = [
    "Approval",
    "Bootstrap",
    "CategoricalPreprocessing",
    "Data",
    "Features",
    "Guardrail",
    "LoadedSpec",
    "Model",
    "Monitoring",
    "NumericPreprocessing",
    "PipelineSpec",
    "Preprocessing",
    "Promotion",
    "Quality",
    "Registry",
    "SliceGuardrail",
    "Source",
    "Split",
    "Strict",
    "Window",
    "did_you_mean",
    "load_spec",
    "project_root",
    "semantic_problems",
]
