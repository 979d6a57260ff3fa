"""The public API's docstrings document every parameter and return value (numpydoc style).

The public API is what the README and the docs tell users to call: the names in
``__all__`` of the modules below. The engine's modules (network, mixture,
training, ...) are internal and are not held to this.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest

PUBLIC_MODULES = (
    "dagmm",
    "dagmm.batch",
    "dagmm.datasets",
    "dagmm.explain",
    "dagmm.metrics",
    "dagmm.persistence",
    "dagmm.rejection",
    "dagmm.report",
    "dagmm.reproduce",
    "dagmm.spark",
)

_HEADER = re.compile(r"^(?P<indent> *)(?P<title>[A-Z][A-Za-z ]+)\n(?P=indent)-{3,}$", re.MULTILINE)
_ENTRY = re.compile(r"^(?P<names>\*{0,2}[A-Za-z_][\w]*(?:\s*,\s*\*{0,2}[A-Za-z_][\w]*)*)\s*(?::|$)")


def sections(doc: str) -> dict[str, list[str]]:
    """numpydoc sections of ``doc``: title -> the entry names at the section's indentation."""
    doc = inspect.cleandoc(doc)
    headers = list(_HEADER.finditer(doc))
    found: dict[str, list[str]] = {}
    for i, header in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(doc)
        body = doc[header.end() : end].splitlines()
        indent = header.group("indent")
        names: list[str] = []
        for line in body:
            if not line.strip() or not line.startswith(indent) or line[len(indent)] == " ":
                continue
            entry = _ENTRY.match(line[len(indent) :])
            if entry:
                names += [n.strip().lstrip("*") for n in entry.group("names").split(",")]
        found[header.group("title")] = names
    return found


def _public_api() -> Iterator[tuple[str, Any, bool]]:
    """``(qualified name, callable, is_class)`` of every public function, class and method."""
    seen: set[int] = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in seen or not callable(obj):
                continue
            if module_name != "dagmm" and getattr(obj, "__module__", None) != module_name:
                continue  # re-exported: checked where it is defined
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue
            seen.add(id(obj))
            if inspect.isclass(obj):
                yield f"{module_name}.{name}", obj, True
                for attr, value in vars(obj).items():
                    method = getattr(obj, attr)
                    if attr.startswith("_") or isinstance(value, property):
                        continue
                    if callable(method) and not inspect.isclass(method):
                        yield f"{module_name}.{name}.{attr}", method, False
            else:
                yield f"{module_name}.{name}", obj, False


API = sorted(_public_api(), key=lambda item: item[0])


def test_the_public_api_is_found() -> None:
    names = {name for name, _, _ in API}
    assert {"dagmm.DAGMM", "dagmm.DAGMM.fit", "dagmm.load", "dagmm.datasets.load_kddcup"} <= names
    assert "dagmm.reproduce.run_reproduction" in names
    assert len(API) > 60


def test_the_section_parser_reads_numpydoc() -> None:
    doc = """Summary.

    Parameters
    ----------
    X : array-like of shape (n, F)
        The rows; a line below.
    a, b : int
    **kwargs
        More.

    Returns
    -------
    ndarray of shape (n,)
    """
    found = sections(doc)
    assert found["Parameters"] == ["X", "a", "b", "kwargs"]
    assert list(found) == ["Parameters", "Returns"]
    assert sections("Summary only.") == {}


@pytest.mark.parametrize(("name", "obj", "is_class"), API, ids=[name for name, _, _ in API])
def test_every_parameter_and_return_value_is_documented(name: str, obj: Any, is_class: bool):
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{name} has no docstring"
    placeholder = re.search(r"^\s*\{\w+\}\s*$", doc, re.MULTILINE)
    assert placeholder is None, f"{name}: shared section {placeholder} not filled in"
    signature = inspect.signature(obj)
    parameters = [
        p.name
        for p in signature.parameters.values()
        if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    found = sections(doc)
    documented = set(found.get("Parameters", []))
    if is_class:  # a NamedTuple's or dataclass's fields are its attributes
        documented |= set(found.get("Attributes", []))
    missing = [p for p in parameters if p not in documented]
    assert not missing, f"{name}: parameters {missing} are not in its Parameters section"
    extra = [p for p in found.get("Parameters", []) if p not in signature.parameters]
    keywords = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    assert keywords or not extra, f"{name}: documents {extra}, which it does not take"
    returns = signature.return_annotation
    if not is_class and returns not in ("None", None, inspect.Signature.empty, "NoReturn"):
        assert "Returns" in found or "Yields" in found, f"{name}: no Returns section"
