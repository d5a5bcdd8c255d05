# -*- coding: utf-8 -*-
"""The connection options every kiln.cluster.openbao_* module shares (module_utils/openbao.py,
OPENBAO_CONNECTION_ARGS)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Address of the OpenBao server, for example V(https://10.0.0.11:8200).
      - Falls back to the E(BAO_ADDR) or E(VAULT_ADDR) environment variable.
    type: str
    required: true
  token:
    description:
      - Token to authenticate with; never logged. Falls back to E(BAO_TOKEN) or E(VAULT_TOKEN).
      - Not needed by M(kiln.cluster.openbao_status), M(kiln.cluster.openbao_init) and M(kiln.cluster.openbao_unseal).
    type: str
  ca_cert:
    description:
      - PEM file of the CA that signed the server's certificate. Falls back to E(BAO_CACERT) or E(VAULT_CACERT).
    type: path
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each HTTP request.
    type: int
    default: 30
requirements:
  - hvac (pinned in requirements.txt)
"""
