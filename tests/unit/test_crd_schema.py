"""The offline CRD validator the platform render tests rely on: it accepts what the API server accepts and
refuses what it refuses (unknown fields, wrong types, missing required fields, wrong scope)."""

import pytest

from crd_schema import shared_catalog


@pytest.fixture(scope="module")
def catalog():
    return shared_catalog()


def test_every_fixture_crd_is_loaded(catalog):
    kinds = set(kind for _, kind in catalog.validators)
    assert {"Application", "AppProject", "PeerAuthentication", "AuthorizationPolicy", "Schedule",
            "BackupStorageLocation", "ServingRuntime", "InferenceService", "ServiceMonitor", "PrometheusRule",
            "ClusterPolicy"} <= kinds


PEER_AUTHENTICATION = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                       "metadata": {"name": "default", "namespace": "istio-system"},
                       "spec": {"mtls": {"mode": "STRICT"}}}


def test_a_valid_resource_has_no_errors(catalog):
    assert catalog.errors(PEER_AUTHENTICATION) == []


@pytest.mark.parametrize("change,expected", [
    ({"spec": {"mtls": {"mode": "STRICTEST"}}}, "spec/mtls/mode: 'STRICTEST' is not one of"),
    ({"spec": {"mtls": {"mode": "STRICT"}, "mtsl": {}}}, "spec: Additional properties are not allowed ('mtsl'"),
    ({"metadata": {"name": "default"}}, "a Namespaced resource needs metadata.namespace"),
    ({"metadata": {"name": "Default", "namespace": "istio-system"}}, "metadata/name: 'Default' does not match"),
    ({"apiVersion": "security.istio.io/v9"}, "no CRD serves security.istio.io/v9 PeerAuthentication"),
])
def test_what_the_api_server_refuses_is_refused(catalog, change, expected):
    document = dict(PEER_AUTHENTICATION, **change)
    errors = catalog.errors(document)
    assert any(expected in error for error in errors), errors
