"""Passerelle seen by stock gRPC tooling (Python grpcio), as any client outside Rust sees it:
`passerelle up` is started as its own process, its services are discovered through server
reflection, and health says SERVING."""

import json
import os
import re
import shlex
import signal
import subprocess
import tempfile

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

BINARY = os.environ.get("PASSERELLE_BIN", "target/debug/passerelle")
# grpcurl, built from the Go module proxy by scripts/go-tools.sh (scripts/test.sh sets this).
GRPCURL = os.environ.get("PASSERELLE_GRPCURL", "")
ADMIN_PASSWORD = "readme examples passphrase"
README = os.path.join(os.path.dirname(__file__), "..", "README.md")
# The addresses the README's examples use: `passerelle up`'s defaults.
README_PORTS = {"50051": "platform", "50052": "identity", "50053": "vault", "50054": "directory", "50055": "analytics"}


@pytest.fixture(scope="module")
def platform():
    data = tempfile.TemporaryDirectory()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSERELLE_")}
    env["PASSERELLE_LOG"] = "warn"
    env["PASSERELLE_BOOTSTRAP_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    proc = subprocess.Popen(
        [BINARY, "up", "--listen", "127.0.0.1:0", "--data-dir", data.name],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    endpoints = {}
    for line in proc.stdout:
        if line.startswith("Press Ctrl-C"):
            break
        match = re.match(r"\s+(\S+)\s+(\S+:\d+)$", line.rstrip("\n"))
        # The web front (an http:// address) is checked with HTTP, the rest with gRPC.
        if match and not match.group(2).startswith("http://"):
            endpoints[match.group(1)] = match.group(2)
        elif match:
            endpoints["web"] = match.group(2)
    assert endpoints, "passerelle up printed no service address"
    yield endpoints
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0, "passerelle up did not stop cleanly on Ctrl-C"
    data.cleanup()


def list_services(address):
    with grpc.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
        return {s.name for s in response.list_services_response.service}


def grpc_services(platform):
    return {name: address for name, address in platform.items() if name != "web"}


def test_the_web_front_answers_with_its_security_headers(platform):
    import urllib.request

    with urllib.request.urlopen(platform["web"] + "/connexion", timeout=10) as page:
        assert page.status == 200
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["Cache-Control"] == "no-store"
        assert "<form" in page.read().decode()


def test_reflection_lists_what_each_server_serves(platform):
    for name, address in grpc_services(platform).items():
        services = list_services(address)
        assert "grpc.health.v1.Health" in services, services
        ours = [s for s in services if s.startswith("passerelle.")]
        assert ours == [f"passerelle.{name}.v1.{name.capitalize()}"], (name, services)


def test_health_reports_serving(platform):
    for name, address in grpc_services(platform).items():
        with grpc.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for service in [""] + sorted(s for s in list_services(address) if s.startswith("passerelle.")):
                status = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
                assert status == health_pb2.HealthCheckResponse.SERVING, (name, service, status)


def test_unknown_service_is_not_found_by_health(platform):
    address = platform["platform"]
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Check(health_pb2.HealthCheckRequest(service="passerelle.nothing.v1.Nothing"), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def readme_grpcurl_commands():
    """Every `grpcurl` command of the README's shell blocks, continuation lines joined."""
    commands, in_shell, pending = [], False, ""
    with open(README, encoding="utf-8") as readme:
        for line in readme:
            if line.startswith("```"):
                in_shell = line.strip() == "```sh"
                continue
            if not in_shell:
                continue
            line = pending + line.rstrip("\n")
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1]
                continue
            if line.startswith("grpcurl "):
                commands.append(shlex.split(line.split("  #")[0]))
    return commands


def test_the_readme_grpcurl_examples_work(platform):
    """The README's grpcurl lines, run as written by the real grpcurl against `passerelle up`:
    only the addresses (random ports here), the admin's password and the token are filled in."""
    assert GRPCURL and os.access(GRPCURL, os.X_OK), "PASSERELLE_GRPCURL must name grpcurl (scripts/go-tools.sh path grpcurl)"
    commands = readme_grpcurl_commands()
    with open(README, encoding="utf-8") as readme:
        written = sum(1 for line in readme if line.lstrip().startswith("grpcurl "))
    assert len(commands) == written, f"{written} grpcurl lines in the README, {len(commands)} in its sh blocks"
    # Signing in first: the README's other examples use its token as `$TOKEN`.
    commands.sort(key=lambda command: not command[-1].endswith("/Login"))
    token = None
    outputs = []
    for command in commands:
        args = []
        for arg in command[1:]:
            host_port = re.fullmatch(r"127\.0\.0\.1:(\d+)", arg)
            if host_port:
                arg = platform[README_PORTS[host_port.group(1)]]
            arg = arg.replace("…", ADMIN_PASSWORD)
            if "$TOKEN" in arg:
                assert token, "the README uses $TOKEN before a Login example"
                arg = arg.replace("$TOKEN", token)
            args.append(arg)
        done = subprocess.run([GRPCURL, *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        outputs.append((command[-1], done.stdout))
        if command[-1].endswith("/Login"):
            token = json.loads(done.stdout)["accessToken"]
    said = dict(outputs)
    assert "passerelle.platform.v1.Platform" in said["list"]
    assert json.loads(said["passerelle.identity.v1.Identity/CreateAccount"])["account"]["username"] == "agent.nord"
    assert "version" in json.loads(said["passerelle.platform.v1.Platform/Info"])
    saved = json.loads(said["passerelle.identity.v1.Identity/SaveStructure"])
    assert saved["id"] == "pimms-amiens", saved
    listed = json.loads(said["passerelle.identity.v1.Identity/ListStructures"])["structures"]
    assert {"id": "pimms-amiens", "displayName": "PIMMS Amiens Métropole", "kind": "STRUCTURE_KIND_ASSOCIATION"} in listed, listed
