"""knative/ rendered by kustomize (base, dev, prod): valid offline, wired as the router reads it, scaled on purpose."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import pytest

from eventing import topics
from eventing.wiring import load_wiring, read_manifests
from iotmon import __version__
from tests.support.deployment import (
    FUNCTIONS,
    KNATIVE,
    LAYERS,
    containerfile_stages,
    image,
    is_core,
    load,
    load_all,
    render,
    schema_errors,
    split_image,
)
from tests.support.paths import KNATIVE_DIR, REPO

TAGS = {"base": "latest", "dev": "dev", "prod": __version__}
NAMESPACE = "iot-monitoring"
SOURCE_KINDS = ("KafkaSource", "PingSource")
KAFKA_SECRET_KEYS = {"user", "password", "sasl.mechanism", "protocol"}
WIRING_KINDS = (*SOURCE_KINDS, "KafkaSink")

# The base layer's requests and limits per kind of work, and the kind of work each workload does.
SIZES = {
    "data-ingestion": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "400m", "memory": "512Mi"}},
    "data-processing": {"requests": {"cpu": "300m", "memory": "512Mi"}, "limits": {"cpu": "600m", "memory": "1Gi"}},
    "alert-service": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
    "api-gateway": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "400m", "memory": "512Mi"}},
    "iot-simulator": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
}
KIND_OF = {
    "ingest": "data-ingestion",
    "aggregate": "data-processing",
    "evaluate-rule": "data-processing",  # the same readings as aggregate, with a rolling window per device
    "escalate-cron": "alert-service",
    "notify": "alert-service",
    "iotmon-service": "api-gateway",  # REST and Socket.IO in one service
    "iotmon-simulator": "iot-simulator",
    "iotmon-opcua-bridge": "data-ingestion",  # readings in, as ingest takes them
    "iotmon-mqtt-bridge": "data-ingestion",  # the plant's messages in, as ingest takes them
}

layers = pytest.mark.parametrize("layer", list(LAYERS))


def of_kind(documents: list[dict[str, Any]], kind: str, group: str | None = None) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d
        for d in documents
        if d["kind"] == kind and (group is None or d["apiVersion"].startswith(group + "/"))
    }


def knative_services(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return of_kind(documents, "Service", "serving.knative.dev")


def pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    return document["spec"]["template"]["spec"]


def containers(documents: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{d['kind']}/{d['metadata']['name']}", c)
        for d in documents
        if d["kind"] in ("Service", "Deployment", "Job") and "template" in d.get("spec", {})
        for c in pod_spec(d)["containers"]
    ]


def env_from(container: dict[str, Any], ref: str) -> dict[str, bool]:
    """The ConfigMaps or Secrets (`ref`: configMapRef, secretRef) a container takes its environment from → optional."""
    return {e[ref]["name"]: bool(e[ref].get("optional")) for e in container.get("envFrom", []) if ref in e}


def secret_key_refs(documents: list[dict[str, Any]]) -> set[str]:
    """The Secrets any resource names in a secretKeyRef (env entries, KafkaSource, KafkaUser) or a KafkaSink's auth."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("secretKeyRef"), dict):
                found.add(node["secretKeyRef"]["name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for document in documents:
        walk(document)
        if document["kind"] == "KafkaSink" and "auth" in document["spec"]:
            found.add(document["spec"]["auth"]["secret"]["ref"]["name"])
    return found


# Validity


@layers
def test_every_kubernetes_resource_is_valid_offline(layer):
    errors = [error for document in render(layer) if is_core(document) for error in schema_errors(document)]
    assert not errors, "\n".join(errors)


@layers
def test_every_custom_resource_is_valid_against_its_crd(layer):
    """Knative's and Strimzi's kinds, against their CRDs' schemas (in ../shared: skipped without it). KafkaUser's
    schema is not there: test_kafka_users_are_well_formed checks it."""
    custom = [document for document in render(layer) if not is_core(document) and document["kind"] != "KafkaUser"]
    assert {d["kind"] for d in custom} >= {"Service", "KafkaSource", "PingSource", "KafkaTopic"}
    errors = [error for document in custom for error in schema_errors(document)]
    assert not errors, "\n".join(errors)


def test_the_secret_templates_are_valid_and_cover_what_the_workloads_need():
    templates = [d for d in load_all((KNATIVE_DIR / "iot-monitoring" / "secrets.example.yaml").read_text()) if d]
    assert all(d["kind"] == "Secret" for d in templates)
    assert not [error for d in templates for error in schema_errors(d)]
    assert all("CHANGE-ME" in str(d["stringData"]) for d in templates), "placeholders must be plainly marked"
    named = {d["metadata"]["name"] for d in templates}
    used = {name for _, c in containers(render("base")) for name in env_from(c, "secretRef")}
    assert used | secret_key_refs(render("base")) == named
    kafka = [d for d in templates if d["metadata"]["name"].startswith("kafka-")]
    assert all(set(d["stringData"]) == KAFKA_SECRET_KEYS for d in kafka)
    for document in render("base"):  # the templates stay templates: no Secret is ever applied by kustomize
        assert document["kind"] != "Secret"


def test_every_setting_is_one_the_code_reads():
    """A key of the ConfigMap or of a Secret template that no code reads is a typo or a leftover."""
    code = "\n".join(
        p.read_text() for folder in ("iotmon", "functions", "eventing") for p in (REPO / folder).rglob("*.py")
    )
    read_by_functions_framework = {"THREADS"}
    config = of_kind(render("base"), "ConfigMap")["iot-monitoring-config"]["data"]
    templates = [d for d in load_all((KNATIVE_DIR / "iot-monitoring" / "secrets.example.yaml").read_text()) if d]
    # (The Kafka credentials' keys are read by KafkaSource, KafkaSink and env entries: test_kafka_users_….)
    names = set(config) | {
        key for d in templates if d["metadata"]["name"] == "iot-monitoring" for key in d["stringData"]
    }
    unread = {name for name in names - read_by_functions_framework if f'"{name}"' not in code}
    assert not unread


def test_every_manifest_file_is_in_a_kustomization():
    listed: set[str] = set()
    for kustomization in KNATIVE.rglob("kustomization.yaml"):
        listed |= {str((kustomization.parent / r).resolve()) for r in load(kustomization).get("resources", [])}
    files = {str(p.resolve()) for p in KNATIVE.rglob("*.yaml") if p.name != "kustomization.yaml"}
    templates = {f for f in files if f.endswith(".example.yaml")}
    assert files - templates - listed == set()


@layers
def test_resources_land_in_their_namespaces(layer):
    for document in render(layer):
        if document["kind"] == "Namespace":
            assert document["metadata"]["name"] == NAMESPACE
        elif document["kind"] == "KafkaTopic":
            assert document["metadata"]["namespace"] == kafka_cluster(render(layer))[1]
        else:
            assert document["metadata"]["namespace"] == NAMESPACE, document["metadata"]["name"]


# Wiring: every function has a Service and a source, every topic a KafkaTopic, the router reads the same.


@layers
def test_every_function_has_a_knative_service_and_a_source(layer):
    documents = render(layer)
    assert set(knative_services(documents)) == set(FUNCTIONS)
    sinks = Counter(d["spec"]["sink"]["ref"]["name"] for d in documents if d["kind"] in SOURCE_KINDS)
    assert set(sinks) == set(FUNCTIONS)
    for d in documents:
        if d["kind"] in SOURCE_KINDS:
            assert d["spec"]["sink"]["ref"] == {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Service",
                "name": d["spec"]["sink"]["ref"]["name"],
            }


@layers
def test_every_topic_used_has_a_kafka_topic(layer):
    documents = render(layer)
    declared = {d["spec"].get("topicName", d["metadata"]["name"]) for d in documents if d["kind"] == "KafkaTopic"}
    read = {t for d in documents if d["kind"] == "KafkaSource" for t in d["spec"]["topics"]}
    dead_letter = {d["spec"]["topic"] for d in documents if d["kind"] == "KafkaSink"}
    assert read | dead_letter | set(topics.ALL) == declared


@layers
def test_one_kafka_cluster_everywhere(layer):
    """The ConfigMap, the sources and the sinks name the bootstrap service of the Strimzi cluster the topics belong to."""
    documents = render(layer)
    cluster, namespace = kafka_cluster(documents)
    bootstrap = f"{cluster}-kafka-bootstrap.{namespace}:9092"
    assert of_kind(documents, "ConfigMap")["iot-monitoring-config"]["data"]["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap
    for d in documents:
        if d["kind"] in ("KafkaSource", "KafkaSink"):
            assert d["spec"]["bootstrapServers"] == [bootstrap], d["metadata"]["name"]


def kafka_cluster(documents: list[dict[str, Any]]) -> tuple[str, str]:
    found = {
        (d["metadata"]["labels"]["strimzi.io/cluster"], d["metadata"]["namespace"])
        for d in documents
        if d["kind"] == "KafkaTopic"
    }
    assert len(found) == 1, found
    return found.pop()


@layers
def test_the_router_reads_the_wiring_every_layer_deploys(layer):
    """load_wiring() reads knative/base's files; what each layer applies wires the same (overlays tune, never rewire)."""

    def wiring_of(documents: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
        return {(d["kind"], d["metadata"]["name"]): d["spec"] for d in documents if d["kind"] in WIRING_KINDS}

    assert wiring_of(render(layer)) == wiring_of(read_manifests())
    wiring = load_wiring()
    assert {s.name for s in wiring.subscriptions} == {n for k, n in wiring_of(render(layer)) if k == "KafkaSource"}
    assert {s.name for s in wiring.schedules} == {n for k, n in wiring_of(render(layer)) if k == "PingSource"}


def test_the_metrics_topic_has_two_consumer_groups():
    groups = {
        d["spec"]["consumerGroup"]
        for d in render("base")
        if d["kind"] == "KafkaSource" and d["spec"]["topics"] == [topics.METRICS]
    }
    assert groups == {"aggregate", "evaluate-rule"}


# Workloads: images, probes, environment, sizes, scaling.


@layers
def test_images_are_containerfile_targets_with_the_layers_tag(layer):
    targets = set(containerfile_stages())
    for where, container in containers(render(layer)):
        name, tag = split_image(container["image"])
        assert name.startswith(image("")) and name.removeprefix(image("")) in targets, (where, name)
        assert tag == TAGS[layer], (where, container["image"])
    for name, service in knative_services(render(layer)).items():
        assert split_image(pod_spec(service)["containers"][0]["image"])[0] == image(name)


@layers
def test_functions_probe_their_port_and_take_the_shared_environment(layer):
    for name, service in knative_services(render(layer)).items():
        (container,) = pod_spec(service)["containers"]
        (port,) = [p["containerPort"] for p in container["ports"]]
        assert container["readinessProbe"]["tcpSocket"]["port"] == port
        assert container["livenessProbe"]["tcpSocket"]["port"] == port
        assert env_from(container, "configMapRef") == {"iot-monitoring-config": False}
        assert env_from(container, "secretRef").get("iot-monitoring") is False, name


def test_the_service_is_probed_on_its_open_probes_and_the_simulator_is_probed():
    deployments = of_kind(render("base"), "Deployment")
    service = pod_spec(deployments["iotmon-service"])["containers"][0]
    assert service["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert service["livenessProbe"]["httpGet"]["path"] == "/healthz"
    simulator = pod_spec(deployments["iotmon-simulator"])["containers"][0]
    assert "3001/health" in " ".join(simulator["livenessProbe"]["exec"]["command"])


def test_base_sizes_follow_each_workloads_kind_of_work():
    documents = render("base")
    workloads = {**knative_services(documents), **of_kind(documents, "Deployment")}
    assert set(workloads) == set(KIND_OF)
    for name, workload in workloads.items():
        assert pod_spec(workload)["containers"][0]["resources"] == SIZES[KIND_OF[name]], name


def test_dev_asks_for_less_and_scales_to_zero():
    base, dev = knative_services(render("base")), knative_services(render("dev"))
    for name in FUNCTIONS:
        annotations = dev[name]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["autoscaling.knative.dev/min-scale"] == "0"
        assert annotations["autoscaling.knative.dev/max-scale"] == "1"
        dev_resources = pod_spec(dev[name])["containers"][0]["resources"]
        base_resources = pod_spec(base[name])["containers"][0]["resources"]
        assert quantity(dev_resources["requests"]["cpu"]) <= quantity(base_resources["requests"]["cpu"])
        assert dev_resources["limits"] == base_resources["limits"]
    assert all(d["spec"]["replicas"] == 1 for d in of_kind(render("dev"), "Deployment").values())
    assert all(t["spec"]["replicas"] == 1 for t in of_kind(render("dev"), "KafkaTopic").values())


def test_prod_runs_two_service_replicas_and_more_pods_per_function():
    prod, base = render("prod"), render("base")
    assert of_kind(prod, "Deployment")["iotmon-service"]["spec"]["replicas"] == 2
    assert "iotmon-service" in of_kind(prod, "PodDisruptionBudget")
    for name in ("ingest", "aggregate", "evaluate-rule"):
        assert max_scale(knative_services(prod)[name]) > max_scale(knative_services(base)[name])


@layers
def test_scaling_matches_the_partitions(layer):
    """An ordered KafkaSource has one event in flight per partition: the pods can take them all (max-scale ×
    containerConcurrency ≥ partitions), and max-scale asks for no pod the autoscaler could never fill."""
    documents = render(layer)
    partitions = {t["metadata"]["name"]: t["spec"]["partitions"] for t in of_kind(documents, "KafkaTopic").values()}
    services = knative_services(documents)
    for source in of_kind(documents, "KafkaSource").values():
        assert source["spec"]["ordering"] == "ordered"
        service = services[source["spec"]["sink"]["ref"]["name"]]
        in_flight = sum(partitions[t] for t in source["spec"]["topics"])
        concurrency = pod_spec(service)["containerConcurrency"]
        target = int(service["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/target"])
        assert max_scale(service) * concurrency >= in_flight, service["metadata"]["name"]
        assert max_scale(service) <= math.ceil(in_flight / target), service["metadata"]["name"]
    for service in services.values():
        (container,) = pod_spec(service)["containers"]
        threads = {e["name"]: e.get("value") for e in container["env"]}["THREADS"]
        assert int(threads) == pod_spec(service)["containerConcurrency"], "one functions-framework thread per request"


def max_scale(service: dict[str, Any]) -> int:
    return int(service["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/max-scale"])


def quantity(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|Mi|Gi)?", text)
    assert match, text
    return float(match[1]) * {None: 1, "m": 0.001, "Mi": 2**20, "Gi": 2**30}[match[2]]


# Kafka credentials: each workload its own SCRAM user, allowed only its topics and groups

# What each workload writes to Kafka (the code's publish calls); a dead-letter KafkaSink writes its topic.
PRODUCES = {
    "ingest": {topics.METRICS, topics.SENSORS_DATA_DLQ},
    "evaluate-rule": {topics.ALERTS},
    "escalate-cron": {topics.ALERTS},
    "iotmon-service": {topics.SENSORS_DATA, topics.ALERTS, topics.METRICS},  # readings, alert moves, DLQ replays
    "iotmon-simulator": {topics.SENSORS_DATA},
    "iotmon-opcua-bridge": {topics.SENSORS_DATA, topics.SENSORS_DATA_DLQ},  # readings, value changes that are none
    "iotmon-mqtt-bridge": {topics.SENSORS_DATA, topics.SENSORS_DATA_DLQ},  # readings, and messages it cannot read
}
_OPERATIONS = ["Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction", "AlterConfigs",
               "DescribeConfigs", "IdempotentWrite", "All"]  # fmt: skip
_SECRET_KEY_REF = {
    "type": "object",
    "required": ["secretKeyRef"],
    "additionalProperties": False,
    "properties": {
        "secretKeyRef": {
            "type": "object",
            "required": ["name", "key"],
            "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "key": {"type": "string"}},
        }
    },
}
# The part of Strimzi's KafkaUser (kafka.strimzi.io/v1beta2) these manifests use, as its CRD defines it.
KAFKA_USER_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1beta2"},
        "metadata": {
            "type": "object",
            "required": ["name", "labels"],
            "properties": {"labels": {"type": "object", "required": ["strimzi.io/cluster"]}},
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["authentication", "authorization"],
            "properties": {
                "authentication": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["type"],
                    "properties": {
                        "type": {"enum": ["tls", "tls-external", "scram-sha-512"]},
                        "password": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["valueFrom"],
                            "properties": {"valueFrom": _SECRET_KEY_REF},
                        },
                    },
                },
                "authorization": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["type", "acls"],
                    "properties": {
                        "type": {"const": "simple"},
                        "acls": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["resource"],
                                "properties": {
                                    "resource": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["type"],
                                        "properties": {
                                            "type": {"enum": ["topic", "group", "cluster", "transactionalId"]},
                                            "name": {"type": "string"},
                                            "patternType": {"enum": ["literal", "prefix"]},
                                        },
                                    },
                                    "operations": {"type": "array", "items": {"enum": _OPERATIONS}},
                                    "host": {"type": "string"},
                                    "type": {"enum": ["allow", "deny"]},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def kafka_users(documents: list[dict[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """Each KafkaUser, by the Secret its password comes from: "topic:<name>" / "group:<name>" → operations."""
    users: dict[str, dict[str, set[str]]] = {}
    for user in of_kind(documents, "KafkaUser").values():
        secret = user["spec"]["authentication"]["password"]["valueFrom"]["secretKeyRef"]["name"]
        rights: dict[str, set[str]] = {}
        for acl in user["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            rights.setdefault(f"{resource['type']}:{resource['name']}", set()).update(acl["operations"])
        users[secret] = rights
    return users


def kafka_env_secret(container: dict[str, Any]) -> str | None:
    """The one Secret a container's KAFKA_SASL_* / KAFKA_SECURITY_PROTOCOL entries read, None without them."""
    refs = {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container.get("env", [])
        if e["name"].startswith("KAFKA_S")
    }
    if not refs:
        return None
    wanted = {
        "KAFKA_SECURITY_PROTOCOL": "protocol",
        "KAFKA_SASL_MECHANISM": "sasl.mechanism",
        "KAFKA_SASL_USERNAME": "user",
        "KAFKA_SASL_PASSWORD": "password",
    }
    assert {name: key for name, (_, key) in refs.items()} == wanted, refs
    (secret,) = {secret for secret, _ in refs.values()}
    return secret


@layers
def test_kafka_users_are_well_formed(layer):
    from jsonschema import Draft202012Validator

    users = of_kind(render(layer), "KafkaUser")
    assert users, "no KafkaUser"
    validator = Draft202012Validator(KAFKA_USER_SCHEMA)
    errors = [f"{name}: {e.message}" for name, user in users.items() for e in validator.iter_errors(user)]
    assert not errors, "\n".join(errors)
    for name, user in users.items():
        assert user["metadata"]["namespace"] == NAMESPACE  # beside the Secrets its password comes from
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        for acl in user["spec"]["authorization"]["acls"]:  # least privilege: named resources, no wildcards
            assert acl["resource"]["type"] in ("topic", "group") and acl["resource"]["patternType"] == "literal"
            assert acl["resource"]["name"] != "*" and "All" not in acl["operations"], (name, acl)


@layers
def test_each_source_reads_as_its_functions_user_only_its_topics_and_group(layer):
    documents = render(layer)
    users = kafka_users(documents)
    for name, source in of_kind(documents, "KafkaSource").items():
        sasl = source["spec"]["net"]["sasl"]
        assert sasl["enable"] is True
        secrets = {sasl[part]["secretKeyRef"]["name"] for part in ("type", "user", "password")}
        assert len(secrets) == 1, (name, secrets)
        (secret,) = secrets
        assert secret == f"kafka-{source['spec']['sink']['ref']['name']}", name
        reads = {r for r, ops in users[secret].items() if "Read" in ops}
        assert reads == {f"topic:{t}" for t in source["spec"]["topics"]} | {f"group:{source['spec']['consumerGroup']}"}


@layers
def test_each_workload_writes_as_its_own_user_only_what_it_produces(layer):
    documents = render(layer)
    users = kafka_users(documents)
    workloads = {d["metadata"]["name"]: d for d in documents if d["kind"] in ("Service", "Deployment")}
    for name, workload in workloads.items():
        (container,) = pod_spec(workload)["containers"] if "template" in workload["spec"] else [{}]
        secret = kafka_env_secret(container)
        if name not in PRODUCES:
            assert secret is None, f"{name} never connects to Kafka: it needs no credentials"
            continue
        assert secret is not None, f"{name} produces to Kafka without credentials"
        writes = {r.removeprefix("topic:") for r, ops in users[secret].items() if "Write" in ops}
        assert writes == PRODUCES[name], name
    for sink in of_kind(documents, "KafkaSink").values():
        secret = sink["spec"]["auth"]["secret"]["ref"]["name"]
        assert f"topic:{sink['spec']['topic']}" in {r for r, ops in users[secret].items() if "Write" in ops}
    sinks = {sink["spec"]["auth"]["secret"]["ref"]["name"] for sink in of_kind(documents, "KafkaSink").values()}
    assert all({r.removeprefix("topic:") for r, ops in users[s].items() if "Write" in ops} <= set(topics.DEAD_LETTER)
               for s in sinks)  # fmt: skip


# The OPC UA bridge: its node mapping is one the bridge reads, its files are where the mapping says.


def test_the_opcua_bridge_reads_a_valid_node_mapping_and_finds_its_files():
    from iotmon.core.opcua import parse_config

    documents = render("base")
    mapping = of_kind(documents, "ConfigMap")["opcua-bridge"]["data"]["opcua.yaml"]
    config = parse_config(mapping, "ConfigMap opcua-bridge")
    deployment = of_kind(documents, "Deployment")["iotmon-opcua-bridge"]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    (container,) = pod_spec(deployment)["containers"]
    env = {e["name"]: e for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "opcua-bridge"
    assert env["IOTMON_OPCUA_CONFIG"]["value"] == f"{mounts['config']}/opcua.yaml"
    files = {f"{mounts['pki']}/{item['path']}" for item in volumes["pki"]["secret"]["items"]}
    assert {config.server.security.certificate, config.server.security.private_key} == files
    assert env["IOTMON_OPCUA_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == volumes["pki"]["secret"]["secretName"]
