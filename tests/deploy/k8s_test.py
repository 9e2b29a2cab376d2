#!/usr/bin/python3
"""Offline structural checks of the Kubernetes manifests in deploy/k8s/ (no cluster).

  k8s_test.py --core-bin build/bin/tchatator-core [--manifests deploy/k8s]

Checks: every file parses and every document has apiVersion, kind and name, and no
namespace; the expected objects exist; each Deployment has >= 2 replicas, a selector
matching its pod labels, and containers with a named and tagged image, readiness and
liveness probes on a declared port, resources, non-root and read-only root file
system; the core is probed over gRPC health, the gateway over TCP; every Service
selects the pods of one Deployment on a declared port; the core's Service is headless
and the gateway's core address is dns:///<that Service>:<its port>; every environment
variable is a real configuration key (tchatator-core --print-config) read by the
daemon it is given to, or at least by one of them for the shared ConfigMap; the
ConfigMap and Secret referenced exist; the gateway gets no secret; kustomization.yaml
lists every manifest but the Secret template.
"""

import argparse
import glob
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deploy_common import Failures, config_keys, import_yaml, keys_read_by  # noqa: E402

CORE = "tchatator-core"
GATEWAY = "tchatator-gateway"
DAEMON_OF = {CORE: "core-service", GATEWAY: "gateway"}
SECRET_KEYS = {"TCHATATOR_DATABASE_URL", "TCHATATOR_ADMIN_API_KEY"}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--core-bin", required=True)
    parser.add_argument("--manifests", default=os.path.join(root, "deploy", "k8s"))
    args = parser.parse_args()
    yaml = import_yaml()
    keys = config_keys(args.core_bin)
    f = Failures("deploy/k8s")
    check = f.check

    # ---- every document parses ----------------------------------------------------
    files = sorted(glob.glob(os.path.join(args.manifests, "*.yaml")) +
                   glob.glob(os.path.join(args.manifests, "*.yml")))
    check(files, f"no manifests in {args.manifests}")
    objects = []  # (file, document)
    kustomization = None
    for path in files:
        name = os.path.basename(path)
        try:
            with open(path, encoding="utf-8") as stream:
                docs = [d for d in yaml.safe_load_all(stream) if d is not None]
        except yaml.YAMLError as e:
            f.fail(f"{name}: does not parse: {e}")
            continue
        check(docs, f"{name}: no document")
        for doc in docs:
            if not check(isinstance(doc, dict), f"{name}: a document is not a mapping"):
                continue
            if doc.get("kind") == "Kustomization":
                kustomization = (name, doc)
                continue
            meta = doc.get("metadata") or {}
            check(doc.get("apiVersion") and doc.get("kind") and meta.get("name"),
                  f"{name}: a document lacks apiVersion, kind or metadata.name")
            check("namespace" not in meta,
                  f"{name}: {doc.get('kind')}/{meta.get('name')} sets a namespace")
            objects.append((name, doc))

    def find(kind, name=None):
        return [d for _, d in objects if d.get("kind") == kind and
                (name is None or d["metadata"].get("name") == name)]

    deployments = {d["metadata"]["name"]: d for d in find("Deployment")}
    services = {d["metadata"]["name"]: d for d in find("Service")}
    configmaps = {d["metadata"]["name"]: d for d in find("ConfigMap")}
    secrets = {d["metadata"]["name"]: d for d in find("Secret")}
    check(set(deployments) == {CORE, GATEWAY},
          f"Deployments are {sorted(deployments)}, expected {CORE} and {GATEWAY}")
    check(len(services) == 2, f"{len(services)} Services, expected 2 (core, gateway)")
    check(len(configmaps) == 1, f"{len(configmaps)} ConfigMaps, expected 1")
    check(len(secrets) == 1, f"{len(secrets)} Secrets (template), expected 1")
    for kind in ("PodDisruptionBudget",):
        check(len(find(kind)) == 2, f"expected a {kind} for each Deployment")
    for secret in secrets.values():
        values = {**(secret.get("stringData") or {}), **(secret.get("data") or {})}
        check(set(values) == SECRET_KEYS,
              f"Secret {secret['metadata']['name']} holds {sorted(values)}, "
              f"expected {sorted(SECRET_KEYS)}")
        check(all("CHANGE-ME" in str(v) for v in values.values()),
              "the Secret template must hold CHANGE-ME placeholders, not real values")
    for cm in configmaps.values():
        data = cm.get("data") or {}
        check(not set(data) & SECRET_KEYS,
              f"ConfigMap {cm['metadata']['name']} holds secrets {sorted(set(data) & SECRET_KEYS)}")
        for var in data:
            check(var in keys, f"ConfigMap {cm['metadata']['name']}: {var} is no "
                  "configuration key (tchatator-core --print-config)")
        check(all(isinstance(v, str) for v in data.values()),
              f"ConfigMap {cm['metadata']['name']}: every value must be a string")

    # ---- Deployments ------------------------------------------------------------------
    env_of = {}      # deployment -> {var: value or None (secret)}
    ports_of = {}    # deployment -> {port name or number as str: containerPort}
    for name, dep in deployments.items():
        spec = dep.get("spec") or {}
        template = spec.get("template") or {}
        pod_labels = (template.get("metadata") or {}).get("labels") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        pod = template.get("spec") or {}
        check((spec.get("replicas") or 1) >= 2, f"{name}: replicas {spec.get('replicas')} < 2")
        check(selector and all(pod_labels.get(k) == v for k, v in selector.items()),
              f"{name}: selector {selector} does not match the pod labels {pod_labels}")
        pod_sc = pod.get("securityContext") or {}
        containers = pod.get("containers") or []
        check(len(containers) == 1, f"{name}: {len(containers)} containers, expected 1")
        env, ports = {}, {}
        for c in containers:
            where = f"{name}/{c.get('name')}"
            image = c.get("image") or ""
            check(re.match(r"^[a-z0-9./_-]+(:[0-9]+)?/?[a-z0-9._/-]*:[A-Za-z0-9._-]+$", image)
                  and not image.endswith(":latest"),
                  f"{where}: image {image!r} must be named and tagged (not latest)")
            sc = c.get("securityContext") or {}
            check(sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True,
                  f"{where}: runAsNonRoot is not true")
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            check(uid is None or uid > 0, f"{where}: runAsUser {uid}")
            check(sc.get("readOnlyRootFilesystem") is True,
                  f"{where}: readOnlyRootFilesystem is not true")
            check(sc.get("allowPrivilegeEscalation") is False,
                  f"{where}: allowPrivilegeEscalation is not false")
            check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []),
                  f"{where}: capabilities are not all dropped")
            res = c.get("resources") or {}
            requests, limits = res.get("requests") or {}, res.get("limits") or {}
            check(requests.get("cpu") and requests.get("memory") and limits.get("memory"),
                  f"{where}: resources need requests.cpu, requests.memory, limits.memory")
            for p in c.get("ports") or []:
                ports[str(p.get("containerPort"))] = p.get("containerPort")
                if p.get("name"):
                    ports[p["name"]] = p.get("containerPort")
            for probe_name in ("readinessProbe", "livenessProbe"):
                probe = c.get(probe_name)
                if not check(probe, f"{where}: no {probe_name}"):
                    continue
                kind = next((k for k in ("grpc", "tcpSocket", "httpGet", "exec") if k in probe),
                            None)
                # The core's health follows the database: readiness only (a liveness
                # probe on it would restart every core during a database outage).
                expected = "grpc" if name == CORE and probe_name == "readinessProbe" \
                    else "tcpSocket"
                check(kind == expected, f"{where}: {probe_name} is {kind}, expected {expected}")
                port = str((probe.get(kind) or {}).get("port")) if kind else None
                check(port in ports, f"{where}: {probe_name} port {port} is no container port")
            # Environment: explicit entries and whole ConfigMaps / Secrets.
            for item in c.get("env") or []:
                source = item.get("valueFrom") or {}
                if "secretKeyRef" in source:
                    env[item["name"]] = None
                elif "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    cm = configmaps.get(ref.get("name"))
                    check(cm and ref.get("key") in (cm.get("data") or {}),
                          f"{where}: env {item['name']} refers to a missing ConfigMap key")
                    env[item["name"]] = ((cm or {}).get("data") or {}).get(ref.get("key"))
                else:
                    env[item["name"]] = str(item.get("value", ""))
            for source in c.get("envFrom") or []:
                if "configMapRef" in source:
                    cm = configmaps.get(source["configMapRef"].get("name"))
                    check(cm, f"{where}: envFrom ConfigMap "
                          f"{source['configMapRef'].get('name')} does not exist")
                    for var, value in ((cm or {}).get("data") or {}).items():
                        env.setdefault(var, value)
                elif "secretRef" in source:
                    secret = secrets.get(source["secretRef"].get("name"))
                    check(secret, f"{where}: envFrom Secret "
                          f"{source['secretRef'].get('name')} does not exist")
                    values = {**((secret or {}).get("stringData") or {}),
                              **((secret or {}).get("data") or {})}
                    for var in values:
                        env.setdefault(var, None)
        env_of[name], ports_of[name] = env, ports
        readable = keys_read_by(keys, DAEMON_OF.get(name, ""))
        for var in env:
            check(var in keys, f"{name}: {var} is no configuration key "
                  "(tchatator-core --print-config)")
        # Keys given one by one (not through the shared ConfigMap) must be read by it.
        shared = {v for cm in configmaps.values() for v in (cm.get("data") or {})}
        for var in set(env) - shared:
            check(var not in keys or var in readable,
                  f"{name}: {var} is a key of the {keys.get(var)}, not read by {name}")

    # ---- the wiring between them -------------------------------------------------------
    core_env, gw_env = env_of.get(CORE, {}), env_of.get(GATEWAY, {})
    check(SECRET_KEYS <= set(core_env), f"{CORE}: does not receive {sorted(SECRET_KEYS)}")
    check(not SECRET_KEYS & set(gw_env), f"{GATEWAY}: receives the core's secrets")
    for name, env in env_of.items():
        check(env.get("TCHATATOR_LISTEN_ADDRESS") == "0.0.0.0",
              f"{name}: TCHATATOR_LISTEN_ADDRESS must be 0.0.0.0 in a pod")
    grpc_port = core_env.get("TCHATATOR_GRPC_PORT", "50051")
    check(grpc_port in ports_of.get(CORE, {}),
          f"{CORE}: TCHATATOR_GRPC_PORT {grpc_port} is not a container port")
    gw_port = gw_env.get("TCHATATOR_PORT", "4242")
    check(gw_port in ports_of.get(GATEWAY, {}),
          f"{GATEWAY}: TCHATATOR_PORT {gw_port} is not a container port")

    selected = {}  # service -> deployment
    for sname, svc in services.items():
        spec = svc.get("spec") or {}
        selector = spec.get("selector") or {}
        matches = [d for d, dep in deployments.items()
                   if selector and all(((dep["spec"]["template"].get("metadata") or {})
                                        .get("labels") or {}).get(k) == v
                                       for k, v in selector.items())]
        if not check(len(matches) == 1,
                     f"Service {sname}: selector {selector} matches Deployments {matches}"):
            continue
        selected[sname] = matches[0]
        for p in spec.get("ports") or []:
            target = str(p.get("targetPort", p.get("port")))
            check(target in ports_of[matches[0]],
                  f"Service {sname}: targetPort {target} is no port of {matches[0]}")
    core_services = [s for s, d in selected.items() if d == CORE]
    gw_services = [s for s, d in selected.items() if d == GATEWAY]
    check(len(core_services) == 1 and len(gw_services) == 1,
          "expected one Service for the core and one for the gateway")
    if core_services:
        svc = services[core_services[0]]
        check((svc.get("spec") or {}).get("clusterIP") == "None",
              f"Service {core_services[0]}: must be headless (clusterIP: None)")
        svc_ports = [str(p.get("port")) for p in svc["spec"].get("ports") or []]
        address = gw_env.get("TCHATATOR_CORE_ADDRESS", "")
        m = re.fullmatch(r"dns:///([a-z0-9.-]+):([0-9]+)", address)
        check(m and m.group(1).split(".")[0] == core_services[0] and m.group(2) in svc_ports,
              f"{GATEWAY}: TCHATATOR_CORE_ADDRESS {address!r} must be "
              f"dns:///{core_services[0]}:<one of its ports {svc_ports}>")
        targets = [ports_of[CORE].get(str(p.get("targetPort", p.get("port"))))
                   for p in svc["spec"].get("ports") or []]
        check(str(grpc_port) in [str(t) for t in targets],
              f"Service {core_services[0]} does not reach the gRPC port {grpc_port}")
    if gw_services:
        spec = services[gw_services[0]].get("spec") or {}
        check(spec.get("type") in ("LoadBalancer", "NodePort"),
              f"Service {gw_services[0]}: type {spec.get('type')}, expected LoadBalancer or NodePort")
        check([p.get("port") for p in spec.get("ports") or []] == [4242],
              f"Service {gw_services[0]}: ports must be [4242]")

    for pdb in find("PodDisruptionBudget"):
        selector = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        check(any(all(((dep["spec"]["template"].get("metadata") or {}).get("labels") or {})
                      .get(k) == v for k, v in selector.items())
                  for dep in deployments.values()) and selector,
              f"PodDisruptionBudget {pdb['metadata']['name']} selects no Deployment's pods")

    # ---- kustomization -----------------------------------------------------------------
    if check(kustomization, "no kustomization.yaml"):
        kname, kdoc = kustomization
        listed = kdoc.get("resources") or []
        for resource in listed:
            check(os.path.isfile(os.path.join(args.manifests, resource)),
                  f"{kname}: resource {resource} does not exist")
        secret_files = {n for n, d in objects if d.get("kind") == "Secret"}
        for name in {n for n, _ in objects} - secret_files:
            check(name in listed, f"{kname}: does not list {name}")
        for name in secret_files:
            check(name not in listed, f"{kname}: applies the Secret template {name}")
    return f.finish()


if __name__ == "__main__":
    sys.exit(main())
