# -*- coding: utf-8 -*-
"""A small client layer over hvac for OpenBao (Vault-compatible HTTP API), shared by the openbao_* modules.

Every helper reads first, compares what it reads with what is wanted, and writes only the difference, so a
module's `changed` is honest and check mode (``check_mode=True``: compute, write nothing) is exact. Helpers
return plain dicts and raise OpenBaoError with a message that never holds a token, key share or root token.

Comparison rules (values_equal), used for mount tuning, auth method config and auth roles:
- a value the server reads back as a list equals a wanted list or comma-separated string with the same items,
  order and duplicates ignored (some plugins sort or de-duplicate lists, others keep them as written);
- a value read back as a number (durations are read back in seconds) equals a wanted number, a string of
  digits or a duration such as "1h", "90m", "1h30m", "2d" (days as OpenBao parses them);
- a value read back as a bool equals a wanted bool or a truthy/falsy string ("true", "no", ...);
- a value read back as null or missing-but-empty equals a wanted null, "", [] or {};
- multi-line strings (certificates, policies) are compared after dropping trailing whitespace on each line
  and trailing blank lines; other strings compare exactly;
- dicts compare key by key with the same rules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import re
import time
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible.module_utils.parsing.convert_bool import boolean

try:
    import hvac
    from hvac import exceptions as hvac_exceptions
except ImportError:
    HAS_HVAC = False
    HVAC_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_HVAC = True
    HVAC_IMPORT_ERROR = None

# Connection options shared by every openbao_* module (merge into the module's argument_spec).
OPENBAO_CONNECTION_ARGS = dict(
    url=dict(type="str", required=True, fallback=(env_fallback, ["BAO_ADDR", "VAULT_ADDR"])),
    token=dict(type="str", no_log=True, fallback=(env_fallback, ["BAO_TOKEN", "VAULT_TOKEN"])),
    ca_cert=dict(type="path", fallback=(env_fallback, ["BAO_CACERT", "VAULT_CACERT"])),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=30),
)

MASK = "********"


def tune_argument_spec(auth=False):
    """Suboptions of the `tune` option of openbao_mount and openbao_auth_method (sys/mounts/<path>/tune,
    sys/auth/<path>/tune); unset ones are not managed."""
    spec = dict(
        default_lease_ttl=dict(type="raw"),
        max_lease_ttl=dict(type="raw"),
        listing_visibility=dict(type="str", choices=["", "hidden", "unauth"]),
        audit_non_hmac_request_keys=dict(type="list", elements="str", no_log=False),
        audit_non_hmac_response_keys=dict(type="list", elements="str", no_log=False),
        passthrough_request_headers=dict(type="list", elements="str"),
        allowed_response_headers=dict(type="list", elements="str"),
    )
    if auth:
        spec["token_type"] = dict(type="str", no_log=False,
                                  choices=["default-service", "default-batch", "service", "batch"])
    return spec


class OpenBaoError(Exception):
    """A failure to report as the module's msg; never carries a secret."""


def openbao_argument_spec(**module_args):
    """The shared connection options plus the module's own."""
    spec = dict((key, dict(value)) for key, value in OPENBAO_CONNECTION_ARGS.items())
    spec.update(module_args)
    return spec


def require_hvac(module):
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib("hvac"), exception=HVAC_IMPORT_ERROR)


def make_client(params):
    """An hvac.Client from the connection options."""
    verify = params.get("validate_certs", True)
    if verify and params.get("ca_cert"):
        verify = params["ca_cert"]
    # "" rather than None: hvac would otherwise read VAULT_TOKEN or ~/.vault-token behind the options' back.
    return hvac.Client(url=params["url"], token=params.get("token") or "", verify=verify,
                       timeout=params.get("timeout") or 30)


def scrub(text, secrets):
    """text with every secret replaced by a mask."""
    text = str(text)
    for secret in sorted((s for s in secrets or () if s), key=len, reverse=True):
        text = text.replace(str(secret), MASK)
    return text


def describe_error(exc, secrets=()):
    """One line for an hvac or connection error, with secrets masked."""
    if isinstance(exc, hvac_exceptions.VaultError):
        text = str(exc)
    else:
        text = "%s: %s" % (type(exc).__name__, exc)
    return scrub(" ".join(text.split()), secrets)


def _norm_path(path):
    return str(path or "").strip().strip("/")


# --- comparison -------------------------------------------------------------------------------------------

_INT = re.compile(r"^[+-]?\d+$")
_DAYS = re.compile(r"^(\d+)d$")
_GO_DURATION = re.compile(r"^([+-]?)((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)$")
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(value):
    """Seconds (int) for a duration as OpenBao parses one (an integer of seconds, "Nd", or a Go duration
    such as "1h30m"), truncated to whole seconds; None when value is not a duration."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    text = str(value).strip()
    if _INT.match(text):
        return int(text)
    days = _DAYS.match(text)
    if days:
        return int(days.group(1)) * 86400
    match = _GO_DURATION.match(text)
    if not match:
        return None
    total = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _GO_PART.findall(match.group(2)))
    total = int(total + 1e-9)
    return -total if match.group(1) == "-" else total


def normalize_text(text):
    """Text with trailing whitespace dropped from every line and trailing blank lines dropped."""
    return "\n".join(line.rstrip() for line in str(text).splitlines()).rstrip("\n")


def _is_empty(value):
    return value is None or value == "" or value == [] or value == {}


def _as_set(value):
    """A list or comma-separated string -> frozenset of its stripped string items; None when an item is
    itself a list or dict (compared exactly instead)."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, (list, tuple)):
        items = set()
        for item in value:
            if isinstance(item, (list, tuple, dict)):
                return None
            items.add(str(item).strip())
        return frozenset(items)
    return frozenset([str(value).strip()])


def values_equal(want, have):
    """Whether a wanted value equals what the server reads back (rules in the module docstring)."""
    if _is_empty(have) or _is_empty(want):
        return _is_empty(have) and _is_empty(want)
    if isinstance(have, bool) or isinstance(want, bool):
        try:
            return boolean(want, strict=True) == boolean(have, strict=True)
        except TypeError:
            return False
    if isinstance(have, (list, tuple)) or isinstance(want, (list, tuple)):
        want_set, have_set = _as_set(want), _as_set(have)
        if want_set is None or have_set is None:
            return want == have
        return want_set == have_set
    if isinstance(have, dict) or isinstance(want, dict):
        if not (isinstance(have, dict) and isinstance(want, dict)):
            return False
        keys = set(want) | set(have)
        return all(values_equal(want.get(key), have.get(key)) for key in keys)
    if isinstance(have, (int, float)):
        seconds = parse_duration(want)
        return seconds is not None and seconds == int(have)
    if isinstance(want, (int, float)):
        return str(want) == str(have) or parse_duration(have) == int(want)
    want, have = str(want), str(have)
    if "\n" in want or "\n" in have:
        return normalize_text(want) == normalize_text(have)
    return want == have


def compare(want, have):
    """want: the wanted settings (None values are not managed); have: what the server read back.
    -> (differing keys, keys the server does not read back), both sorted."""
    differ, not_read_back = [], []
    for key in sorted(want):
        if want[key] is None:
            continue
        if key not in have:
            not_read_back.append(key)
        elif not values_equal(want[key], have[key]):
            differ.append(key)
    return differ, not_read_back


def _managed(settings):
    return dict((key, value) for key, value in (settings or {}).items() if value is not None)


def _mask_keys(settings, keys):
    return dict((key, MASK if key in keys else value) for key, value in settings.items())


# --- requests ---------------------------------------------------------------------------------------------

def _call(what, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # hvac's VaultError and its subclasses, requests' connection and TLS errors
        raise OpenBaoError("%s failed: %s" % (what, describe_error(exc)))


def _read(client, api_path, what):
    """GET api_path -> its data dict, or None when the server has nothing there (404)."""
    try:
        response = client.adapter.get("/v1/" + api_path)
    except hvac_exceptions.InvalidPath:
        return None
    except Exception as exc:
        raise OpenBaoError("reading %s failed: %s" % (what, describe_error(exc)))
    if not isinstance(response, dict):
        return None
    data = response.get("data")
    return data if isinstance(data, dict) else None


# --- status, init, unseal ---------------------------------------------------------------------------------

def read_status(client):
    """Seal status plus, when unsealed, HA/raft leadership (None when the server does not say)."""
    seal = _call("reading the seal status", client.sys.read_seal_status)
    status = {
        "initialized": bool(seal.get("initialized")),
        "sealed": bool(seal.get("sealed")),
        "threshold": seal.get("t"),
        "shares": seal.get("n"),
        "progress": seal.get("progress"),
        "seal_type": seal.get("type"),
        "storage_type": seal.get("storage_type"),
        "version": seal.get("version"),
        "cluster_name": seal.get("cluster_name"),
        "cluster_id": seal.get("cluster_id"),
        "ha": None,
    }
    if status["initialized"] and not status["sealed"]:
        try:
            leader = client.sys.read_leader_status()
        except Exception:  # a standby without a leader yet, or a proxy that hides sys/leader
            leader = None
        if isinstance(leader, dict):
            status["ha"] = dict((key, leader.get(key)) for key in (
                "ha_enabled", "is_self", "leader_address", "leader_cluster_address",
                "raft_committed_index", "raft_applied_index") if key in leader)
    return status


def is_binary_pgp_key(text):
    """Whether text is base64 of binary OpenPGP data (the first byte is a packet tag). A check before init,
    because a key the server cannot use fails the init after raft storage is already bootstrapped."""
    try:
        data = base64.b64decode(str(text).strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(data) > 2 and bool(data[0] & 0x80)


def initialize(client, secret_shares, secret_threshold, pgp_keys=None, root_token_pgp_key=None, check_mode=False):
    """Initialises the server unless it already is. -> (changed, result); result holds the key shares
    (keys, keys_base64) and the root token only when this call initialised the server."""
    if secret_threshold < 1 or secret_threshold > secret_shares:
        raise OpenBaoError("secret_threshold must be between 1 and secret_shares (%d), not %d"
                           % (secret_shares, secret_threshold))
    if pgp_keys and len(pgp_keys) != secret_shares:
        raise OpenBaoError("pgp_keys has %d keys; it needs one per share, secret_shares=%d"
                           % (len(pgp_keys), secret_shares))
    for label, key in [("pgp_keys[%d]" % index, key) for index, key in enumerate(pgp_keys or [])] + [
            ("root_token_pgp_key", root_token_pgp_key)]:
        if key and not is_binary_pgp_key(key):
            raise OpenBaoError("%s is not a base64-encoded binary PGP public key (what `gpg --export KEYID | base64 -w0` "
                               "prints; an ASCII-armored key does not work). Nothing was changed." % label)
    if _call("reading the initialisation status", client.sys.is_initialized):
        return False, {"initialized": True}
    if check_mode:
        return True, {"initialized": False}
    response = _call("initialising", client.sys.initialize, secret_shares=secret_shares,
                     secret_threshold=secret_threshold, pgp_keys=pgp_keys or None,
                     root_token_pgp_key=root_token_pgp_key or None)
    return True, {
        "initialized": True,
        "secret_shares": secret_shares,
        "secret_threshold": secret_threshold,
        "pgp_encrypted": bool(pgp_keys),
        "root_token_pgp_encrypted": bool(root_token_pgp_key),
        "keys": response.get("keys") or [],
        "keys_base64": response.get("keys_base64") or [],
        "root_token": response.get("root_token"),
    }


def unseal(client, keys, reset=False, check_mode=False, raft_join=False, join_timeout=60, sleep=time.sleep):
    """Submits keys one at a time until the server is unsealed. -> (changed, result) with keys_used (how
    many were submitted), threshold, progress, sealed. Never returns or names a key.

    raft_join: the server is a new raft node with retry_join configured; it reports itself uninitialised until
    it has joined, and the cluster's unseal keys are what let it join. After the keys it may stay sealed while
    the join completes: its status is polled for up to join_timeout seconds."""
    status = _call("reading the seal status", client.sys.read_seal_status)
    result = {"keys_used": 0, "threshold": status.get("t"), "progress": status.get("progress"),
              "sealed": bool(status.get("sealed"))}
    if not status.get("initialized") and not raft_join:
        raise OpenBaoError("the server is not initialised, so it cannot be unsealed: initialise it first "
                           "(kiln.cluster.openbao_init), or set raft_join for a raft node that joins a cluster")
    if not status.get("sealed"):
        return False, result
    if check_mode:
        return True, result
    if not keys:
        raise OpenBaoError("the server is sealed and no unseal keys were given")
    if reset:
        _call("resetting the unseal progress", client.sys.submit_unseal_key, reset=True)
    deadline = time.monotonic() + join_timeout
    for number, key in enumerate(keys, 1):
        while True:
            try:
                status = client.sys.submit_unseal_key(key=key)
                break
            except Exception as exc:
                # A joining node refuses keys as "not initialized" until its retry_join has reached an unsealed
                # leader (e.g. while the first node is being unsealed in the same run): wait for that.
                if raft_join and "not initialized" in str(exc) and time.monotonic() < deadline:
                    sleep(2)
                    continue
                raise OpenBaoError("the server refused unseal key number %d of %d (after %d accepted): %s"
                                   % (number, len(keys), number - 1, describe_error(exc, keys)))
        result.update(keys_used=number, progress=status.get("progress"), threshold=status.get("t"),
                      sealed=bool(status.get("sealed")))
        if not status.get("sealed"):
            return True, result
    if raft_join:
        deadline = time.monotonic() + join_timeout
        while time.monotonic() < deadline:
            sleep(1)
            status = _call("reading the seal status", client.sys.read_seal_status)
            if not status.get("sealed"):
                result.update(sealed=False, progress=status.get("progress"), threshold=status.get("t"))
                return True, result
        raise OpenBaoError("still sealed %d seconds after %d unseal key(s): the node did not join its raft cluster "
                           "(check retry_join, the leader's address and CA, and the cluster port)"
                           % (join_timeout, len(keys)))
    raise OpenBaoError("still sealed after all %d unseal key(s) given: progress %s of threshold %s; give at "
                       "least %s valid keys" % (len(keys), result["progress"], result["threshold"], result["threshold"]))


# --- secrets engines and auth methods ---------------------------------------------------------------------

def _mount_table(client, kind):
    if kind == "auth":
        response = _call("listing auth methods", client.sys.list_auth_methods)
    else:
        response = _call("listing secrets engines", client.sys.list_mounted_secrets_engines)
    return response.get("data", response) if isinstance(response, dict) else {}


def read_mount(client, kind, path):
    """The mount entry at path (kind 'secret' or 'auth') as sys/mounts or sys/auth lists it, or None."""
    entry = _mount_table(client, kind).get(_norm_path(path) + "/")
    return entry if isinstance(entry, dict) else None


def _want_type(kind, mount_type, options):
    """kv-v2 is kv with options.version=2 (that is how the server stores and reports it)."""
    options = dict((str(key), str(value)) for key, value in (options or {}).items() if value is not None)
    if kind == "secret" and mount_type == "kv-v2":
        options.setdefault("version", "2")
        return "kv", options
    return mount_type, options


def _kind_word(kind):
    return "auth method" if kind == "auth" else "secrets engine"


def _mount_view(entry, tune_keys, option_keys):
    if entry is None:
        return None
    config = entry.get("config") or {}
    options = entry.get("options") or {}
    view = {"type": entry.get("type"), "description": entry.get("description", "")}
    if option_keys:
        view["options"] = dict((key, options.get(key)) for key in sorted(option_keys))
    if tune_keys:
        view["tune"] = dict((key, config.get(key)) for key in sorted(tune_keys))
    return view


def ensure_mount(client, kind, path, mount_type=None, description=None, options=None, tune=None,
                 state="present", check_mode=False):
    """Enables, tunes or disables a secrets engine (kind 'secret') or auth method (kind 'auth') at path.

    An existing mount of another type is never remounted: that fails, naming the path and both types.
    Only the description, options and tune keys given are compared and tuned.
    -> (changed, result) with path, type, changes (what differs) and diff (before/after)."""
    path = _norm_path(path)
    if not path:
        raise OpenBaoError("path must not be empty")
    entry = read_mount(client, kind, path)
    tune = _managed(tune)
    want_type, want_options = _want_type(kind, mount_type, options)
    have_type = entry.get("type") if entry else None
    if entry and want_type and have_type != want_type:
        action = "disable" if state == "absent" else "remount"
        raise OpenBaoError("%s %s/ is of type %s, not %s: refusing to %s it (that would destroy what it holds). "
                           "Choose another path, or disable the %s at %s/ first if that is really meant."
                           % (_kind_word(kind), path, have_type, want_type, action, _kind_word(kind), path))
    result = {"path": path, "type": have_type or want_type, "changes": []}

    if state == "absent":
        result["diff"] = {"before": _mount_view(entry, tune, want_options) or {}, "after": {}}
        if entry is None:
            return False, result
        result["changes"] = ["disable"]
        if not check_mode:
            if kind == "auth":
                _call("disabling auth method %s/" % path, client.sys.disable_auth_method, path=path)
            else:
                _call("disabling secrets engine %s/" % path, client.sys.disable_secrets_engine, path=path)
        return True, result

    if not want_type:
        raise OpenBaoError("type is required to enable the %s at %s/" % (_kind_word(kind), path))
    if entry is None:
        result["changes"] = ["enable"]
        after = {"type": want_type, "description": description or ""}
        if want_options:
            after["options"] = want_options
        if tune:
            after["tune"] = tune
        result["diff"] = {"before": {}, "after": after}
        if not check_mode:
            config = dict((key, _wire(value)) for key, value in tune.items())
            if kind == "auth":
                _call("enabling auth method %s/" % path, client.sys.enable_auth_method, method_type=want_type,
                      path=path, description=description or None, config=config or None)
            else:
                _call("enabling secrets engine %s/" % path, client.sys.enable_secrets_engine,
                      backend_type=want_type, path=path, description=description or None,
                      options=want_options or None, config=config or None)
        return True, result

    have_config = entry.get("config") or {}
    have_options = entry.get("options") or {}
    changes = []
    tune_diff, _ = compare(tune, dict((key, have_config.get(key)) for key in tune))
    changes.extend("tune." + key for key in tune_diff)
    options_diff = [key for key in sorted(want_options) if not values_equal(want_options[key], have_options.get(key))]
    changes.extend("options." + key for key in options_diff)
    if description is not None and description != (entry.get("description") or ""):
        changes.append("description")
    before = _mount_view(entry, tune, want_options)
    after = _mount_view(entry, tune, want_options)
    for key in tune_diff:
        after["tune"][key] = tune[key]
    for key in options_diff:
        after["options"][key] = want_options[key]
    if description is not None:
        after["description"] = description
    result.update(changes=changes, diff={"before": before, "after": after})
    if not changes or check_mode:
        return bool(changes), result
    body = dict((key, _wire(tune[key])) for key in tune_diff)
    if description is not None and "description" in changes:
        body["description"] = description
    if options_diff:
        body["options"] = dict((key, want_options[key]) for key in options_diff)
    if kind == "auth":
        _call("tuning auth method %s/" % path, client.sys.tune_auth_method, path=path, **body)
    else:
        _call("tuning secrets engine %s/" % path, client.sys.tune_mount_configuration, path=path, **body)
    return True, result


def _wire(value):
    """Durations and numbers as strings OpenBao parses; lists stay lists."""
    if isinstance(value, bool) or isinstance(value, (list, tuple, dict)):
        return value
    if isinstance(value, (int, float)):
        return str(int(value))
    return value


# --- auth method config -----------------------------------------------------------------------------------

# Fields known to be secrets that the server never reads back; they belong in config_write_only (no_log).
SECRET_CONFIG_FIELDS = frozenset([
    "token_reviewer_jwt", "oidc_client_secret", "bindpass", "client_secret", "secret_key", "password",
])


def ensure_auth_config(client, path, config=None, write_only=None, update_write_only="on_create", check_mode=False):
    """Writes auth/<path>/config when it differs from what reads back.

    config: compared field by field with what the server reads back (values_equal). Fields the server does
    not read back cannot be compared: they are reported in not_compared and sent whenever the config is written.
    write_only: secret fields (kubernetes token_reviewer_jwt, ...), never compared or shown; written with the
    rest when the config is written, and on every run with update_write_only='always'.
    The whole config is written at once, since plugins such as kubernetes replace the whole config on write.
    -> (changed, result) with changes, not_compared and diff (write-only values masked)."""
    path = _norm_path(path)
    config = _managed(config)
    write_only = _managed(write_only)
    leaked = sorted(SECRET_CONFIG_FIELDS & set(config))
    if leaked:
        raise OpenBaoError("auth method %s/: put %s under config_write_only (no_log), not config"
                           % (path, ", ".join(leaked)))
    if not config and not write_only:
        return False, {"changes": [], "not_compared": [], "diff": {"before": {}, "after": {}}}
    have = _read(client, "auth/%s/config" % path, "auth/%s/config" % path)
    if have is None:
        changes = ["create"]
        not_compared = []
        before = {}
    else:
        differ, not_compared = compare(config, have)
        changes = list(differ)
        if write_only and update_write_only == "always":
            changes.extend(sorted(write_only))
        before = dict((key, have.get(key)) for key in sorted(config) if key in have)
    after = dict(before)
    if changes:
        after.update(_mask_keys(config, not_compared))
        after.update(dict((key, MASK) for key in write_only))
    result = {"changes": changes, "not_compared": sorted(not_compared), "diff": {"before": before, "after": after}}
    if changes and not check_mode:
        body = dict(config)
        body.update(write_only)
        _call("writing auth/%s/config" % path, client.adapter.post, "/v1/auth/%s/config" % path, json=body)
    return bool(changes), result


# --- ACL policies -----------------------------------------------------------------------------------------

def ensure_policy(client, name, policy=None, state="present", check_mode=False):
    """Writes or deletes the ACL policy name; policy text is compared after normalize_text.
    -> (changed, result) with name and diff (before/after text)."""
    name = str(name).strip()
    if not name:
        raise OpenBaoError("name must not be empty")
    have = _read(client, "sys/policies/acl/%s" % name, "policy %s" % name)
    before = have.get("policy", "") if have else None
    result = {"name": have.get("name", name) if have else name.lower()}
    if state == "absent":
        result["diff"] = {"before": before or "", "after": ""}
        if have is None:
            return False, result
        if not check_mode:
            _call("deleting policy %s" % name, client.adapter.delete, "/v1/sys/policies/acl/%s" % name)
        return True, result
    if policy is None:
        raise OpenBaoError("policy (the HCL text) is required with state=present")
    changed = before is None or normalize_text(before) != normalize_text(policy)
    result["diff"] = {"before": before or "", "after": policy if changed else before}
    if changed and not check_mode:
        _call("writing policy %s" % name, client.adapter.put, "/v1/sys/policies/acl/%s" % name,
              json={"policy": policy})
    return changed, result


# --- auth roles -------------------------------------------------------------------------------------------

def ensure_auth_role(client, mount, name, settings=None, state="present", check_mode=False):
    """Writes or deletes the role auth/<mount>/role/<name>.

    settings are compared with what the role reads back (values_equal); settings the server does not read
    back are reported in not_compared and sent whenever the role is written. Settings not named are not
    compared (plugins such as kubernetes keep them on update). The role is written with every setting given
    when any compared one differs or the role does not exist.
    -> (changed, result) with path, changes, not_compared and diff."""
    mount, name = _norm_path(mount), _norm_path(name)
    if not mount or not name:
        raise OpenBaoError("mount and name must not be empty")
    api_path = "auth/%s/role/%s" % (mount, name)
    have = _read(client, api_path, api_path)
    settings = _managed(settings)
    result = {"path": api_path, "changes": [], "not_compared": []}
    if state == "absent":
        result["diff"] = {"before": have or {}, "after": {}}
        if have is None:
            return False, result
        result["changes"] = ["delete"]
        if not check_mode:
            _call("deleting %s" % api_path, client.adapter.delete, "/v1/" + api_path)
        return True, result
    if have is None:
        changes, not_compared = ["create"], []
        before, after = {}, dict(settings)
    else:
        changes, not_compared = compare(settings, have)
        before = dict(have)
        after = dict(have)
        after.update(dict((key, settings[key]) for key in changes + (not_compared if changes else [])))
    result.update(changes=changes, not_compared=not_compared, diff={"before": before, "after": after})
    if changes and not check_mode:
        _call("writing %s" % api_path, client.adapter.post, "/v1/" + api_path, json=settings)
    return bool(changes), result


# --- KV v2 secrets ----------------------------------------------------------------------------------------

def _generate_value(length):
    """A random value of length characters from letters and digits (no shell- or URL-special characters)."""
    import secrets
    import string
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def ensure_kv_secret(client, mount, path, data=None, generate=None, check_mode=False):
    """A KV v2 secret at mount/path holding the keys of data (values compared, written when they differ) and of
    generate ({key: length}: a random value made once, only while the key is missing; never replaced).
    -> (changed, result) with the keys written and kept; never returns a value."""
    data = dict(data or {})
    generate = dict(generate or {})
    overlap = sorted(set(data) & set(generate))
    if overlap:
        raise OpenBaoError("key(s) %s are both given (data) and to be generated (generate)" % ", ".join(overlap))
    try:
        current = client.secrets.kv.v2.read_secret_version(mount_point=mount, path=path, raise_on_deleted_version=False)
        have = dict(((current or {}).get("data") or {}).get("data") or {})
    except hvac_exceptions.InvalidPath:
        have = {}
    except Exception as exc:
        raise OpenBaoError("reading %s/%s: %s" % (mount, path, describe_error(exc, list(data.values()))))
    write = dict((key, value) for key, value in data.items() if have.get(key) != value)
    generated = sorted(key for key in generate if key not in have)
    result = {"mount": mount, "path": path, "keys_written": sorted(write), "keys_generated": generated,
              "keys": sorted(set(have) | set(data) | set(generate))}
    if not write and not generated:
        return False, result
    if check_mode:
        return True, result
    new = dict(have)
    new.update(write)
    for key in generated:
        new[key] = _generate_value(int(generate[key]))
    secrets_given = list(data.values()) + [new[key] for key in generated]
    try:
        # cas: the secret's version as read, so a concurrent writer is not overwritten silently.
        version = ((current or {}).get("data") or {}).get("metadata", {}).get("version") if have else 0
        client.secrets.kv.v2.create_or_update_secret(mount_point=mount, path=path, secret=new, cas=version or 0)
    except Exception as exc:
        raise OpenBaoError("writing %s/%s: %s" % (mount, path, describe_error(exc, secrets_given)))
    return True, result


# --- PKI --------------------------------------------------------------------------------------------------

def read_pki_ca(client, mount):
    """The PEM CA certificate of the PKI engine at mount, or '' when it has none yet."""
    try:
        response = client.adapter.get("/v1/%s/cert/ca" % _norm_path(mount))
    except hvac_exceptions.InvalidPath:
        return ""
    except hvac_exceptions.VaultError as exc:
        # An engine without a CA answers with an error, not an empty certificate.
        if "no default issuer" in str(exc):
            return ""
        raise OpenBaoError("reading the CA of %s failed: %s" % (mount, describe_error(exc)))
    except Exception as exc:
        raise OpenBaoError("reading the CA of %s failed: %s" % (mount, describe_error(exc)))
    data = response.get("data", {}) if isinstance(response, dict) else {}
    return (data.get("certificate") or "").strip()


def ensure_pki_ca(client, mount, kind, common_name, ttl, key_type="ec", key_bits=384, issuer_mount=None,
                  signed_certificate=None, check_mode=False):
    """The PKI engine at mount holds a CA: kind 'root' (generated inside OpenBao, key never exported) or
    'intermediate' (key generated inside OpenBao; signed by the root at issuer_mount, or, for an offline root,
    by the signed_certificate the operator brings back for the CSR this returns). An engine that already has a
    CA is left alone. -> (changed, result) with certificate (PEM, public) and, while an offline signature is
    awaited, csr."""
    mount = _norm_path(mount)
    existing = read_pki_ca(client, mount)
    result = {"mount": mount, "kind": kind, "certificate": existing, "csr": ""}
    if existing:
        return False, result
    if check_mode:
        return True, result
    params = {"common_name": common_name, "ttl": ttl, "key_type": key_type, "key_bits": key_bits}
    if kind == "root":
        response = _call("generating the root CA of " + mount, client.adapter.post,
                         "/v1/%s/root/generate/internal" % mount, json=params)
        result["certificate"] = response["data"]["certificate"].strip()
        return True, result
    if signed_certificate:
        _call("importing the signed intermediate of " + mount, client.adapter.post,
              "/v1/%s/intermediate/set-signed" % mount, json={"certificate": signed_certificate})
        result["certificate"] = read_pki_ca(client, mount)
        return True, result
    csr = _call("generating the intermediate CSR of " + mount, client.adapter.post,
                "/v1/%s/intermediate/generate/internal" % mount,
                json={"common_name": common_name, "key_type": key_type, "key_bits": key_bits})["data"]["csr"]
    if not issuer_mount:
        # Offline root: the operator signs the CSR and reruns with signed_certificate.
        result["csr"] = csr.strip()
        return True, result
    signed = _call("signing the intermediate of %s with %s" % (mount, issuer_mount), client.adapter.post,
                   "/v1/%s/root/sign-intermediate" % _norm_path(issuer_mount),
                   json={"csr": csr, "common_name": common_name, "ttl": ttl, "format": "pem_bundle"})["data"]
    chain = signed["certificate"].strip()
    if signed.get("issuing_ca"):
        chain += "\n" + signed["issuing_ca"].strip()
    _call("importing the signed intermediate of " + mount, client.adapter.post,
          "/v1/%s/intermediate/set-signed" % mount, json={"certificate": chain})
    result["certificate"] = read_pki_ca(client, mount)
    return True, result


# --- tokens and AppRole -----------------------------------------------------------------------------------

def token_is_valid(client):
    """Whether the client's token is one the server knows (auth/token/lookup-self answers)."""
    try:
        client.adapter.get("/v1/auth/token/lookup-self")
    except (hvac_exceptions.Forbidden, hvac_exceptions.InvalidRequest):
        return False
    except Exception as exc:
        raise OpenBaoError("looking up the token failed: %s" % describe_error(exc, [client.token]))
    return True


def ensure_token_revoked(client, check_mode=False):
    """Revokes the client's own token (e.g. the root token once Kiln has its AppRole); a token the server no
    longer knows is already revoked. -> (changed, result)."""
    if not token_is_valid(client):
        return False, {"revoked": True}
    if not check_mode:
        _call("revoking the token", client.adapter.post, "/v1/auth/token/revoke-self")
    return True, {"revoked": True}


def approle_login(client, mount, role_id, secret_id):
    """A client token from AppRole credentials, or None when the server refuses them."""
    try:
        response = client.adapter.post("/v1/auth/%s/login" % _norm_path(mount),
                                       json={"role_id": role_id, "secret_id": secret_id})
    except (hvac_exceptions.Forbidden, hvac_exceptions.InvalidRequest, hvac_exceptions.InvalidPath):
        return None
    except Exception as exc:
        raise OpenBaoError("AppRole login failed: %s" % describe_error(exc, [secret_id]))
    return response["auth"]["client_token"]


def ensure_approle_secret_id(client, mount, role, current=None, check_mode=False):
    """Credentials (role_id, secret_id) that log in to auth/<mount>/role/<role>: current ones are kept while
    they still log in; otherwise a new secret_id is made (the change). The result carries the credentials and
    a token from logging in with them (both for no_log use only). -> (changed, result)."""
    mount, role = _norm_path(mount), _norm_path(role)
    data = _read(client, "auth/%s/role/%s/role-id" % (mount, role), "the role id of %s" % role)
    if not data or not data.get("role_id"):
        raise OpenBaoError("auth/%s/role/%s does not exist: write the role first" % (mount, role))
    role_id = data["role_id"]
    current = current or {}
    if current.get("role_id") == role_id and current.get("secret_id"):
        token = approle_login(client, mount, role_id, current["secret_id"])
        if token:
            return False, {"role_id": role_id, "secret_id": current["secret_id"], "token": token}
    if check_mode:
        return True, {"role_id": role_id, "secret_id": "", "token": ""}
    response = _call("making a secret id for %s" % role, client.adapter.post,
                     "/v1/auth/%s/role/%s/secret-id" % (mount, role), json={})
    secret_id = response["data"]["secret_id"]
    token = approle_login(client, mount, role_id, secret_id)
    if not token:
        raise OpenBaoError("the new secret id of %s does not log in" % role)
    return True, {"role_id": role_id, "secret_id": secret_id, "token": token}
