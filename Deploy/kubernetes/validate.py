#!/usr/bin/python3
"""Validates Deploy/kubernetes/*.yaml and jobs/*.yaml (or the files given):

- every core resource against the Kubernetes schemas (kubernetes-validate --strict, from PyPI,
  in the venv named by KUBERNETES_VALIDATE or on PATH);
- every KEDA resource against schemas/keda-v1alpha1.json;
- that the manifests agree with Armada: each worker has a Deployment with liveness /health and
  readiness /ready probes, resources and a non-root security context; each ScaledObject
  targets a Deployment of these files, scales on work queues that exist in Queues/topology.json
  and that its Deployment's executable consumes, and never to zero.

Prints one line per check and exits 1 when any fails.
"""
import glob
import json
import os
import subprocess
import sys

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORKERS = ["armada-payments", "armada-provisioner", "armada-lifecycle", "armada-notifier"]

failures = []


def fail(message):
    failures.append(message)
    print("FAIL " + message)


def main():
    files = sys.argv[1:] or sorted(glob.glob(os.path.join(HERE, "*.yaml")) + glob.glob(os.path.join(HERE, "jobs", "*.yaml")))
    documents = []
    for path in files:
        with open(path) as handle:
            documents += [(path, d) for d in yaml.safe_load_all(handle) if d]
    core = [path for path in files if any(d["apiVersion"] != "keda.sh/v1alpha1" for p, d in documents if p == path)]

    validator = os.environ.get("KUBERNETES_VALIDATE", "kubernetes-validate")
    run = subprocess.run([validator, "--strict", "--no-warn", *core], capture_output=True, text=True)
    print(run.stdout.strip())
    if run.returncode != 0:
        fail("kubernetes-validate: " + run.stdout + run.stderr)

    with open(os.path.join(HERE, "schemas", "keda-v1alpha1.json")) as handle:
        keda = json.load(handle)
    with open(os.path.join(ROOT, "Queues", "topology.json")) as handle:
        topology = json.load(handle)
    consumers = {}
    for queue in topology["queues"]:
        # "armada-notifier.email": the notifier executable, its email consumer.
        consumers.setdefault((queue.get("consumer") or "").split(".")[0], set()).add(queue["name"])

    deployments = {d["metadata"]["name"]: d for _, d in documents if d["kind"] == "Deployment"}
    for path, document in documents:
        if document["apiVersion"] != "keda.sh/v1alpha1":
            continue
        name = f'{os.path.basename(path)} {document["kind"]}/{document["metadata"]["name"]}'
        schema = dict(keda["definitions"][document["kind"]]) if document["kind"] in keda["definitions"] else None
        if schema is None:
            fail(f"{name}: no KEDA schema for this kind")
            continue
        schema["definitions"] = keda["definitions"]
        try:
            jsonschema.validate(document, schema)
            print(f"INFO {name} passed against schemas/keda-v1alpha1.json")
        except jsonschema.ValidationError as error:
            fail(f"{name}: {error.message} at {list(error.absolute_path)}")
            continue
        if document["kind"] != "ScaledObject":
            continue
        spec = document["spec"]
        target = deployments.get(spec["scaleTargetRef"]["name"])
        if target is None:
            fail(f"{name}: scales {spec['scaleTargetRef']['name']}, which is no Deployment here")
            continue
        if spec.get("minReplicaCount", 0) < 1:
            fail(f"{name}: may scale to zero, and then no relay publishes the outbox")
        executable = target["spec"]["template"]["spec"]["containers"][0]["command"][0]
        for trigger in spec["triggers"]:
            queue = trigger["metadata"].get("queueName")
            if queue not in consumers.get(executable, set()):
                fail(f"{name}: queue {queue} is not one {executable} consumes in Queues/topology.json")

    scaled = {d["spec"]["scaleTargetRef"]["name"] for _, d in documents if d["kind"] == "ScaledObject"}
    for worker in WORKERS:
        deployment = deployments.get(worker)
        if deployment is None:
            fail(f"{worker}: no Deployment")
            continue
        if worker not in scaled:
            fail(f"{worker}: no ScaledObject")
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        if container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/health":
            fail(f"{worker}: liveness probe is not GET /health")
        if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/ready":
            fail(f"{worker}: readiness probe is not GET /ready")
        if not container.get("resources", {}).get("requests", {}).get("memory"):
            fail(f"{worker}: no memory request")
        if not pod.get("securityContext", {}).get("runAsNonRoot"):
            fail(f"{worker}: may run as root")
        print(f"INFO {worker}: probes, resources, security context and scaling present")

    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
