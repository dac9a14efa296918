"""The contracts the trainer shares with the platform: JSON Schema files generated from the
platform's TypeBox schemas (`contracts/` at the repository root, written by
`npx tsx scripts/gen-contracts.ts`). The trainer takes its layer allow-list, each layer's arguments
and the hyperparameter grammar from them at run time, and checks job.json against
trainer-job.schema.json, so the platform and the trainer cannot disagree.

`check` is a small validator for the subset of JSON Schema (draft 7) that the generator emits,
with messages that name the field (`hyperparameters.optimizer.betas must be a list of 2 numbers
>= 0 and < 1, got [0.9, 1]`). The tests validate the same documents with the `jsonschema` package."""

import functools
import json
import math
import os
import re
from typing import Any, Dict, List, Optional

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
CONTRACTS_DIR = os.environ.get("TRAINYARD_CONTRACTS_DIR") or os.path.normpath(
    os.path.join(PACKAGE_DIR, os.pardir, os.pardir, "contracts"))


def load(name: str) -> Dict[str, Any]:
    """One contract schema, e.g. load("trainer-job") reads contracts/trainer-job.schema.json."""
    return read(f"{name}.schema.json")


def job_errors() -> Dict[str, Any]:
    """The job-error registry: {"codes": {CODE: {status, title, retryable, trainer}}, "trainer_exit_codes": {...}}."""
    return read("job-errors.json")


@functools.lru_cache(maxsize=None)
def read(filename: str) -> Dict[str, Any]:
    path = os.path.join(CONTRACTS_DIR, filename)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise RuntimeError(f"the contract file {path} is missing: the trainer needs the repository's contracts/ folder "
                           "beside trainer/ (or TRAINYARD_CONTRACTS_DIR pointing at it)") from None


def _branches(schema: Dict[str, Any]) -> List[Dict[str, Any]]:
    """A union's branches, nested unions flattened."""
    out = []
    for branch in schema.get("anyOf") or schema.get("oneOf") or []:
        out.extend(_branches(branch) if ("anyOf" in branch or "oneOf" in branch) else [branch])
    return out


def variants(schema: Dict[str, Any], key: str) -> Dict[str, Dict[str, Any]]:
    """The branches of a tagged union (anyOf/oneOf of objects), by the constant of their `key`."""
    out = {}
    for branch in _branches(schema):
        tag = branch.get("properties", {}).get(key, {}).get("const")
        if tag is not None:
            out[tag] = branch
    return out


# ---- validation ---------------------------------------------------------------------------------

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_TYPES = {
    "integer": _is_int,
    "number": _is_num,
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _bounds(s) -> str:
    parts = []
    for key, sym in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in s:
            parts.append(f"{sym} {s[key]:g}" if isinstance(s[key], float) else f"{sym} {s[key]}")
    return (" " + " and ".join(parts)) if parts else ""


def describe(s: Dict[str, Any], plural: bool = False) -> str:
    """'an integer >= 1', "'none' or 'tanh'", 'a list of 2 integers >= 1' ..."""
    branches = s.get("anyOf") or s.get("oneOf")
    if branches:
        parts = [describe(b, plural) for b in branches]
        return " or ".join(parts) if len(parts) <= 2 else ", ".join(parts[:-1]) + " or " + parts[-1]
    if "const" in s:
        return repr(s["const"]) if s["const"] is not None else "null"
    if "enum" in s:
        return " or ".join(repr(v) for v in s["enum"])
    t = s.get("type")
    names = {"integer": ("an integer", "integers"), "number": ("a number", "numbers"), "string": ("a string", "strings"),
             "boolean": ("true or false", "booleans"), "object": ("an object", "objects")}
    if t in names:
        return names[t][1 if plural else 0] + _bounds(s)
    if t == "null":
        return "null"
    if t == "array":
        items = s.get("items")
        if isinstance(items, list):
            return f"a list of {len(items)} {describe(items[0], len(items) > 1)}"
        of = describe(items, True) if isinstance(items, dict) else "values"
        return f"a non-empty list of {of}" if s.get("minItems") else f"a list of {of}"
    return "a valid value"


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _shown(v) -> str:
    text = json.dumps(v) if not isinstance(v, float) or math.isfinite(v) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def check(schema: Dict[str, Any], value: Any, path: str = "", root: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """The first way `value` breaks `schema`, as "path: message", or None when it conforms."""
    root = root if root is not None else schema
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, got {ref}")
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        return check(target, value, path, root)
    where = path or "job.json"

    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        # A tagged union (an object whose `type` or `event` picks the branch): check that branch, so
        # the message is about the arguments of the layer or optimizer the user chose.
        objects = [b for b in _branches(schema) if b.get("type") != "null"]
        for key in ("type", "event", "kind"):
            tagged = variants(schema, key)
            if len(tagged) > 1 and len(tagged) == len(objects) and isinstance(value, dict):
                if value.get(key) not in tagged:
                    return f"{_join(path, key)} must be one of {', '.join(tagged)}, got {_shown(value.get(key))}"
                return check(tagged[value[key]], value, path, root)
        if any(check(b, value, path, root) is None for b in branches):
            return None
        return f"{where} must be {describe(schema)}, got {_shown(value)}"

    if "const" in schema and value != schema["const"]:
        return f"{where} must be {describe(schema)}, got {_shown(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} must be {describe(schema)}, got {_shown(value)}"
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_TYPES[x](value) for x in types):
            return f"{where} must be {describe(schema)}, got {_shown(value)}"

    if _is_num(value) and t in ("integer", "number"):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if (lo is not None and value < lo) or (hi is not None and value > hi) or \
                (xlo is not None and value <= xlo) or (xhi is not None and value >= xhi):
            return f"{where} must be {describe(schema)}, got {_shown(value)}"

    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"{where} must have at least {schema['minLength']} character(s)"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{where} must match {schema['pattern']}, got {_shown(value)}"

    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, list):
            if len(value) != len(items) and (schema.get("additionalItems") is False or len(value) < len(items)):
                return f"{where} must be {describe(schema)}, got {_shown(value)}"
            for i, (sub, v) in enumerate(zip(items, value)):
                problem = check(sub, v, _join(path, i), root)
                if problem:
                    return f"{where} must be {describe(schema)}, got {_shown(value)}" if "must be" in problem else problem
        else:
            if "minItems" in schema and len(value) < schema["minItems"]:
                return f"{where} must have at least {schema['minItems']} item(s)"
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                return f"{where} must have at most {schema['maxItems']} item(s)"
            if isinstance(items, dict):
                for i, v in enumerate(value):
                    problem = check(items, v, _join(path, i), root)
                    if problem:
                        return problem

    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                return f"{_join(path, key)} is required ({describe(props.get(key, {}))})"
        extra = schema.get("additionalProperties", True)
        patterns = schema.get("patternProperties", {})
        for key, v in value.items():
            if key in props:
                problem = check(props[key], v, _join(path, key), root)
            else:
                matching = [s for p, s in patterns.items() if re.search(p, key)]
                if matching:
                    problem = check(matching[0], v, _join(path, key), root)
                elif extra is False:
                    known = ", ".join(k for k in props if k not in ("type", "event")) or "none"
                    problem = f"{_join(path, key)} is not known here (allowed: {known})"
                elif isinstance(extra, dict):
                    problem = check(extra, v, _join(path, key), root)
                else:
                    problem = None
            if problem:
                return problem
    return None


def without(schema: Dict[str, Any], *path: str) -> Dict[str, Any]:
    """A copy of `schema` in which the property at `path` accepts anything (checked elsewhere)."""
    out = json.loads(json.dumps(schema))
    node = out
    for key in path[:-1]:
        node = node["properties"][key]
    node["properties"][path[-1]] = {}
    return out


def types_of(schema: Dict[str, Any]) -> List[str]:
    return list(variants(schema, "type"))
