#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openbao_auth_role
short_description: Write or delete a role of an OpenBao auth method, such as a kubernetes auth role
description:
  - Reads the role C(auth/<mount>/role/<name>), compares every key of O(settings) with what reads back, and writes
    the role (with every key of O(settings)) only when one differs or the role does not exist. Works for the auth
    methods whose roles live at C(auth/<mount>/role/<name>) - kubernetes, approle, jwt/oidc, cert.
  - Keys not in O(settings) are not compared and are left as the server has them (plugins such as kubernetes keep
    unspecified fields when a role is updated).
  - Type rules - a setting read back in seconds equals a duration such as V(1h) or V(90m) (so C(token_ttl=1h) is
    idempotent); a list read back equals a list or comma-separated string with the same items, in any order;
    booleans accept V(true)/V(yes)/V(1) and the like; a null read back equals an empty value.
  - A key the role does not read back (a deprecated alias such as C(policies), a write-only field) cannot be
    compared; it is listed in RV(not_compared), a warning names it, and it is sent only when the role is written
    for another reason.
author:
  - Kiln maintainers
options:
  mount:
    description: The auth method's mount path, without C(auth/), for example V(kubernetes).
    type: str
    required: true
  name:
    description: The role's name.
    type: str
    required: true
  settings:
    description:
      - The role's settings as the auth method's API names them, for example for kubernetes
        C(bound_service_account_names), C(bound_service_account_namespaces), C(token_policies), C(token_ttl),
        C(audience).
    type: dict
    default: {}
  state:
    description: V(present) writes the role; V(absent) deletes it.
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
    details: The role as read back before, and with the differing settings after.
"""

EXAMPLES = r"""
- name: The GPU operator's service account may read its secrets
  kiln.cluster.openbao_auth_role:
    url: https://10.0.0.11:8200
    token: "{{ openbao_token }}"
    ca_cert: /etc/openbao/tls/ca.crt
    mount: kubernetes
    name: gpu-operator
    settings:
      bound_service_account_names: [gpu-operator]
      bound_service_account_namespaces: [gpu-operator]
      token_policies: [gpu-operator]
      token_ttl: 1h

- name: Remove a role
  kiln.cluster.openbao_auth_role:
    url: https://10.0.0.11:8200
    token: "{{ openbao_token }}"
    mount: kubernetes
    name: old
    state: absent
"""

RETURN = r"""
path: {description: The role's API path., returned: success, type: str, sample: auth/kubernetes/role/gpu-operator}
changes:
  description: V(create), V(delete), or the keys of O(settings) that differ from what reads back.
  returned: success
  type: list
  elements: str
  sample: [token_ttl]
not_compared:
  description: Keys of O(settings) the role does not read back, so not compared.
  returned: success
  type: list
  elements: str
diff:
  description: The role as read back before, and with the settings written after.
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.openbao import (
    OpenBaoError,
    ensure_auth_role,
    make_client,
    openbao_argument_spec,
    require_hvac,
)


def main():
    module = AnsibleModule(
        argument_spec=openbao_argument_spec(
            mount=dict(type="str", required=True),
            name=dict(type="str", required=True),
            settings=dict(type="dict", default={}),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    require_hvac(module)
    p = module.params
    try:
        changed, result = ensure_auth_role(make_client(p), p["mount"], p["name"], settings=p["settings"],
                                           state=p["state"], check_mode=module.check_mode)
    except OpenBaoError as exc:
        module.fail_json(msg=str(exc), name=p["name"])
    if result["not_compared"]:
        module.warn("%s does not read back %s: not compared, sent only when the role is written for another reason"
                    % (result["path"], ", ".join(result["not_compared"])))
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
