# -*- coding: utf-8 -*-
"""The connection options every kiln.cluster.harbor_* module shares (module_utils/harbor.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Harbor's external URL, for example V(https://harbor.example.internal). Falls back to E(HARBOR_URL).
    type: str
    required: true
  username:
    description: User to authenticate as (basic authentication). Falls back to E(HARBOR_USERNAME).
    type: str
    default: admin
  password:
    description: The user's password; never logged. Falls back to E(HARBOR_PASSWORD).
    type: str
    required: true
  ca_cert:
    description: PEM file of the CA that signed Harbor's certificate.
    type: path
  validate_certs:
    description: Verify Harbor's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each HTTP request.
    type: int
    default: 30
"""
