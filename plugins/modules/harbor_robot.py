#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: harbor_robot
short_description: Keep a Harbor system robot account
description:
  - Reads the system robot account O(name) (Harbor stores it as C(robot$<name>)) and creates it, or updates its
    description, duration, disabled state and permissions when they differ.
  - Harbor shows a robot's secret only once, in the creation response (or after a refresh). The module returns it
    then as RV(secret); a task calling this module must set C(no_log) and store the secret (for example in OpenBao
    with M(kiln.cluster.openbao_kv_secret)) in the same run.
  - When the stored copy is lost, O(refresh_secret=true) makes Harbor generate a new secret, returned the same way.
author:
  - Kiln maintainers
extends_documentation_fragment: [kiln.cluster.harbor]
options:
  name:
    description: Robot name without Harbor's prefix.
    type: str
    required: true
  description:
    description: Description shown in Harbor.
    type: str
    default: ""
  duration:
    description: Lifetime in days; V(-1) never expires.
    type: int
    default: -1
  disable:
    description: Keep the account disabled.
    type: bool
    default: false
  permissions:
    description: What the robot may do, per project (V(*) for every project).
    type: list
    elements: dict
    required: true
    suboptions:
      kind:
        description: Permission scope.
        type: str
        default: project
      namespace:
        description: Project name, or V(*) for all projects.
        type: str
        required: true
      access:
        description: "Resource and action pairs, for example C({resource: repository, action: pull})."
        type: list
        elements: dict
        required: true
  refresh_secret:
    description: Have Harbor generate a new secret for an existing robot (changed every time it is true).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reads and compares; sends no request that changes anything and returns no secret.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Pull-only robot for the nodes' containerd
  kiln.cluster.harbor_robot:
    url: https://harbor.example.internal
    password: "{{ harbor_admin_password }}"
    name: kiln-nodes
    permissions:
      - namespace: "*"
        access:
          - {resource: repository, action: pull}
  register: robot
  no_log: true
"""

RETURN = r"""
id: {description: The robot's id (none in check mode for a new robot)., returned: success, type: int}
full_name: {description: The name Harbor gives the robot (C(robot$<name>)), the user name for logins., returned: success, type: str}
created: {description: The robot was (or would be) created., returned: success, type: bool}
secret_refreshed: {description: The secret was (or would be) regenerated., returned: success, type: bool}
fields_changed: {description: Fields that were (or would be) updated., returned: success, type: list, elements: str}
secret:
  description:
    - SECRET. The robot's secret, only when Harbor created the robot or refreshed its secret (never in check mode).
    - The calling task must use C(no_log) and keep it only in a secret store.
  returned: when created or refreshed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.harbor import (
    HarborClient,
    HarborError,
    ensure_robot,
    harbor_argument_spec,
    scrub,
)


def main():
    module = AnsibleModule(
        argument_spec=harbor_argument_spec(
            name=dict(type="str", required=True),
            description=dict(type="str", default=""),
            duration=dict(type="int", default=-1),
            disable=dict(type="bool", default=False),
            permissions=dict(type="list", elements="dict", required=True, options=dict(
                kind=dict(type="str", default="project"),
                namespace=dict(type="str", required=True),
                access=dict(type="list", elements="dict", required=True),
            )),
            refresh_secret=dict(type="bool", default=False, no_log=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for perm in p["permissions"]:
        for access in perm["access"]:
            if not access.get("resource") or not access.get("action"):
                module.fail_json(msg="permissions: every access item needs resource and action, got %r in namespace %s"
                                 % (access, perm["namespace"]))
    try:
        changed, result = ensure_robot(HarborClient.from_params(p), p["name"], p["permissions"],
                                       description=p["description"], duration=p["duration"], disable=p["disable"],
                                       refresh_secret=p["refresh_secret"], check_mode=module.check_mode)
    except HarborError as exc:
        module.fail_json(msg=scrub(exc, [p["password"]]), name=p["name"])
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
