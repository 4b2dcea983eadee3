#!/usr/bin/env python3
"""Figures of the exporter under abuse (issue 8, cases 12 to 14), over loopback, bounded in time.

* basic auth: answer time for an unknown user and for a known user with a wrong password
  (they should match: the decoy hash has the configured cost);
* a legitimate scrape alone and while 64 clients send wrong passwords;
* legitimate scrapes answered while 1,000 idle connections are held (from one address and from
  50 addresses).

Usage: crates/zes-cli/benches/exporter_abuse.py [ZES_SMI_BINARY]   (default: a release build)
Linux only (it uses source addresses all over 127/8).
"""

from __future__ import annotations

import base64
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# bcrypt (cost 10) of "s3cret" for the user "prom".
HASH = "$2b$10$kWqc4.p3R2bq8Rz//S8X7eQs74Ugers/ekigcdx9hoU1liyGjpTQq"
GOOD = "prom:s3cret"


def start(binary: str, web_config: str | None) -> tuple[subprocess.Popen[bytes], int]:
    args = [binary, "--simulate", "a770", "exporter", "--listen", "127.0.0.1:0"]
    if web_config:
        args += ["--web-config", web_config]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    if "serving" not in line:
        proc.kill()
        raise SystemExit(f"exporter did not start: {line}")
    port = int(line.rsplit(":", 1)[1].split("/")[0])
    return proc, port


def get(port: int, source: str, credentials: str | None = None) -> tuple[float, str]:
    """Milliseconds and status of GET /metrics from `source` ("0" when refused or closed)."""
    s = socket.socket()
    s.settimeout(30)
    start_time = time.perf_counter()
    try:
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        head = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        if credentials:
            head += "Authorization: Basic " + base64.b64encode(credentials.encode()).decode() + "\r\n"
        s.sendall((head + "\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    except OSError:
        data = b""
    finally:
        s.close()
    status = data.split(b" ")[1].decode() if data.startswith(b"HTTP/") else "0"
    return (time.perf_counter() - start_time) * 1000, status


def auth_figures(binary: str, web: str) -> None:
    proc, port = start(binary, web)
    try:
        for name, cred, host in [
            ("unknown user", "nobody:x", 1),
            ("known user, wrong password", "prom:x", 2),
        ]:
            # A fresh source address each time: no per-peer failure limit involved.
            times = [get(port, f"127.0.{10 + i}.{host}", cred)[0] for i in range(5)]
            print(f"  {name:28} median {statistics.median(times):7.1f} ms")
        alone = [get(port, "127.0.0.2", GOOD) for _ in range(10)]
        stop = threading.Event()

        def attack(i: int) -> None:
            n = 0
            while not stop.is_set() and n < 500:
                get(port, "127.0.0.1", f"prom:wrong-{i}-{n}")
                n += 1

        threads = [threading.Thread(target=attack, args=(i,)) for i in range(64)]
        for t in threads:
            t.start()
        time.sleep(1)
        under = [get(port, "127.0.0.2", GOOD) for _ in range(10)]
        stop.set()
        for t in threads:
            t.join()
        ok = sum(s == "200" for _, s in under)
        print(
            f"  legit scrape alone: median {statistics.median(t for t, _ in alone):.1f} ms; "
            f"with 64 clients sending wrong passwords: median "
            f"{statistics.median(t for t, _ in under):.1f} ms, max {max(t for t, _ in under):.1f} ms, "
            f"{ok}/10 answered 200"
        )
    finally:
        proc.kill()
        proc.wait()


def slowloris_figures(binary: str, sources: list[str], label: str) -> None:
    proc, port = start(binary, None)
    try:
        time.sleep(1)
        idle = []
        for i in range(1000):
            s = socket.socket()
            try:
                s.bind((sources[i % len(sources)], 0))
                s.settimeout(2)
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                idle.append(s)
            except OSError:
                s.close()
        results = [get(port, "127.0.0.2")[1] for _ in range(40)]
        ok = sum(r == "200" for r in results)
        print(f"  1,000 idle connections from {label}: {ok}/40 scrapes answered 200")
        for s in idle:
            s.close()
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
    if len(sys.argv) > 1:
        binary = sys.argv[1]
    else:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "zes-cli"], cwd=root, check=True)
        binary = os.path.join(root, "target", "release", "zes-smi")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    with tempfile.TemporaryDirectory() as tmp:
        web = os.path.join(tmp, "web.yml")
        with open(web, "w", encoding="utf-8") as f:
            f.write(f"basic_auth_users:\n  prom: '{HASH}'\n")
        print(f"{binary}: basic auth (bcrypt cost 10)")
        auth_figures(binary, web)
    print("slowloris")
    slowloris_figures(binary, ["127.0.0.1"], "one address")
    slowloris_figures(binary, [f"127.0.1.{i}" for i in range(1, 51)], "50 addresses")


if __name__ == "__main__":
    main()
