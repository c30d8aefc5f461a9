"""The k3s view: the stack as a kustomization for a cluster of hosts (docs/kubernetes.md).

Rendered from the same :class:`~orchestrator.model.stack.Stack` as compose, nginx and udev.
What differs from the Docker stack:

- Traefik (k3s' ingress) takes the proxy's place: an Ingress for the hub's own pages and
  one for the printers and cameras, each route of the second through the ``gate``
  forwardAuth Middleware (the hub's gate) and a stripPrefix Middleware of its own.
- A USB device is an extended resource ``fabfleet.io/<printer|camera>-<name>`` that only the
  node it is plugged into advertises, through squat/generic-device-plugin (a DaemonSet, the
  only privileged pod, in a namespace of its own) reading the same ``/dev/fabfleet/…``
  links our udev rules make. A printer's pod asks for its resource, so it runs where the
  printer is plugged in. containerd resolves the link to the device node
  (pkg/cri/opts/spec_linux.go ``WithDevices``: ``ResolveSymbolicLink(device.HostPath)``).
- Keys are Secrets from ``secretGenerator`` files under ``secrets/`` (0600, never in a
  manifest), the hub's ``fleet.json`` a ConfigMap from ``configMapGenerator``.
- NetworkPolicies: only the ingress controller reaches printers and cameras, printers reach
  only the hub and their own camera (timelapse frames; when reached by URL, the LAN too),
  cameras nothing.
- With a USB printer in the fleet, the mover (orchestrator/mover, ``fabfleet-mover`` from
  the hub's image) deletes a printer pod whose device is gone, so the next one is placed
  where the printer is plugged in now: the only pod with a ServiceAccount token, whose
  Role may only read and delete pods in the fleet's namespace, and which reaches nothing
  but the API server.

Manifests are plain data dumped as YAML, in the stack's order, so golden files hold.
"""

from __future__ import annotations

from typing import Any

import yaml

from orchestrator.model import paths
from orchestrator.model.stack import HealthCheck, Route, Service, Stack
from orchestrator.rendering.hub_fleet import render_hub_fleet

NAMESPACE = "fabfleet"
DEVICE_NAMESPACE = "fabfleet-devices"
DOMAIN = "fabfleet.io"
GATE = "gate"
# The hub's gate-only listener (hub/auth/gate.py): Traefik's forwardAuth cannot send the
# proxy key, so only Traefik's pods may reach this port (the hub's NetworkPolicy) and no
# Ingress routes to it.
GATE_PORT = 8081
# k3s' Traefik runs here; only its pods may reach printers, cameras and the gate.
INGRESS_NAMESPACE = "kube-system"
INGRESS_POD = {"app.kubernetes.io/name": "traefik"}
KUSTOMIZATION = "kustomization.yaml"
SECRETS = "secrets"
# The hub's power device secrets: one Secret, mounted apart from the gate key.
POWER_SECRET = "hub-power-secrets"
POWER_DIR = "power"
POWER_SECRETS_DIR = "/etc/fabfleet/power-secrets"
HUB_FLEET = f"{paths.HUB_RENDERED}/fleet.json"
DEVICE_PLUGIN_IMAGE = "squat/generic-device-plugin:latest"
HUB_STORAGE = "1Gi"
PRINTER_STORAGE = "2Gi"
# Requests and limits from measured figures (bench/README.md): a print server idles at
# 40 to 42 MB RSS and peaks at 46 MB in a 1 GiB upload; the hub holds 43 MB with 50 printers
# on its dashboard; a simulator is the same Python; ustreamer far less. Limits leave room
# for the G-code analysis of a large file and for a slow node's bursts. The mover peaked at
# 53 MB RSS asking every 0.1 s (tests/orchestrator/test_mover.py's stand-in, x86_64).
RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    "printer": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
    "simulator": {"requests": {"cpu": "20m", "memory": "48Mi"}, "limits": {"memory": "128Mi"}},
    "camera": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
    "hub": {"requests": {"cpu": "100m", "memory": "96Mi"}, "limits": {"memory": "512Mi"}},
    "mover": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
}
# The mover: its Deployment, ServiceAccount, Role, RoleBinding and NetworkPolicy.
MOVER = "mover"
MOVER_FILE = "mover.yaml"
# What the mover may do, and nothing more: read the fleet's pods and delete one.
MOVER_RIGHTS = ["get", "list", "watch", "delete"]
# The API server: the Service kubernetes.default on 443, k3s' server on its nodes at 6443
# (a NetworkPolicy sees the connection after the Service's address is translated, and
# the nodes' addresses are not known here: by port).
API_PORTS = (443, 6443)

Manifest = dict[str, Any]


def _labels(service: Service) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": service.name,
        "app.kubernetes.io/part-of": "fabfleet",
        "app.kubernetes.io/component": service.role,
    }
    if service.fleet_name:
        labels[f"{DOMAIN}/{'camera' if service.role == 'camera' else 'printer'}"] = (
            service.fleet_name
        )
    return labels


def _selector(service: Service) -> dict[str, str]:
    return {"app.kubernetes.io/name": service.name}


def _meta(name: str, labels: dict[str, str] | None = None) -> Manifest:
    meta: Manifest = {"name": name, "namespace": NAMESPACE}
    if labels:
        meta["labels"] = labels
    return meta


def device_resource(service: Service) -> str:
    """The extended resource a service with a device asks for: ``fabfleet.io/printer-x``."""
    return f"{DOMAIN}/{'camera' if service.role == 'camera' else 'printer'}-{service.fleet_name}"


def _probe(health: HealthCheck) -> Manifest:
    if health.path is None:
        # Like a serial port, a simulator takes one host at a time: a TCP probe would be
        # a connection. The listening socket is found in /proc/net/tcp instead.
        listening = f":{health.port:04X} 00000000:0000 0A"
        action: Manifest = {"exec": {"command": ["grep", "-q", listening, "/proc/net/tcp"]}}
    else:
        action = {"httpGet": {"path": health.path, "port": health.port}}
    return {
        **action,
        "periodSeconds": health.interval,
        "timeoutSeconds": health.timeout,
        "failureThreshold": health.retries,
    }


def _secret_name(service: Service) -> str:
    return "hub-gate-key" if service.role == "hub" else f"{service.name}-key"


def _container(stack: Stack, service: Service) -> tuple[Manifest, list[Manifest]]:
    """The container of ``service`` and the pod's volumes it mounts."""
    mounts: list[Manifest] = []
    volumes: list[Manifest] = []
    for mount in service.mounts:
        if mount.kind in ("volume", "data"):
            mounts.append({"name": "data", "mountPath": mount.target})
        elif mount.kind == "rendered":
            mounts.append({"name": "fleet", "mountPath": mount.target, "readOnly": True})
            volumes.append({"name": "fleet", "configMap": {"name": "hub-fleet"}})
        elif mount.kind == "secrets":
            # Its own place (a mount inside the gate key's read-only volume would not do).
            mounts.append(
                {"name": "power-secrets", "mountPath": POWER_SECRETS_DIR, "readOnly": True}
            )
            secrets = {"secretName": POWER_SECRET, "defaultMode": 0o440}
            volumes.append({"name": "power-secrets", "secret": secrets})
        elif mount.kind == "secret":
            key = mount.target.rsplit("/", 1)[1]
            mounts.append({"name": "key", "mountPath": paths.SECRETS_DIR, "readOnly": True})
            secret = {
                "secretName": _secret_name(service),
                "items": [{"key": key, "path": key}],
                "defaultMode": 0o440,
            }
            volumes.append({"name": "key", "secret": secret})
    for index, scratch in enumerate(service.scratch):
        mounts.append({"name": f"scratch-{index}", "mountPath": scratch})
        volumes.append({"name": f"scratch-{index}", "emptyDir": {"sizeLimit": "64Mi"}})
    container: Manifest = {"name": service.role, "image": service.image}
    if service.command:
        container["command"] = [a.value for a in service.command]
    if service.environment:
        container["env"] = [{"name": s.name, "value": s.value} for s in service.environment]
    port = paths.SIMULATOR_PORT if service.role == "simulator" else paths.SERVICE_PORT
    container["ports"] = [{"name": "serve", "containerPort": port}]
    if service.role == "hub":
        listen = {"name": "FABFLEET_GATE_LISTEN", "value": f"0.0.0.0:{GATE_PORT}"}
        container["env"] = [*container.get("env", []), listen]
        if any(m.kind == "secrets" for m in service.mounts):
            where = {"name": "FABFLEET_POWER_SECRETS", "value": POWER_SECRETS_DIR}
            container["env"].append(where)
        container["ports"].append({"name": GATE, "containerPort": GATE_PORT})
    if mounts:
        container["volumeMounts"] = mounts
    resources = {kind: dict(values) for kind, values in RESOURCES[service.role].items()}
    if service.device is not None:
        resources["requests"][device_resource(service)] = "1"
        resources["limits"][device_resource(service)] = "1"
    container["resources"] = resources
    if service.health is not None:
        container["readinessProbe"] = _probe(service.health)
        container["livenessProbe"] = _probe(service.health)
        if service.health.grace:
            started = _probe(service.health)
            started["failureThreshold"] = max(1, service.health.grace // 2)
            started["periodSeconds"] = 2
            container["startupProbe"] = started
    container["securityContext"] = _container_security()
    return container, volumes


def _container_security() -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _pod_security(stack: Stack) -> Manifest:
    uid, gid = stack.user
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod(stack: Stack, service: Service) -> Manifest:
    container, volumes = _container(stack, service)
    spec: Manifest = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": _pod_security(stack),
        "containers": [container],
    }
    if service.role in ("printer", "simulator") and any(m.kind == "volume" for m in service.mounts):
        claim = f"{service.name}-data"
        volumes.insert(0, {"name": "data", "persistentVolumeClaim": {"claimName": claim}})
    if volumes:
        spec["volumes"] = volumes
    return {"metadata": {"labels": _labels(service)}, "spec": spec}


def _deployment(stack: Stack, service: Service) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(service.name, _labels(service)),
        "spec": {
            # One print server per printer, ever: the old pod is gone before the new starts.
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": _selector(service)},
            "template": _pod(stack, service),
        },
    }


def _hub_set(stack: Stack, service: Service) -> Manifest:
    pod = _pod(stack, service)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(service.name, _labels(service)),
        "spec": {
            "replicas": 1,
            "serviceName": service.name,
            "selector": {"matchLabels": _selector(service)},
            "template": pod,
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": HUB_STORAGE}},
                    },
                }
            ],
        },
    }


def _claim(service: Service) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(f"{service.name}-data", _labels(service)),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": PRINTER_STORAGE}},
        },
    }


def _service(service: Service) -> Manifest:
    port = paths.SIMULATOR_PORT if service.role == "simulator" else paths.SERVICE_PORT
    ports: list[Manifest] = [{"name": "serve", "port": port, "targetPort": "serve"}]
    if service.role == "hub":
        ports.append({"name": GATE, "port": GATE_PORT, "targetPort": GATE})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(service.name, _labels(service)),
        "spec": {
            "selector": _selector(service),
            "ports": ports,
        },
    }


def _strip_name(route: Route) -> str:
    return f"strip-{route.kind}-{route.name}"


def _middlewares(stack: Stack) -> list[Manifest]:
    gate: Manifest = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": _meta(GATE),
        "spec": {
            "forwardAuth": {
                # Traefik runs in another namespace: the hub by its name in the cluster, at
                # its gate-only listener.
                "address": f"http://{stack.hub.service}.{NAMESPACE}.svc:{GATE_PORT}/api/auth/check",
                "trustForwardHeader": False,
                "authRequestHeaders": [
                    "Accept",
                    "Authorization",
                    "Cookie",
                    "Sec-Fetch-Mode",
                    "X-Api-Key",
                    "X-CSRF-Token",
                ],
                "authResponseHeaders": ["X-Fabfleet-Identity", "X-Fabfleet-User"],
            }
        },
    }
    strips = [
        {
            "apiVersion": "traefik.io/v1alpha1",
            "kind": "Middleware",
            "metadata": _meta(_strip_name(route)),
            "spec": {"stripPrefix": {"prefixes": [route.path.rstrip("/")]}},
        }
        for route in stack.proxy.routes
    ]
    return [gate, *strips]


def _path(route: Route) -> Manifest:
    return {
        "path": route.path,
        "pathType": "Prefix",
        "backend": {"service": {"name": route.host, "port": {"name": "serve"}}},
    }


def _ingresses(stack: Stack) -> list[Manifest]:
    hub_route = stack.hub.service
    hub: Manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta("hub"),
        "spec": {
            "ingressClassName": "traefik",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {"name": hub_route, "port": {"name": "serve"}}
                                },
                            }
                        ]
                    }
                }
            ],
        },
    }
    devices = []
    for route in stack.proxy.routes:
        # The gate first, then the prefix comes off (Traefik sets X-Forwarded-Prefix).
        middlewares = ",".join(
            f"{NAMESPACE}-{name}@kubernetescrd" for name in (GATE, _strip_name(route))
        )
        devices.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    **_meta(f"{route.kind}-{route.name}"),
                    "annotations": {
                        "traefik.ingress.kubernetes.io/router.middlewares": middlewares
                    },
                },
                "spec": {
                    "ingressClassName": "traefik",
                    "rules": [{"http": {"paths": [_path(route)]}}],
                },
            }
        )
    return [hub, *devices]


def _from_ingress() -> Manifest:
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": INGRESS_NAMESPACE}},
        "podSelector": {"matchLabels": dict(INGRESS_POD)},
    }


def _policy(name: str, pods: Manifest, ingress: list[Manifest], egress: list[Manifest]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(name),
        "spec": {
            "podSelector": pods,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def _dns() -> Manifest:
    return {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def usb_printers(stack: Stack) -> list[Service]:
    """The print servers that have a USB device: the pods the mover may have to move."""
    return [s for s in stack.services if s.role == "printer" and s.device is not None]


def _mover_labels() -> dict[str, str]:
    return {
        "app.kubernetes.io/name": MOVER,
        "app.kubernetes.io/part-of": "fabfleet",
        "app.kubernetes.io/component": MOVER,
    }


def _mover(stack: Stack) -> list[Manifest]:
    """The mover's ServiceAccount, Role, RoleBinding and Deployment."""
    labels = _mover_labels()
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(MOVER, labels),
        # Only a pod that asks for the token gets it: the mover's does, no other.
        "automountServiceAccountToken": False,
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(MOVER, labels),
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": list(MOVER_RIGHTS)}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(MOVER, labels),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": MOVER},
        "subjects": [{"kind": "ServiceAccount", "name": MOVER, "namespace": NAMESPACE}],
    }
    container: Manifest = {
        "name": MOVER,
        # The hub's image carries all of fabfleet, the mover with it; the hub runs in
        # every fleet, so its image is always in the registry.
        "image": stack.service(stack.hub.service).image,
        "command": ["fabfleet-mover", "--namespace", NAMESPACE],
        "resources": {kind: dict(values) for kind, values in RESOURCES[MOVER].items()},
        "securityContext": _container_security(),
    }
    pod: Manifest = {
        "metadata": {"labels": _mover_labels()},
        "spec": {
            "serviceAccountName": MOVER,
            # The one pod that talks to the API server (KUBERNETES_SERVICE_HOST and _PORT
            # are set even without service links).
            "automountServiceAccountToken": True,
            "enableServiceLinks": False,
            "securityContext": _pod_security(stack),
            "containers": [container],
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(MOVER, labels),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app.kubernetes.io/name": MOVER}},
            "template": pod,
        },
    }
    return [account, role, binding, deployment]


def _mover_policy() -> Manifest:
    # No one reaches the mover; it reaches the API server only (by its address from
    # KUBERNETES_SERVICE_HOST: no name to resolve, so no DNS).
    api = [{"protocol": "TCP", "port": port} for port in API_PORTS]
    return _policy(MOVER, {"matchLabels": {"app.kubernetes.io/name": MOVER}}, [], [{"ports": api}])


def _policies(stack: Stack) -> list[Manifest]:
    hub = stack.service(stack.hub.service)
    served = [{"port": paths.SERVICE_PORT, "protocol": "TCP"}]
    to_hub = {"to": [{"podSelector": {"matchLabels": _selector(hub)}}], "ports": served}
    component = "app.kubernetes.io/component"
    policies = [
        _policy(
            "hub",
            {"matchLabels": _selector(hub)},
            [
                # Traefik: the hub's pages and API, and the gate-only listener; nobody else
                # reaches the gate port.
                {
                    "from": [_from_ingress()],
                    "ports": [*served, {"port": GATE_PORT, "protocol": "TCP"}],
                },
                {
                    "from": [{"podSelector": {"matchLabels": {component: "printer"}}}],
                    "ports": served,
                },
            ],
            # The hub asks printers and cameras for their state, and sends notifications.
            [
                {"to": [{"podSelector": {"matchLabels": {component: "printer"}}}]},
                {"to": [{"podSelector": {"matchLabels": {component: "camera"}}}]},
                _dns(),
                # Notifications: webhooks and mail servers, wherever they are.
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},
            ],
        ),
        _policy(
            "cameras",
            {"matchLabels": {component: "camera"}},
            [
                {"from": [_from_ingress(), {"podSelector": {"matchLabels": _selector(hub)}}]},
                # A printer's timelapse takes frames from its camera (each printer's own
                # egress names its camera alone).
                {
                    "from": [{"podSelector": {"matchLabels": {component: "printer"}}}],
                    "ports": served,
                },
            ],
            [],
        ),
    ]
    for service in stack.services:
        if service.role == "printer":
            egress = [to_hub, _dns()]
            entry = next(p for p in stack.printers if p.service == service.name)
            if entry.simulator:
                egress.append(
                    {
                        "to": [
                            {
                                "podSelector": {
                                    "matchLabels": {"app.kubernetes.io/name": entry.simulator}
                                }
                            }
                        ],
                        "ports": [{"port": paths.SIMULATOR_PORT, "protocol": "TCP"}],
                    }
                )
            if entry.camera is not None:
                # Timelapse frames: its own camera's snapshot (docs/timelapse.md).
                own = {"app.kubernetes.io/name": f"camera-{entry.camera}"}
                egress.append({"to": [{"podSelector": {"matchLabels": own}}], "ports": served})
            if entry.reach == "network":
                egress.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})
            policies.append(
                _policy(
                    service.name,
                    {"matchLabels": _selector(service)},
                    [
                        {
                            "from": [
                                _from_ingress(),
                                {"podSelector": {"matchLabels": _selector(hub)}},
                            ],
                            "ports": served,
                        }
                    ],
                    egress,
                )
            )
        elif service.role == "simulator":
            printer = next(p.service for p in stack.printers if p.simulator == service.name)
            policies.append(
                _policy(
                    service.name,
                    {"matchLabels": _selector(service)},
                    [
                        {
                            "from": [
                                {
                                    "podSelector": {
                                        "matchLabels": {"app.kubernetes.io/name": printer}
                                    }
                                }
                            ],
                            "ports": [{"port": paths.SIMULATOR_PORT, "protocol": "TCP"}],
                        }
                    ],
                    [],
                )
            )
    if usb_printers(stack):
        policies.append(_mover_policy())
    return policies


def device_plugin_devices(stack: Stack) -> list[Manifest]:
    """The plugin's ``--device`` entries: one per udev link, each at its fixed path inside."""
    devices = []
    for service in stack.services:
        if service.device is None:
            continue
        devices.append(
            {
                "name": device_resource(service).split("/", 1)[1],
                "groups": [
                    {"paths": [{"path": service.device.host, "mountPath": service.device.inside}]}
                ],
            }
        )
    return devices


def _device_plugin(stack: Stack) -> list[Manifest]:
    labels = {"app.kubernetes.io/name": "device-plugin", "app.kubernetes.io/part-of": "fabfleet"}
    args = ["--domain", DOMAIN, "--listen", ":8080"]
    for device in device_plugin_devices(stack):
        args += ["--device", yaml.safe_dump(device, sort_keys=False)]
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": DEVICE_NAMESPACE,
            "labels": {"pod-security.kubernetes.io/enforce": "privileged"},
        },
    }
    daemon = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "device-plugin", "namespace": DEVICE_NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "device-plugin"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        {
                            "name": "device-plugin",
                            "image": DEVICE_PLUGIN_IMAGE,
                            "args": args,
                            "resources": {
                                "requests": {"cpu": "20m", "memory": "16Mi"},
                                "limits": {"memory": "64Mi"},
                            },
                            # The one privileged pod: it watches /dev and registers with
                            # the kubelet; no printer or camera pod needs privileges.
                            "securityContext": {"privileged": True},
                            "volumeMounts": [
                                {"name": "plugins", "mountPath": "/var/lib/kubelet/device-plugins"},
                                {"name": "dev", "mountPath": "/dev", "readOnly": True},
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "plugins",
                            "hostPath": {"path": "/var/lib/kubelet/device-plugins"},
                        },
                        {"name": "dev", "hostPath": {"path": "/dev"}},
                    ],
                },
            },
        },
    }
    return [namespace, daemon]


def _namespace() -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            # Every printer, camera and the hub meet the "restricted" Pod Security Standard.
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        },
    }


def _dump(documents: list[Manifest]) -> bytes:
    return yaml.safe_dump_all(documents, sort_keys=False, width=100).encode("utf-8")


def power_secret_names(stack: Stack) -> list[str]:
    """The power devices' secrets the fleet file names (and the MQTT broker's), sorted."""
    named: set[str] = set()
    powers = [p.power for p in stack.printers] + [c.power for c in stack.cameras]
    for power in powers:
        secret = dict(power).get("secret")
        if isinstance(secret, str):
            named.add(secret)
    mqtt = dict(stack.hub.settings).get("mqtt")
    if isinstance(mqtt, dict) and isinstance(mqtt.get("secret"), str):
        named.add(mqtt["secret"])
    return sorted(named)


def secret_files(stack: Stack) -> dict[str, str]:
    """Secret name → the file under ``secrets/`` its one key comes from (relative names)."""
    files = {"hub-gate-key": "gate.key"}
    for service in stack.services:
        if service.role == "printer":
            files[_secret_name(service)] = f"printer-{service.fleet_name}.key"
    return files


def render_k3s(stack: Stack) -> dict[str, bytes]:
    """Every manifest of ``stack`` and the kustomization listing them, by file name.

    The key files the kustomization's ``secretGenerator`` reads (``secrets/…``) are not
    among them: they are written beside, from the state directory's keys.
    """
    workloads: list[Manifest] = []
    for service in stack.services:
        if service.role == "proxy":
            continue
        if service.role == "hub":
            workloads += [_hub_set(stack, service), _service(service)]
            continue
        if any(m.kind == "volume" for m in service.mounts):
            workloads.append(_claim(service))
        workloads += [_deployment(stack, service), _service(service)]
    files = {
        "namespace.yaml": _dump([_namespace()]),
        "workloads.yaml": _dump(workloads),
        "ingress.yaml": _dump(_middlewares(stack) + _ingresses(stack)),
        "network-policies.yaml": _dump(_policies(stack)),
        "device-plugin.yaml": _dump(_device_plugin(stack)),
    }
    if usb_printers(stack):
        # Only USB printers move with their device: a fleet without one needs no mover.
        files[MOVER_FILE] = _dump(_mover(stack))
    inside = {
        "hub-gate-key": paths.HUB_KEY.rsplit("/", 1)[1],
    }
    secrets = []
    for name, file in secret_files(stack).items():
        key = inside.get(name, paths.PRINTER_KEY.rsplit("/", 1)[1])
        secrets.append({"name": name, "namespace": NAMESPACE, "files": [f"{key}={SECRETS}/{file}"]})
    # No kustomization-wide namespace: it would move the device plugin out of its own.
    kustomization: Manifest = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(files),
        "configMapGenerator": [
            {"name": "hub-fleet", "namespace": NAMESPACE, "files": [f"fleet.json={HUB_FLEET}"]}
        ],
        "secretGenerator": secrets,
    }
    names = power_secret_names(stack)
    if names:
        # Each named secret a key of one Secret, read from secrets/power/<name> (0600,
        # written by the administrator beside the keys: docs/power.md).
        files_of = [f"{name}={SECRETS}/{POWER_DIR}/{name}" for name in names]
        secrets.append({"name": POWER_SECRET, "namespace": NAMESPACE, "files": files_of})
    files[KUSTOMIZATION] = _dump([kustomization])
    files[HUB_FLEET] = render_hub_fleet(stack)
    return files
