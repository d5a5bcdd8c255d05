# -*- coding: utf-8 -*-
"""A small client for Harbor's v2.0 REST API (basePath /api/v2.0), shared by the harbor_* modules.

Every ensure_* helper reads first, compares with what is wanted and sends only what differs, so a module's
`changed` is honest; with ``check_mode=True`` it computes the same answer and sends no request that changes
anything (GETs only). Requests and bodies follow Harbor's published API definition (swagger.yaml, Swagger 2.0);
tests/unit/harbor_swagger.py checks every request the helpers make against it.

Comparison rules:
- project metadata: Harbor keeps every value as a string ("true", "10"); wanted bools become "true"/"false";
- registries: url (trailing "/" ignored), insecure, description and the credential's type and access key; the
  access secret cannot be read back, so it is sent on creation and, with ``update_secret=True``, on every run;
- robots: description, duration, disable and permissions (kind, namespace and the set of resource/action pairs);
  the secret exists only in the creation (or refresh) response;
- retention: algorithm, trigger schedule and the rules (template, count, action, selectors, untagged, disabled),
  ignoring the ids and priorities Harbor assigns.
Harbor cannot change a registry's type or the registry of a proxy-cache project; both fail with a message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode
from ansible.module_utils.urls import Request, make_context

API_BASE = "/api/v2.0"
PAGE_SIZE = 100

# Connection options shared by every harbor_* module (merge into the module's argument_spec).
HARBOR_CONNECTION_ARGS = dict(
    url=dict(type="str", required=True, fallback=(env_fallback, ["HARBOR_URL"])),
    username=dict(type="str", default="admin", fallback=(env_fallback, ["HARBOR_USERNAME"])),
    password=dict(type="str", required=True, no_log=True, fallback=(env_fallback, ["HARBOR_PASSWORD"])),
    ca_cert=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=30),
)

# Upstream registry types Harbor's proxy cache accepts (the adapters of its replication framework).
PROXY_CACHE_REGISTRY_TYPES = ["docker-hub", "docker-registry", "harbor", "quay", "github-ghcr", "google-gcr",
                              "aws-ecr", "azure-acr", "jfrog-artifactory"]

RETENTION_TEMPLATES = ["latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always"]


class HarborError(Exception):
    """A failure to report as the module's msg; never carries a password or a robot secret."""


def harbor_argument_spec(**module_args):
    """The shared connection options plus the module's own."""
    spec = dict((key, dict(value)) for key, value in HARBOR_CONNECTION_ARGS.items())
    spec.update(module_args)
    return spec


def scrub(text, secrets):
    """text with every non-empty secret replaced by a mask."""
    text = str(text)
    for secret in secrets:
        if secret:
            text = text.replace(str(secret), "********")
    return text


class HarborClient(object):
    """JSON over HTTP(S) with basic authentication (admin or a robot account's name and secret)."""

    def __init__(self, url, username, password, ca_cert=None, validate_certs=True, timeout=30):
        self.base = url.rstrip("/")
        self.password = password
        self.requests = []  # (method, path) of every request sent, for callers that report what was done
        # One TLS context per client: building one per request (loading the system CAs) costs more than the
        # request itself.
        self._http = Request(url_username=username, url_password=password, force_basic_auth=True,
                             timeout=timeout, follow_redirects="none",
                             context=make_context(cafile=ca_cert, validate_certs=validate_certs))

    @classmethod
    def from_params(cls, params):
        return cls(params["url"], params["username"], params["password"], params.get("ca_cert"),
                   params.get("validate_certs", True), params.get("timeout", 30))

    def request(self, method, path, body=None, query=None, headers=None, missing_ok=False):
        """-> (status, decoded JSON or None, response headers). path is relative to /api/v2.0.
        A 404 gives (404, None, {}) when missing_ok; any other error status raises HarborError."""
        url = self.base + API_BASE + path
        if query:
            url += "?" + urlencode(query)
        send_headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            send_headers["Content-Type"] = "application/json"
        send_headers.update(headers or {})
        self.requests.append((method, path))
        try:
            resp = self._http.open(method, url, data=data, headers=send_headers)
            status, raw, resp_headers = resp.getcode(), resp.read(), dict(resp.headers.items())
        except HTTPError as exc:
            if exc.code == 404 and missing_ok:
                return 404, None, {}
            raise HarborError(scrub("%s %s%s: HTTP %s %s" % (method, API_BASE, path, exc.code,
                                                             _error_text(exc)), [self.password]))
        except (URLError, OSError, ValueError) as exc:
            raise HarborError(scrub("%s %s%s: cannot reach Harbor at %s: %s" % (method, API_BASE, path, self.base,
                                                                                exc), [self.password]))
        if not raw:
            return status, None, resp_headers
        try:
            return status, json.loads(raw.decode("utf-8")), resp_headers
        except ValueError:
            raise HarborError("%s %s%s: Harbor answered with something that is not JSON" % (method, API_BASE, path))

    def get(self, path, query=None, headers=None, missing_ok=False):
        return self.request("GET", path, query=query, headers=headers, missing_ok=missing_ok)[1]

    def list_all(self, path, query=None):
        """Every item of a paged list endpoint (page/page_size)."""
        items, page = [], 1
        while True:
            q = dict(query or {}, page=page, page_size=PAGE_SIZE)
            batch = self.get(path, query=q) or []
            items.extend(batch)
            if len(batch) < PAGE_SIZE:
                return items
            page += 1


def _error_text(exc):
    try:
        body = json.loads(exc.read().decode("utf-8"))
        return "; ".join(e.get("message", "") for e in body.get("errors", [])) or str(body)
    except Exception:  # the body is optional and may be anything; the status says enough then
        return exc.reason or ""


def _id_from_location(headers, what):
    location = headers.get("Location") or headers.get("location") or ""
    tail = location.rstrip("/").rsplit("/", 1)[-1]
    if not tail.isdigit():
        raise HarborError("Harbor created the %s but its Location header (%r) names no id" % (what, location))
    return int(tail)


def _bool_str(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- system ------------------------------------------------------------------------------------------------

def system_info(client):
    """Harbor's version and health: {harbor_version, health_status, components}."""
    info = client.get("/systeminfo") or {}
    health = client.get("/health") or {}
    return {
        "harbor_version": info.get("harbor_version", ""),
        "health_status": health.get("status", ""),
        "components": dict((c.get("name"), c.get("status")) for c in health.get("components") or []),
    }


# --- registries (upstream endpoints of proxy-cache projects) -------------------------------------------------

def find_registry(client, name):
    for registry in client.list_all("/registries"):
        if registry.get("name") == name:
            return registry
    return None


def ensure_registry(client, name, type, url, insecure=False, description="", credential=None,
                    update_secret=False, check_mode=False):
    """A registry endpoint (GET /registries, POST /registries, PUT /registries/{id}).
    credential: {type, access_key, access_secret} or None for anonymous pulls.
    -> (changed, {"id", "name", "fields_changed"})."""
    wanted_url = url.rstrip("/")
    current = find_registry(client, name)
    if current is None:
        body = {"name": name, "type": type, "url": wanted_url, "insecure": bool(insecure), "description": description}
        if credential:
            body["credential"] = dict((k, v) for k, v in credential.items() if v is not None)
        if check_mode:
            return True, {"id": None, "name": name, "fields_changed": sorted(body)}
        _, _, headers = client.request("POST", "/registries", body=body)
        return True, {"id": _id_from_location(headers, "registry %s" % name), "name": name,
                      "fields_changed": sorted(body)}
    if current.get("type") != type:
        raise HarborError("registry %s exists with type %s, not %s; Harbor cannot change a registry's type: delete "
                          "it in Harbor (and the projects that use it) or name another" % (name, current.get("type"), type))
    update = {}
    if (current.get("url") or "").rstrip("/") != wanted_url:
        update["url"] = wanted_url
    if bool(current.get("insecure")) != bool(insecure):
        update["insecure"] = bool(insecure)
    if (current.get("description") or "") != (description or ""):
        update["description"] = description or ""
    have_cred = current.get("credential") or {}
    want_cred = credential or {}
    if want_cred:
        if (have_cred.get("type") or "") != (want_cred.get("type") or "basic"):
            update["credential_type"] = want_cred.get("type") or "basic"
        if (have_cred.get("access_key") or "") != (want_cred.get("access_key") or ""):
            update["access_key"] = want_cred.get("access_key") or ""
        if update_secret or "access_key" in update or "credential_type" in update:
            update["credential_type"] = want_cred.get("type") or "basic"
            update["access_secret"] = want_cred.get("access_secret") or ""
    elif have_cred.get("access_key"):
        # Back to anonymous pulls.
        update.update(credential_type="basic", access_key="", access_secret="")
    changed_fields = sorted(k for k in update if k != "access_secret") + (
        ["access_secret"] if "access_secret" in update else [])
    if update and not check_mode:
        client.request("PUT", "/registries/%d" % current["id"], body=update)
    return bool(update), {"id": current["id"], "name": name, "fields_changed": changed_fields}


# --- projects --------------------------------------------------------------------------------------------------

def get_project(client, name):
    return client.get("/projects/%s" % quote(name, safe=""), headers={"X-Is-Resource-Name": "true"},
                      missing_ok=True)


def ensure_project(client, name, public=False, metadata=None, proxy_cache=None, check_mode=False):
    """A project (GET /projects/{name}, POST /projects, PUT /projects/{name}).
    proxy_cache: None for a normal project, else the registry endpoint to proxy:
    {registry_name, type, url, insecure, description, credential, update_secret}.
    -> (changed, {"project_id", "name", "proxy_cache", "registry", "metadata_changed"})."""
    wanted_meta = dict((k, _bool_str(v)) for k, v in (metadata or {}).items())
    wanted_meta["public"] = _bool_str(bool(public))
    changed = False
    registry_result = None
    if proxy_cache:
        changed, registry_result = ensure_registry(
            client, proxy_cache["registry_name"], proxy_cache["type"], proxy_cache["url"],
            insecure=proxy_cache.get("insecure", False), description=proxy_cache.get("description") or "",
            credential=proxy_cache.get("credential"), update_secret=proxy_cache.get("update_secret", False),
            check_mode=check_mode)
    current = get_project(client, name)
    result = {"name": name, "proxy_cache": bool(proxy_cache), "registry": registry_result}
    if current is None:
        body = {"project_name": name, "metadata": wanted_meta}
        if proxy_cache:
            body["registry_id"] = registry_result["id"]
        result.update(project_id=None, metadata_changed=sorted(wanted_meta))
        if check_mode:
            return True, result
        _, _, headers = client.request("POST", "/projects", body=body)
        result["project_id"] = _id_from_location(headers, "project %s" % name)
        return True, result
    have_registry = current.get("registry_id") or None
    want_registry = registry_result["id"] if proxy_cache else None
    if have_registry != want_registry and not (check_mode and proxy_cache and want_registry is None):
        raise HarborError(
            "project %s exists as %s, wanted %s; Harbor cannot change a project between normal and proxy cache or "
            "switch its registry: delete the project in Harbor (its images go with it) or choose another name"
            % (name, "a proxy cache of registry id %s" % have_registry if have_registry else "a normal project",
               "a proxy cache of %s" % proxy_cache["registry_name"] if proxy_cache else "a normal project"))
    have_meta = current.get("metadata") or {}
    diff = dict((k, v) for k, v in wanted_meta.items() if have_meta.get(k) != v)
    result.update(project_id=current.get("project_id"), metadata_changed=sorted(diff))
    if diff and not check_mode:
        client.request("PUT", "/projects/%s" % quote(name, safe=""), body={"metadata": diff},
                       headers={"X-Is-Resource-Name": "true"})
    return changed or bool(diff), result


# --- robot accounts -------------------------------------------------------------------------------------------

def _robot_name_matches(robot, name):
    full = robot.get("name") or ""
    # System robots are stored as <prefix><name>, the prefix being "robot$" unless the site changed it.
    return robot.get("level") == "system" and (full == name or full.endswith("$" + name))


def find_robot(client, name):
    for robot in client.list_all("/robots"):
        if _robot_name_matches(robot, name):
            return robot
    return None


def normalize_permissions(permissions):
    """Comparable form: sorted (kind, namespace, sorted (resource, action)) tuples."""
    out = []
    for perm in permissions or []:
        access = sorted(set((a.get("resource"), a.get("action")) for a in perm.get("access") or []))
        out.append((perm.get("kind"), perm.get("namespace"), tuple(access)))
    return sorted(out)


def _permissions_body(permissions):
    return [{"kind": p["kind"], "namespace": p["namespace"],
             "access": [{"resource": a["resource"], "action": a["action"]} for a in p.get("access") or []]}
            for p in permissions]


def ensure_robot(client, name, permissions, description="", duration=-1, disable=False, refresh_secret=False,
                 check_mode=False):
    """A system robot account (GET /robots, POST /robots, PUT /robots/{id}, PATCH /robots/{id} to refresh).
    -> (changed, result); result["secret"] is set only when Harbor created the robot or refreshed its secret:
    the caller must keep it out of every log."""
    current = find_robot(client, name)
    wanted_perms = _permissions_body(permissions)
    result = {"name": name, "created": False, "secret_refreshed": False, "fields_changed": []}
    if current is None:
        body = {"name": name, "description": description, "level": "system", "duration": duration,
                "disable": bool(disable), "permissions": wanted_perms}
        result.update(created=True, fields_changed=sorted(body))
        if check_mode:
            result.update(id=None, full_name=None)
            return True, result
        _, created, _ = client.request("POST", "/robots", body=body)
        result.update(id=created.get("id"), full_name=created.get("name"), secret=created.get("secret"))
        return True, result
    result.update(id=current["id"], full_name=current.get("name"))
    fields = []
    if (current.get("description") or "") != (description or ""):
        fields.append("description")
    if current.get("duration") != duration:
        fields.append("duration")
    if bool(current.get("disable")) != bool(disable):
        fields.append("disable")
    if normalize_permissions(current.get("permissions")) != normalize_permissions(wanted_perms):
        fields.append("permissions")
    result["fields_changed"] = fields
    if fields and not check_mode:
        body = {"id": current["id"], "name": current["name"], "level": current.get("level", "system"),
                "description": description, "duration": duration, "disable": bool(disable),
                "editable": bool(current.get("editable", True)), "permissions": wanted_perms}
        client.request("PUT", "/robots/%d" % current["id"], body=body)
    if refresh_secret:
        result["secret_refreshed"] = True
        if not check_mode:
            # An empty body asks Harbor to generate the new secret itself.
            _, refreshed, _ = client.request("PATCH", "/robots/%d" % current["id"], body={})
            result["secret"] = (refreshed or {}).get("secret")
    return bool(fields) or refresh_secret, result


# --- tag retention --------------------------------------------------------------------------------------------

def retention_rule_body(rule):
    """Harbor's rule JSON from Kiln's short form:
    {template, count, action, repositories, repository_decoration, tags, tag_decoration, untagged, disabled}."""
    template = rule["template"]
    params = {} if template == "always" else {template: int(rule["count"])}
    return {
        "disabled": bool(rule.get("disabled", False)),
        "action": rule.get("action") or "retain",
        "template": template,
        "params": params,
        "tag_selectors": [{"kind": "doublestar", "decoration": rule.get("tag_decoration") or "matches",
                           "pattern": rule.get("tags") or "**",
                           "extras": json.dumps({"untagged": bool(rule.get("untagged", True))})}],
        "scope_selectors": {"repository": [{"kind": "doublestar",
                                            "decoration": rule.get("repository_decoration") or "repoMatches",
                                            "pattern": rule.get("repositories") or "**"}]},
    }


def _extras(value):
    try:
        return json.loads(value) if value else {}
    except ValueError:
        return {"raw": value}


def _normalize_rule(rule):
    return (
        bool(rule.get("disabled")), rule.get("action"), rule.get("template"),
        json.dumps(dict((k, int(v)) for k, v in (rule.get("params") or {}).items()), sort_keys=True),
        tuple((s.get("kind"), s.get("decoration"), s.get("pattern"), json.dumps(_extras(s.get("extras")), sort_keys=True))
              for s in rule.get("tag_selectors") or []),
        tuple((key, tuple((s.get("kind"), s.get("decoration"), s.get("pattern")) for s in sels))
              for key, sels in sorted((rule.get("scope_selectors") or {}).items())),
    )


def _normalize_policy(policy):
    return (policy.get("algorithm") or "or", ((policy.get("trigger") or {}).get("settings") or {}).get("cron") or "",
            [_normalize_rule(r) for r in policy.get("rules") or []])


def ensure_retention(client, project, rules, schedule="", algorithm="or", check_mode=False):
    """The tag retention policy of a project (the project's metadata retention_id; POST /retentions,
    GET and PUT /retentions/{id}). schedule: Harbor's 6-field cron ("0 0 0 * * *"), "" for manual runs only.
    -> (changed, {"project", "retention_id", "created"})."""
    current_project = get_project(client, project)
    if current_project is None:
        if check_mode:
            # The project is created by an earlier task of the same run.
            return True, {"project": project, "retention_id": None, "created": True}
        raise HarborError("project %s does not exist; create it first (kiln.cluster.harbor_project)" % project)
    wanted = {
        "algorithm": algorithm,
        "rules": [dict(retention_rule_body(r), priority=i + 1) for i, r in enumerate(rules)],
        "trigger": {"kind": "Schedule", "settings": {"cron": schedule or ""}, "references": {}},
        "scope": {"level": "project", "ref": int(current_project["project_id"])},
    }
    retention_id = (current_project.get("metadata") or {}).get("retention_id")
    if not retention_id:
        if check_mode:
            return True, {"project": project, "retention_id": None, "created": True}
        _, _, headers = client.request("POST", "/retentions", body=wanted)
        return True, {"project": project, "retention_id": _id_from_location(headers, "retention policy"),
                      "created": True}
    retention_id = int(retention_id)
    current = client.get("/retentions/%d" % retention_id) or {}
    if _normalize_policy(current) == _normalize_policy(wanted):
        return False, {"project": project, "retention_id": retention_id, "created": False}
    if not check_mode:
        client.request("PUT", "/retentions/%d" % retention_id, body=dict(wanted, id=retention_id))
    return True, {"project": project, "retention_id": retention_id, "created": False}
