"""Reading config files: UTF-8 YAML without duplicate keys, validated into the typed
objects, every problem one line naming the file and the field."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from pipeline.config.base import FieldProblem
from pipeline.config.models import ModelConfig
from pipeline.config.params import Params, check_model_fits
from pipeline.errors import ConfigError

# ---------------------------------------------------------------- loading


def _duplicate_key(node: yaml.Node, path: tuple[str, ...] = (),
                   visited: set[int] | None = None) -> str | None:
    """`field.path: duplicate key at line N (first at line M)` for the first mapping in the
    document that holds a key twice, or None (PyYAML would silently keep the last one).
    A node reached again through an alias is not walked twice (an alias may be recursive)."""
    visited = set() if visited is None else visited
    if id(node) in visited:
        return None
    visited.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            if (found := _duplicate_key(item, (*path, str(index)), visited)) is not None:
                return found
    elif isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else None
            if name is not None and name in seen:
                return (f"{'.'.join((*path, name))}: duplicate key at line "
                        f"{key.start_mark.line + 1} (first at line {seen[name]})")
            if name is not None:
                seen[name] = key.start_mark.line + 1
            if (found := _duplicate_key(value, (*path, name or "?"), visited)) is not None:
                return found
    return None


def _read_yaml(path: Path) -> dict:
    """A YAML file as a dict: UTF-8 text, valid YAML, a mapping, no key given twice."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config file ({err.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} at line "
                          f"{line}); save the file as UTF-8") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        duplicate = None if node is None else _duplicate_key(node)
        if duplicate is not None:
            raise ConfigError(f"{path}: {duplicate}")
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    return data


def _shown(value: object, limit: int = 120) -> str:
    """A value as the message shows it: its repr, on one line, shortened when long."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe(err: ValidationError) -> str:
    """The first validation problem as `field.path: what is wrong (got value)`."""
    problem = err.errors()[0]
    # Discriminated unions put the tag in the location; it names no field, so drop it.
    location = [str(part) for part in problem["loc"] if not str(part).startswith("quantized_")
                and part != "linear"]
    if problem["type"] == "extra_forbidden":
        return f"{'.'.join(location) or '(top level)'}: unknown key"
    cause = problem.get("ctx", {}).get("error")
    if isinstance(cause, FieldProblem):
        field = ".".join(part for part in (*location, cause.field) if part) or "(top level)"
        return f"{field}: {cause.message} (got {_shown(cause.value)})"
    message = problem["msg"].removeprefix("Value error, ")
    if not location and problem["type"] == "value_error":
        return message  # a model-level check names its field in the message
    field = ".".join(location) or "(top level)"
    if problem["type"] in ("value_error", "missing"):
        return f"{field}: {message}"
    hint = ""
    if problem["type"] == "float_type" and isinstance(problem["input"], str):
        hint = _yaml_float_hint(problem["input"])
    return f"{field}: {message}{hint} (got {_shown(problem['input'])})"


def _yaml_float_hint(text: str) -> str:
    """YAML 1.1 (PyYAML) reads 1e-3 and 1.0e3 as text: a float needs a dot and a signed
    exponent. The spelling it reads as the same number, for the message."""
    match = re.fullmatch(r"([-+]?[0-9]+)(\.[0-9]*)?[eE]([-+]?)([0-9]+)", text.strip())
    if match is None:
        return ""
    spelling = f"{match[1]}{match[2] or '.0'}e{match[3] or '+'}{match[4]}"
    return f"; YAML reads {text} as text: write {spelling}"


_Model = TypeVar("_Model", bound=BaseModel)


def _validate(model: type[_Model], data: dict, path: Path) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: {describe(err)}") from None


def load_params(path: Path | str = "params.yaml") -> Params:
    path = Path(path)
    return _validate(Params, _read_yaml(path), path)


def load_model_config(path: Path | str) -> ModelConfig:
    """Load `configs/models/<name>.yaml`; the model's name is the file's stem."""
    path = Path(path)
    data = _read_yaml(path)
    if "name" in data:
        raise ConfigError(f"{path}: name: unknown key (a model is named after its file)")
    return _validate(ModelConfig, {**data, "name": path.stem}, path)


def model_config_path(models_dir: Path | str, name: str) -> Path:
    return Path(models_dir) / f"{name}.yaml"


def load_configs(params_path: Path | str, models_dir: Path | str,
                 names: Sequence[str] | None = None) -> tuple[Params, list[ModelConfig]]:
    """params.yaml and the model configs `names` (default: every one in its `models`), each
    checked against params.yaml (the training window must fit in a data segment, an epoch's
    windows in memory), so that a stage stops before any work."""
    params_path, models_dir = Path(params_path), Path(models_dir)
    params = load_params(params_path)
    configs = []
    for name in params.models if names is None else names:
        path = model_config_path(models_dir, name)
        if not path.is_file():
            known = sorted(p.stem for p in models_dir.glob("*.yaml"))
            there = f"model configs in {models_dir}: {', '.join(known) or 'none'}"
            if name in params.models:
                raise ConfigError(f"{params_path}: models.{params.models.index(name)}: {path} "
                                  f"does not exist ({there}) (got {name!r})")
            raise ConfigError(f"{path}: no such model config ({there})")
        config = load_model_config(path)
        try:
            check_model_fits(params, config)
        except FieldProblem as problem:
            raise ConfigError(f"{params_path}: {problem.field}: {problem.message} "
                              f"(got {_shown(problem.value)})") from None
        configs.append(config)
    return params, configs
