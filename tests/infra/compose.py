"""Read compose files the way Docker Compose does, without a Docker engine.

YAML anchors and ``<<`` merges are resolved by the YAML loader; variable interpolation
(``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}``,
``$VAR``, ``$$``) is done here, following the Compose specification's rules.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(KeyError):
    """A ``${VAR:?message}`` reference without a value: Compose refuses to start."""


def interpolate(text: str, env: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        value = env.get(name)
        unset_or_empty = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":-", "-") and (value is None if op == "-" else unset_or_empty):
            return arg
        if op in (":?", "?") and (value is None if op == "?" else unset_or_empty):
            raise MissingVariable(f"{name}: {arg}")
        return value or ""

    return _VARIABLE.sub(replace, text)


def interpolate_all(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, list):
        return [interpolate_all(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate_all(v, env) for k, v in value.items()}
    return value


def load(path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose model: anchors merged and, when ``env`` is given, variables interpolated."""
    model = yaml.safe_load(path.read_text())
    return model if env is None else interpolate_all(model, env)


def variables(path: Path) -> dict[str, str | None]:
    """Every variable the file references -> its operator (None when plain)."""
    found: dict[str, str | None] = {}
    for match in _VARIABLE.finditer(path.read_text()):
        name = match["braced"] or match["bare"]
        if name:
            found[name] = match["op"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def published(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``host_ip:host_port:container_port`` entries as tuples."""
    entries = []
    for port in service.get("ports", []):
        parts = str(port).rsplit(":", 2)
        assert len(parts) == 3, f"publish {port!r} on an explicit host address"
        entries.append((parts[0], parts[1], parts[2]))
    return entries
