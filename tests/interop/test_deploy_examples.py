"""The HAProxy configurations that docs/deploy.md and
packaging/kubernetes/haproxy.yaml give operators pass ``haproxy -c``
(the real HAProxy, as test_cluster.py runs it), so that an example that
no test runs cannot drift into one HAProxy refuses."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from support import REPO_ROOT, run

HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)

if os.environ.get("CI") and not HAPROXY:
    raise RuntimeError("CI must check the HAProxy examples: haproxy is missing "
                       "(scripts/test installs it)")
pytestmark = [
    pytest.mark.cli,
    pytest.mark.skipif(not HAPROXY, reason="haproxy is not installed (apt-get install haproxy)"),
]


def haproxy_check(config: str, tmp_path: Path):
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    res = run([HAPROXY, "-c", "-f", str(path)])
    assert res.returncode == 0, res.transcript()
    return res


def test_the_deploy_guide_configuration_is_valid(tmp_path):
    text = (REPO_ROOT / "docs" / "deploy.md").read_text()
    blocks = re.findall(r"```haproxy\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/deploy.md should hold one haproxy block"
    config = blocks[0].replace("BALANCER_IP", "127.0.0.1").replace("HAPROXY_IP", "127.0.0.1")
    res = haproxy_check(config, tmp_path)
    # Every node's control line and passive range, each sending the header.
    for n in (1, 2, 3):
        assert re.search(rf"server node{n} 10\.0\.0\.1{n}:2121 send-proxy", config)
        assert re.search(rf"server node{n} 10\.0\.0\.1{n} send-proxy", config)
    assert "WARNING" not in res.stderr, res.transcript()


def test_the_kubernetes_haproxy_configuration_is_valid(tmp_path):
    """The ConfigMap's haproxy.cfg: its pod names do not resolve here, which
    HAProxy accepts (init-addr none) with a warning for each server."""
    text = (REPO_ROOT / "packaging" / "kubernetes" / "haproxy.yaml").read_text()
    match = re.search(r"  haproxy\.cfg: \|\n(.*?)\n---", text, re.S)
    assert match, "no haproxy.cfg in the ConfigMap"
    config = "\n".join(line[4:] for line in match.group(1).splitlines()) + "\n"
    haproxy_check(config, tmp_path)
    # The Service exposes every passive port of every pod, at the same number.
    for port in range(30000, 30060):
        assert f"{{name: p{port}, port: {port}, targetPort: {port}}}" in text, port
