"""The comparison rules of module_utils/openbao.py that keep the openbao_* modules' `changed` honest: what the
server reads back (seconds, lists, bools, nulls) against what a playbook writes ("1h", comma strings, "yes")."""

import pytest

from ansible_collections.kiln.cluster.plugins.module_utils.openbao import (
    OPENBAO_CONNECTION_ARGS,
    compare,
    describe_error,
    is_binary_pgp_key,
    normalize_text,
    openbao_argument_spec,
    parse_duration,
    scrub,
    values_equal,
)


@pytest.mark.parametrize("text, seconds", [
    (3600, 3600), ("3600", 3600), ("0", 0), ("1h", 3600), ("90m", 5400), ("1h30m", 5400), ("1.5h", 5400),
    ("2d", 172800), ("768h", 2764800), ("45s", 45), ("1500ms", 1), ("-1h", -3600), (2.9, 2),
])
def test_durations_parse_as_openbao_does(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "h", "1h 30m", "1.5d", "soon", None, True, [1]])
def test_non_durations_are_none(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize("want, have", [
    ("1h", 3600), (3600, 3600), ("3600", 3600), ("60m", 3600), (0, 0), ("0s", 0),
    (["a", "b"], ["b", "a"]), ("a,b", ["a", "b"]), ("b, a", ["a", "b"]), (["a", "a", "b"], ["b", "a"]),
    (["a"], "a"), ([], None), ("", None), (None, []), ({}, None), ([], ""),
    (True, True), ("yes", True), ("false", False), (0, False), ("on", True),
    ("text", "text"), (2, "2"), ({"version": 2}, {"version": "2"}),
    ("-----BEGIN X-----\nabc\n-----END X-----", "-----BEGIN X-----\nabc  \n-----END X-----\n\n"),
])
def test_equal_values(want, have):
    assert values_equal(want, have)


@pytest.mark.parametrize("want, have", [
    ("2h", 3600), ("1h", 0), ("1h", "1h0m"), (["a"], ["a", "b"]), ("a,b", ["a"]), ([], ["a"]), ("x", None),
    (True, False), ("maybe", True), ("text", "Text"), ({"version": 2}, {"version": "1"}),
    ({"version": 2}, {"version": "2", "other": "x"}), ("a\nb", "a\nc"), ("not-a-duration", 5),
])
def test_different_values(want, have):
    assert not values_equal(want, have)


def test_compare_names_differing_and_unreadable_keys_and_skips_unmanaged():
    want = {"token_ttl": "1h", "token_max_ttl": "2h", "token_reviewer_jwt": "x", "unmanaged": None}
    have = {"token_ttl": 3600, "token_max_ttl": 3600, "token_policies": []}
    assert compare(want, have) == (["token_max_ttl"], ["token_reviewer_jwt"])


def test_text_normalisation_drops_only_trailing_whitespace():
    assert normalize_text("a  \n  b\t\n\n\n") == "a\n  b"
    assert normalize_text("\na") == "\na"


def test_secrets_are_masked_in_messages():
    assert scrub("key abcdef and abc", ["abc", "abcdef", ""]) == "key ******** and ********"

    class Failure(Exception):
        pass

    assert describe_error(Failure("token s.secret refused"), ["s.secret"]) == "Failure: token ******** refused"


def test_connection_options_are_shared_and_the_token_is_no_log():
    spec = openbao_argument_spec(path=dict(type="str"))
    assert set(spec) == set(OPENBAO_CONNECTION_ARGS) | {"path"}
    assert spec["token"]["no_log"] is True
    spec["url"]["required"] = False
    assert OPENBAO_CONNECTION_ARGS["url"]["required"] is True, "the shared fragment must not be mutated"


def test_pgp_keys_must_be_base64_of_binary_openpgp():
    assert is_binary_pgp_key("mQENBGsEXTQBCAC4QKB7kcJGNqRwjN/JnfXhEUlzhy/f")
    assert not is_binary_pgp_key("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert not is_binary_pgp_key("LS0tLS1CRUdJTiBQR1AgUFVCTElD")  # base64 of armored text
    assert not is_binary_pgp_key("not base64!")
