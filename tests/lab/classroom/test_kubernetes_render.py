"""`lab class render --target kubernetes`: every manifest validates against the
Kubernetes schemas, offline (kubernetes-validate bundles them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

from lab.classroom.kubernetes import namespace_for  # noqa: E402
from services.common.paths import REPO_ROOT  # noqa: E402
from services.ports import SERVICES  # noqa: E402

K8S_VERSION = "1.30"


def validate(doc: dict) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("k8s")
    roster = out / "roster.csv"
    roster.write_text("name,email\nAda Lovelace,ada@x\nAlan Turing,alan@x\nGrace Hopper,g@x\n")
    done = subprocess.run(
        [sys.executable, "-m", "lab.cli", "class", "render", "--target", "kubernetes",
         "--roster", str(roster), "--out", str(out / "class")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "class"


def docs(folder: Path) -> dict[str, dict]:
    return {
        str(p.relative_to(folder)): yaml.safe_load(p.read_text())
        for p in sorted(folder.rglob("*.yaml"))
    }


def test_every_rendered_manifest_validates(rendered):
    files = docs(rendered)
    assert len(files) == 3 * 25
    for path, doc in files.items():
        try:
            validate(doc)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path}: {exc}")


def test_the_validator_is_not_a_rubber_stamp(rendered):
    deployment = docs(rendered)["ada-lovelace/05-deployment-restapi.yaml"]
    typo = json.loads(json.dumps(deployment))
    typo["spec"]["template"]["spec"]["contianers"] = typo["spec"]["template"]["spec"].pop(
        "containers"
    )
    wrong_type = json.loads(json.dumps(deployment)) | {
        "spec": deployment["spec"] | {"replicas": "one"}
    }
    for bad in (typo, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            validate(bad)


def test_one_namespace_per_lab_with_its_own_token_pvc_config_and_policies(rendered):
    files = docs(rendered)
    names = ["ada-lovelace", "alan-turing", "grace-hopper"]
    tokens = set()
    for name in names:
        ns = namespace_for(name)
        lab = {p.split("/", 1)[1]: d for p, d in files.items() if p.startswith(name + "/")}
        assert {d["metadata"].get("namespace", d["metadata"]["name"]) for d in lab.values()} == {ns}
        tokens.add(lab["01-faultproxy-token.yaml"]["stringData"]["token"])
        # faultproxy's config is the Compose network's: same names, same upstreams.
        config = json.loads(lab["02-faultproxy-config.yaml"]["data"]["faultproxy.json"])
        assert config == json.loads((REPO_ROOT / "docker" / "faultproxy.json").read_text())
        restapi = lab["05-deployment-restapi.yaml"]["spec"]["template"]["spec"]
        assert restapi["volumes"][0]["persistentVolumeClaim"]["claimName"] == "restapi-data"
        assert lab["03-restapi-data.yaml"]["metadata"]["name"] == "restapi-data"
        deny = lab["04-network-policy.yaml"]["spec"]
        assert deny["podSelector"] == {} and {"from": [{"podSelector": {}}]} in deny["ingress"]
        for service in SERVICES:  # partition denies all ingress to that service's pods
            policy = lab[f"actions/partition-{service}.yaml"]
            assert policy["kind"] == "NetworkPolicy" and policy["spec"]["ingress"] == []
            selected = policy["spec"]["podSelector"]["matchLabels"]
            pod_labels = lab[f"05-deployment-{service}.yaml"]["spec"]["template"]["metadata"][
                "labels"
            ]
            assert selected.items() <= pod_labels.items()
            others = [s for s in SERVICES if s != service]
            assert not any(
                selected.items()
                <= lab[f"05-deployment-{o}.yaml"]["spec"]["template"]["metadata"]["labels"].items()
                for o in others
            )
    assert len(tokens) == 3
    # Every backend the Ingress names is a Service the lab renders.
    for name in names:
        ingress = files[f"{name}/06-ingress.yaml"]
        wanted = {
            r["http"]["paths"][0]["backend"]["service"]["name"] for r in ingress["spec"]["rules"]
        }
        rendered_services = {d["metadata"]["name"] for p, d in files.items()
                             if p.startswith(name + "/05-service-")}  # fmt: skip
        assert wanted <= rendered_services, wanted - rendered_services
