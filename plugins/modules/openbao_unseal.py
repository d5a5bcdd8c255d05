#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openbao_unseal
short_description: Unseal an OpenBao server with Shamir key shares
description:
  - Submits O(keys) to C(sys/unseal) one at a time until the server is unsealed, and reports how many it used.
  - A server that is already unsealed is left alone (C(changed=false)).
  - Fails when the server refuses a key (naming its position in O(keys), never the key) or is still sealed after
    every key given. The keys are never returned nor written in a message.
  - An unsealed raft node becomes active once it wins (or finds) a leader; read that with M(kiln.cluster.openbao_status).
author:
  - Kiln maintainers
options:
  keys:
    description: Unseal key shares (hex or base64, as M(kiln.cluster.openbao_init) returns them, decrypted). Never logged.
    type: list
    elements: str
    required: true
  reset:
    description: Discard the key shares a previous, unfinished unseal submitted before submitting O(keys).
    type: bool
    default: false
  raft_join:
    description:
      - The server is a new raft node with C(retry_join) in its configuration. Such a node reports itself
        uninitialised until it has joined; the cluster's unseal keys let it join. Give exactly the threshold of
        keys, then the module waits (up to O(join_timeout)) until the node is unsealed.
    type: bool
    default: false
  join_timeout:
    description: Seconds to wait for a joining raft node to come up unsealed.
    type: int
    default: 60
extends_documentation_fragment:
  - kiln.cluster.openbao
attributes:
  check_mode:
    support: full
    details: Reports whether the server is sealed (would change) and submits nothing.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Unseal OpenBao
  kiln.cluster.openbao_unseal:
    url: https://10.0.0.11:8200
    ca_cert: /etc/openbao/tls/ca.crt
    keys: "{{ openbao_unseal_keys }}"
  no_log: true
"""

RETURN = r"""
keys_used: {description: Keys submitted by this run (0 when the server was already unsealed)., returned: success, type: int, sample: 3}
threshold: {description: Keys needed to unseal., returned: success, type: int, sample: 3}
progress: {description: Keys submitted so far towards the unseal (0 once unsealed)., returned: success, type: int, sample: 0}
sealed: {description: Whether the server is still sealed (true only in check mode)., returned: success, type: bool}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.openbao import (
    OpenBaoError,
    make_client,
    openbao_argument_spec,
    require_hvac,
    scrub,
    unseal,
)


def main():
    module = AnsibleModule(
        argument_spec=openbao_argument_spec(
            keys=dict(type="list", elements="str", required=True, no_log=True),
            reset=dict(type="bool", default=False),
            raft_join=dict(type="bool", default=False),
            join_timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    require_hvac(module)
    p = module.params
    try:
        changed, result = unseal(make_client(p), p["keys"], reset=p["reset"], check_mode=module.check_mode,
                                 raft_join=p["raft_join"], join_timeout=p["join_timeout"])
    except OpenBaoError as exc:
        module.fail_json(msg=scrub(exc, p["keys"]))
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
