#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openbao_policy
short_description: Write or delete an OpenBao ACL policy
description:
  - Reads the ACL policy O(name) (C(sys/policies/acl/<name>)) and writes O(policy) only when its text differs.
    The texts are compared after dropping trailing whitespace on each line and trailing blank lines, so a
    template's final newline never makes a change.
  - O(state=absent) deletes the policy when it exists.
  - OpenBao stores policy names in lower case; RV(name) is the stored name.
author:
  - Kiln maintainers
options:
  name:
    description: The policy's name.
    type: str
    required: true
  policy:
    description: The policy in HCL. Required with O(state=present).
    type: str
  state:
    description: V(present) writes the policy; V(absent) deletes it. The C(root) and C(default) policies cannot be deleted.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - kiln.cluster.openbao
attributes:
  check_mode:
    support: full
    details: Reads, compares and reports what would change; writes nothing.
  diff_mode:
    support: full
    details: The policy text before and after.
"""

EXAMPLES = r"""
- name: Policy for the GPU operator's secrets
  kiln.cluster.openbao_policy:
    url: https://10.0.0.11:8200
    token: "{{ openbao_token }}"
    ca_cert: /etc/openbao/tls/ca.crt
    name: gpu-operator
    policy: |
      path "kiln/data/gpu-operator/*" {
        capabilities = ["read"]
      }

- name: Policy from a template
  kiln.cluster.openbao_policy:
    url: https://10.0.0.11:8200
    token: "{{ openbao_token }}"
    name: platform
    policy: "{{ lookup('ansible.builtin.template', 'platform.hcl.j2') }}"
"""

RETURN = r"""
name: {description: The policy's name as the server stores it (lower case)., returned: success, type: str, sample: gpu-operator}
diff:
  description: The policy text before and after (empty when there is none).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.openbao import (
    OpenBaoError,
    ensure_policy,
    make_client,
    openbao_argument_spec,
    require_hvac,
)


def main():
    module = AnsibleModule(
        argument_spec=openbao_argument_spec(
            name=dict(type="str", required=True),
            policy=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_if=[("state", "present", ["policy"])],
        supports_check_mode=True,
    )
    require_hvac(module)
    p = module.params
    try:
        changed, result = ensure_policy(make_client(p), p["name"], policy=p["policy"], state=p["state"],
                                        check_mode=module.check_mode)
    except OpenBaoError as exc:
        module.fail_json(msg=str(exc), name=p["name"])
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
