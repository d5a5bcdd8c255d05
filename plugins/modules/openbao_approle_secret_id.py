#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Kiln maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: openbao_approle_secret_id
short_description: Keep working AppRole credentials for a role and log in with them
description:
  - Reads the role id of C(auth/<mount>/role/<role>). Credentials given in O(current) are kept while they still
    log in; otherwise a new secret id is made, which is the only change this module makes.
  - Returns the credentials and a token from logging in with them. Both are secrets - register the result
    with C(no_log).
  - Kiln uses it for its own AppRole, so that later runs work after the root token is revoked.
version_added: "0.1.0"
author: Kiln maintainers
extends_documentation_fragment: [kiln.cluster.openbao]
options:
  mount:
    description: Mount path of the AppRole auth method.
    type: str
    default: approle
  role:
    description: The AppRole role's name.
    type: str
    required: true
  current:
    description: Credentials kept from an earlier run (C(role_id), C(secret_id)).
    type: dict
attributes:
  check_mode: {support: full}
"""

EXAMPLES = r"""
- name: Keep Kiln's AppRole credentials
  kiln.cluster.openbao_approle_secret_id:
    url: https://10.0.0.11:8200
    ca_cert: /etc/kiln/openbao-ca.crt
    token: "{{ admin_token }}"
    role: kiln
    current: "{{ kept_credentials | default({}) }}"
  register: approle
  no_log: true
"""

RETURN = r"""
role_id: {description: The role id (masked when it is the one given in O(current))., returned: success, type: str}
secret_id: {description: The secret id that logs in (empty in check mode when a new one is needed; masked when it is the one given in O(current))., returned: success, type: str}
token: {description: A client token from logging in (empty in check mode when a new secret id is needed)., returned: success, type: str}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.openbao import (
    OpenBaoError,
    ensure_approle_secret_id,
    make_client,
    openbao_argument_spec,
    require_hvac,
)


def main():
    module = AnsibleModule(
        argument_spec=openbao_argument_spec(
            mount=dict(type="str", default="approle"),
            role=dict(type="str", required=True),
            current=dict(type="dict", no_log=True),
        ),
        supports_check_mode=True,
    )
    require_hvac(module)
    p = module.params
    try:
        changed, result = ensure_approle_secret_id(make_client(p), p["mount"], p["role"], current=p["current"],
                                                   check_mode=module.check_mode)
    except OpenBaoError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
