"""Validate rendered custom resources offline against upstream CustomResourceDefinitions.

The CRDs are the upstream ones in ../shared/fixtures/crds. The lab applies the same CRDs and the same rendered
resources to a real API server, whose own validation is the final word; this module gives the same answer
without a cluster, so a render test fails before anything is applied.
"""

import functools
import glob
import os

import jsonschema
import yaml

from conftest import SHARED_FIXTURES

CRD_DIR = os.path.join(SHARED_FIXTURES, "crds")

# What the API server checks of every object's metadata (ObjectMeta), for the fields Kiln renders.
_OBJECT_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
        "namespace": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}


def to_json_schema(node):
    """A CRD's structural OpenAPI v3 schema as JSON Schema (draft 4), Kubernetes extensions made explicit.

    - ``x-kubernetes-int-or-string``: an integer or a string (the two never overlap, so oneOf).
    - ``nullable``: null is allowed too.
    - ``x-kubernetes-list-type: set``: items are unique.
    - Objects with ``properties`` reject other fields unless ``x-kubernetes-preserve-unknown-fields``. The API
      server would prune them silently (or refuse them under strict field validation, kubectl's default); either
      way a misspelt field in a rendered resource is a bug, so the validator refuses it.
    """
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    schema = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            schema[key] = dict((name, to_json_schema(sub)) for name, sub in value.items())
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            schema[key] = to_json_schema(value)
        elif key.startswith("x-kubernetes-") or key in ("nullable", "description", "format", "example"):
            continue
        elif key == "pattern" and "(?i)" in value:
            # RE2 (the API server's) takes an inline flag anywhere; Python's re only at the start.
            schema[key] = "(?i)" + value.replace("(?i)", "")
        else:
            schema[key] = value
    if node.get("x-kubernetes-int-or-string"):
        schema.pop("type", None)
        schema.pop("anyOf", None)
        schema["oneOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    if node.get("x-kubernetes-list-type") == "set":
        schema["uniqueItems"] = True
    if "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        schema["additionalProperties"] = False
    return schema


class CrdCatalog(object):
    """Every served version of every CRD under a directory, by (apiVersion, kind)."""

    def __init__(self, crd_dir=CRD_DIR):
        self.validators = {}
        self.scopes = {}
        for path in sorted(glob.glob(os.path.join(crd_dir, "**", "*.yaml"), recursive=True)):
            with open(path) as handle:
                # libyaml: the fixture CRDs are megabytes; the pure-Python loader takes half a minute.
                for crd in yaml.load_all(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
                    if crd and crd.get("kind") == "CustomResourceDefinition":
                        self._add(crd)

    def _add(self, crd):
        spec = crd["spec"]
        for version in spec["versions"]:
            if not version.get("served", True) or "schema" not in version:
                continue
            key = ("%s/%s" % (spec["group"], version["name"]), spec["names"]["kind"])
            schema = to_json_schema(version["schema"]["openAPIV3Schema"])
            schema.setdefault("properties", {})["metadata"] = _OBJECT_META
            schema["properties"]["apiVersion"] = {"enum": [key[0]]}
            schema["properties"]["kind"] = {"enum": [key[1]]}
            schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
            jsonschema.Draft4Validator.check_schema(schema)
            self.validators[key] = jsonschema.Draft4Validator(schema)
            self.scopes[key] = spec["scope"]

    def knows(self, document):
        return (document.get("apiVersion"), document.get("kind")) in self.validators

    def errors(self, document):
        """Every problem as "kind/name: path: message", sorted; empty when the API server would accept it."""
        key = (document.get("apiVersion"), document.get("kind"))
        name = "%s/%s" % (key[1], (document.get("metadata") or {}).get("name"))
        if key not in self.validators:
            return ["%s: no CRD serves %s %s" % (name, key[0], key[1])]
        found = ["%s: %s: %s" % (name, "/".join(str(p) for p in error.absolute_path) or "(root)", error.message)
                 for error in self.validators[key].iter_errors(document)]
        namespaced = "namespace" in (document.get("metadata") or {})
        if namespaced != (self.scopes[key] == "Namespaced"):
            found.append("%s: a %s resource %s metadata.namespace" % (
                name, self.scopes[key], "needs" if not namespaced else "must not set"))
        return sorted(found)


@functools.lru_cache(maxsize=None)
def shared_catalog():
    """One catalog per test process: the fixture CRDs are large (Istio's alone is thousands of lines)."""
    return CrdCatalog()


def load_documents(directory):
    """Every YAML document under a directory (recursively), in file-name order, as (file, document)."""
    found = []
    for path in sorted(glob.glob(os.path.join(str(directory), "**", "*.yaml"), recursive=True)):
        with open(path) as handle:
            for document in yaml.safe_load_all(handle):
                if document:
                    found.append((os.path.relpath(path, str(directory)), document))
    return found
