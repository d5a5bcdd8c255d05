#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Kiln maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: openbao_token_revoked
short_description: Revoke a token (e.g. the root token after setup)
description:
  - Revokes the token given in O(token) (C(auth/token/revoke-self)). A token the server no longer knows counts
    as revoked, so a rerun changes nothing.
  - Kiln revokes the root token once its own AppRole works, when the inventory asks
    (C(kiln_openbao_revoke_root_token)); C(bao operator generate-root) makes a new one from the unseal keys.
version_added: "0.1.0"
author: Kiln maintainers
extends_documentation_fragment: [kiln.cluster.openbao]
attributes:
  check_mode: {support: full}
"""

EXAMPLES = r"""
- name: Revoke the root token
  kiln.cluster.openbao_token_revoked:
    url: https://10.0.0.11:8200
    ca_cert: /etc/kiln/openbao-ca.crt
    token: "{{ root_token }}"
  no_log: true
"""

RETURN = r"""
revoked: {description: Always true on success., returned: success, type: bool}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kiln.cluster.plugins.module_utils.openbao import (
    OpenBaoError,
    ensure_token_revoked,
    make_client,
    openbao_argument_spec,
    require_hvac,
)


def main():
    module = AnsibleModule(argument_spec=openbao_argument_spec(), supports_check_mode=True)
    require_hvac(module)
    try:
        changed, result = ensure_token_revoked(make_client(module.params), check_mode=module.check_mode)
    except OpenBaoError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
