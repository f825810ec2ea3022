"""The chart lints clean, and every object it renders is valid Kubernetes.

Built-in kinds are checked by kubernetes-validate in strict mode (unknown fields are errors)
against the schemas it ships for pinned versions: the chart's minimum and a current release.
Custom resources (KEDA, Prometheus Operator) have no schema there; they are checked structurally
below, against the fields their operators read.
"""

from __future__ import annotations

import helm_python as helm
import kubernetes_validate
import pytest

from tests.ops.chart_render import CHART, CI_VALUES, Release, load_values

#: The names KEDA's `temporal` scaler reads (KEDA >= 2.17): its trigger metadata and its
#: TriggerAuthentication parameters, as declared in kedacore/keda pkg/scalers/temporal_scaler.go
#: (`temporalMetadata`, `order=triggerMetadata` / `order=authParams`) and listed in keda-docs
#: content/docs/2.22/scalers/temporal.md. A misspelt key would be ignored and scale on defaults.
KEDA_TEMPORAL_METADATA = {
    "endpoint", "endpointFromEnv", "namespace", "taskQueue", "queueTypes", "targetQueueSize",
    "activationTargetQueueSize", "workerDeploymentName", "workerDeploymentBuildId", "minConnectTimeout",
    "unsafeSsl", "tlsServerName", "enableTLS", "apiKeyFromEnv",
}
KEDA_TEMPORAL_AUTH_PARAMETERS = {"apiKey", "ca", "cert", "key", "keyPassword"}
KEDA_TEMPORAL_QUEUE_TYPES = {"workflow", "activity", "nexus"}

#: The chart's kubeVersion floor (Chart.yaml) and the current version it is checked against.
KUBERNETES_VERSIONS = ("1.29.0", "1.33.0")
CUSTOM_GROUPS = ("keda.sh/", "monitoring.coreos.com/")


@pytest.mark.parametrize("values", CI_VALUES)
def test_helm_lint_is_clean(values: str) -> None:
    report = helm.lint(CHART, load_values(values), strict=True, kube_version="v1.33.0")
    assert report["errors"] == []
    # Severity 2 is a warning, 3 an error; the only info-level finding allowed is the missing icon.
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_built_in_object_validates_strictly(ci_release: Release, version: str) -> None:
    checked = 0
    for rendered in ci_release.objects:
        if rendered.obj["apiVersion"].startswith(CUSTOM_GROUPS):
            continue
        try:
            kubernetes_validate.validate(rendered.obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{rendered.template}: {rendered.kind}/{rendered.name}: {err.message} at {list(err.path)}")
        checked += 1
    assert checked > 20


def test_every_rendered_name_is_a_dns_label(ci_release: Release) -> None:
    for rendered in ci_release.objects:
        assert len(rendered.name) <= 63 and rendered.name == rendered.name.lower(), rendered.name


def test_scaled_objects_are_well_formed(ci_release: Release) -> None:
    deployments = {d["metadata"]["name"] for d in ci_release.of_kind("Deployment")}
    auths = {a["metadata"]["name"]: a for a in ci_release.of_kind("TriggerAuthentication")}
    for scaled in ci_release.of_kind("ScaledObject"):
        assert scaled["apiVersion"] == "keda.sh/v1alpha1"
        spec = scaled["spec"]
        assert spec["scaleTargetRef"]["name"] in deployments
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "temporal"
        # KEDA reads trigger metadata as map[string]string: a bare number would be refused.
        assert all(isinstance(value, str) for value in trigger["metadata"].values()), trigger["metadata"]
        metadata = trigger["metadata"]
        assert set(metadata) <= KEDA_TEMPORAL_METADATA, set(metadata) - KEDA_TEMPORAL_METADATA
        assert {"endpoint", "namespace", "taskQueue", "targetQueueSize", "activationTargetQueueSize"} <= set(metadata)
        assert set(metadata["queueTypes"].split(",")) <= KEDA_TEMPORAL_QUEUE_TYPES
        # KEDA parses both sizes as int64.
        assert int(metadata["targetQueueSize"]) >= 1 and int(metadata["activationTargetQueueSize"]) >= 0
        if "authenticationRef" in trigger:
            assert trigger["authenticationRef"]["name"] in auths
    for auth in auths.values():
        assert auth["apiVersion"] == "keda.sh/v1alpha1"
        parameters = [ref["parameter"] for ref in auth["spec"]["secretTargetRef"]]
        for ref in auth["spec"]["secretTargetRef"]:
            assert set(ref) == {"parameter", "name", "key"}
        assert set(parameters) <= KEDA_TEMPORAL_AUTH_PARAMETERS and len(parameters) == len(set(parameters))
        # KEDA refuses a certificate without its key, and the reverse.
        assert ("cert" in parameters) == ("key" in parameters)


def test_service_monitor_selects_every_metrics_service(ci_release: Release) -> None:
    for monitor in ci_release.of_kind("ServiceMonitor"):
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        selector = monitor["spec"]["selector"]["matchLabels"]
        ports = {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]}
        selected = [
            s for s in ci_release.of_kind("Service") if selector.items() <= s["metadata"]["labels"].items()
        ]
        deployments = ci_release.of_kind("Deployment")
        assert len(selected) == len(deployments), "one scraped Service per Deployment"
        for service in selected:
            assert {p["name"] for p in service["spec"]["ports"]} & ports, service["metadata"]["name"]


def test_prometheus_rules_are_well_formed(ci_release: Release) -> None:
    for rule_set in ci_release.of_kind("PrometheusRule"):
        assert rule_set["apiVersion"] == "monitoring.coreos.com/v1"
        for group in rule_set["spec"]["groups"]:
            assert group["name"] and group["rules"]
            for rule in group["rules"]:
                assert rule["expr"].strip() and rule["expr"].count("(") == rule["expr"].count(")")
                if "record" in rule:
                    assert set(rule) <= {"record", "expr", "labels"} and rule["record"]
                    continue
                assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
                assert rule["alert"]
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}
