"""Kiln's AWX data (awx/) against the real awx.awx collection and against the playbooks it launches.

- Every object validates against the argument spec of its awx.awx module, taken from the installed collection
  by running the module's own main() up to the point where it builds its AnsibleModule.
- Surveys follow AWX's survey rules (the checks AWX's API makes when a survey is saved).
- Every survey variable is used by the playbook, the playbooks it imports or the roles they run.
- Names resolve (credentials, project, inventory, execution environment), credentials are of kinds a job
  template accepts, and playbooks/awx-configure.yml passes every key the data holds.
"""

import copy
import functools
import glob
import importlib
import os
import re
import sys

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from conftest import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))
import awx_runner  # noqa: E402  (tests/ is not a package; its path is added just above)

AWX_DIR = os.path.join(REPO_ROOT, "awx")
CONTROLLER = awx_runner.load_yaml(os.path.join(AWX_DIR, "controller.yml"))
JOB_TEMPLATES = awx_runner.load_job_templates()
WORKFLOWS = dict((data["name"], data) for data in (
    awx_runner.load_yaml(path) for path in sorted(glob.glob(os.path.join(AWX_DIR, "workflow_job_templates", "*.yml")))))

# awx/controller.yml key -> awx.awx module of its entries.
CONTROLLER_MODULES = {
    "organization": "organization",
    "credential_types": "credential_type",
    "credentials": "credential",
    "execution_environments": "execution_environment",
    "projects": "project",
    "inventories": "inventory",
    "inventory_sources": "inventory_source",
}

# AWX's built-in credential types Kiln uses: kind and input ids (AWX's managed credential types).
BUILTIN_CREDENTIAL_TYPES = {
    "Machine": ("ssh", {"username", "password", "ssh_key_data", "ssh_public_key_data", "ssh_key_unlock",
                        "become_method", "become_username", "become_password"}),
    "Vault": ("vault", {"vault_password", "vault_id"}),
    "Amazon Web Services": ("cloud", {"username", "password", "security_token", "sts_duration"}),
    "Google Compute Engine": ("cloud", {"username", "project", "ssh_key_data"}),
    "Container Registry": ("registry", {"host", "username", "password", "verify_ssl"}),
}
# Credential kinds AWX lets a job template carry.
JOB_TEMPLATE_CREDENTIAL_KINDS = {"ssh", "vault", "cloud", "net", "kubernetes"}

# Survey rules of AWX's API (JobTemplateSurveySpec): question types and the Python type of their defaults.
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                "integer": int, "float": float}

# Every operator action of issue 7 -> the playbook its template runs.
ACTIONS = {
    "deploy site": "site.yml",
    "verify": "playbooks/verify.yml",
    "GPU plan": "playbooks/gpu-plan.yml",
    "upgrade": "playbooks/upgrade.yml",
    "scale out": "playbooks/scale.yml",
    "remove node": "playbooks/remove-node.yml",
    "reset node": "playbooks/reset.yml",
    "MIG reconfigure": "playbooks/mig-reconfigure.yml",
    "etcd backup": "playbooks/etcd-backup.yml",
    "etcd restore": "playbooks/etcd-restore.yml",
}
# Written beside this work; each gets its template once the playbook exists.
LATER_ACTIONS = {
    "Velero restore test": "playbooks/restore-test.yml",
    "mirror seeding": "playbooks/mirror.yml",
    "cloud-sync parity": "playbooks/cloud-sync.yml",
}


class _Captured(Exception):
    pass


@functools.lru_cache(maxsize=None)
def _awx_module_spec(module_name):
    """Captured once per module: main() runs until it builds its ControllerAPIModule."""
    module = importlib.import_module("ansible_collections.awx.awx.plugins.modules." + module_name)
    captured = {}

    class Capture(object):
        def __init__(self, argument_spec=None, **kwargs):
            captured["spec"] = argument_spec
            raise _Captured()

    real = module.ControllerAPIModule
    module.ControllerAPIModule = Capture
    try:
        module.main()
    except _Captured:
        pass
    finally:
        module.ControllerAPIModule = real
    spec = dict(captured["spec"])
    spec.update(real.AUTH_ARGSPEC)
    return spec


def awx_module_spec(module_name):
    """The argument spec awx.awx.<module_name> really builds (its own + the controller connection options)."""
    return copy.deepcopy(_awx_module_spec(module_name))


def _doc_to_spec(options):
    """DOCUMENTATION options -> an argument spec (type, elements, choices, required, suboptions)."""
    spec = {}
    for name, doc in options.items():
        entry = dict((key, doc[key]) for key in ("type", "elements", "choices", "required") if key in doc)
        if "suboptions" in doc:
            entry["options"] = _doc_to_spec(doc["suboptions"])
        spec[name] = entry
    return spec


def workflow_node_spec():
    module = importlib.import_module("ansible_collections.awx.awx.plugins.modules.workflow_job_template")
    return _doc_to_spec(yaml.safe_load(module.DOCUMENTATION)["options"]["workflow_nodes"]["suboptions"])


def spec_errors(spec, params):
    """Errors of validating params against spec; names that are aliases count as errors too (use the real name)."""
    result = ArgumentSpecValidator(spec).validate(copy.deepcopy(params))
    errors = list(result.error_messages)
    errors += ["%s is an alias; use the option's name" % key for key in params if key not in spec]
    return errors


def controller_objects():
    for key, module in CONTROLLER_MODULES.items():
        entries = CONTROLLER[key] if isinstance(CONTROLLER[key], list) else [CONTROLLER[key]]
        for entry in entries:
            yield pytest.param(module, entry, id="%s:%s" % (module, entry["name"]))


def all_objects():
    for param in controller_objects():
        yield param
    for name, data in JOB_TEMPLATES.items():
        yield pytest.param("job_template", data, id="job_template:" + name)
    for name, data in WORKFLOWS.items():
        yield pytest.param("workflow_job_template", data, id="workflow_job_template:" + name)


def surveyed():
    for name, data in list(JOB_TEMPLATES.items()) + list(WORKFLOWS.items()):
        yield pytest.param(data, id=name)


# -- the awx.awx argument specs --------------------------------------------------------------------------

@pytest.mark.parametrize("module, params", list(all_objects()))
def test_object_validates_against_the_awx_module_argument_spec(module, params):
    assert spec_errors(awx_module_spec(module), params) == []


def test_the_argument_spec_check_rejects_what_awx_awx_rejects():
    spec = awx_module_spec("job_template")
    broken = dict(JOB_TEMPLATES["Kiln GPU plan"], job_type="deploy", verbosity=9, ask_limit="yes please",
                  playbok="typo.yml")
    errors = " ".join(spec_errors(spec, broken))
    for what in ("job_type", "verbosity", "ask_limit", "playbok"):
        assert what in errors
    assert spec["survey_spec"]["type"] == "dict" and "controller_oauthtoken" in spec


@pytest.mark.parametrize("workflow", list(WORKFLOWS.values()), ids=list(WORKFLOWS))
def test_workflow_nodes_validate_against_the_documented_node_options(workflow):
    spec = workflow_node_spec()
    identifiers = [node["identifier"] for node in workflow["workflow_nodes"]]
    assert len(identifiers) == len(set(identifiers))
    for node in workflow["workflow_nodes"]:
        assert spec_errors(spec, node) == [], node["identifier"]
        template = node["unified_job_template"]
        assert template["type"] == "job_template" and template["name"] in JOB_TEMPLATES
        for kind in ("success_nodes", "failure_nodes", "always_nodes"):
            for target in node.get("related", {}).get(kind, []):
                assert target["identifier"] in identifiers


def test_deploy_site_then_verify_runs_verify_only_after_a_successful_deploy():
    nodes = dict((node["identifier"], node) for node in WORKFLOWS["Kiln deploy site then verify"]["workflow_nodes"])
    first = [node for node in nodes.values()
             if not any(node["identifier"] in [t["identifier"] for k in ("success_nodes", "failure_nodes", "always_nodes")
                                               for t in other.get("related", {}).get(k, [])]
                        for other in nodes.values())]
    assert [node["unified_job_template"]["name"] for node in first] == ["Kiln deploy site"]
    then = first[0]["related"]
    assert [nodes[t["identifier"]]["unified_job_template"]["name"] for t in then["success_nodes"]] == [
        "Kiln verify cluster"]
    assert not then.get("failure_nodes") and not then.get("always_nodes")


# -- surveys ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("template", list(surveyed()))
def test_survey_follows_awx_survey_rules(template):
    assert template["survey_enabled"] is True
    survey = template["survey_spec"]
    assert isinstance(survey["name"], str) and isinstance(survey["description"], str)
    assert isinstance(survey["spec"], list) and survey["spec"]
    variables = [question["variable"] for question in survey["spec"]]
    assert len(variables) == len(set(variables)), "a variable is asked twice"
    for question in survey["spec"]:
        for field in ("type", "question_name", "question_description", "variable"):
            assert isinstance(question.get(field), str) and question[field], (question, field)
        assert isinstance(question["required"], bool)
        assert re.match(r"^[a-z_][a-z0-9_]*$", question["variable"]), question["variable"]
        assert question["type"] in SURVEY_TYPES
        for limit in ("min", "max"):
            assert question.get(limit) is None or type(question[limit]) is int
        default = question.get("default")
        if default not in (None, ""):
            assert isinstance(default, SURVEY_TYPES[question["type"]]) and not isinstance(default, bool), question
        if question["type"] in ("multiplechoice", "multiselect"):
            choices = question["choices"]
            assert isinstance(choices, list) and choices and all(isinstance(c, str) for c in choices)
            defaults = [default] if isinstance(default, str) and default else []
            assert all(d in choices for d in defaults), question
        if question["required"] and default not in (None, ""):
            # A required default AWX would refuse on launch is a trap: it must pass the survey's own checks.
            assert awx_runner.answer_errors(question, {question["variable"]: default}) == [], question
        if not question["required"] and default == "":
            # Blank optional answers must not reach the playbook (the inventory's value stays).
            assert awx_runner.answer_errors(question, {question["variable"]: ""}), question


def test_survey_defaults_are_applied_as_awx_applies_them():
    upgrade = JOB_TEMPLATES["Kiln upgrade Kubernetes"]
    assert awx_runner.survey_defaults(upgrade) == {
        "kiln_kubernetes_version": "1.36.3", "kiln_upgrade_worker_batch": "1", "kubernetes_upgrade_drain_timeout": 300}
    # Blank optional questions are left out; the required one with a valid default is in.
    assert awx_runner.survey_defaults(JOB_TEMPLATES["Kiln deploy site"]) == {"cluster_verify_timeout": 300}
    assert awx_runner.survey_defaults(JOB_TEMPLATES["Kiln etcd restore"]) == {"kiln_restore_confirm": "no"}
    with pytest.raises(awx_runner.SurveyError, match="kiln_remove_nodes"):
        awx_runner.launch_extravars(JOB_TEMPLATES["Kiln remove node"])
    with pytest.raises(awx_runner.SurveyError, match="kiln_remove_confirm"):
        awx_runner.launch_extravars(JOB_TEMPLATES["Kiln remove node"],
                                    {"kiln_remove_nodes": "gpu2", "kiln_remove_confirm": "sure"})
    with pytest.raises(awx_runner.SurveyError, match="cluster_verify_timeout"):
        awx_runner.launch_extravars(JOB_TEMPLATES["Kiln verify cluster"], {"cluster_verify_timeout": "300"})


def _kiln_defaults(name):
    return awx_runner.load_yaml(os.path.join(REPO_ROOT, "roles", "kiln", "defaults", "main", name))


def test_kubernetes_version_questions_offer_exactly_the_supported_versions():
    supported = _kiln_defaults("versions.yml")["kiln_kubernetes_supported_versions"]
    pin = _kiln_defaults("cluster.yml")["kiln_kubernetes_version"]
    questions = [(name, q) for name, t in JOB_TEMPLATES.items() for q in t["survey_spec"]["spec"]
                 if q["variable"] == "kiln_kubernetes_version"]
    assert len(questions) >= 4
    for name, question in questions:
        assert question["type"] == "multiplechoice" and question["choices"] == supported, name
        assert question["default"] == (pin if question["required"] else ""), name


# -- survey variables are used by what the template runs ----------------------------------------------------

IMPLICIT_JINJA_KEYS = {"when", "that", "failed_when", "changed_when", "until"}


def _strings(node, key=None):
    """(key, string) for every string value of a parsed YAML document."""
    if isinstance(node, dict):
        for child_key, child in node.items():
            for item in _strings(child, child_key):
                yield item
    elif isinstance(node, list):
        for child in node:
            for item in _strings(child, key):
                yield item
    elif isinstance(node, str):
        yield key, node


@functools.lru_cache(maxsize=None)
def _load_cached(path):
    return awx_runner.load_yaml(path)


def _role_files(role, seen):
    if role in seen:
        return []
    seen.add(role)
    base = os.path.join(REPO_ROOT, "roles", role)
    assert os.path.isdir(base), "role %s not found" % role
    files = sorted(glob.glob(os.path.join(base, "**", "*"), recursive=True))
    files = [path for path in files if os.path.isfile(path)]
    for path in files:
        if path.endswith((".yml", ".yaml")):
            for key, text in _strings(_load_cached(path) or {}):
                for other in _roles_named(key, text):
                    files += _role_files(other, seen)
    return files


def _roles_named(key, text):
    if key in ("role", "name") and os.path.isdir(os.path.join(REPO_ROOT, "roles", text)):
        return [text]
    return []


def files_run_by(playbook, seen_playbooks=None, seen_roles=None):
    """The playbook, the playbooks it imports and every file of the roles they run (recursively)."""
    seen_playbooks = set() if seen_playbooks is None else seen_playbooks
    seen_roles = set() if seen_roles is None else seen_roles
    path = os.path.normpath(os.path.join(REPO_ROOT, playbook))
    if path in seen_playbooks:
        return []
    seen_playbooks.add(path)
    files = [path]
    for play in _load_cached(path):
        if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
            target = play.get("ansible.builtin.import_playbook", play.get("import_playbook"))
            files += files_run_by(os.path.relpath(os.path.join(os.path.dirname(path), target), REPO_ROOT),
                                  seen_playbooks, seen_roles)
        for key, text in _strings(play):
            for role in _roles_named(key, text):
                files += _role_files(role, seen_roles)
    return files


def variable_uses(variable, files):
    """Where a file uses the variable: in a Jinja expression, an implicit condition, or as a role input."""
    word = re.compile(r"(?<![A-Za-z0-9_.])%s(?![A-Za-z0-9_])" % re.escape(variable))
    uses = []
    for path in files:
        if path.endswith((".yml", ".yaml")):
            document = _load_cached(path) or {}
            for key, text in _strings(document):
                templated = "{{" in text or "{%" in text or key in IMPLICIT_JINJA_KEYS
                if templated and word.search(text):
                    uses.append(path)
            in_role_inputs = os.sep + "defaults" + os.sep in path or path.endswith("argument_specs.yml")
            if in_role_inputs and variable in _keys(document):
                uses.append(path)
        elif path.endswith(".j2"):
            with open(path, encoding="utf-8") as handle:
                if word.search(handle.read()):
                    uses.append(path)
    return uses


def _keys(node):
    if isinstance(node, dict):
        keys = set(node)
        for child in node.values():
            keys |= _keys(child)
        return keys
    if isinstance(node, list):
        return set().union(*[_keys(child) for child in node]) if node else set()
    return set()


@pytest.mark.parametrize("template", list(JOB_TEMPLATES.values()), ids=list(JOB_TEMPLATES))
def test_every_survey_variable_is_used_by_the_playbook_or_its_roles(template):
    files = files_run_by(template["playbook"])
    for question in template["survey_spec"]["spec"]:
        assert variable_uses(question["variable"], files), (
            "%s asks for %s, but %s and the roles it runs never use it"
            % (template["name"], question["variable"], template["playbook"]))


def test_the_usage_check_finds_nothing_for_an_unused_variable():
    files = files_run_by("site.yml")
    assert any(path.endswith(os.path.join("cluster_verify", "tasks", "main.yml")) for path in files)
    assert variable_uses("kiln_remove_confirm", files) == []
    assert variable_uses("cluster_verify_timeout", files)


@pytest.mark.parametrize("workflow", list(WORKFLOWS.values()), ids=list(WORKFLOWS))
def test_workflow_survey_variables_are_asked_by_its_job_templates(workflow):
    # AWX passes a workflow's answers to each job; a job template takes only variables its own survey asks.
    for node in workflow["workflow_nodes"]:
        asked = [q["variable"] for q in JOB_TEMPLATES[node["unified_job_template"]["name"]]["survey_spec"]["spec"]]
        for question in workflow["survey_spec"]["spec"]:
            assert question["variable"] in asked, (node["identifier"], question["variable"])


# -- names, credentials, coverage ---------------------------------------------------------------------------

def _names(key):
    return [entry["name"] for entry in CONTROLLER[key]]


def _credential_type(name):
    for custom in CONTROLLER["credential_types"]:
        if custom["name"] == name:
            return custom["kind"], set(field["id"] for field in custom["inputs"]["fields"])
    assert name in BUILTIN_CREDENTIAL_TYPES, "unknown credential type %s" % name
    return BUILTIN_CREDENTIAL_TYPES[name]


def _controller_only(playbook):
    plays = [play for path in files_run_by(playbook) if path.endswith(".yml") and os.sep + "roles" + os.sep not in path
             for play in awx_runner.load_yaml(path) if "hosts" in play]
    return all(play["hosts"] == "localhost" for play in plays)


@pytest.mark.parametrize("template", list(JOB_TEMPLATES.values()), ids=list(JOB_TEMPLATES))
def test_job_template_references_and_credentials(template):
    assert os.path.isfile(os.path.join(REPO_ROOT, template["playbook"])), template["playbook"]
    assert template["organization"] == CONTROLLER["organization"]["name"]
    assert template["project"] in _names("projects")
    assert template["inventory"] in _names("inventories")
    assert template["execution_environment"] in [ee["name"] for ee in CONTROLLER["execution_environments"]]
    credentials = dict((c["name"], c) for c in CONTROLLER["credentials"])
    types = [credentials[name]["credential_type"] for name in template["credentials"]]
    assert len(types) == len(set(types)), "AWX takes one credential per credential type"
    kinds = [_credential_type(kind)[0] for kind in types]
    assert set(kinds) <= JOB_TEMPLATE_CREDENTIAL_KINDS
    # The inventory may hold ansible-vault values (kiln_openbao_init_vault_password): every job can open them.
    assert "vault" in kinds
    # Nodes are reached over SSH unless every play runs on the controller.
    assert ("ssh" in kinds) == (not _controller_only(template["playbook"])), template["playbook"]
    # Plays become root themselves; AWX's --become would also hit the controller plays.
    assert template["become_enabled"] is False


def test_credentials_and_their_types():
    for custom in CONTROLLER["credential_types"]:
        assert custom["kind"] in ("cloud", "net"), "AWX allows custom credential types of kind cloud or net only"
        fields = set(field["id"] for field in custom["inputs"]["fields"])
        assert set(custom["inputs"]["required"]) <= fields
        templates = " ".join(text for _, text in _strings(custom["injectors"]))
        for variable in re.findall(r"{{\s*([a-z_]+)", templates):
            assert variable in fields or variable == "tower", (custom["name"], variable)
    for credential in CONTROLLER["credentials"]:
        _, inputs = _credential_type(credential["credential_type"])
        assert set(credential["inputs"]) <= inputs, credential["name"]
        assert credential["update_secrets"] is False, "a rerun would rewrite secrets and report a change"
        assert credential["organization"] == CONTROLLER["organization"]["name"]
    for ee in CONTROLLER["execution_environments"]:
        assert ee["credential"] in _names("credentials")
        assert _credential_type(dict((c["name"], c["credential_type"]) for c in CONTROLLER["credentials"])[
            ee["credential"]])[0] == "registry"
    for source in CONTROLLER["inventory_sources"]:
        assert source["source"] == "scm" and source["source_project"] in _names("projects")
        assert source["inventory"] in _names("inventories")
        assert os.path.isfile(os.path.join(REPO_ROOT, source["source_path"], "hosts.yml"))
    for project in CONTROLLER["projects"]:
        assert project["default_environment"] in [ee["name"] for ee in CONTROLLER["execution_environments"]]


def test_credential_injected_variables_are_used_by_a_template_that_can_carry_the_credential():
    for custom in CONTROLLER["credential_types"]:
        for variable in custom["injectors"].get("extra_vars", {}):
            users = [t["name"] for t in JOB_TEMPLATES.values()
                     if (t.get("ask_credential_on_launch") or any(
                         c["credential_type"] == custom["name"] and c["name"] in t["credentials"]
                         for c in CONTROLLER["credentials"]))
                     and variable_uses(variable, files_run_by(t["playbook"]))]
            assert users, "%s injects %s, which no template's playbook uses" % (custom["name"], variable)
    # Injected extra vars bypass the survey: none may hide a survey question's answer.
    for template in JOB_TEMPLATES.values():
        asked = set(q["variable"] for q in template["survey_spec"]["spec"])
        for custom in CONTROLLER["credential_types"]:
            assert not asked & set(custom["injectors"].get("extra_vars", {})), (template["name"], custom["name"])


def test_every_operator_action_has_a_job_template():
    playbooks = set(template["playbook"] for template in JOB_TEMPLATES.values())
    missing = dict((action, playbook) for action, playbook in ACTIONS.items() if playbook not in playbooks)
    assert missing == {}
    for action, playbook in LATER_ACTIONS.items():
        if os.path.isfile(os.path.join(REPO_ROOT, playbook)):
            assert playbook in playbooks, "%s (%s) has no job template" % (action, playbook)


def test_ee_image_tag_is_the_collection_version():
    version = awx_runner.load_yaml(os.path.join(REPO_ROOT, "galaxy.yml"))["version"]
    for ee in CONTROLLER["execution_environments"]:
        assert ee["image"].endswith(":" + version)


# -- playbooks/awx-configure.yml pushes all of it ----------------------------------------------------------

def _configure_tasks():
    plays = awx_runner.load_yaml(os.path.join(REPO_ROOT, "playbooks", "awx-configure.yml"))
    assert [play["hosts"] for play in plays] == ["localhost"]
    tasks = {}
    for task in plays[0]["tasks"]:
        for key, params in task.items():
            if key.startswith("awx.awx."):
                tasks[key.split(".")[-1]] = (task, params)
    return tasks


def test_awx_configure_passes_every_key_of_the_data_to_a_valid_option():
    tasks = _configure_tasks()
    expected = dict((module, [entry for entry in (CONTROLLER[key] if isinstance(CONTROLLER[key], list)
                                                  else [CONTROLLER[key]])])
                    for key, module in CONTROLLER_MODULES.items())
    expected["job_template"] = list(JOB_TEMPLATES.values())
    expected["workflow_job_template"] = list(WORKFLOWS.values())
    assert sorted(tasks) == sorted(expected)
    for module, entries in expected.items():
        task, params = tasks[module]
        spec = awx_module_spec(module)
        assert set(params) <= set(spec), (module, set(params) - set(spec))
        for entry in entries:
            assert set(entry) <= set(params), (module, entry["name"], set(entry) - set(params))
    # Secrets: the credentials task and nothing else handles them, without logging.
    assert tasks["credential"][0]["no_log"] is True
    assert "kiln_awx_credential_secrets" not in str([t for name, (t, _) in tasks.items() if name != "credential"])
