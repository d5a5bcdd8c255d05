"""A fake Harbor on 127.0.0.1 that checks every request against Harbor's published API definition.

This is NOT Harbor. It proves that Kiln's Harbor client sends only requests the API defines, and reads what it
defines, using ../shared/fixtures/harbor/swagger.yaml (Swagger 2.0, basePath /api/v2.0):

- every request under /api/v2.0 must match a path template and method of the definition; its query parameters and
  X- headers must be ones the operation declares (path and query values of type integer must be integers);
- a JSON body must validate against the operation's body parameter schema (jsonschema Draft 4, $refs into
  `definitions`), and an operation without a body parameter must get no body;
- every response the fake sends is validated against the operation's response schema for that status, so the
  fake cannot hand the client shapes real Harbor would not send.
Stricter than Harbor's server in one way, on purpose: object schemas that list `properties` refuse other keys
(`additionalProperties: false` is added), so a misspelled field is caught instead of silently dropped. A bare
`type: object` with neither properties nor additionalProperties accepts any JSON value: Harbor's Go server binds
it to interface{} (RetentionRule.params holds numbers, e.g. {"latestPushedK": 10}, though the definition's
additionalProperties says object). `x-nullable: true` allows null.

Violations are collected in ``FakeHarbor.violations`` (tests assert it is empty), requests in ``.log``.
The state model (projects, registries, robots, retention policies) is just enough for read-after-write. The
registry API (/v2/, not in the definition) is a small in-memory OCI distribution server with Harbor's token
flow (/service/token); it refuses pushes into proxy-cache projects as Harbor does.
"""

import base64
import copy
import hashlib
import json
import os
import re
import secrets
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema
import yaml

SWAGGER = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures", "harbor",
                                       "swagger.yaml"))
TIMESTAMP = "2026-01-01T00:00:00.000Z"


# --- the API definition as JSON Schema -------------------------------------------------------------------------

def _to_jsonschema(node):
    """Swagger 2.0 schema -> JSON Schema Draft 4 (see the module docstring for the two deliberate rules)."""
    if isinstance(node, list):
        return [_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return {"$ref": node["$ref"]}  # Draft 4 ignores a $ref's siblings; say so explicitly
    out = dict((k, _to_jsonschema(v)) for k, v in node.items() if not k.startswith("x-") and k != "example")
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out \
            and "allOf" not in out:
        out.pop("type")
    elif "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("x-nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


class Spec(object):
    """Path matching and validation against swagger.yaml."""

    _cache = None

    @classmethod
    def load(cls):
        if cls._cache is None:
            with open(SWAGGER) as handle:
                # The C loader when PyYAML has it: the definition is 10,000 lines.
                cls._cache = cls(yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
        return cls._cache

    def __init__(self, doc):
        self.doc = doc
        self.base = doc["basePath"]
        self.definitions = _to_jsonschema(doc["definitions"])
        self.routes = []
        for template, item in doc["paths"].items():
            names = re.findall(r"{(\w+)}", template)
            pattern = "^" + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", template.rstrip("/")) + "/?$"
            self.routes.append((len(names), template, re.compile(pattern), item))
        self.routes.sort(key=lambda r: r[0])  # literal segments win over templated ones

    def _param(self, param):
        if "$ref" in param:
            return self.doc["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        return param

    def match(self, method, path):
        """-> (template, operation, path params) or (template, None, params) for an undefined method, or None."""
        for _, template, regex, item in self.routes:
            found = regex.match(path)
            if found:
                op = item.get(method.lower())
                return template, op, dict((k, unquote(v)) for k, v in found.groupdict().items())
        return None

    def parameters(self, template, op):
        item = self.doc["paths"][template]
        return [self._param(p) for p in item.get("parameters", []) + op.get("parameters", [])]

    def validator(self, schema):
        return jsonschema.Draft4Validator(dict(_to_jsonschema(schema), definitions=self.definitions))

    def check_request(self, method, path, query, headers, body):
        """-> (template, operation, path params, [violations])."""
        found = self.match(method, path)
        if found is None:
            return None, None, {}, ["%s %s: no such path in the API definition" % (method, path)]
        template, op, path_params = found
        if op is None:
            return template, None, path_params, ["%s %s: the API defines no %s for %s" % (method, path, method,
                                                                                           template)]
        problems = []
        params = self.parameters(template, op)
        where = "%s %s (%s)" % (method, template, op.get("operationId"))
        declared = dict(((p["in"], p["name"].lower() if p["in"] == "header" else p["name"]), p) for p in params)
        for name, value in path_params.items():
            spec = declared.get(("path", name))
            if spec is None:
                problems.append("%s: path parameter %s is not declared" % (where, name))
            elif spec.get("type") == "integer" and not re.match(r"^-?\d+$", value):
                problems.append("%s: path parameter %s=%r is not an integer" % (where, name, value))
        for name, values in query.items():
            spec = declared.get(("query", name))
            if spec is None:
                problems.append("%s: query parameter %s is not declared" % (where, name))
            elif spec.get("type") == "integer" and not all(re.match(r"^-?\d+$", v) for v in values):
                problems.append("%s: query parameter %s=%r is not an integer" % (where, name, values))
            elif spec.get("type") == "integer" and "maximum" in spec and any(int(v) > spec["maximum"] for v in values):
                problems.append("%s: query parameter %s=%r is above its maximum %s" % (where, name, values,
                                                                                        spec["maximum"]))
        for name in headers:
            if name.lower().startswith("x-") and ("header", name.lower()) not in declared:
                problems.append("%s: header %s is not declared" % (where, name))
        body_params = [p for p in params if p["in"] == "body"]
        if body is None:
            if body_params and body_params[0].get("required"):
                problems.append("%s: the body (%s) is required" % (where, body_params[0]["name"]))
        elif not body_params:
            problems.append("%s: the operation takes no body, got one" % where)
        else:
            for error in self.validator(body_params[0]["schema"]).iter_errors(body):
                problems.append("%s: body %s: %s" % (where, "/".join(str(p) for p in error.absolute_path) or "(root)",
                                                     error.message))
        return template, op, path_params, problems

    def check_response(self, template, op, status, body):
        responses = op.get("responses", {})
        response = responses.get(str(status)) or responses.get("default")
        where = "%s (%s) -> %s" % (template, op.get("operationId"), status)
        if response is None:
            return ["%s: status not defined for the operation" % where]
        if "$ref" in response:
            response = self.doc["responses"][response["$ref"].rsplit("/", 1)[-1]]
        if "schema" not in response or body is None:
            return []
        return ["%s: response %s: %s" % (where, "/".join(str(p) for p in e.absolute_path) or "(root)", e.message)
                for e in self.validator(response["schema"]).iter_errors(body)]


# --- the fake server ---------------------------------------------------------------------------------------------

class FakeHarbor(object):
    """Start with ``with FakeHarbor(password) as harbor: harbor.url``."""

    def __init__(self, password="Harbor12345", username="admin"):
        self.spec = Spec.load()
        self.username, self.password = username, password
        self.violations, self.log, self.unimplemented = [], [], []
        self.lock = threading.Lock()
        self.next_id = {"project": 2, "registry": 1, "robot": 1, "retention": 1}
        self.projects = {"library": self._project(1, "library", None, {"public": "true"})}
        self.registries, self.robots, self.retentions = {}, {}, {}
        self.blobs, self.manifests, self.tokens, self.uploads = {}, {}, set(), {}
        self.robot_prefix = "robot$"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def __enter__(self):
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def reset_log(self):
        self.log, self.violations = [], []

    def mutations(self):
        return [(m, p) for m, p, _ in self.log if m not in ("GET", "HEAD")]

    # -- state helpers --
    def _new_id(self, kind):
        value = self.next_id[kind]
        self.next_id[kind] += 1
        return value

    @staticmethod
    def _project(project_id, name, registry_id, metadata):
        project = {"project_id": project_id, "name": name, "owner_id": 1, "owner_name": "admin",
                   "creation_time": TIMESTAMP, "update_time": TIMESTAMP, "deleted": False, "repo_count": 0,
                   "metadata": dict(metadata)}
        if registry_id:
            project["registry_id"] = registry_id
        return project

    def _find_project(self, name_or_id, by_name):
        if not by_name and name_or_id.isdigit():
            return next((p for p in self.projects.values() if p["project_id"] == int(name_or_id)), None)
        return self.projects.get(name_or_id)

    def _authorized(self, headers):
        auth = headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if (user, password) == (self.username, self.password):
                return True
            robot = next((r for r in self.robots.values() if r["name"] == user), None)
            return robot is not None and robot["_secret"] == password and not robot["disable"]
        return False

    # -- Harbor API operations: (status, body, headers) --
    def op(self, op_id, params, query, headers, body):
        handler = getattr(self, "op_" + op_id, None)
        if handler is None:
            self.unimplemented.append(op_id)
            return 501, {"errors": [{"code": "NOT_IMPLEMENTED", "message": "fake: " + op_id}]}, {}
        return handler(params, query, headers, body)

    @staticmethod
    def _err(status, code, message):
        return status, {"errors": [{"code": code, "message": message}]}, {}

    @staticmethod
    def _page(items, query):
        page = int(query.get("page", ["1"])[0])
        size = int(query.get("page_size", ["10"])[0])
        return 200, items[(page - 1) * size:page * size], {"X-Total-Count": str(len(items))}

    def op_getHealth(self, params, query, headers, body):
        return 200, {"status": "healthy", "components": [{"name": "core", "status": "healthy"},
                                                         {"name": "registry", "status": "healthy"}]}, {}

    def op_getSystemInfo(self, params, query, headers, body):
        return 200, {"harbor_version": "v2.14.0-fake", "auth_mode": "db_auth"}, {}

    def op_listRegistries(self, params, query, headers, body):
        return self._page([self._registry_view(r) for _, r in sorted(self.registries.items())], query)

    @staticmethod
    def _registry_view(registry):
        view = copy.deepcopy(registry)
        if view.get("credential", {}).get("access_secret"):
            view["credential"]["access_secret"] = "*****"
        return view

    def op_createRegistry(self, params, query, headers, body):
        if any(r["name"] == body.get("name") for r in self.registries.values()):
            return self._err(409, "CONFLICT", "registry %s already exists" % body.get("name"))
        if not body.get("name") or not body.get("url") or not body.get("type"):
            return self._err(400, "BAD_REQUEST", "name, url and type are required")
        registry_id = self._new_id("registry")
        record = dict(body, id=registry_id, status="healthy", creation_time=TIMESTAMP, update_time=TIMESTAMP)
        record.setdefault("credential", {"type": "basic", "access_key": "", "access_secret": ""})
        self.registries[registry_id] = record
        return 201, None, {"Location": "/api/v2.0/registries/%d" % registry_id}

    def op_getRegistry(self, params, query, headers, body):
        registry = self.registries.get(int(params["id"]))
        return (200, self._registry_view(registry), {}) if registry else self._err(404, "NOT_FOUND", "no registry")

    def op_updateRegistry(self, params, query, headers, body):
        registry = self.registries.get(int(params["id"]))
        if registry is None:
            return self._err(404, "NOT_FOUND", "no registry")
        for key in ("name", "description", "url", "insecure"):
            if body.get(key) is not None:
                registry[key] = body[key]
        cred = registry.setdefault("credential", {})
        for key, target in (("credential_type", "type"), ("access_key", "access_key"),
                            ("access_secret", "access_secret")):
            if body.get(key) is not None:
                cred[target] = body[key]
        return 200, None, {}

    def op_getProject(self, params, query, headers, body):
        by_name = headers.get("X-Is-Resource-Name", "").lower() == "true"
        project = self._find_project(params["project_name_or_id"], by_name)
        return (200, project, {}) if project else self._err(404, "NOT_FOUND", "project not found")

    def op_listProjects(self, params, query, headers, body):
        return self._page(sorted(self.projects.values(), key=lambda p: p["project_id"]), query)

    def op_createProject(self, params, query, headers, body):
        name = body.get("project_name") or ""
        if not re.match(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$", name):
            return self._err(400, "BAD_REQUEST", "invalid project name %r" % name)
        if name in self.projects:
            return self._err(409, "CONFLICT", "project %s already exists" % name)
        registry_id = body.get("registry_id")
        if registry_id and registry_id not in self.registries:
            return self._err(400, "BAD_REQUEST", "registry %s not found" % registry_id)
        metadata = dict(body.get("metadata") or {})
        metadata.setdefault("public", "false")
        project_id = self._new_id("project")
        self.projects[name] = self._project(project_id, name, registry_id, metadata)
        return 201, None, {"Location": "/api/v2.0/projects/%d" % project_id}

    def op_updateProject(self, params, query, headers, body):
        by_name = headers.get("X-Is-Resource-Name", "").lower() == "true"
        project = self._find_project(params["project_name_or_id"], by_name)
        if project is None:
            return self._err(404, "NOT_FOUND", "project not found")
        project["metadata"].update((k, v) for k, v in (body.get("metadata") or {}).items() if v is not None)
        return 200, None, {}

    def _robot_view(self, robot):
        return dict((k, v) for k, v in robot.items() if not k.startswith("_"))

    def op_ListRobot(self, params, query, headers, body):
        return self._page([self._robot_view(r) for _, r in sorted(self.robots.items())], query)

    def op_CreateRobot(self, params, query, headers, body):
        if body.get("level") not in ("system", "project"):
            return self._err(400, "BAD_REQUEST", "bad level")
        full = self.robot_prefix + body.get("name", "")
        if any(r["name"] == full for r in self.robots.values()):
            return self._err(409, "CONFLICT", "robot %s already exists" % full)
        robot_id = self._new_id("robot")
        secret = secrets.token_urlsafe(24)
        self.robots[robot_id] = {"id": robot_id, "name": full, "description": body.get("description", ""),
                                 "level": body["level"], "duration": body.get("duration", -1),
                                 "disable": bool(body.get("disable")), "editable": True, "expires_at": -1,
                                 "permissions": copy.deepcopy(body.get("permissions") or []),
                                 "creator_type": "local", "creator_ref": 1, "creation_time": TIMESTAMP,
                                 "update_time": TIMESTAMP, "_secret": secret}
        return 201, {"id": robot_id, "name": full, "secret": secret, "creation_time": TIMESTAMP,
                     "expires_at": -1}, {"Location": "/api/v2.0/robots/%d" % robot_id}

    def op_GetRobotByID(self, params, query, headers, body):
        robot = self.robots.get(int(params["robot_id"]))
        return (200, self._robot_view(robot), {}) if robot else self._err(404, "NOT_FOUND", "robot not found")

    def op_UpdateRobot(self, params, query, headers, body):
        robot = self.robots.get(int(params["robot_id"]))
        if robot is None:
            return self._err(404, "NOT_FOUND", "robot not found")
        if body.get("name") != robot["name"] or body.get("level") != robot["level"]:
            return self._err(400, "BAD_REQUEST", "cannot change name or level")
        for key in ("description", "duration", "disable", "permissions"):
            if key in body:
                robot[key] = copy.deepcopy(body[key])
        return 200, None, {}

    def op_RefreshSec(self, params, query, headers, body):
        robot = self.robots.get(int(params["robot_id"]))
        if robot is None:
            return self._err(404, "NOT_FOUND", "robot not found")
        robot["_secret"] = body.get("secret") or secrets.token_urlsafe(24)
        return 200, {"secret": robot["_secret"]}, {}

    def op_createRetention(self, params, query, headers, body):
        scope = body.get("scope") or {}
        project = next((p for p in self.projects.values() if p["project_id"] == scope.get("ref")), None)
        if scope.get("level") != "project" or project is None:
            return self._err(400, "BAD_REQUEST", "scope must name an existing project")
        if project["metadata"].get("retention_id"):
            return self._err(400, "BAD_REQUEST", "project already has a retention policy")
        retention_id = self._new_id("retention")
        policy = copy.deepcopy(body)
        policy["id"] = retention_id
        for index, rule in enumerate(policy.get("rules") or []):
            rule["id"] = index + 1
        self.retentions[retention_id] = policy
        project["metadata"]["retention_id"] = str(retention_id)  # Harbor binds the policy to the project
        return 201, None, {"Location": "/api/v2.0/retentions/%d" % retention_id}

    def op_getRetention(self, params, query, headers, body):
        policy = self.retentions.get(int(params["id"]))
        return (200, policy, {}) if policy else self._err(404, "NOT_FOUND", "no such policy")

    def op_updateRetention(self, params, query, headers, body):
        retention_id = int(params["id"])
        if retention_id not in self.retentions:
            return self._err(404, "NOT_FOUND", "no such policy")
        policy = copy.deepcopy(body)
        policy["id"] = retention_id
        self.retentions[retention_id] = policy
        return 200, None, {}

    # -- the registry API (/v2/, outside the definition) --
    def registry(self, method, path, query, headers, body):
        if path == "/service/token":
            if not self._authorized(headers):
                return 401, {"errors": [{"code": "UNAUTHORIZED"}]}, {}
            token = secrets.token_hex(16)
            self.tokens.add(token)
            return 200, {"token": token}, {}
        auth = headers.get("Authorization") or ""
        if not (auth.startswith("Bearer ") and auth[7:] in self.tokens):
            challenge = 'Bearer realm="%s/service/token",service="harbor-registry"' % self.url
            match = re.match(r"^/v2/(.+)/(blobs|manifests)/", path)
            if match:
                challenge += ',scope="repository:%s:pull,push"' % match.group(1)
            return 401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge}
        match = re.match(r"^/v2/(?P<repo>.+?)/(?P<kind>blobs/uploads|blobs|manifests)/?(?P<ref>[^/]*)$", path)
        if path == "/v2/" or not match:
            return (200, {}, {}) if path == "/v2/" else (404, {"errors": [{"code": "NAME_UNKNOWN"}]}, {})
        repo, kind, ref = match.group("repo"), match.group("kind"), match.group("ref")
        project = self.projects.get(repo.split("/", 1)[0])
        if project is None:
            return 404, {"errors": [{"code": "NAME_UNKNOWN", "message": "project not found"}]}, {}
        if method in ("POST", "PUT") and project.get("registry_id"):
            return 403, {"errors": [{"code": "DENIED", "message": "can not push to a proxy project"}]}, {}
        if kind == "blobs" and method == "HEAD":
            return (200, None, {"Docker-Content-Digest": ref}) if ref in self.blobs else (404, None, {})
        if kind == "blobs/uploads" and method == "POST" and not ref:
            upload = str(uuid.uuid4())
            self.uploads[upload] = repo
            return 202, None, {"Location": "/v2/%s/blobs/uploads/%s" % (repo, upload)}
        if kind == "blobs/uploads" and method == "PUT" and ref in self.uploads:
            digest = query.get("digest", [""])[0]
            if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                return 400, {"errors": [{"code": "DIGEST_INVALID"}]}, {}
            del self.uploads[ref]
            self.blobs[digest] = body
            return 201, None, {"Docker-Content-Digest": digest, "Location": "/v2/%s/blobs/%s" % (repo, digest)}
        if kind == "manifests" and method == "HEAD":
            stored = self.manifests.get((repo, ref))
            if stored is None:
                return 404, None, {}
            return 200, None, {"Docker-Content-Digest": stored[0], "Content-Type": stored[1]}
        if kind == "manifests" and method == "PUT":
            manifest = json.loads(body)
            children = [manifest["config"]] + manifest.get("layers", []) if "config" in manifest else []
            for desc in children:
                if desc["digest"] not in self.blobs:
                    return 400, {"errors": [{"code": "MANIFEST_BLOB_UNKNOWN", "message": desc["digest"]}]}, {}
            for desc in manifest.get("manifests", []):
                if not any(d == desc["digest"] for d, _, _ in self.manifests.values()):
                    return 400, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": desc["digest"]}]}, {}
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            entry = (digest, headers.get("Content-Type"), body)
            self.manifests[(repo, ref)] = entry
            self.manifests[(repo, digest)] = entry
            return 201, None, {"Docker-Content-Digest": digest}
        return 405, {"errors": [{"code": "UNSUPPORTED"}]}, {}

    # -- HTTP plumbing --
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes; with Nagle on, each response waits for a delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _serve(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query, keep_blank_values=True)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else None
                headers = dict(self.headers.items())
                with fake.lock:
                    if parts.path.startswith(fake.spec.base + "/"):
                        status, body, out_headers = fake.api(self.command, parts.path[len(fake.spec.base):], query,
                                                             headers, raw)
                        payload = json.dumps(body).encode() if body is not None else b""
                    else:
                        fake.log.append((self.command, parts.path, None))
                        status, body, out_headers = fake.registry(self.command, parts.path, query, headers, raw)
                        payload = json.dumps(body).encode() if isinstance(body, (dict, list)) else b""
                self.send_response(status)
                for key, value in out_headers.items():
                    self.send_header(key, value)
                if payload:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload) if self.command != "HEAD" else 0))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        return Handler

    def api(self, method, path, query, headers, raw):
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                self.violations.append("%s %s: the body is not JSON" % (method, path))
                return 400, {"errors": [{"code": "BAD_REQUEST", "message": "not JSON"}]}, {}
        template, op, params, problems = self.spec.check_request(method, path, query, headers, body)
        self.log.append((method, path, template))
        self.violations.extend(problems)
        if op is None:
            return 404, {"errors": [{"code": "NOT_FOUND", "message": "not in the API definition"}]}, {}
        public = op.get("operationId") in ("getHealth", "getSystemInfo", "getPing")
        if not public and not self._authorized(headers):
            status, body, out = self._err(401, "UNAUTHORIZED", "unauthorized")
        elif problems:
            status, body, out = self._err(400, "BAD_REQUEST", "; ".join(problems))
        else:
            status, body, out = self.op(op["operationId"], params, query, headers, body)
        self.violations.extend(self.spec.check_response(template, op, status, body))
        return status, body, out
