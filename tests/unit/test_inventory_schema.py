"""One source for inventory variables: roles/kiln/meta/inventory_schema.yml (kiln_*) and the roles' argument specs.

docs/variables.md, the gate and the specs cannot disagree: every kiln_* name the docs give is in the schema, every
schema variable is documented (the versions file documents the pins), and every default role kiln ships has the
type the schema gives it.
"""

import glob
import os
import re

import yaml

from ansible_collections.kiln.cluster.plugins.module_utils.inventory_data import load_schema

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES = os.path.join(REPO, "roles")


def _load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def _schema():
    paths = [os.path.join(ROLES, "kiln", "meta", "inventory_schema.yml")]
    paths += sorted(glob.glob(os.path.join(ROLES, "*", "meta", "argument_specs.yml")))
    return load_schema([(p, _load(p)) for p in paths], os.listdir(ROLES))


def _kiln_options():
    return _load(os.path.join(ROLES, "kiln", "meta", "inventory_schema.yml"))["argument_specs"]["inventory"]["options"]


def _kiln_defaults():
    values = {}
    for path in sorted(glob.glob(os.path.join(ROLES, "kiln", "defaults", "main", "*.yml"))):
        values.update(_load(path) or {})
    return values


def test_every_kiln_variable_in_the_docs_is_in_the_schema():
    with open(os.path.join(REPO, "docs", "variables.md")) as handle:
        documented = set(re.findall(r"`(kiln_[a-z0-9_]+)`", handle.read()))
    # Facts Kiln's modules set on hosts, named in the docs but never inventory input.
    facts = {"kiln_gpus"}
    missing = sorted(documented - set(_schema().options) - facts)
    assert not missing, "documented in docs/variables.md but not in the schema: %s" % missing


def test_every_schema_variable_is_documented():
    with open(os.path.join(REPO, "docs", "variables.md")) as handle:
        docs = handle.read()
    pins = _load(os.path.join(ROLES, "kiln", "defaults", "main", "versions.yml"))
    undocumented = sorted(n for n in _kiln_options() if "`%s`" % n not in docs and n not in pins)
    assert not undocumented, "in the schema but not in docs/variables.md: %s" % undocumented


def test_role_kiln_defaults_have_the_schema_types():
    schema = _schema()
    defaults = _kiln_defaults()
    assert set(defaults) <= set(_kiln_options()), sorted(set(defaults) - set(_kiln_options()))
    wrong = {}
    for name, value in defaults.items():
        if isinstance(value, str) and "{{" in value:
            continue  # derived at run time from other variables: not an inventory value
        errors = schema.check(name, value)
        if errors:
            wrong[name] = errors
    assert not wrong, wrong


def test_every_role_input_has_a_type_and_every_name_is_in_a_kiln_name_space():
    schema = _schema()
    untyped = sorted(n for n, spec in schema.options.items() if "type" not in spec)
    assert not untyped, untyped
    outside = sorted(n for n in schema.options if not schema.owns(n))
    assert not outside, outside
