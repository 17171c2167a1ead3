"""Contract helpers: the real Arr OpenAPI documents (contracts/, copied from the steering repo) as validators.

``Contract(kind)`` finds the documented operation of a concrete request and validates
responses and requests against it with openapi-schema-validator (OAS 3.0, ``$ref``
resolved through a referencing registry). What the documents do not show comes from the
contracts README and is spelled out here as small schemas: error bodies, and the fields
that derived command classes add to the documented base ``Command``.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from openapi_schema_validator import (
    OAS30ReadValidator,
    OAS30WriteValidator,
    oas30_format_checker,
)
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
DOCUMENTS = {
    "radarr": "radarr-v3.openapi.json",
    "sonarr": "sonarr-v3.openapi.json",
    "lidarr": "lidarr-v1.openapi.json",
}
DOC_URI = "urn:arr-openapi"

#: The documents describe only the base Command class; the real servers bind a command's
#: body to its derived class, which adds these fields (README: Search / import commands).
COMMAND_FIELDS: dict[str, Any] = {
    "movieIds": {"type": "array", "items": {"type": "integer", "format": "int32"}},
    "episodeIds": {"type": "array", "items": {"type": "integer", "format": "int32"}},
    "albumIds": {"type": "array", "items": {"type": "integer", "format": "int32"}},
    "seriesId": {"type": "integer", "format": "int32"},
    "artistId": {"type": "integer", "format": "int32"},
    "seasonNumber": {"type": "integer", "format": "int32"},
    "path": {"type": "string", "nullable": True},
    "downloadClientId": {"type": "string", "nullable": True},
    "importMode": {"type": "string", "enum": ["Auto", "Move", "Copy"]},
}

#: Error bodies per the contracts README (the documents list only the 200 answers).
ERROR_SCHEMAS: dict[str, Any] = {
    "not_found_message": {
        "type": "object",
        "properties": {"message": {"enum": ["NotFound"]}},
        "required": ["message"],
        "additionalProperties": False,
    },
    "server_error": {
        "type": "object",
        "properties": {"message": {"type": "string"}, "description": {"type": "string"}},
        "required": ["message", "description"],
        "additionalProperties": False,
    },
    "problem": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "traceId": {"type": "string"},
            "errors": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
        "required": ["type", "title", "status"],
        "additionalProperties": False,
    },
}


class ContractError(AssertionError):
    pass


class Contract:
    """One kind's OpenAPI document, ready to validate requests and responses."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.raw = json.loads((CONTRACTS / DOCUMENTS[kind]).read_text())
        self.doc = copy.deepcopy(self.raw)
        schemas = self.doc["components"]["schemas"]
        for name in ("Command", "CommandResource"):
            schemas[name]["properties"].update(copy.deepcopy(COMMAND_FIELDS))
        resource = Resource.from_contents(self.doc, default_specification=DRAFT4)
        self.registry = Registry().with_resource(DOC_URI, resource)
        self._templates = [(self._pattern(p), p) for p in self.doc["paths"]]

    @staticmethod
    def _pattern(template: str) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")

    def template_of(self, path: str) -> str:
        """The document's path template matching a concrete path (literal paths first)."""
        matches = [t for pattern, t in self._templates if pattern.match(path)]
        if not matches:
            raise ContractError(f"{path} is not a path of the {self.kind} document")
        return min(matches, key=lambda t: t.count("{"))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        template = self.template_of(path)
        op = self.doc["paths"][template].get(method.lower())
        if op is None:
            raise ContractError(f"{method} {template} is not in the {self.kind} document")
        return template, op

    def schema(self, schema: dict[str, Any], instance: Any, *, write: bool = False) -> list[str]:
        """Error messages of ``instance`` against ``schema`` (refs into the document)."""
        cls = OAS30WriteValidator if write else OAS30ReadValidator
        validator = cls(schema, registry=self.registry, format_checker=oas30_format_checker)
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(instance)
        ]

    def ref(self, name: str) -> dict[str, Any]:
        return {"$ref": f"{DOC_URI}#/components/schemas/{name}"}

    def _rebase(self, schema: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(schema).replace('"#/components/', f'"{DOC_URI}#/components/')
        return json.loads(text)

    def validate_response(self, method: str, path: str, status: int, body: bytes) -> None:
        """A 2xx answer against the document; error answers against the README shapes."""
        template, op = self.operation(method, path)
        where = f"{self.kind} {method} {path} -> {status}"
        if status >= 300:
            self.validate_error(method, template, status, body, where)
            return
        documented = op["responses"]
        key = str(status) if str(status) in documented else None
        if (
            key is None
            and method.upper() == "POST"
            and template.endswith("/command")
            and status == 201
        ):
            key = "200"  # README: POST /command answers 201; the document lists 200
        if key is None:
            raise ContractError(f"{where}: status not documented ({sorted(documented)})")
        content = documented[key].get("content", {}).get("application/json")
        if content is None:
            if body:
                raise ContractError(f"{where}: the document has no body, got {body[:200]!r}")
            return
        errors = self.schema(self._rebase(content["schema"]), json.loads(body))
        if errors:
            raise ContractError(f"{where}:\n  " + "\n  ".join(errors[:20]))

    def validate_error(
        self, method: str, template: str, status: int, body: bytes, where: str
    ) -> None:
        if status == 401:
            if body:
                raise ContractError(f"{where}: a refused key gets an empty body, got {body!r}")
            return
        if status == 404 and method.upper() == "DELETE" and template.endswith("/queue/{id}"):
            name = "not_found_message"
        elif status >= 500:
            name = "server_error"
        else:
            name = "problem"
        errors = self.schema(ERROR_SCHEMAS[name], json.loads(body))
        if errors:
            raise ContractError(f"{where} ({name}):\n  " + "\n  ".join(errors))

    def validate_request(self, method: str, path: str, query: dict[str, Any], body: Any) -> None:
        """Query parameters, path parameters and JSON body of one request."""
        template, op = self.operation(method, path)
        where = f"{self.kind} request {method} {path}"
        params = {p["name"].lower(): p for p in op.get("parameters", [])}
        for name, raw in query.items():
            if name.lower() == "apikey":
                continue  # the apikey security scheme
            param = params.get(name.lower())
            if param is None or param["in"] != "query":
                raise ContractError(f"{where}: query parameter {name!r} is not documented")
            value = self._coerce(self._rebase(param["schema"]), raw)
            errors = self.schema(self._rebase(param["schema"]), value)
            if errors:
                raise ContractError(f"{where}: {name}={raw!r}: {errors}")
        for name, param in params.items():
            if param["in"] == "path":
                segment = self._path_value(template, path, param["name"])
                errors = self.schema(
                    self._rebase(param["schema"]), self._coerce(param["schema"], segment)
                )
                if errors:
                    raise ContractError(f"{where}: path {name}={segment!r}: {errors}")
        request_body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            if request_body is None:
                raise ContractError(f"{where}: the document takes no body, got {body!r}")
            errors = self.schema(self._rebase(request_body["schema"]), body, write=True)
            if errors:
                raise ContractError(f"{where}: body: {errors}")

    def _coerce(self, schema: dict[str, Any], raw: Any) -> Any:
        if isinstance(raw, list):
            return [self._coerce(schema.get("items", {}), r) for r in raw]
        kind = schema.get("type")
        if "$ref" in schema:
            return raw
        if kind == "boolean":
            return {"true": True, "True": True, "false": False, "False": False}.get(raw, raw)
        if kind == "integer":
            return int(raw) if re.fullmatch(r"-?\d+", str(raw)) else raw
        if kind == "array":
            return [self._coerce(schema.get("items", {}), part) for part in str(raw).split(",")]
        return raw

    @staticmethod
    def _path_value(template: str, path: str, name: str) -> str:
        for t, p in zip(template.split("/"), path.split("/"), strict=True):
            if t == "{" + name + "}":
                return p
        raise ContractError(f"no {name} in {path}")
