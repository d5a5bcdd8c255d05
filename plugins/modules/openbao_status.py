#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openbao_status
short_description: Read an OpenBao server's initialisation, seal and HA/raft leader status
description:
  - Reads C(sys/seal-status) and, once the server is unsealed, C(sys/leader) of an OpenBao server (the open-source
    Vault fork; Vault's HTTP API) with the C(hvac) library.
  - Read-only, so it never reports a change. Needs no token.
  - Part of Kiln's OpenBao modules (M(kiln.cluster.openbao_init), M(kiln.cluster.openbao_unseal),
    M(kiln.cluster.openbao_mount), M(kiln.cluster.openbao_auth_method), M(kiln.cluster.openbao_policy),
    M(kiln.cluster.openbao_auth_role)); they share the connection options O(url), O(token), O(ca_cert),
    O(validate_certs) and O(timeout).
author:
  - Kiln maintainers
options: {}
extends_documentation_fragment:
  - kiln.cluster.openbao
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Read OpenBao's status
  kiln.cluster.openbao_status:
    url: https://10.0.0.11:8200
    ca_cert: /etc/openbao/tls/ca.crt
  register: openbao

- name: Initialise when needed
  kiln.cluster.openbao_init:
    url: https://10.0.0.11:8200
    ca_cert: /etc/openbao/tls/ca.crt
  when: not openbao.initialized
  no_log: true
"""

RETURN = r"""
initialized: {description: Whether the server is initialised., returned: success, type: bool}
sealed: {description: Whether the server is sealed., returned: success, type: bool}
threshold: {description: Key shares needed to unseal (0 before initialisation)., returned: success, type: int, sample: 3}
shares: {description: Key shares made at initialisation (0 before)., returned: success, type: int, sample: 5}
progress: {description: Key shares submitted so far towards an unseal., returned: success, type: int, sample: 0}
seal_type: {description: The seal, for example V(shamir)., returned: success, type: str}
storage_type: {description: The storage backend, for example V(raft)., returned: success, type: str}
version: {description: The server's version., returned: success, type: str, sample: 2.7.2}
cluster_name: {description: The cluster's name, once unsealed., returned: success, type: str}
cluster_id: {description: The cluster's id, once unsealed., returned: success, type: str}
ha:
  description:
    - HA and raft leadership from C(sys/leader), once the server is unsealed; null while it is sealed or when
      the server does not say.
  returned: success
  type: dict
  contains:
    ha_enabled: {description: Whether the storage backend supports HA (raft does)., type: bool}
    is_self: {description: Whether this server is the active node (the raft leader)., type: bool}
    leader_address: {description: The active node's API address., type: str}
    leader_cluster_address: {description: The active node's cluster address., type: str}
    raft_committed_index: {description: Raft's committed index (raft storage only)., type: int}
    raft_applied_index: {description: Raft's applied index (raft storage only)., type: int}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.openbao import (
    OpenBaoError,
    make_client,
    openbao_argument_spec,
    read_status,
    require_hvac,
)


def main():
    module = AnsibleModule(argument_spec=openbao_argument_spec(), supports_check_mode=True)
    require_hvac(module)
    try:
        status = read_status(make_client(module.params))
    except OpenBaoError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **status)


if __name__ == "__main__":
    main()
