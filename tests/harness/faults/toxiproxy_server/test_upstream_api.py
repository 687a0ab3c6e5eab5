"""Toxiproxy's own API tests, its ``api_test.go`` (34 cases), ported to pytest against this server.

Each upstream ``TestXxx`` is ``test_xxx`` here, in the same order, with the same calls and
checks. :class:`GoClient` stands in for Toxiproxy's Go client: the same requests, the same
defaults (``AddToxic`` with toxicity -1 sends 1; ``UpdateToxic`` with -1 leaves it out;
``Populate`` returns no proxies on an error) and the same error strings
(``Create: HTTP 400: missing required field: name``), so the upstream assertions carry over
word for word. What differs from the Go file, all mechanical:

* the fixed ports (3310, 7070, 20001, ...) are free ports picked for each test, so a run never
  collides with another process; the Go tests' ``localhost`` addresses are kept;
* upstream shares one server and clears it after each test; here each test gets its own;
* ``TestVersionEndpointReturnsVersion`` expects ``{"version": "git"}\\n``, what an unreleased
  Go build reports (Toxiproxy 2.12.0 itself fails it, with ``2.12.0``). This server reports
  the API level it emulates, so the port checks the same body with ``2.12.0`` in it.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest

from paychaos.faults.toxiproxy_server import API_VERSION, ServerThread
from tests.harness.faults.toxiproxy_server.toxiproxy_helpers import WAIT

pytestmark = pytest.mark.integration  # real sockets: the embedded Toxiproxy, real services


class GoError(Exception):
    """An error as the Go client words it: ``"<Caller>: HTTP <status>: <message>"``."""


@dataclass
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any]


@dataclass
class Proxy:
    client: GoClient
    name: str = ""
    listen: str = ""
    upstream: str = ""
    enabled: bool = False
    active_toxics: list[Toxic] = field(default_factory=list)
    created: bool = False

    def _json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.__dict__ for t in self.active_toxics],
        }

    def _load(self, body: dict[str, Any]) -> Proxy:
        self.name, self.listen, self.upstream = body["name"], body["listen"], body["upstream"]
        self.enabled = body["enabled"]
        self.active_toxics = [Toxic(**t) for t in body.get("toxics") or []]
        self.created = True
        return self

    def save(self) -> None:
        if self.created:
            body = self.client.call("Save", "POST", f"/proxies/{self.name}", self._json(), 200)
        else:
            body = self.client.call("Create", "POST", "/proxies", self._json(), 201)
        self._load(body)

    def delete(self) -> None:
        self.client.call("Delete", "DELETE", f"/proxies/{self.name}", None, 204)

    def toxics(self) -> list[Toxic]:
        body = self.client.call("Toxics", "GET", f"/proxies/{self.name}/toxics", None, 200)
        return [Toxic(**t) for t in body]

    def add_toxic(
        self, name: str, type_: str, stream: str, toxicity: float, attributes: dict[str, Any] | None
    ) -> Toxic:
        toxic: dict[str, Any] = {"name": name, "type": type_}
        if stream:  # `json:"stream,omitempty"`
            toxic["stream"] = stream
        toxic["toxicity"] = 1.0 if toxicity == -1 else toxicity
        toxic["attributes"] = attributes
        body = self.client.call("AddToxic", "POST", f"/proxies/{self.name}/toxics", toxic, 200)
        return Toxic(**body)

    def update_toxic(self, name: str, toxicity: float, attributes: dict[str, Any]) -> Toxic:
        toxic: dict[str, Any] = {"attributes": attributes}
        if toxicity != -1:
            toxic["toxicity"] = toxicity
        body = self.client.call("UpdateToxic", "PATCH", f"/proxies/{self.name}/toxics/{name}", toxic, 200)
        return Toxic(**body)

    def remove_toxic(self, name: str) -> None:
        self.client.call("RemoveToxic", "DELETE", f"/proxies/{self.name}/toxics/{name}", None, 204)


class GoClient:
    """The calls of Toxiproxy's Go client that ``api_test.go`` makes."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, caller: str, method: str, path: str, body: Any, expected: int) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("User-Agent", "toxiproxy-cli")
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        if status != expected:
            try:
                error = json.loads(payload)
                raise GoError(f"{caller}: HTTP {error['status']}: {error['error']}")
            except (ValueError, KeyError, TypeError):
                raise GoError(
                    f"{caller}: HTTP {status}: Unexpected response code, expected {expected}"
                ) from None
        return json.loads(payload) if payload.strip() else None

    def new_proxy(self) -> Proxy:
        return Proxy(self)

    def create_proxy(self, name: str, listen: str, upstream: str) -> Proxy:
        proxy = Proxy(self, name, listen, upstream, enabled=True)
        proxy.save()
        return proxy

    def proxies(self) -> dict[str, Proxy]:
        body = self.call("Proxies", "GET", "/proxies", None, 200)
        return {name: Proxy(self)._load(p) for name, p in body.items()}

    def proxy(self, name: str) -> Proxy:
        return Proxy(self)._load(self.call("Proxy", "GET", f"/proxies/{name}", None, 200))

    def populate(self, config: list[dict[str, Any]]) -> list[Proxy]:
        body = self.call("Populate", "POST", "/populate", config, 201)
        return [Proxy(self)._load(p) for p in body["proxies"] or []]

    def reset_state(self) -> None:
        self.call("ResetState", "POST", "/reset", None, 204)


def http_get(url: str, user_agent: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers={"User-Agent": user_agent})
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def assert_proxy_up(addr: str, up: bool) -> None:
    host, _, port = addr.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=WAIT).close()
    except OSError as exc:
        error: OSError | None = exc
    else:
        error = None
    if up:
        assert error is None, f"Expected proxy to be up: {error}"
    else:
        assert error is not None, "Expected proxy to be down"


def assert_toxic_exists(
    toxics: list[Toxic], name: str, type_name: str, stream: str, exists: bool
) -> Toxic | None:
    toxic = next((t for t in toxics if t.name == name), None)
    if exists:
        assert toxic is not None, f"Expected to see {name} toxic in list"
        assert toxic.type == type_name, f"Expected {name} to be of type {type_name}, found {toxic.type}"
        assert toxic.stream == stream, f"Expected {name} to be in stream {stream}, found {toxic.stream}"
    else:
        assert toxic is None or toxic.stream != stream, f"Expected {name} toxic to be missing from list"
    return toxic


class Ports:
    """The Go tests' fixed ports, each replaced by a free one: ``ports[3310]``."""

    def __init__(self, names: tuple[int, ...]) -> None:
        socks = [socket.create_server(("127.0.0.1", 0)) for _ in names]
        self._ports = {name: s.getsockname()[1] for name, s in zip(names, socks, strict=True)}
        for s in socks:
            s.close()

    def __getitem__(self, name: int) -> int:
        return self._ports[name]


@pytest.fixture
def ports() -> Ports:
    return Ports((3310, 3311, 7070, 7171, 7373, 7474, 7575, 7676, 20001))


@pytest.fixture
def client(server: ServerThread) -> GoClient:
    return GoClient(server.url)


def local(port: int) -> str:
    return f"localhost:{port}"


def ip(port: int) -> str:
    return f"127.0.0.1:{port}"


def test_request_id(server: ServerThread) -> None:
    status, headers = http_get(f"{server.url}/version", "curl")
    assert status == 200
    assert "X-Toxiproxy-Request-Id" in headers, headers


def test_browser_gets_403(server: ServerThread) -> None:
    agent = (
        "Mozilla/5.0 (Linux; Android 4.4.2); Nexus 5 Build/KOT49H) AppleWebKit/537.36"
        "(KHTML, like Gecko) Chrome/33.0.1750.117 Mobile Safari/537.36 OPR/20.0.1396.72047"
    )
    status, _ = http_get(f"{server.url}/proxies", agent)
    assert status == 403, "Browser-like UserAgent was not denied access to Toxiproxy"


def test_non_browser_gets_200(server: ServerThread) -> None:
    status, _ = http_get(f"{server.url}/proxies", "Wget/2.1")
    assert status != 403, "Non-Browser-like UserAgent was denied access to Toxiproxy"


def test_index_with_no_proxies(client: GoClient) -> None:
    assert client.proxies() == {}


def test_create_proxy_blank_name(client: GoClient) -> None:
    with pytest.raises(GoError) as exc:
        client.create_proxy("", "", "")
    assert str(exc.value) == "Create: HTTP 400: missing required field: name"


def test_create_proxy_blank_upstream(client: GoClient) -> None:
    with pytest.raises(GoError) as exc:
        client.create_proxy("test", "", "")
    assert str(exc.value) == "Create: HTTP 400: missing required field: upstream"


def test_populate_proxy(client: GoClient, ports: Ports) -> None:
    proxies = client.populate(
        [
            {"name": "one", "listen": local(ports[7070]), "upstream": local(ports[7171]), "enabled": True},
            {"name": "two", "listen": local(ports[7373]), "upstream": local(ports[7474]), "enabled": True},
        ]
    )
    assert len(proxies) == 2
    assert [p.name for p in proxies] == ["one", "two"]
    for p in proxies:
        assert_proxy_up(p.listen, True)


def test_populate_default_enabled(client: GoClient, server: ServerThread, ports: Ports) -> None:
    body = f'[{{"name": "test", "listen": "{local(ports[7070])}", "upstream": "{local(ports[7171])}"}}]'
    request = urllib.request.Request(
        f"{server.url}/populate", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        assert response.status == 201
    proxies = client.proxies()
    assert list(proxies) == ["test"]
    for p in proxies.values():
        assert_proxy_up(p.listen, True)


def test_populate_disabled_proxy(client: GoClient, ports: Ports) -> None:
    proxies = client.populate(
        [
            {"name": "one", "listen": local(ports[7070]), "upstream": local(ports[7171]), "enabled": False},
            {"name": "two", "listen": local(ports[7373]), "upstream": local(ports[7474]), "enabled": True},
        ]
    )
    assert [p.name for p in proxies] == ["one", "two"]
    assert_proxy_up(local(ports[7070]), False)
    assert_proxy_up(local(ports[7373]), True)


def test_populate_existing_proxy(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("one", local(ports[7070]), local(ports[7171]))
    client.create_proxy("two", local(ports[7373]), local(ports[7474]))
    # Create a toxic so we can make sure the proxy wasn't replaced
    test_proxy.add_toxic("", "latency", "downstream", 1, None)

    proxies = client.populate(
        [
            {"name": "one", "listen": ip(ports[7070]), "upstream": local(ports[7171]), "enabled": True},
            {"name": "two", "listen": ip(ports[7575]), "upstream": local(ports[7676]), "enabled": True},
        ]
    )
    assert [p.name for p in proxies] == ["one", "two"]
    assert [p.listen for p in proxies] == [ip(ports[7070]), ip(ports[7575])]
    toxics = test_proxy.toxics()
    assert [t.type for t in toxics] == ["latency"], "Populate did not preserve existing proxy"
    for p in proxies:
        assert_proxy_up(p.listen, True)


def test_populate_with_bad_name(client: GoClient, ports: Ports) -> None:
    with pytest.raises(GoError) as exc:
        client.populate(
            [
                {
                    "name": "one",
                    "listen": local(ports[7070]),
                    "upstream": local(ports[7171]),
                    "enabled": True,
                },
                {"name": "", "listen": "", "upstream": "", "enabled": True},
            ]
        )
    assert str(exc.value) == "Populate: HTTP 400: missing required field: name at proxy 2"
    assert client.proxies() == {}, "Expected no proxies to be created"


def test_populate_proxy_with_bad_data_should_return_error(client: GoClient, ports: Ports) -> None:
    with pytest.raises(GoError):
        client.populate(
            [
                {
                    "name": "one",
                    "listen": local(ports[7070]),
                    "upstream": local(ports[7171]),
                    "enabled": True,
                },
                {"name": "two", "listen": "local373", "upstream": local(ports[7474]), "enabled": True},
                {
                    "name": "three",
                    "listen": local(ports[7575]),
                    "upstream": local(ports[7676]),
                    "enabled": True,
                },
            ]
        )
    proxies = client.proxies()
    assert list(proxies) == ["one"], "Proxy `one' was not created!"
    assert "two" not in proxies
    assert "three" not in proxies


def test_populate_add_toxic(client: GoClient, ports: Ports) -> None:
    proxies = client.populate(
        [{"name": "one", "listen": local(ports[7070]), "upstream": local(ports[7171]), "enabled": True}]
    )
    assert [p.name for p in proxies] == ["one"]
    proxies[0].add_toxic("", "latency", "downstream", 1, None)


def test_listing_proxies(client: GoClient, ports: Ports) -> None:
    client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    proxies = client.proxies()
    assert "mysql_master" in proxies, "Expected to see mysql_master proxy in list"
    proxy = proxies["mysql_master"]
    assert (proxy.name, proxy.listen, proxy.upstream) == (
        "mysql_master",
        ip(ports[3310]),
        local(ports[20001]),
    )
    assert_toxic_exists(proxy.active_toxics, "latency", "", "", False)


def test_create_and_get_proxy(client: GoClient, ports: Ports) -> None:
    client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    proxy = client.proxy("mysql_master")
    assert (proxy.name, proxy.listen, proxy.upstream, proxy.enabled) == (
        "mysql_master",
        ip(ports[3310]),
        local(ports[20001]),
        True,
    )
    assert_toxic_exists(proxy.active_toxics, "latency", "", "", False)


def test_create_proxy_with_save(client: GoClient, ports: Ports) -> None:
    test_proxy = client.new_proxy()
    test_proxy.name = "mysql_master"
    test_proxy.listen = local(ports[3310])
    test_proxy.upstream = local(ports[20001])
    test_proxy.enabled = True
    test_proxy.save()

    proxy = client.proxy("mysql_master")
    assert (proxy.name, proxy.listen, proxy.upstream, proxy.enabled) == (
        "mysql_master",
        ip(ports[3310]),
        local(ports[20001]),
        True,
    )
    assert_proxy_up(proxy.listen, True)


def test_create_disabled_proxy(client: GoClient, ports: Ports) -> None:
    disabled = client.new_proxy()
    disabled.name = "mysql_master"
    disabled.listen = local(ports[3310])
    disabled.upstream = local(ports[20001])
    disabled.save()

    proxy = client.proxy("mysql_master")
    assert (proxy.name, proxy.listen, proxy.upstream, proxy.enabled) == (
        "mysql_master",
        local(ports[3310]),
        local(ports[20001]),
        False,
    )
    assert_proxy_up(proxy.listen, False)


def test_create_disabled_proxy_and_enable(client: GoClient, ports: Ports) -> None:
    disabled = client.new_proxy()
    disabled.name = "mysql_master"
    disabled.listen = local(ports[3310])
    disabled.upstream = local(ports[20001])
    disabled.save()

    proxy = client.proxy("mysql_master")
    assert (proxy.name, proxy.listen, proxy.upstream, proxy.enabled) == (
        "mysql_master",
        local(ports[3310]),
        local(ports[20001]),
        False,
    )
    proxy.enabled = True
    proxy.save()
    assert_proxy_up(proxy.listen, True)

    proxy.enabled = False
    proxy.save()
    assert_proxy_up(proxy.listen, False)


def test_delete_proxy(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    assert client.proxies(), "Expected new proxy in list"
    assert_proxy_up(test_proxy.listen, True)

    test_proxy.delete()
    assert_proxy_up(test_proxy.listen, False)
    assert client.proxies() == {}, "Expected proxy to be deleted from list"

    with pytest.raises(GoError) as exc:
        test_proxy.delete()
    assert str(exc.value) == "Delete: HTTP 404: proxy not found"


def test_create_proxy_port_conflict(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    with pytest.raises(GoError) as exc:
        client.create_proxy("test", local(ports[3310]), local(ports[20001]))
    assert str(exc.value) == f"Create: HTTP 500: listen tcp {ip(ports[3310])}: bind: address already in use"

    test_proxy.delete()
    client.create_proxy("test", local(ports[3310]), local(ports[20001]))


def test_create_proxy_name_conflict(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    with pytest.raises(GoError) as exc:
        client.create_proxy("mysql_master", local(ports[3311]), local(ports[20001]))
    assert str(exc.value) == "Create: HTTP 409: proxy already exists"

    test_proxy.delete()
    client.create_proxy("mysql_master", local(ports[3311]), local(ports[20001]))


def test_reset_state(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    latency = test_proxy.add_toxic("", "latency", "downstream", 1, {"latency": 100, "jitter": 10})
    assert (latency.attributes["latency"], latency.attributes["jitter"]) == (100, 10)

    client.reset_state()
    proxies = client.proxies()
    assert "mysql_master" in proxies, "Expected proxy to still exist"
    proxy = proxies["mysql_master"]
    assert proxy.enabled, "Expected proxy to be enabled"
    assert_toxic_exists(proxy.toxics(), "latency", "", "", False)
    assert_proxy_up(proxy.listen, True)


def test_listing_toxics(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    assert_toxic_exists(test_proxy.toxics(), "latency", "", "", False)


def test_add_toxic(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    latency = test_proxy.add_toxic("foobar", "latency", "downstream", 1, {"latency": 100, "jitter": 10})
    assert (latency.attributes["latency"], latency.attributes["jitter"]) == (100, 10)

    toxic = assert_toxic_exists(test_proxy.toxics(), "foobar", "latency", "downstream", True)
    assert toxic is not None
    assert (toxic.toxicity, toxic.attributes["latency"], toxic.attributes["jitter"]) == (1.0, 100, 10)


def test_add_multiple_toxics(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    test_proxy.add_toxic("latency1", "latency", "downstream", 1, None)
    test_proxy.add_toxic("latency2", "latency", "downstream", 1, None)

    toxics = test_proxy.toxics()
    assert_toxic_exists(toxics, "latency1", "latency", "downstream", True)
    toxic = assert_toxic_exists(toxics, "latency2", "latency", "downstream", True)
    assert toxic is not None
    assert (toxic.toxicity, toxic.attributes["latency"], toxic.attributes["jitter"]) == (1.0, 0, 0)
    assert_toxic_exists(toxics, "latency1", "", "upstream", False)
    assert_toxic_exists(toxics, "latency2", "", "upstream", False)


def test_add_conflicting_toxic(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    test_proxy.add_toxic("foobar", "latency", "downstream", 1, None)
    with pytest.raises(GoError) as exc:
        test_proxy.add_toxic("foobar", "slow_close", "downstream", 1, None)
    assert str(exc.value) == "AddToxic: HTTP 409: toxic already exists"

    toxics = test_proxy.toxics()
    toxic = assert_toxic_exists(toxics, "foobar", "latency", "downstream", True)
    assert toxic is not None
    assert (toxic.toxicity, toxic.attributes["latency"], toxic.attributes["jitter"]) == (1.0, 0, 0)
    assert_toxic_exists(toxics, "foobar", "", "upstream", False)


def test_add_conflicting_toxics_multistream(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    test_proxy.add_toxic("foobar", "latency", "upstream", 1, None)
    with pytest.raises(GoError) as exc:
        test_proxy.add_toxic("foobar", "latency", "downstream", 1, None)
    assert str(exc.value) == "AddToxic: HTTP 409: toxic already exists"

    toxics = test_proxy.toxics()
    toxic = assert_toxic_exists(toxics, "foobar", "latency", "upstream", True)
    assert toxic is not None
    assert (toxic.toxicity, toxic.attributes["latency"], toxic.attributes["jitter"]) == (1.0, 0, 0)
    assert_toxic_exists(toxics, "foobar", "", "downstream", False)


def test_add_conflicting_toxics_multistream_defaults(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    test_proxy.add_toxic("", "latency", "upstream", 1, None)
    test_proxy.add_toxic("", "latency", "downstream", 1, None)

    toxics = test_proxy.toxics()
    for name, stream in (("latency_upstream", "upstream"), ("latency_downstream", "downstream")):
        toxic = assert_toxic_exists(toxics, name, "latency", stream, True)
        assert toxic is not None
        assert (toxic.toxicity, toxic.attributes["latency"], toxic.attributes["jitter"]) == (1.0, 0, 0)


def test_add_toxic_with_toxicity(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    latency = test_proxy.add_toxic("", "latency", "downstream", 0.2, {"latency": 100, "jitter": 10})
    assert (latency.toxicity, latency.attributes["latency"], latency.attributes["jitter"]) == (0.2, 100, 10)

    toxic = assert_toxic_exists(test_proxy.toxics(), "latency_downstream", "latency", "downstream", True)
    assert toxic is not None
    assert (toxic.toxicity, toxic.attributes["latency"], toxic.attributes["jitter"]) == (0.2, 100, 10)


def test_add_noop(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    noop = test_proxy.add_toxic("foobar", "noop", "", 1, None)
    assert (noop.toxicity, noop.name, noop.type, noop.stream) == (1.0, "foobar", "noop", "downstream")

    toxic = assert_toxic_exists(test_proxy.toxics(), "foobar", "noop", "downstream", True)
    assert toxic is not None
    assert toxic.toxicity == 1.0


def test_update_toxics(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    latency = test_proxy.add_toxic("", "latency", "downstream", -1, {"latency": 100, "jitter": 10})
    assert (latency.toxicity, latency.attributes["latency"], latency.attributes["jitter"]) == (1.0, 100, 10)

    latency = test_proxy.update_toxic("latency_downstream", 0.5, {"latency": 1000})
    assert (latency.toxicity, latency.attributes["latency"], latency.attributes["jitter"]) == (0.5, 1000, 10)

    latency = test_proxy.update_toxic("latency_downstream", -1, {"latency": 500})
    assert (latency.toxicity, latency.attributes["latency"], latency.attributes["jitter"]) == (0.5, 500, 10)

    toxic = assert_toxic_exists(test_proxy.toxics(), "latency_downstream", "latency", "downstream", True)
    assert toxic is not None
    assert (toxic.toxicity, toxic.attributes["latency"], toxic.attributes["jitter"]) == (0.5, 500, 10)


def test_remove_toxic(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    test_proxy.add_toxic("", "latency", "downstream", 1, None)

    toxic = assert_toxic_exists(test_proxy.toxics(), "latency_downstream", "latency", "downstream", True)
    assert toxic is not None
    assert (toxic.toxicity, toxic.attributes["latency"], toxic.attributes["jitter"]) == (1.0, 0, 0)

    test_proxy.remove_toxic("latency_downstream")
    assert_toxic_exists(test_proxy.toxics(), "latency_downstream", "", "", False)


def test_version_endpoint_returns_version(server: ServerThread) -> None:
    with urllib.request.urlopen(f"{server.url}/version", timeout=WAIT) as response:
        body = response.read().decode()
    # Upstream: `{"version": "git"}\n` (an unreleased build); see the module docstring.
    assert body == f'{{"version": "{API_VERSION}"}}\n'


def test_invalid_stream(client: GoClient, ports: Ports) -> None:
    test_proxy = client.create_proxy("mysql_master", local(ports[3310]), local(ports[20001]))
    with pytest.raises(GoError):
        test_proxy.add_toxic("", "latency", "walrustream", 1, None)
