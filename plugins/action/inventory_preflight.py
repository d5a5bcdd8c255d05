"""Action plugin: validate the whole inventory on the controller.

Runs entirely on the controller (no module is sent to any host). Each host's variables are read once and
untemplated (``hostvars.raw_get``): inventory values are data, so a value holding template syntax is refused,
never evaluated. Every value Kiln owns (``kiln_*`` and role-prefixed names) is typed against one schema
(roles/kiln/meta/inventory_schema.yml plus every role's meta/argument_specs.yml); unknown names get a
did-you-mean; ansible-vault values must decrypt. Then ``module_utils.inventory_checks`` runs the cluster rules, and
the task fails once with every finding.
"""

import glob
import os

import yaml
from ansible.plugins.action import ActionBase

from ansible_collections.kiln.cluster.plugins.module_utils.inventory_checks import CLUSTER, Finding, check_inventory
from ansible_collections.kiln.cluster.plugins.module_utils.inventory_data import (
    decrypts,
    encrypted_values,
    inventory_names,
    is_encrypted,
    load_schema,
    origin,
    oversized,
    plain,
    template_paths,
)

ROLES_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "roles")
SECRET_WORDS = ("password", "token", "secret", "oauth", "pgp", "credential")
# A value of a name Kiln does not know: reported, not passed on to the rules.
_UNKNOWN = object()
# Hosts named in one finding before "and N more".
HOSTS_SHOWN = 5
_SCHEMA = []


def schema():
    """The merged schema, loaded once per controller process."""
    if not _SCHEMA:
        documents = []
        paths = [os.path.join(ROLES_DIR, "kiln", "meta", "inventory_schema.yml")]
        paths += sorted(glob.glob(os.path.join(ROLES_DIR, "*", "meta", "argument_specs.yml")))
        for path in paths:
            with open(path) as handle:
                documents.append((path, yaml.safe_load(handle)))
        roles = [name for name in os.listdir(ROLES_DIR) if os.path.isdir(os.path.join(ROLES_DIR, name))]
        _SCHEMA.append(load_schema(documents, roles))
    return _SCHEMA[0]


def _where(value, inventory_dir):
    place = origin(value)
    if not place:
        return ""
    if inventory_dir and place.startswith(inventory_dir.rstrip("/") + "/"):
        place = place[len(inventory_dir.rstrip("/")) + 1:]
    return " (set in %s)" % place


def _masked(value):
    """Encrypted values stay unrevealed in the checks' messages: as many '*' as the secret has characters (the
    checks need its length only). Called after the value decrypted."""
    if is_encrypted(value):
        return "*" * len(str(value))
    if isinstance(value, dict):
        return dict((k, _masked(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value


class DataChecks(object):
    """The data-level findings (template syntax, vault, unknown names, types), gathered per (variable, problem)
    so a group_vars value is reported once, not once per host."""

    def __init__(self, all_hosts):
        self.all_hosts = all_hosts
        self.found = {}
        self.refused = {}
        self._judged = {}

    def add(self, host, variable, problem, fix):
        self.found.setdefault((variable, problem, fix), []).append(host)

    def check_host(self, host, raw, schema):
        """Returns the host's values for the rule checks: plain data, refused values left out."""
        inventory_dir = raw.get("inventory_dir") or ""
        values = {}
        for name in inventory_names(raw):
            value = raw[name]
            # A group's value is one object shared by its hosts: judged once, reported for each host.
            key = (name, id(value))
            if key not in self._judged:
                self._judged[key] = (value, self.judge(name, value, schema, inventory_dir))
            refused, data, findings = self._judged[key][1]
            for variable, problem, fix in findings:
                self.add(host, variable, problem, fix)
            if refused:
                self.refused.setdefault(host, set()).add(name)
            elif data is not _UNKNOWN:
                values[name] = data
        return values

    def judge(self, name, value, schema, inventory_dir):
        """(refused, plain data, [(variable, problem, fix)]) for one variable's value."""
        where = _where(value, inventory_dir)
        too_big = oversized(value)
        if too_big:
            return True, None, [(name, too_big + where, "write the value out plainly (no YAML alias chains), or "
                                 "remove it")]
        templates = template_paths(value, name)
        if templates:
            found = []
            for path, text in templates:
                shown = text if len(text) <= 60 else text[:57] + "..."
                found.append((path, "holds template syntax %r%s; Kiln reads inventory values as data and never "
                              "evaluates them" % (shown, where),
                              "write the value itself (a secret as an ansible-vault encrypted value, "
                              "ansible-vault encrypt_string)"))
            return True, None, found
        found = []
        for path, secret in encrypted_values(value, name):
            ok, error = decrypts(secret)
            if not ok:
                found.append((path, "is vault-encrypted%s but cannot be decrypted: %s"
                              % (_where(secret, inventory_dir), error),
                              "run with the vault password (--vault-id or --ask-vault-pass) it was encrypted with"))
        if found:
            return True, None, found
        data = plain(_masked(value))
        if schema.owns(name) and name not in schema.options:
            close = schema.suggest(name)
            return False, _UNKNOWN, [(name, "is not a variable Kiln knows%s" % where,
                                      ("did you mean %s? Rename it to that" % close) if close else
                                      "remove it, or see docs/variables.md for the variables Kiln reads")]
        kind = schema.options.get(name, {}).get("type", "raw")
        for error in schema.check(name, data):
            if any(word in name for word in SECRET_WORDS):
                error = "is not of the type its schema requires (%s)" % kind
            found.append((name, "%s%s" % (error, where), "see docs/variables.md (type: %s)" % kind))
        return False, data, found

    def findings(self):
        result = []
        everyone = set(self.all_hosts)
        for (variable, problem, fix), hosts in sorted(self.found.items()):
            if len(hosts) > 1 and set(hosts) == everyone:
                where = CLUSTER
            elif len(hosts) > HOSTS_SHOWN:
                where = "%s and %d more" % (", ".join(hosts[:HOSTS_SHOWN]), len(hosts) - HOSTS_SHOWN)
            else:
                where = ", ".join(hosts)
            result.append(Finding(where, variable, problem, fix))
        return result


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("supported_kubernetes_versions", "pinned_chart_versions"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec={
            "supported_kubernetes_versions": {"type": "list", "elements": "str", "required": True},
            "pinned_chart_versions": {"type": "dict", "default": {}},
        })
        hostvars = task_vars["hostvars"]
        groups = dict((name, list(members)) for name, members in task_vars["groups"].items())
        all_hosts = groups.get("all", [])
        data = DataChecks(all_hosts)
        kiln_schema = schema()
        hosts = {}
        for host in all_hosts:
            # Once per host, untemplated: the inventory's values as written.
            hosts[host] = data.check_host(host, hostvars.raw_get(host), kiln_schema)
        findings = data.findings() + check_inventory(
            hosts, groups, args["supported_kubernetes_versions"], args["pinned_chart_versions"], refused=data.refused)
        result.update(changed=False, findings=[f.as_dict() for f in findings], hosts_checked=len(hosts))
        if findings:
            result["failed"] = True
            result["msg"] = "Inventory preflight found %d problem(s):\n%s" % (
                len(findings), "\n".join("  - %s" % f for f in findings))
        else:
            result["msg"] = "Inventory preflight passed for %d hosts" % len(hosts)
        return result
