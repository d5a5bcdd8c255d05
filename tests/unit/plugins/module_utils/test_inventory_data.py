"""inventory_data: template markers found anywhere in a value, never evaluated; strict types from the schema."""

import pytest

from ansible_collections.kiln.cluster.plugins.module_utils.inventory_data import (
    Schema,
    inventory_names,
    plain,
    template_paths,
)


@pytest.mark.parametrize("value,expected", [
    ("{{ lookup('pipe', 'id') }}", [("v", "{{ lookup('pipe', 'id') }}")]),
    ("a{% if 1 %}b{% endif %}", [("v", "a{% if 1 %}b{% endif %}")]),
    ("{# comment #}", [("v", "{# comment #}")]),
    ({"model": "{{ 1 }}", "count": 2}, [("v.model", "{{ 1 }}")]),
    ({"mig": {"per_gpu": {"0": ["x", "{{ y }}"]}}}, [("v.mig.per_gpu.0[1]", "{{ y }}")]),
    ({"{{ key }}": 1}, [("v (key '{{ key }}')", "{{ key }}")]),
    ("$(touch /tmp/x); rm -rf / `id`", []),
    ("{ {not a template} }", []),
    (12, []),
    (None, []),
])
def test_template_syntax_is_found_wherever_it_hides(value, expected):
    assert template_paths(value, "v") == expected


def test_a_huge_hostile_value_reports_a_bounded_number_of_paths():
    assert len(template_paths(["{{ x }}"] * 10000, "v")) == 5


def test_facts_and_magic_variables_are_not_the_inventory():
    raw = {"ansible_facts": {"hostname": "n1", "kiln_gpus": []}, "ansible_hostname": "n1", "groups": {},
           "inventory_dir": "/x", "ansible_host": "10.0.0.1", "kiln_gpu": {}, "kiln_gpus": []}
    assert sorted(inventory_names(raw)) == ["ansible_host", "kiln_gpu"]


SCHEMA = Schema({"kiln_environments": {"type": "list", "elements": "str"}, "kiln_offline": {"type": "bool"},
                 "kiln_api_port": {"type": "int"}, "kiln_cluster_name": {"type": "str"},
                 "kiln_mode": {"type": "str", "choices": ["a", "b"]}, "kiln_labels": {"type": "dict"}},
                ["kiln_", "velero_"])


@pytest.mark.parametrize("name,value,error", [
    ("kiln_environments", "dev", "is str ('dev'), expected a list"),
    ("kiln_environments", ["dev"], None),
    ("kiln_offline", "yes", "is str ('yes'), expected true or false"),
    ("kiln_api_port", True, "is bool (True), expected an integer"),
    ("kiln_api_port", "6443", "is str ('6443'), expected an integer"),
    ("kiln_cluster_name", ["a"], "is list (['a']), expected a string"),
    ("kiln_labels", "a=b", "is str ('a=b'), expected a mapping"),
    ("kiln_mode", "c", "value of kiln_mode must be one of: a, b, got: c"),
])
def test_values_are_typed_strictly_from_the_schema(name, value, error):
    errors = SCHEMA.check(name, value)
    assert errors == ([] if error is None else [error])


def test_unknown_names_in_kiln_name_spaces_get_a_suggestion():
    assert SCHEMA.owns("kiln_enviroments") and SCHEMA.owns("velero_x") and not SCHEMA.owns("my_var")
    assert SCHEMA.suggest("kiln_enviroments") == "kiln_environments"
    assert SCHEMA.suggest("kiln_zzz") is None


def test_plain_drops_tags_and_keeps_types():
    assert plain({"a": [1, True, 1.5, "x"]}) == {"a": [1, True, 1.5, "x"]}
