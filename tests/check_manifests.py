#!/usr/bin/env python3
"""Structural checks of the Kubernetes manifests in deploy/k8s.

yamllint sees only YAML; this reads the manifests as Kubernetes would and
checks what a typo would silently break at apply time or, worse, at run
time: every document has apiVersion, kind and metadata.name; a workload's
selector matches its pod template's labels; every Service selects some
workload's pods; every volumeMount names a volume of its pod (or a claim
template of its StatefulSet); every Secret a pod uses, and every key it
picks from one, is defined in the manifests or created by a
`kubectl create secret generic` command in the docs; every container has
CPU and memory requests; a worker's grace period exceeds its drain.

usage: check_manifests.py [--self-test] MANIFEST_DIR DOC_FILE
Prints one line per problem and exits 1 if there is any. --self-test
breaks each check once on a copy of the manifests, in memory, and exits 1
unless every broken copy is caught by the check it breaks.
"""

import copy
import pathlib
import re
import shlex
import sys

import yaml

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet")
# The worker waits up to this long for acknowledgements after its drain.
BYE_SECONDS = 3


def load(mdir):
    docs = []
    for path in sorted(pathlib.Path(mdir).glob("*.yaml")):
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    docs.append((path.name, doc))
    return docs


def documented_secrets(doc_file):
    """{secret name: set of keys} from `kubectl create secret generic` commands."""
    text = pathlib.Path(doc_file).read_text(encoding="utf-8").replace("\\\n", " ")
    secrets = {}
    for line in text.splitlines():
        if "kubectl create secret generic" not in line:
            continue
        words = shlex.split(line[line.index("kubectl"):], comments=True)
        name, keys = words[4], set()
        for w in words[5:]:
            m = re.match(r"--from-(?:file|literal)=(.*)", w)
            if m:
                spec = m.group(1)
                keys.add(spec.split("=", 1)[0] if "=" in spec else pathlib.PurePath(spec).name)
        secrets[name] = keys
    return secrets


def pod_of(doc):
    """(pod spec, pod labels) of a workload, or (None, None)."""
    if doc.get("kind") == "Pod":
        return doc.get("spec") or {}, (doc.get("metadata") or {}).get("labels") or {}
    if doc.get("kind") in WORKLOADS:
        tmpl = (doc.get("spec") or {}).get("template") or {}
        return tmpl.get("spec") or {}, (tmpl.get("metadata") or {}).get("labels") or {}
    return None, None


def containers(pod):
    return (pod.get("initContainers") or []) + (pod.get("containers") or [])


def secret_uses(pod):
    """(secret name, key or None) for every use of a Secret by a pod."""
    for v in pod.get("volumes") or []:
        if "secret" in v:
            s = v["secret"]
            yield from ((s.get("secretName"), i.get("key")) for i in s.get("items") or [{}])
        for src in (v.get("projected") or {}).get("sources") or []:
            if "secret" in src:
                s = src["secret"]
                yield from ((s.get("name"), i.get("key")) for i in s.get("items") or [{}])
    for c in containers(pod):
        for e in c.get("env") or []:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                yield ref.get("name"), ref.get("key")
        for e in c.get("envFrom") or []:
            if "secretRef" in e:
                yield e["secretRef"].get("name"), None


def drain_seconds(c):
    args = " ".join(str(a) for a in (c.get("command") or []) + (c.get("args") or []))
    if "emc-worker" not in args:
        return None
    m = re.search(r"--drain-seconds[= ](\d+)", args)
    return int(m.group(1)) if m else 30


def check(docs, secrets_doc):
    errs = []
    defined = {}
    for _, d in docs:
        if d.get("kind") == "Secret":
            name = (d.get("metadata") or {}).get("name")
            defined[name] = set((d.get("data") or {}).keys()) | set((d.get("stringData") or {}).keys())
    defined.update({k: v for k, v in secrets_doc.items() if k not in defined})
    pods = []
    services = {}
    service_names = {(d.get("metadata") or {}).get("name") for _, d in docs if d.get("kind") == "Service"}
    for f, d in docs:
        meta = d.get("metadata") or {}
        where = f"{f}: {d.get('kind', '?')}/{meta.get('name', '?')}"
        for field in ("apiVersion", "kind"):
            if not d.get(field):
                errs.append(f"{where}: no {field}")
        if not meta.get("name"):
            errs.append(f"{where}: no metadata.name")
        if d.get("kind") == "Service":
            services[meta.get("name")] = (where, (d.get("spec") or {}).get("selector") or {})
        pod, labels = pod_of(d)
        if pod is None:
            continue
        pods.append(labels)
        spec = d.get("spec") or {}
        if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
            sel = (spec.get("selector") or {}).get("matchLabels") or {}
            if not sel:
                errs.append(f"{where}: no selector.matchLabels")
            elif any(labels.get(k) != v for k, v in sel.items()):
                errs.append(f"{where}: selector {sel} does not match the template's labels {labels}")
        if d.get("kind") == "StatefulSet" and spec.get("serviceName") not in service_names:
            errs.append(f"{where}: serviceName {spec.get('serviceName')!r} is no Service of the manifests")
        volumes = {v.get("name") for v in pod.get("volumes") or []}
        volumes |= {(t.get("metadata") or {}).get("name") for t in spec.get("volumeClaimTemplates") or []}
        grace = pod.get("terminationGracePeriodSeconds", 30)
        for c in containers(pod):
            cw = f"{where}: container {c.get('name', '?')}"
            for m in c.get("volumeMounts") or []:
                if m.get("name") not in volumes:
                    errs.append(f"{cw}: volumeMount {m.get('name')!r} names no volume of its pod")
            req = (c.get("resources") or {}).get("requests") or {}
            for r in ("cpu", "memory"):
                if r not in req:
                    errs.append(f"{cw}: no resources.requests.{r}")
            drain = drain_seconds(c)
            if drain is not None and grace <= drain + BYE_SECONDS:
                errs.append(f"{cw}: terminationGracePeriodSeconds {grace} <= drain {drain} + {BYE_SECONDS} s")
        for name, key in secret_uses(pod):
            if name not in defined:
                errs.append(f"{where}: Secret {name!r} is neither defined nor created by kubectl in the docs")
            elif key is not None and key not in defined[name]:
                errs.append(f"{where}: Secret {name!r} has no key {key!r}")
    for name, (where, sel) in services.items():
        if not sel or not any(all(p.get(k) == v for k, v in sel.items()) for p in pods):
            errs.append(f"{where}: selector {sel} matches no workload's pods")
    return errs


def first(docs, kind):
    return next(d for _, d in docs if d.get("kind") == kind)


def tmpl(docs, kind):
    return first(docs, kind)["spec"]["template"]


def self_test(docs, secrets_doc):
    """Each mutation must make check() report the given words."""

    def no_name(ds):
        del first(ds, "Job")["metadata"]["name"]

    def no_kind(ds):
        del ds[0][1]["kind"]

    def selector(ds):
        first(ds, "Deployment")["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = "emc-wroker"

    def service(ds):
        first(ds, "Service")["spec"]["selector"] = {"app.kubernetes.io/name": "nobody"}

    def mount(ds):
        tmpl(ds, "StatefulSet")["spec"]["containers"][0]["volumeMounts"][0]["name"] = "stat"

    def secret(ds):
        tmpl(ds, "Deployment")["spec"]["volumes"][0]["secret"]["secretName"] = "emc-worker-kyes"

    def secret_key(ds):
        tmpl(ds, "StatefulSet")["spec"]["volumes"][0]["projected"]["sources"][1]["secret"]["items"][0]["key"] = "x"

    def resources(ds):
        del tmpl(ds, "Job")["spec"]["containers"][0]["resources"]["requests"]["memory"]

    def grace(ds):
        tmpl(ds, "Deployment")["spec"]["terminationGracePeriodSeconds"] = 30

    cases = [(no_name, "no metadata.name"), (no_kind, "no kind"), (selector, "does not match"),
             (service, "matches no workload"), (mount, "names no volume"),
             (secret, "neither defined nor created"), (secret_key, "has no key"),
             (resources, "no resources.requests.memory"), (grace, "terminationGracePeriodSeconds")]
    bad = 0
    for mutate, words in cases:
        ds = copy.deepcopy(docs)
        mutate(ds)
        errs = check(ds, secrets_doc)
        caught = any(words in e for e in errs)
        print(f"{'caught' if caught else 'MISSED'}: {mutate.__name__}: {errs[0] if errs else 'no error'}")
        bad += not caught
    return bad


def main(argv):
    selftest = "--self-test" in argv
    args = [a for a in argv if a != "--self-test"]
    if len(args) != 2:
        print(__doc__.split("\n\n")[-2], file=sys.stderr)
        return 2
    docs = load(args[0])
    if not docs:
        print(f"{args[0]}: no manifests")
        return 1
    secrets_doc = documented_secrets(args[1])
    if selftest:
        return 1 if self_test(docs, secrets_doc) else 0
    errs = check(docs, secrets_doc)
    for e in errs:
        print(e)
    print(f"{len(docs)} documents, {len(errs)} problem(s)")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
