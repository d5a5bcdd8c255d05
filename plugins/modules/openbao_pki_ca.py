#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openbao_pki_ca
short_description: Give an OpenBao PKI engine its CA once - a root, or an intermediate signed by a root
description:
  - Reads the CA of the PKI engine at O(mount) (C(<mount>/cert/ca)); an engine that has one is left alone, so the
    module never replaces a CA.
  - O(kind=root) generates a root CA inside OpenBao (its key never leaves it).
  - O(kind=intermediate) generates the intermediate's key inside OpenBao and has it signed by the root engine at
    O(issuer_mount) (an internal root). Without O(issuer_mount) (an offline root) it returns the CSR as RV(csr);
    the operator signs it with the offline root and reruns with O(signed_certificate).
author:
  - Kiln maintainers
options:
  mount:
    description: Path of the PKI engine (mount it first with M(kiln.cluster.openbao_mount)).
    type: str
    required: true
  kind:
    description: V(root) or V(intermediate).
    type: str
    choices: [root, intermediate]
    required: true
  common_name:
    description: The CA's common name.
    type: str
    required: true
  ttl:
    description: The CA certificate's lifetime, for example V(87600h); at most the engine's max_lease_ttl.
    type: str
    default: 43800h
  key_type:
    description: Key type.
    type: str
    choices: [ec, rsa, ed25519]
    default: ec
  key_bits:
    description: Key size (384 or 256 for V(ec), 2048+ for V(rsa)).
    type: int
    default: 384
  issuer_mount:
    description: The root PKI engine that signs an intermediate (internal root).
    type: str
  signed_certificate:
    description: For an offline root, the intermediate certificate (PEM, with its chain) signed from RV(csr).
    type: str
extends_documentation_fragment:
  - kiln.cluster.openbao
attributes:
  check_mode:
    support: full
    details: Reads whether the engine has a CA and reports what would be generated; generates nothing.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Internal root
  kiln.cluster.openbao_pki_ca:
    url: https://10.0.0.11:8200
    token: "{{ openbao_token }}"
    mount: pki
    kind: root
    common_name: Kiln root CA
    ttl: 87600h

- name: Intermediate for the cluster, signed by that root
  kiln.cluster.openbao_pki_ca:
    url: https://10.0.0.11:8200
    token: "{{ openbao_token }}"
    mount: pki_int
    kind: intermediate
    common_name: Kiln cluster intermediate CA
    issuer_mount: pki
"""

RETURN = r"""
certificate: {description: The engine's CA certificate (PEM; empty while an offline signature is awaited)., returned: success, type: str}
csr: {description: The intermediate's CSR for an offline root to sign (empty otherwise)., returned: success, type: str}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.openbao import (
    OpenBaoError,
    ensure_pki_ca,
    make_client,
    openbao_argument_spec,
    require_hvac,
)


def main():
    module = AnsibleModule(
        argument_spec=openbao_argument_spec(
            mount=dict(type="str", required=True),
            kind=dict(type="str", choices=["root", "intermediate"], required=True),
            common_name=dict(type="str", required=True),
            ttl=dict(type="str", default="43800h"),
            key_type=dict(type="str", choices=["ec", "rsa", "ed25519"], default="ec"),
            key_bits=dict(type="int", default=384),
            issuer_mount=dict(type="str"),
            signed_certificate=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    require_hvac(module)
    p = module.params
    try:
        changed, result = ensure_pki_ca(make_client(p), p["mount"], p["kind"], p["common_name"], p["ttl"],
                                        key_type=p["key_type"], key_bits=p["key_bits"], issuer_mount=p["issuer_mount"],
                                        signed_certificate=p["signed_certificate"], check_mode=module.check_mode)
    except (OpenBaoError, KeyError) as exc:
        module.fail_json(msg="PKI CA of %s: %s" % (p["mount"], exc))
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
