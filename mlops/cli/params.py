"""`--param name=value` of `mlops run retrain`: checked as the command-line option it is (a misspelling is blamed on
the option, not on the spec), and refused where it would change nothing (a candidate sets the same parameter)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.cli.runtime import fail


def check_overrides(spec: Path, overrides: dict[str, Any]) -> None:
    """Exit 2 with one paragraph per problem of the --param options; the spec itself is checked before."""
    if not overrides:
        return
    from mlops.errors import SpecError
    from mlops.spec import load_spec

    try:
        loaded = load_spec(spec)
    except SpecError:
        return  # the spec's own problems are reported by the pre-flight
    problems = override_problems(loaded, overrides)
    if problems:
        fail(2, "\n".join(problems))


def override_problems(loaded: Any, overrides: dict[str, Any]) -> list[str]:
    """What is wrong with the --param options for this spec, in words: an unknown parameter (with the closest
    name), a value the estimator refuses, a parameter that every candidate it appears in would override."""
    from mlops.catalog import EARLY_STOPPING, alias_of
    from mlops.errors import SpecError
    from mlops.text import did_you_mean
    from tasks.train import constructor_params, param_problems

    model = loaded.spec.model
    short = model.estimator.rsplit(".", 1)[-1]
    valid = constructor_params(model.estimator)  # CatBoost's get_params() holds only the params set
    out = []
    for name in (n for n in overrides if n not in valid):
        target, guess = alias_of(model.estimator, name, valid), did_you_mean(name, valid)
        if target == EARLY_STOPPING:
            hint = f"early stopping is {EARLY_STOPPING} in the spec, which cuts the validation part it needs"
        elif target is not None:
            hint = f"it is another name for '{target}', the one name this setting has here: use --param {target}=..."
        else:
            hint = f"did you mean '{guess}'?" if guess else "its parameters: " + ", ".join(valid)
        out.append(f"--param {name}: {short} has no parameter '{name}'; {hint}")
    if out:
        return out
    for name, value in overrides.items():
        setting = [i for i, c in enumerate(model.candidates) if name in c]
        if setting:
            which = ", ".join(f"model.candidates[{i}]" for i in setting)
            out.append(
                f"--param {name}={value}: {which} of {loaded.path} also set '{name}', and a candidate's own value "
                f"wins, so the option would change nothing for {'it' if len(setting) == 1 else 'them'}. Remove "
                f"'{name}' from the candidates (they then take model.params, which --param overrides), or run "
                "without this --param."
            )
    if out:
        return out
    try:
        loaded.with_params(overrides)
    except SpecError as exc:
        return [
            f"--param {p.path.removeprefix('model.params.')}: {p.message}; give a number, a word, true/false or a list."
            for p in exc.problems
        ]
    for p in param_problems("--param", model.estimator, {**model.params, **overrides}):
        out.append(f"--param {', '.join(f'{k}={v}' for k, v in overrides.items())}: {p.message}.")
    return out
