"""Run Kiln's AWX job templates (awx/job_templates/*.yml) the way AWX does: with ``ansible_runner.run()``.

AWX turns a job template and a launch into extra vars (the template's ``extra_vars``, then each survey default
that passes the survey's own validation, then the launch's answers), command-line options (limit, tags, check
mode, verbosity) and a call to ansible-runner. ``run_job_template`` does the same with the template's data, so a
template that works here works there, minus AWX's credentials (the caller's SSH and vault setup is used).
The survey rules mirror AWX's survey validation (types, min/max, choices; required questions need an answer).
"""

import glob
import os
import sys
import tempfile

import ansible_runner
import yaml

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
AWX_DIR = os.path.join(REPO_ROOT, "awx")


class SurveyError(ValueError):
    """A launch AWX would refuse: a required answer missing or an answer the survey rejects."""


class _AnsibleYamlLoader(yaml.SafeLoader):
    """Safe YAML plus Ansible's !unsafe and !vault tags, read as the plain strings they hold."""


for _tag in ("!unsafe", "!vault"):
    _AnsibleYamlLoader.add_constructor(_tag, lambda loader, node: loader.construct_scalar(node))


def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_AnsibleYamlLoader)  # noqa: S506  (a SafeLoader subclass)


def job_template_files():
    return sorted(glob.glob(os.path.join(AWX_DIR, "job_templates", "*.yml")))


def load_job_templates():
    """{template name: template data} for every file of awx/job_templates."""
    return dict((data["name"], data) for data in (load_yaml(path) for path in job_template_files()))


def load_job_template(name):
    """A template by its AWX name ("Kiln GPU plan") or its file name without .yml ("gpu-plan")."""
    path = os.path.join(AWX_DIR, "job_templates", name + ".yml")
    if os.path.isfile(path):
        return load_yaml(path)
    templates = load_job_templates()
    if name not in templates:
        raise KeyError("no job template %r in awx/job_templates (known: %s)" % (name, ", ".join(sorted(templates))))
    return templates[name]


def _choices(question):
    choices = question.get("choices") or []
    if isinstance(choices, str):
        choices = [line for line in choices.splitlines() if line.strip()]
    return list(choices)


def answer_errors(question, answers):
    """What AWX says about ``answers`` (variable -> value) for one survey question; [] when it accepts them."""
    variable = question["variable"]
    if variable not in answers:
        return ["'%s' value missing" % variable] if question.get("required") else []
    value = answers[variable]
    kind = question["type"]
    low, high = question.get("min"), question.get("max")
    low = None if low in ("", None) else low
    high = None if high in ("", None) else high
    if kind in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return ["'%s': %r is not a string" % (variable, value)]
        if low is not None and len(value) < int(low):
            return ["'%s': %r is shorter than %s" % (variable, value, low)]
        if high is not None and len(value) > int(high):
            return ["'%s': %r is longer than %s" % (variable, value, high)]
    elif kind in ("integer", "float"):
        wanted = (int,) if kind == "integer" else (int, float)
        if isinstance(value, bool) or not isinstance(value, wanted):
            return ["'%s': %r is not an %s" % (variable, value, kind)]
        if low is not None and value < low:
            return ["'%s': %r is below %s" % (variable, value, low)]
        if high is not None and value > high:
            return ["'%s': %r is above %s" % (variable, value, high)]
    elif kind == "multiplechoice":
        if value not in _choices(question):
            return ["'%s': %r is not one of %s" % (variable, value, _choices(question))]
    elif kind == "multiselect":
        if not isinstance(value, list):
            return ["'%s': %r is not a list" % (variable, value)]
        return ["'%s': %r is not one of %s" % (variable, item, _choices(question))
                for item in value if item not in _choices(question)]
    else:
        return ["'%s': unknown question type %r" % (variable, kind)]
    return []


def survey_defaults(template):
    """The extra vars AWX takes from the survey when nobody answers: each default that passes validation.

    A blank default of a question with a minimum length (or of a choice question) fails validation, so the
    variable is not passed at all and the inventory's value stays: Kiln's optional questions rely on that.
    """
    if not template.get("survey_enabled"):
        return {}
    defaults = {}
    for question in template["survey_spec"]["spec"]:
        if question.get("default") is None:
            continue
        candidate = {question["variable"]: question["default"]}
        if not answer_errors(question, candidate):
            defaults.update(candidate)
    return defaults


def launch_extravars(template, answers=None):
    """Template extra vars, then survey defaults, then the launch's answers; raises SurveyError as AWX refuses."""
    extravars = dict(template.get("extra_vars") or {})
    extravars.update(survey_defaults(template))
    extravars.update(answers or {})
    if template.get("survey_enabled"):
        errors = [error for question in template["survey_spec"]["spec"]
                  for error in answer_errors(question, extravars)]
        if errors:
            raise SurveyError("%s: AWX would refuse this launch: %s" % (template["name"], "; ".join(errors)))
    return extravars


def _cmdline(template, check):
    options = []
    if template.get("become_enabled"):
        options.append("--become")
    if check or template.get("job_type") == "check":
        options.append("--check")
    if template.get("diff_mode"):
        options.append("--diff")
    if template.get("forks"):
        options += ["--forks", str(template["forks"])]
    return " ".join(options)


def run_job_template(name, inventory, extravars_override=None, private_data_dir=None, envvars=None,
                     limit=None, tags=None, skip_tags=None, check=False, quiet=True):
    """Run a job template's playbook through ``ansible_runner.run()`` and return the runner.

    name: AWX name or file name of a template in awx/job_templates.
    inventory: inventory path (absolute, or relative to the repository root), e.g. "inventories/lab".
    extravars_override: launch answers; they go over the survey defaults, as in AWX.
    private_data_dir: ansible-runner's artifacts directory (a new temporary one when None).
    envvars: extra environment for ansible-playbook (ANSIBLE_CONFIG points at the project's ansible.cfg).
    The result has ``status`` ("successful" or "failed"), ``rc``, ``stats`` (per-host ok/changed/failures...)
    and ``stdout``.
    """
    template = load_job_template(name)
    extravars = launch_extravars(template, extravars_override)
    if private_data_dir is None:
        private_data_dir = tempfile.mkdtemp(prefix="kiln-awx-runner-")
    os.makedirs(private_data_dir, exist_ok=True)
    environment = {
        "ANSIBLE_CONFIG": os.path.join(REPO_ROOT, "ansible.cfg"),
        # The ansible-playbook of the Python running this (the project's .venv), as the EE has its own.
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    environment.update(envvars or {})
    options = dict(
        private_data_dir=private_data_dir,
        project_dir=REPO_ROOT,
        playbook=template["playbook"],
        inventory=os.path.join(REPO_ROOT, inventory),
        extravars=extravars,
        envvars=environment,
        limit=limit or template.get("limit") or None,
        tags=tags or template.get("job_tags") or None,
        skip_tags=skip_tags or template.get("skip_tags") or None,
        verbosity=template.get("verbosity") or None,
        cmdline=_cmdline(template, check) or None,
        quiet=quiet,
    )
    return ansible_runner.run(**dict((key, value) for key, value in options.items() if value is not None))
