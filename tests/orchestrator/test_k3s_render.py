"""`fabfleet render --target k3s`: the kustomization, checked offline.

Every Kubernetes object is validated in strict mode against the official schemas of the
k3s minors we support (kubernetes-validate), Traefik's Middleware against the fields of its
CRD; then the policies the manifests must keep, and golden files for each fleet.
"""

from __future__ import annotations

import gc
import json
import os
import re
import stat
import tomllib
import warnings
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from orchestrator.cli.main import app
from orchestrator.fleet.file import load_fleet
from orchestrator.model import paths, stack_of
from orchestrator.mover.decide import CONTAINER, EXIT_DEVICE_GONE, SELECTOR, decide
from orchestrator.rendering.k3s import (
    DEVICE_NAMESPACE,
    DOMAIN,
    KUSTOMIZATION,
    MOVER_FILE,
    NAMESPACE,
    render_k3s,
)
from orchestrator.rendering.udev import render_udev

HERE = Path(__file__).parent
REPO = HERE.parents[1]
GOLDEN = HERE / "golden-k3s"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
VERSION = "1.2.3"
# The k3s minors we support (docs/kubernetes.md); each has its schemas in kubernetes-validate.
K3S_MINORS = ("1.32.0", "1.33.0", "1.34.0", "1.35.0", "1.36.0")
MIDDLEWARE_SCHEMA = json.loads((HERE / "k3s" / "traefik-middleware.schema.json").read_text())
Doc = dict[str, Any]


def fleet_of(case: str) -> Path:
    return GOLDEN / case / "fleet.yaml"


def rendered(case: str) -> dict[str, bytes]:
    return render_k3s(stack_of(load_fleet(fleet_of(case)), VERSION))


def documents(case: str) -> list[Doc]:
    docs: list[Doc] = []
    for name, data in rendered(case).items():
        if name.endswith(".yaml") and name != KUSTOMIZATION:
            docs += [d for d in yaml.safe_load_all(data) if d is not None]
    return docs


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet")]


def ours(docs: list[Doc]) -> list[Doc]:
    """Workloads of the fleet's own namespace (not the device plugin)."""
    return [d for d in workloads(docs) if d["metadata"]["namespace"] == NAMESPACE]


# The cases whose fleet has a USB printer: only they get the mover.
USB_CASES = ("farm", "one")


def test_the_cases_cover_what_they_should() -> None:
    assert CASES == ["farm", "one", "sim"]
    farm = load_fleet(fleet_of("farm"))
    assert (len(farm.printers), len(farm.cameras)) == (40, 6)


@pytest.mark.parametrize("case", CASES)
def test_matches_golden(case: str) -> None:
    """Regenerate with FABFLEET_UPDATE_GOLDENS=1 and review the diff."""
    for name, data in rendered(case).items():
        golden = GOLDEN / case / "out" / name
        if os.environ.get("FABFLEET_UPDATE_GOLDENS") == "1":
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_bytes(data)
        assert data == golden.read_bytes(), f"{case}/{name} differs from its golden file"


@pytest.mark.parametrize("minor", K3S_MINORS)
@pytest.mark.parametrize("case", CASES)
def test_every_object_is_valid_in_strict_mode(case: str, minor: str) -> None:
    docs = documents(case)
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "StatefulSet", "Service", "Ingress", "NetworkPolicy"} <= kinds
    assert "DaemonSet" in kinds
    if case in USB_CASES:
        # The mover's objects are among those validated.
        assert {"ServiceAccount", "Role", "RoleBinding"} <= kinds
    # kubernetes-validate opens its schema files without closing them: their
    # ResourceWarning is the library's, not ours, and is let pass here (the files are
    # collected before the warning filter is restored, so no later test sees it).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            for doc in docs:
                if doc["kind"] == "Middleware":
                    jsonschema.validate(doc, MIDDLEWARE_SCHEMA)
                else:
                    kubernetes_validate.validate(doc, minor, strict=True)
        finally:
            gc.collect()


def test_the_validation_refuses_what_a_cluster_would() -> None:
    """The checks above can fail: a misspelt field, a wrong type, an unknown middleware."""
    docs = documents("one")
    deployment = of_kind(docs, "Deployment")[0]
    misspelt = json.loads(json.dumps(deployment))
    misspelt["spec"]["replica"] = misspelt["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, K3S_MINORS[-1], strict=True)
    wrong_type = json.loads(json.dumps(deployment))
    wrong_type["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, K3S_MINORS[-1], strict=True)
    gate = next(d for d in of_kind(docs, "Middleware") if "forwardAuth" in d["spec"])
    gate["spec"]["forwardAuth"]["authResponseHeader"] = ["X"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(gate, MIDDLEWARE_SCHEMA)


@pytest.mark.parametrize("case", CASES)
def test_nothing_is_privileged_but_the_device_plugin(case: str) -> None:
    docs = documents(case)
    privileged = [
        d["metadata"]["name"]
        for d in workloads(docs)
        for c in d["spec"]["template"]["spec"]["containers"]
        if c.get("securityContext", {}).get("privileged")
    ]
    assert privileged == ["device-plugin"]
    plugin = of_kind(docs, "DaemonSet")[0]
    assert plugin["metadata"]["namespace"] == DEVICE_NAMESPACE
    for doc in ours(docs):
        pod = doc["spec"]["template"]["spec"]
        # The mover's pod alone gets a token (test_only_the_movers_pod_gets_a_token).
        assert pod["automountServiceAccountToken"] is (doc["metadata"]["name"] == "mover")
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] != 0
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not any("hostPath" in v for v in pod.get("volumes", []))
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert container["resources"]["requests"]["memory"]
            assert container["resources"]["limits"]["memory"]
    namespace = next(d for d in of_kind(docs, "Namespace") if d["metadata"]["name"] == NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def _udev_links(case: str) -> set[str]:
    rules = render_udev(stack_of(load_fleet(fleet_of(case)), VERSION)).decode()
    return {
        f"{paths.LINK_DIR}/{link}" for link in re.findall(r'SYMLINK\+="fabfleet/([^"]+)"', rules)
    }


def _plugin_devices(docs: list[Doc]) -> dict[str, Doc]:
    args = of_kind(docs, "DaemonSet")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--domain") + 1] == DOMAIN
    entries = [yaml.safe_load(args[i + 1]) for i, a in enumerate(args) if a == "--device"]
    return {f"{DOMAIN}/{e['name']}": e for e in entries}


@pytest.mark.parametrize("case", CASES)
def test_each_usb_pod_asks_for_exactly_its_own_device(case: str) -> None:
    docs = documents(case)
    fleet = load_fleet(fleet_of(case))
    devices = _plugin_devices(docs)
    links = _udev_links(case)
    usb = {f"printer-{p.name}" for p in fleet.printers if p.url is None and p.simulated is None}
    usb |= {f"camera-{c.name}" for c in fleet.cameras}
    asked: set[str] = set()
    for doc in ours(docs):
        container = doc["spec"]["template"]["spec"]["containers"][0]
        wanted = [r for r in container["resources"]["limits"] if r.startswith(f"{DOMAIN}/")]
        name = doc["metadata"]["name"]
        if name not in usb:
            assert wanted == [], f"{name} has no USB device but asks for {wanted}"
            continue
        assert wanted == [f"{DOMAIN}/{name}"], name
        assert container["resources"]["requests"][wanted[0]] == "1"
        (group,) = devices[wanted[0]]["groups"]
        (device,) = group["paths"]
        # The link our udev rules make on whichever host it is plugged into, at the fixed
        # path inside that the print server or ustreamer opens.
        assert device["path"] == f"{paths.LINK_DIR}/{name}"
        assert device["path"] in links
        inside = paths.CAMERA_DEVICE if name.startswith("camera-") else paths.PRINTER_DEVICE
        assert device["mountPath"] == inside
        asked.add(wanted[0])
    assert asked == set(devices) == {f"{DOMAIN}/{n}" for n in usb}


@pytest.mark.parametrize("case", CASES)
def test_one_replica_recreated_never_two_at_once(case: str) -> None:
    docs = documents(case)
    for doc in of_kind(docs, "Deployment"):
        assert doc["spec"]["replicas"] == 1
        assert doc["spec"]["strategy"] == {"type": "Recreate"}
    (hub,) = of_kind(docs, "StatefulSet")
    assert hub["spec"]["replicas"] == 1
    (claim,) = hub["spec"]["volumeClaimTemplates"]
    assert "storageClassName" not in claim["spec"], "the cluster's default storage class"


@pytest.mark.parametrize("case", CASES)
def test_selectors_match_labels_and_services_reach_pods(case: str) -> None:
    docs = documents(case)
    pods = {}
    for doc in workloads(docs):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()
        pods[doc["metadata"]["name"]] = (labels, doc)
    services = {d["metadata"]["name"]: d for d in of_kind(docs, "Service")}
    for name, service in services.items():
        matched = [
            doc
            for labels, doc in pods.values()
            if service["spec"]["selector"].items() <= labels.items()
        ]
        assert len(matched) == 1, f"service {name} selects {len(matched)} workloads"
        ports = {
            p["name"] for p in matched[0]["spec"]["template"]["spec"]["containers"][0]["ports"]
        }
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    for ingress in of_kind(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                port_names = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in port_names


@pytest.mark.parametrize("case", CASES)
def test_every_printer_and_camera_route_goes_through_the_gate(case: str) -> None:
    docs = documents(case)
    middlewares = {d["metadata"]["name"]: d for d in of_kind(docs, "Middleware")}
    gate = middlewares["gate"]["spec"]["forwardAuth"]
    assert gate["address"].startswith(f"http://hub.{NAMESPACE}.svc:")
    assert gate["address"].endswith("/api/auth/check")
    assert "X-Fabfleet-Identity" in gate["authResponseHeaders"]
    fleet = load_fleet(fleet_of(case))
    expected = {f"/printers/{p.name}/" for p in fleet.printers}
    expected |= {f"/cameras/{c.name}/" for c in fleet.cameras}
    routed = set()
    for ingress in of_kind(docs, "Ingress"):
        paths_ = [p for r in ingress["spec"]["rules"] for p in r["http"]["paths"]]
        backends = {p["backend"]["service"]["name"] for p in paths_}
        if backends == {"hub"}:
            # The hub checks its own pages and API itself, as behind nginx.
            assert [p["path"] for p in paths_] == ["/"]
            continue
        annotation = ingress["metadata"]["annotations"][
            "traefik.ingress.kubernetes.io/router.middlewares"
        ]
        chain = annotation.split(",")
        assert chain[0] == f"{NAMESPACE}-gate@kubernetescrd", "the gate comes first"
        for entry in chain:
            name = entry.removeprefix(f"{NAMESPACE}-").removesuffix("@kubernetescrd")
            assert name in middlewares
        for path in paths_:
            routed.add(path["path"])
            strip = middlewares[
                chain[1].removeprefix(f"{NAMESPACE}-").removesuffix("@kubernetescrd")
            ]
            assert strip["spec"]["stripPrefix"]["prefixes"] == [path["path"].rstrip("/")]
    assert routed == expected


@pytest.mark.parametrize("case", CASES)
def test_traefik_asks_the_gate_only_listener_that_only_traefik_reaches(case: str) -> None:
    """forwardAuth cannot send the proxy key: the Middleware asks the hub's gate-only
    listener (FABFLEET_GATE_LISTEN), no Ingress routes there, and the hub's NetworkPolicy
    opens that port to Traefik's pods alone."""
    docs = documents(case)
    address = next(d for d in of_kind(docs, "Middleware") if d["metadata"]["name"] == "gate")
    found = re.fullmatch(
        rf"http://hub\.{NAMESPACE}\.svc:(\d+)/api/auth/check",
        address["spec"]["forwardAuth"]["address"],
    )
    assert found is not None
    gate_port = int(found[1])
    assert gate_port != paths.SERVICE_PORT
    hub_service = next(d for d in of_kind(docs, "Service") if d["metadata"]["name"] == "hub")
    by_port = {p["port"]: p for p in hub_service["spec"]["ports"]}
    target = by_port[gate_port]["targetPort"]
    hub_set = of_kind(docs, "StatefulSet")[0]
    (container,) = hub_set["spec"]["template"]["spec"]["containers"]
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["FABFLEET_GATE_LISTEN"] == f"0.0.0.0:{named[target]}"
    assert env["FABFLEET_LISTEN"].rsplit(":", 1)[1] != str(named[target])
    for ingress in of_kind(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["port"] != {"name": target}
                assert path["backend"]["service"]["port"] != {"number": gate_port}
    policy = next(d for d in of_kind(docs, "NetworkPolicy") if d["metadata"]["name"] == "hub")
    reaching = [
        rule["from"]
        for rule in policy["spec"]["ingress"]
        if any(p["port"] in (gate_port, target) for p in rule.get("ports", []))
    ]
    assert reaching, "the gate port must be open to Traefik"
    traefik = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
    }
    for sources in reaching:
        assert sources == [traefik]
    # Every rule names its ports: none lets anything reach every port.
    assert all(rule.get("ports") for rule in policy["spec"]["ingress"])


@pytest.mark.parametrize("case", CASES)
def test_only_the_ingress_reaches_printers_and_printers_reach_only_the_hub(case: str) -> None:
    docs = documents(case)
    policies = {d["metadata"]["name"]: d["spec"] for d in of_kind(docs, "NetworkPolicy")}
    fleet = load_fleet(fleet_of(case))
    for printer in fleet.printers:
        spec = policies[f"printer-{printer.name}"]
        assert spec["podSelector"] == {
            "matchLabels": {"app.kubernetes.io/name": f"printer-{printer.name}"}
        }
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        sources = [s for rule in spec["ingress"] for s in rule["from"]]
        for source in sources:
            selected = source["podSelector"]["matchLabels"]
            assert selected in (
                {"app.kubernetes.io/name": "traefik"},
                {"app.kubernetes.io/name": "hub"},
            )
        targets = [t for rule in spec["egress"] for t in rule["to"]]
        for target in targets:
            if "ipBlock" in target:
                assert printer.url is not None, "only a printer reached by URL leaves the cluster"
                continue
            selected = target["podSelector"]["matchLabels"]
            allowed = [{"app.kubernetes.io/name": "hub"}, {"k8s-app": "kube-dns"}]
            if printer.simulated is not None:
                allowed.append({"app.kubernetes.io/name": f"sim-{printer.name}"})
            if printer.camera is not None:
                # Its own camera alone, for timelapse frames.
                allowed.append({"app.kubernetes.io/name": f"camera-{printer.camera}"})
            assert selected in allowed
    cameras = policies["cameras"]
    assert cameras["egress"] == [], "a camera talks to no one"


@pytest.mark.parametrize("case", CASES)
def test_no_secret_anywhere_but_the_key_files(case: str, tmp_path: Path) -> None:
    out = tmp_path / "k3s"
    result = CliRunner().invoke(
        app, ["render", "--target", "k3s", "--out", str(out), "--config", str(fleet_of(case))]
    )
    assert result.exit_code == 0, result.output
    keys = [p.read_text().strip() for p in (out / "secrets").iterdir() if p.is_file()]
    assert keys
    for path in out.rglob("*"):
        if path.is_file() and "secrets" not in path.relative_to(out).parts:
            text = path.read_text()
            assert not any(key in text for key in keys), f"{path.name} holds a key"
    assert stat.S_IMODE((out / "secrets").stat().st_mode) == 0o700
    for key in (out / "secrets").rglob("*"):
        assert stat.S_IMODE(key.stat().st_mode) & 0o077 == 0, f"{key.name} is readable by others"
    docs = [d for p in out.glob("*.yaml") for d in yaml.safe_load_all(p.read_text())]
    assert not of_kind(docs, "Secret") and not of_kind(docs, "ConfigMap")
    kustomization = yaml.safe_load((out / KUSTOMIZATION).read_text())
    (config,) = kustomization["configMapGenerator"]
    assert config["files"] == ["fleet.json=hub/fleet.json"]
    for generator in kustomization["secretGenerator"]:
        assert all(f.split("=", 1)[1].startswith("secrets/") for f in generator["files"])


@pytest.mark.parametrize("case", CASES)
def test_every_file_the_kustomization_lists_exists_and_parses(case: str, tmp_path: Path) -> None:
    out = tmp_path / "k3s"
    runner = CliRunner()
    args = ["--target", "k3s", "--out", str(out), "--config", str(fleet_of(case))]
    rendered = runner.invoke(app, ["render", *args])
    assert rendered.exit_code == 0
    fleet = load_fleet(fleet_of(case))
    named = sorted({s for p in fleet.printers if (s := getattr(p.power, "secret", None))})
    for name in named:
        # The administrator writes each power secret the fleet file names; until then
        # render says which are missing.
        assert f"names power secret '{name}'" in rendered.output
        (out / "secrets" / "power" / name).write_text("a plug's web password\n")
        (out / "secrets" / "power" / name).chmod(0o600)
    kustomization = yaml.safe_load((out / KUSTOMIZATION).read_text())
    for resource in kustomization["resources"]:
        assert all(d["metadata"]["name"] for d in yaml.safe_load_all((out / resource).read_text()))
    generators = kustomization["configMapGenerator"] + kustomization["secretGenerator"]
    for generator in generators:
        assert generator["namespace"] == NAMESPACE
        for entry in generator["files"]:
            assert (out / entry.split("=", 1)[1]).read_text().strip()
    json.loads((out / "hub" / "fleet.json").read_text())
    printer_keys = {g["name"] for g in kustomization["secretGenerator"]} - {
        "hub-gate-key",
        "hub-power-secrets",
    }
    assert printer_keys == {f"printer-{p.name}-key" for p in fleet.printers}
    # Rendering again changes nothing, and plan says so.
    again = runner.invoke(app, ["render", *args])
    assert "changed" not in again.output.replace("unchanged", "")
    planned = runner.invoke(app, ["plan", "--exit-code", *args])
    assert planned.exit_code == 0 and "no changes" in planned.output


def test_plan_shows_what_a_changed_fleet_would_change(tmp_path: Path) -> None:
    out = tmp_path / "k3s"
    config = tmp_path / "fleet.yaml"
    config.write_text(fleet_of("one").read_text())
    runner = CliRunner()
    args = ["--target", "k3s", "--out", str(out), "--config", str(config)]
    assert runner.invoke(app, ["render", *args]).exit_code == 0
    config.write_text(config.read_text() + "  - name: second\n    serial: B20K3F5Q\n")
    planned = runner.invoke(app, ["plan", "--exit-code", *args])
    assert planned.exit_code == 1
    assert "+  name: printer-second" in planned.output
    assert not (out / "secrets" / "printer-second.key").exists(), "plan writes nothing"


def test_an_unknown_target_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["render", "--target", "swarm", "--out", str(tmp_path), "--config", str(fleet_of("one"))],
    )
    assert result.exit_code == 2
    assert "swarm" in result.output and not any(tmp_path.iterdir())


# --- the mover (orchestrator/mover): its objects, rights and reach ---------------------


def _fleet_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", CASES)
def test_the_mover_comes_with_usb_printers_only(case: str) -> None:
    files = rendered(case)
    kustomization = yaml.safe_load(files[KUSTOMIZATION])
    docs = documents(case)
    movers = [d for d in docs if d["metadata"]["name"] == "mover"]
    if case in USB_CASES:
        assert MOVER_FILE in files and MOVER_FILE in kustomization["resources"]
        kinds = sorted(d["kind"] for d in movers)
        assert kinds == ["Deployment", "NetworkPolicy", "Role", "RoleBinding", "ServiceAccount"]
        assert all(d["metadata"]["namespace"] == NAMESPACE for d in movers)
    else:
        # Simulated printers have no device to follow.
        assert MOVER_FILE not in files and MOVER_FILE not in kustomization["resources"]
        assert movers == []


def test_a_fleet_of_network_printers_and_cameras_gets_no_mover(tmp_path: Path) -> None:
    """A printer reached by URL and a camera do not move with a device: no mover."""
    fleet = _fleet_file(
        tmp_path,
        "printers:\n  - name: bridge\n    url: socket://192.168.1.20:5001\n"
        "cameras:\n  - name: cam\n    serial: CAM1\n",
    )
    files = render_k3s(stack_of(load_fleet(fleet), VERSION))
    assert MOVER_FILE not in files
    assert b"mover" not in files["network-policies.yaml"]
    fleet = _fleet_file(
        tmp_path,
        "printers:\n  - name: bridge\n    url: socket://192.168.1.20:5001\n"
        "  - name: usb\n    serial: A10K3F5Q\n",
    )
    assert MOVER_FILE in render_k3s(stack_of(load_fleet(fleet), VERSION))


@pytest.mark.parametrize("case", USB_CASES)
def test_the_movers_role_may_only_read_and_delete_pods_in_the_fleets_namespace(case: str) -> None:
    docs = documents(case)
    assert not of_kind(docs, "ClusterRole") and not of_kind(docs, "ClusterRoleBinding")
    (role,) = of_kind(docs, "Role")
    assert role["metadata"] == {**role["metadata"], "name": "mover", "namespace": NAMESPACE}
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]}
    ]
    (binding,) = of_kind(docs, "RoleBinding")
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "mover",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "mover", "namespace": NAMESPACE}
    ]
    (account,) = of_kind(docs, "ServiceAccount")
    assert account["metadata"]["name"] == "mover"
    assert account["metadata"]["namespace"] == NAMESPACE
    mover = next(d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "mover")
    assert mover["spec"]["template"]["spec"]["serviceAccountName"] == "mover"


@pytest.mark.parametrize("case", CASES)
def test_only_the_movers_pod_gets_a_token(case: str) -> None:
    docs = documents(case)
    with_token = []
    for doc in workloads(docs):
        pod = doc["spec"]["template"]["spec"]
        assert isinstance(pod.get("automountServiceAccountToken"), bool), doc["metadata"]["name"]
        if pod["automountServiceAccountToken"]:
            with_token.append(doc["metadata"]["name"])
        if doc["metadata"]["name"] != "mover":
            # The namespace's default account: never one with rights.
            assert pod.get("serviceAccountName", "default") == "default"
    assert with_token == (["mover"] if case in USB_CASES else [])
    for account in of_kind(docs, "ServiceAccount"):
        # No pod gets the account's token without asking for it.
        assert account["automountServiceAccountToken"] is False


@pytest.mark.parametrize("case", USB_CASES)
def test_the_mover_runs_unprivileged_from_the_hubs_image(case: str) -> None:
    docs = documents(case)
    mover = next(d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "mover")
    assert mover["spec"]["replicas"] == 1
    assert mover["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = mover["spec"]["template"]["spec"]["containers"]
    hub = of_kind(docs, "StatefulSet")[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == hub["image"]
    # A console script of the distribution, so the image has it on its PATH.
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert container["command"][0] in scripts
    assert container["command"][1:] == ["--namespace", NAMESPACE]
    assert container["securityContext"]["privileged"] is False
    assert "ports" not in container, "nothing reaches the mover"
    # The rest of its hardening is checked with every pod's in
    # test_nothing_is_privileged_but_the_device_plugin.


@pytest.mark.parametrize("case", USB_CASES)
def test_the_mover_reaches_the_api_server_and_nothing_reaches_it(case: str) -> None:
    docs = documents(case)
    policy = next(
        d["spec"] for d in of_kind(docs, "NetworkPolicy") if d["metadata"]["name"] == "mover"
    )
    assert policy["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "mover"}}
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == []
    # The Service kubernetes.default (443) and k3s' API server on the nodes (6443) only.
    assert policy["egress"] == [
        {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}
    ]
    # No other policy lets anything in from the mover or out to it.
    for doc in of_kind(docs, "NetworkPolicy"):
        if doc["metadata"]["name"] != "mover":
            assert "mover" not in json.dumps(doc["spec"])


def _pod_of(workload: Doc, exit_code: int) -> Doc:
    """A pod of ``workload`` as the API lists it, its containers waiting to be restarted
    after they ended with ``exit_code``."""
    template = workload["spec"]["template"]
    name = workload["metadata"]["name"]
    return {
        "metadata": {"name": f"{name}-7c9d8-x2x4q", "uid": f"uid-{name}", **template["metadata"]},
        "spec": {**template["spec"], "nodeName": "pi-a"},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": c["name"],
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": exit_code, "reason": "Error"}},
                    "ready": False,
                    "restartCount": 1,
                }
                for c in template["spec"]["containers"]
            ],
        },
    }


def _selected(labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in (p.split("=", 1) for p in SELECTOR.split(",")))


@pytest.mark.parametrize("case", CASES)
def test_the_mover_would_move_exactly_the_usb_printers_pods(case: str) -> None:
    """The rendered pods as the mover sees them, every container just out with status 75:
    it lists the print servers' pods and moves those of USB printers, never the hub, a
    camera, a simulator, a printer reached by URL or itself."""
    docs = documents(case)
    fleet = load_fleet(fleet_of(case))
    usb = {p.name for p in fleet.printers if p.url is None and p.simulated is None}
    pods = [_pod_of(w, EXIT_DEVICE_GONE) for w in ours(docs)]
    listed = [p for p in pods if _selected(p["metadata"]["labels"])]
    assert {p["metadata"]["name"].rsplit("-", 2)[0] for p in listed} == {
        f"printer-{p.name}" for p in fleet.printers
    }
    for pod in listed:
        assert [c["name"] for c in pod["spec"]["containers"]] == [CONTAINER]
    moved = decide({"kind": "PodList", "apiVersion": "v1", "items": pods})
    assert {d.printer for d in moved} == usb
    assert all(d.pod.startswith(f"printer-{d.printer}-") for d in moved)
    # Another exit status moves nothing.
    crashed = [_pod_of(w, 1) for w in ours(docs)]
    assert decide({"kind": "PodList", "apiVersion": "v1", "items": crashed}) == []
