"""The OpenAPI document describes every route, its path parameters and request bodies."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from controller.api import routes


def _document() -> tuple[Any, dict[str, Any]]:
    node = SimpleNamespace(extra_routes=[], observe=lambda *a: None)
    router = routes.build(node)  # type: ignore[arg-type]
    return router, router.openapi()


def test_every_route_is_documented_with_its_parameters() -> None:
    router, doc = _document()
    assert doc["openapi"].startswith("3.")
    for route in router.routes:
        operation = doc["paths"][route.pattern][route.method.lower()]
        declared = [p["name"] for p in operation["parameters"] if p["in"] == "path"]
        assert declared == re.findall(r"\{(\w+)\}", route.pattern)
        assert str(route.status) in operation["responses"]
        assert operation["responses"]["default"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_bodies_of_mutating_calls_are_described() -> None:
    _, doc = _document()
    create = doc["paths"]["/v1/containers"]["post"]["requestBody"]["content"]["application/json"]
    props = create["schema"]["properties"]
    assert props["Cmd"] == {
        "type": ["array", "null"],
        "items": {"type": "string", "maxLength": 32767},
        "maxItems": 4096,
    }
    assert {"Publish", "Network", "Links", "AutoRemove", "Detach"} <= set(props)
    net = doc["paths"]["/v1/networks"]["post"]["requestBody"]["content"]["application/json"]
    assert (
        "Subnet"
        in net["schema"]["properties"]["IPAM"]["properties"]["Config"]["items"]["properties"]
    )
    assert "requestBody" not in doc["paths"]["/v1/networks"]["get"]
