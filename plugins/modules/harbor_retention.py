#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: harbor_retention
short_description: Keep the tag retention policy of a Harbor project
description:
  - Reads the retention policy bound to project O(project) (its C(retention_id) metadata) and creates one, or
    replaces it when the algorithm, schedule or rules differ (ids and priorities Harbor assigns are ignored).
  - Rules use a short form; each becomes one Harbor rule with a doublestar repository and tag selector.
author:
  - Kiln maintainers
extends_documentation_fragment: [kiln.cluster.harbor]
options:
  project:
    description: Project name; it must exist (M(kiln.cluster.harbor_project)).
    type: str
    required: true
  schedule:
    description: When Harbor runs the policy, as its 6-field cron (seconds first), for example V(0 0 3 * * *); empty for manual runs only.
    type: str
    default: ""
  algorithm:
    description: How rules combine; Harbor supports only V(or) (an artifact is kept when any rule keeps it).
    type: str
    default: or
    choices: [or]
  rules:
    description: Retention rules, at most 15 (Harbor's limit).
    type: list
    elements: dict
    required: true
    suboptions:
      template:
        description: Harbor's rule template.
        type: str
        required: true
        choices: [latestPushedK, latestPulledN, nDaysSinceLastPush, nDaysSinceLastPull, always]
      count:
        description: The template's number (artifacts or days); not used by V(always).
        type: int
      action:
        description: Rule action.
        type: str
        default: retain
      repositories:
        description: Doublestar pattern of repositories the rule applies to.
        type: str
        default: "**"
      repository_decoration:
        description: Whether the pattern includes or excludes.
        type: str
        default: repoMatches
        choices: [repoMatches, repoExcludes]
      tags:
        description: Doublestar pattern of tags.
        type: str
        default: "**"
      tag_decoration:
        description: Whether the tag pattern includes or excludes.
        type: str
        default: matches
        choices: [matches, excludes]
      untagged:
        description: The rule also covers untagged artifacts.
        type: bool
        default: true
      disabled:
        description: Keep the rule but do not apply it.
        type: bool
        default: false
attributes:
  check_mode:
    support: full
    details: Reads and compares; sends no request that changes anything.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Keep the 10 most recently pushed artifacts per repository, nightly
  kiln.cluster.harbor_retention:
    url: https://harbor.example.internal
    password: "{{ harbor_admin_password }}"
    project: kiln
    schedule: "0 0 3 * * *"
    rules:
      - {template: latestPushedK, count: 10}
"""

RETURN = r"""
retention_id: {description: Id of the project's retention policy (none in check mode when new)., returned: success, type: int}
created: {description: A policy was (or would be) created rather than updated., returned: success, type: bool}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.harbor import (
    RETENTION_TEMPLATES,
    HarborClient,
    HarborError,
    ensure_retention,
    harbor_argument_spec,
    scrub,
)


def main():
    module = AnsibleModule(
        argument_spec=harbor_argument_spec(
            project=dict(type="str", required=True),
            schedule=dict(type="str", default=""),
            algorithm=dict(type="str", default="or", choices=["or"]),
            rules=dict(type="list", elements="dict", required=True, options=dict(
                template=dict(type="str", required=True, choices=RETENTION_TEMPLATES),
                count=dict(type="int"),
                action=dict(type="str", default="retain"),
                repositories=dict(type="str", default="**"),
                repository_decoration=dict(type="str", default="repoMatches", choices=["repoMatches", "repoExcludes"]),
                tags=dict(type="str", default="**"),
                tag_decoration=dict(type="str", default="matches", choices=["matches", "excludes"]),
                untagged=dict(type="bool", default=True),
                disabled=dict(type="bool", default=False),
            )),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not 1 <= len(p["rules"]) <= 15:
        module.fail_json(msg="rules: Harbor takes 1 to 15 retention rules per project, got %d" % len(p["rules"]))
    for index, rule in enumerate(p["rules"]):
        if rule["template"] != "always" and (rule["count"] is None or rule["count"] < 0):
            module.fail_json(msg="rules[%d]: template %s needs count, a number of artifacts or days (0 or more)"
                             % (index, rule["template"]))
    if p["schedule"] and len(p["schedule"].split()) != 6:
        module.fail_json(msg="schedule %r: Harbor takes a 6-field cron with seconds first, e.g. '0 0 3 * * *'"
                         % p["schedule"])
    try:
        changed, result = ensure_retention(HarborClient.from_params(p), p["project"], p["rules"],
                                           schedule=p["schedule"], algorithm=p["algorithm"],
                                           check_mode=module.check_mode)
    except HarborError as exc:
        module.fail_json(msg=scrub(exc, [p["password"]]), project=p["project"])
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
