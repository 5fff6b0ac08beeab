#!/usr/bin/env python3
"""Checks examples/docker-compose.yml without a Docker engine.

  python3 examples/check-compose.py            # structure and cross-references
  KERID=build/src/kerid python3 examples/check-compose.py   # also starts each config with kerid

What it checks:
  * the file parses as YAML (python3-yaml) and has the dkms-demo layout: services
    witness1..witness3 and watcher, one network, one named volume per service;
  * every service builds the one image from the repository's Dockerfile (build: ..),
    runs the role its command names with the config it mounts where the keriox images
    read theirs (/app/witness.yml, /app/watcher.yml), publishes "P:P" where P is that
    config's http_port, keeps /app/db in its own declared volume, and db_path lies in it;
  * each config's seed gives the prefix written in its comment (Ed25519, with the
    cryptography package when installed);
  * the watcher's initial_oobis name the witness services by compose name and port, with
    the witnesses' prefixes as eids; depends_on lists them;
  * with $KERID: each config starts (in a scratch directory, on a free loopback port,
    with a scratch database) and kerid prints "... <prefix> is listening", then exits 0
    on SIGTERM.
Prints one line per check and "N checks, N failed"; exit status 0 only if none failed.
"""
import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import yaml

here = os.path.dirname(os.path.abspath(__file__))
checks = 0
failed = 0


def check(ok, what):
    global checks, failed
    checks += 1
    if not ok:
        failed += 1
    print(("ok   " if ok else "FAIL ") + what)
    return ok


def prefix_of(seed):
    """B + qb64 of the Ed25519 public key of a CESR 'A' seed; None without cryptography."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError:
        return None
    raw = base64.urlsafe_b64decode(seed.encode())[1:]  # 'A' + 43 chars = 33 bytes, lead byte is pad
    pub = Ed25519PrivateKey.from_private_bytes(raw).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "B" + base64.urlsafe_b64encode(b"\0" + pub).decode()[1:]


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


compose_path = os.path.join(here, "docker-compose.yml")
compose = load(compose_path)
check(isinstance(compose, dict), "docker-compose.yml parses as a YAML mapping")
services = compose.get("services", {})
check(sorted(services) == ["watcher", "witness1", "witness2", "witness3"],
      "services: witness1, witness2, witness3, watcher (dkms-demo layout)")
networks = list((compose.get("networks") or {}).keys())
check(len(networks) == 1, f"one network ({networks})")
volumes = compose.get("volumes") or {}
check(os.path.isfile(os.path.join(here, "..", "Dockerfile")), "the build context .. holds the Dockerfile")

witness_prefix = {}  # service -> prefix
witness_port = {}
configs = {}
for name, svc in services.items():
    role = "watcher" if name == "watcher" else "witness"
    check(svc.get("build") == ".." and svc.get("image") == "kerid",
          f"{name}: image kerid built from .. (the repository's Dockerfile)")
    cmd = svc.get("command") or []
    check(cmd == ["--role", role, "-c", f"{role}.yml"], f"{name}: command {cmd}")
    check(svc.get("restart") == "always", f"{name}: restart always")
    check(svc.get("networks") == networks, f"{name}: on the compose network")
    binds = [v for v in svc.get("volumes", []) if isinstance(v, dict) and v.get("type") == "bind"]
    named = [v for v in svc.get("volumes", []) if isinstance(v, str)]
    cfg_src = None
    if check(len(binds) == 1 and binds[0].get("target") == f"/app/{role}.yml" and binds[0].get("read_only") is True,
             f"{name}: config bind-mounted read-only at /app/{role}.yml"):
        cfg_src = os.path.normpath(os.path.join(here, binds[0]["source"]))
        check(os.path.isfile(cfg_src), f"{name}: {binds[0]['source']} exists")
    vol_ok = len(named) == 1 and named[0].endswith(":/app/db") and named[0].split(":")[0] in volumes
    check(vol_ok, f"{name}: database in its own declared volume at /app/db ({named})")
    if not cfg_src or not os.path.isfile(cfg_src):
        continue
    cfg = load(cfg_src)
    configs[name] = (cfg_src, cfg, role)
    port = cfg.get("http_port")
    check(svc.get("ports") == [f"{port}:{port}"], f"{name}: publishes {port}:{port} (http_port of its config)")
    check(str(cfg.get("db_path", "")).rstrip("/") == "db", f"{name}: db_path db/ is /app/db, the volume")
    if role == "watcher":
        check(str(cfg.get("tel_storage_path", "")).startswith("db/"), f"{name}: tel_storage_path inside the volume")
    check(re.fullmatch(r"http://[^/]+:%d/" % port, str(cfg.get("public_url", ""))) is not None,
          f"{name}: public_url {cfg.get('public_url')} ends in its port")
    seed = str(cfg.get("seed", ""))
    with open(cfg_src, encoding="utf-8") as f:
        m = re.search(r"Prefix of this seed: (B[A-Za-z0-9_-]{43})", f.read())
    if check(len(seed) == 44 and seed[0] == "A" and m is not None, f"{name}: seed and its prefix comment"):
        pre = prefix_of(seed)
        if pre is None:
            print(f"skip {name}: no cryptography package, prefix of the seed not recomputed")
        else:
            check(pre == m.group(1), f"{name}: the seed's prefix is {pre}")
        if role == "witness":
            witness_prefix[name] = m.group(1)
            witness_port[name] = port

if "watcher" in configs:
    cfg = configs["watcher"][1]
    oobis = cfg.get("initial_oobis") or []
    want = sorted((witness_prefix[s], f"http://{s}:{witness_port[s]}/") for s in witness_prefix)
    got = sorted((o.get("eid"), o.get("url")) for o in oobis if o.get("scheme") == "http")
    check(got == want, "watcher: initial_oobis are the three witnesses by service name, port and prefix")
    check(sorted(services["watcher"].get("depends_on", [])) == sorted(witness_prefix),
          "watcher: depends_on the witnesses")

kerid = os.environ.get("KERID")
if kerid:
    for name, (src, cfg, role) in sorted(configs.items()):
        tmp = tempfile.mkdtemp(prefix="kerid-compose-")
        try:
            shutil.copy(src, os.path.join(tmp, f"{role}.yml"))
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            env = {k: v for k, v in os.environ.items() if not re.match(r"(?i)^(WITNESS|WATCHER)_", k)}
            env[f"{role.upper()}_LISTEN_ADDRESS"] = "127.0.0.1"
            p = subprocess.Popen([os.path.abspath(kerid), "--role", role, "-c", f"{role}.yml", "-p", str(port)],
                                 cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            line, deadline = "", time.time() + 10
            while time.time() < deadline:
                line = p.stdout.readline()
                if " is listening on port " in line or line == "":
                    break
            want = f"{role.capitalize()} {witness_prefix.get(name, '')}"
            ok = line.startswith(f"{role.capitalize()} B") and line.rstrip().endswith(f" is listening on port {port}")
            if name in witness_prefix:
                ok = ok and line.startswith(want + " ")
            check(ok, f"{name}: kerid starts with {os.path.basename(src)}: {line.strip()}")
            p.send_signal(signal.SIGTERM)
            try:
                code = p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                code = p.wait()
            check(code == 0, f"{name}: kerid exits 0 on SIGTERM")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

print(f"{checks} checks, {failed} failed")
sys.exit(1 if failed else 0)
