"""Passerelle seen by stock gRPC tooling (Python grpcio), as any client outside Rust sees it:
`passerelle up` is started as its own process, its services are discovered through server
reflection, and health says SERVING."""

import os
import re
import signal
import subprocess
import tempfile

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

BINARY = os.environ.get("PASSERELLE_BIN", "target/debug/passerelle")


@pytest.fixture(scope="module")
def platform():
    data = tempfile.TemporaryDirectory()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSERELLE_")}
    env["PASSERELLE_LOG"] = "warn"
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
