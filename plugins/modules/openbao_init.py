#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openbao_init
short_description: Initialise an OpenBao server once, optionally with PGP-encrypted key shares
description:
  - Initialises an OpenBao server (C(sys/init)) only when it is not initialised yet, splitting the root key into
    O(secret_shares) Shamir key shares of which O(secret_threshold) unseal it.
  - When this run initialises the server, the result holds the key shares and the root token. They are secrets
    and appear in the task's result only; run the task with C(no_log) and store them at once. With O(pgp_keys) and
    O(root_token_pgp_key) they come back encrypted to those PGP keys instead, so the controller never holds them
    in the clear.
  - When the server is already initialised it reports C(changed=false) and returns no keys.
  - No message the module writes ever holds a key share or the root token.
  - A failed initialisation can leave raft storage bootstrapped but unusable (the server then refuses another
    init); start that node again from empty storage.
author:
  - Kiln maintainers
options:
  secret_shares:
    description: Key shares to split the root key into.
    type: int
    default: 5
  secret_threshold:
    description: Key shares needed to unseal; at most O(secret_shares).
    type: int
    default: 3
  pgp_keys:
    description:
      - One base64-encoded PGP public key (binary export, as C(gpg --export KEYID | base64 -w0) prints it) per key
        share, in order; share I(n) comes back encrypted to key I(n). The keys need an encryption subkey.
    type: list
    elements: str
  root_token_pgp_key:
    description: A base64-encoded PGP public key to encrypt the root token to.
    type: str
extends_documentation_fragment:
  - kiln.cluster.openbao
attributes:
  check_mode:
    support: full
    details: Reports whether it would initialise the server, and does not.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Initialise OpenBao, shares encrypted to the operators' PGP keys
  kiln.cluster.openbao_init:
    url: https://10.0.0.11:8200
    ca_cert: /etc/openbao/tls/ca.crt
    secret_shares: 3
    secret_threshold: 2
    pgp_keys: "{{ openbao_operator_pgp_keys }}"
    root_token_pgp_key: "{{ openbao_operator_pgp_keys[0] }}"
  register: openbao_init
  no_log: true
"""

RETURN = r"""
initialized:
  description: Whether the server is initialised now (false only in check mode on an uninitialised server).
  returned: success
  type: bool
keys:
  description:
    - SECRET (use C(no_log)). The key shares, hex-encoded; with O(pgp_keys), each is the hex of a PGP message
      encrypted to the matching key.
    - Only when this run initialised the server.
  returned: changed and not check mode
  type: list
  elements: str
keys_base64:
  description:
    - SECRET (use C(no_log)). The same key shares, base64-encoded; with O(pgp_keys), each decodes to a binary PGP
      message (C(base64 -d | gpg --decrypt) gives the share to unseal with).
  returned: changed and not check mode
  type: list
  elements: str
root_token:
  description:
    - SECRET (use C(no_log)). The root token; with O(root_token_pgp_key), a base64-encoded PGP message.
  returned: changed and not check mode
  type: str
secret_shares: {description: Key shares made., returned: changed and not check mode, type: int}
secret_threshold: {description: Key shares needed to unseal., returned: changed and not check mode, type: int}
pgp_encrypted: {description: Whether the key shares are PGP-encrypted., returned: changed and not check mode, type: bool}
root_token_pgp_encrypted:
  description: Whether the root token is PGP-encrypted.
  returned: changed and not check mode
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.openbao import (
    OpenBaoError,
    initialize,
    make_client,
    openbao_argument_spec,
    require_hvac,
)


def main():
    module = AnsibleModule(
        argument_spec=openbao_argument_spec(
            secret_shares=dict(type="int", default=5, no_log=False),
            secret_threshold=dict(type="int", default=3, no_log=False),
            pgp_keys=dict(type="list", elements="str", no_log=False),
            root_token_pgp_key=dict(type="str", no_log=False),
        ),
        supports_check_mode=True,
    )
    require_hvac(module)
    p = module.params
    try:
        changed, result = initialize(make_client(p), p["secret_shares"], p["secret_threshold"],
                                     pgp_keys=p["pgp_keys"], root_token_pgp_key=p["root_token_pgp_key"],
                                     check_mode=module.check_mode)
    except OpenBaoError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
