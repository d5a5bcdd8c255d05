#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openbao_kv_secret
short_description: Keep a KV v2 secret's keys, generating credentials once
description:
  - Reads the KV v2 secret O(path) of the engine at O(mount) and writes a new version only when a key of O(data)
    differs or a key of O(generate) is missing.
  - A key of O(generate) gets a random value of letters and digits of the given length, once; an existing value is
    never replaced, so a credential Kiln generated stays what the component was configured with.
  - Other keys of the secret are kept. The write uses check-and-set on the version read, so a concurrent change is
    not overwritten silently.
  - No value is ever returned or put in a message; read secrets with the community.hashi_vault lookups.
author:
  - Kiln maintainers
options:
  mount:
    description: Path of the KV v2 engine.
    type: str
    required: true
  path:
    description: The secret's path inside the engine.
    type: str
    required: true
  data:
    description: Keys and values the secret must hold. Never logged.
    type: dict
  generate:
    description: "Keys to fill with a random value of the given length when missing, for example C({password: 32})."
    type: dict
extends_documentation_fragment:
  - kiln.cluster.openbao
attributes:
  check_mode:
    support: full
    details: Reads, compares and reports what would be written; writes nothing.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Harbor's admin password, made once
  kiln.cluster.openbao_kv_secret:
    url: https://10.0.0.11:8200
    token: "{{ openbao_token }}"
    ca_cert: inventories/site/openbao/ca.crt
    mount: kiln
    path: harbor/admin
    generate:
      password: 32
"""

RETURN = r"""
keys_written: {description: Keys of O(data) that were (or in check mode would be) written., returned: success, type: list, elements: str}
keys_generated: {description: Keys of O(generate) that were (or would be) generated., returned: success, type: list, elements: str}
keys: {description: Every key the secret holds afterwards (names only)., returned: success, type: list, elements: str}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.openbao import (
    OpenBaoError,
    ensure_kv_secret,
    make_client,
    openbao_argument_spec,
    require_hvac,
    scrub,
)


def main():
    module = AnsibleModule(
        argument_spec=openbao_argument_spec(
            mount=dict(type="str", required=True),
            path=dict(type="str", required=True),
            data=dict(type="dict", no_log=True),
            generate=dict(type="dict"),
        ),
        required_one_of=[("data", "generate")],
        supports_check_mode=True,
    )
    require_hvac(module)
    p = module.params
    try:
        changed, result = ensure_kv_secret(make_client(p), p["mount"], p["path"], data=p["data"],
                                           generate=p["generate"], check_mode=module.check_mode)
    except OpenBaoError as exc:
        module.fail_json(msg=scrub(exc, list((p["data"] or {}).values())), mount=p["mount"], path=p["path"])
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
