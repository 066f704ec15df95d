"""Drives a running Gauntlet stack through Toxiproxy's own Python client (toxiproxy-python, PyPI)
and checks what each call does to traffic, not just the JSON that comes back.

Run by tests/toxiproxy_client.rs:

    python3 drive.py --api 127.0.0.1:PORT --gateway http://127.0.0.1:PORT \
                     --authorization "Bearer ..." --echo 127.0.0.1:PORT

Prints `ok <check>` per check; any failure raises (exit 1 with the traceback).
"""

import argparse
import socket
import time
import urllib.error
import urllib.request

from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

LINK = "gateway->value-architect"


def ok(check):
    print("ok " + check, flush=True)


def gateway_get(args, path):
    """Status and seconds taken of one request through the gateway."""
    request = urllib.request.Request(
        args.gateway + path, headers={"Authorization": args.authorization}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as err:
        err.read()
        status = err.code
    return status, time.monotonic() - started


def echo_through(listen, payload):
    """Sends `payload` through a proxy to the echo server; returns what came back before EOF."""
    host, port = listen.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return received
            received += chunk


def refused(listen):
    host, port = listen.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--authorization", required=True)
    parser.add_argument("--echo", required=True)
    args = parser.parse_args()

    server = Toxiproxy()
    host, port = args.api.rsplit(":", 1)
    server.update_api_consumer(host, int(port))
    assert server.running(), "the control port accepts connections"
    assert b"version" in server.version(), server.version()
    ok("version")

    proxies = server.proxies()
    assert LINK in proxies, sorted(proxies)
    assert "value-committer->redis" in proxies, sorted(proxies)
    ok("proxies lists the stack's links")

    link = server.get_proxy(LINK)
    assert gateway_get(args, "/api/v1/value-models")[0] == 200

    # reset_peer on the gateway's hop: a connection failure (502 after Kong's retries).
    link.add_toxic(type="reset_peer", stream="upstream", attributes={"timeout": 0})
    assert list(link.toxics()) == ["reset_peer_upstream"], link.toxics()
    status, _ = gateway_get(args, "/api/v1/value-models")
    assert status == 502, status
    assert link.destroy_toxic("reset_peer_upstream")
    status, _ = gateway_get(args, "/api/v1/value-models")
    assert status == 200, status
    ok("reset_peer makes the route fail and removing it heals it")

    # latency: the route is slowed by at least the toxic's amount; reset removes it.
    link.add_toxic(name="slow", type="latency", attributes={"latency": 300})
    toxic = link.get_toxic("slow")
    assert toxic is not None and toxic.attributes["latency"] == 300, vars(toxic)
    status, took = gateway_get(args, "/api/v1/value-models")
    assert status == 200 and took >= 0.3, (status, took)
    assert server.reset()
    assert link.toxics() == {}, link.toxics()
    status, took = gateway_get(args, "/api/v1/value-models")
    assert status == 200, status
    ok("latency slows the route by its amount and reset removes it")

    # down: the link refuses connections while disabled.
    with link.down():
        assert server.get_proxy(LINK).enabled is False
        status, _ = gateway_get(args, "/api/v1/value-models")
        assert status == 502, status
    assert server.get_proxy(LINK).enabled is True
    status, _ = gateway_get(args, "/api/v1/value-models")
    assert status == 200, status
    ok("a disabled link refuses until enabled")

    # An extra proxy to a process outside the stack (POST /proxies).
    echo = server.create(upstream=args.echo, name="echo")
    assert echo.listen != "127.0.0.1:0", echo.listen
    assert echo_through(echo.listen, b"hello, toxiproxy") == b"hello, toxiproxy"
    echo.add_toxic(type="limit_data", stream="downstream", attributes={"bytes": 5})
    assert echo_through(echo.listen, b"hello, toxiproxy") == b"hello"
    echo.destroy_toxic("limit_data_downstream")
    echo.disable()
    assert refused(echo.listen), "a disabled proxy refuses new connections"
    echo.enable()
    assert echo_through(echo.listen, b"again") == b"again"
    ok("an extra proxy carries bytes, limit_data cuts them, disable refuses")

    # Errors as the client expects them.
    try:
        server.create(upstream=args.echo, name="echo")
        raise AssertionError("a duplicate proxy was created")
    except ProxyExists:
        pass
    try:
        echo.add_toxic(type="wormhole")
        raise AssertionError("an unknown toxic type was accepted")
    except InvalidToxic:
        pass
    try:
        link.add_toxic(name="dup", type="noop")
        link.add_toxic(name="dup", type="noop")
        raise AssertionError("a duplicate toxic was accepted")
    except ProxyExists:
        pass
    try:
        link.destroy_toxic("missing")
        raise AssertionError("a missing toxic was deleted")
    except NotFound:
        pass
    assert server.destroy(echo)
    assert server.get_proxy("echo") is None
    assert refused(echo.listen), "a deleted proxy's port is closed"
    ok("errors map to the client's exceptions and destroy closes the port")


if __name__ == "__main__":
    main()
