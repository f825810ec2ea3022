"""What the rendered objects promise: GPUs, hook order, non-root, probes, requests, queues, flows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from swath.settings import Mode, Settings
from swath.temporal.queues import TaskQueue
from tests.ops.chart_render import CI_VALUES, Release, load_values

REPO = Path(__file__).resolve().parents[2]
HOOK = "helm.sh/hook"
WEIGHT = "helm.sh/hook-weight"


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def all_containers(obj: dict) -> list[dict]:
    """Init containers too."""
    return obj["spec"]["template"]["spec"].get("initContainers", []) + containers(obj)


def pod_workloads(release: Release) -> list[dict]:
    return release.of_kind("Deployment") + release.of_kind("Job")


def pool_deployments(release: Release) -> dict[str, dict]:
    """Pool Deployments by the pool (task queue) their container serves."""
    pools = {}
    for deployment in release.of_kind("Deployment"):
        args = containers(deployment)[0]["args"]
        if args[0] == "worker":
            pools[args[1]] = deployment
    return pools


@pytest.fixture(scope="module")
def gpu(render) -> Release:
    return render(load_values("gpu-keda-values.yaml"))


def test_there_is_one_deployment_per_pool_and_one_for_the_api(ci_release: Release) -> None:
    assert set(pool_deployments(ci_release)) == {queue.value for queue in TaskQueue}
    assert len(ci_release.of_kind("Deployment")) == len(TaskQueue) + 1


def test_the_inference_pool_requests_a_gpu_on_gpu_nodes(gpu: Release) -> None:
    inference = pool_deployments(gpu)["inference"]
    assert "inference" in inference["metadata"]["name"]
    (container,) = containers(inference)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["image"].endswith("-cuda")
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SWATH_INFERENCE_DEVICE"] == "cuda"
    pod = inference["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_no_other_pool_holds_a_gpu(gpu: Release) -> None:
    for name, deployment in pool_deployments(gpu).items():
        if name != "inference":
            assert "nvidia.com/gpu" not in str(containers(deployment)[0]["resources"]), name


def test_a_cpu_only_cluster_runs_inference_on_cpu(render) -> None:
    inference = pool_deployments(render(load_values("minimal-values.yaml")))["inference"]
    (container,) = containers(inference)
    assert "nvidia.com/gpu" not in container["resources"].get("limits", {})
    assert {"name": "SWATH_INFERENCE_DEVICE", "value": "cpu"} in container["env"]
    assert "nodeSelector" not in inference["spec"]["template"]["spec"]


def test_the_orchestration_pool_sets_the_namespace_up_before_it_polls(render) -> None:
    pools = pool_deployments(render(load_values("minimal-values.yaml")))
    (setup,) = pools["orchestration"]["spec"]["template"]["spec"]["initContainers"]
    assert setup["args"] == ["temporal-setup"]
    assert setup["envFrom"] == containers(pools["orchestration"])[0]["envFrom"]
    assert all("initContainers" not in d["spec"]["template"]["spec"] for n, d in pools.items() if n != "orchestration")
    cloud = pool_deployments(render(load_values("temporal-cloud-mtls-values.yaml")))["orchestration"]
    assert "initContainers" not in cloud["spec"]["template"]["spec"]


def api_env(release: Release) -> dict[str, str]:
    (api,) = [d for d in release.of_kind("Deployment") if containers(d)[0]["args"] == ["api"]]
    return {var["name"]: var.get("value") for var in containers(api)[0]["env"]}


def test_the_api_believes_forwarded_headers_from_the_named_proxies_only(render) -> None:
    values = load_values("minimal-values.yaml")
    assert "SWATH_TRUSTED_PROXIES" not in api_env(render(values))  # none named: no header is believed
    values.setdefault("api", {})["trustedProxies"] = ["10.0.0.0/8", "192.168.1.7"]
    assert api_env(render(values))["SWATH_TRUSTED_PROXIES"] == "10.0.0.0/8,192.168.1.7"
    assert Settings(trusted_proxies="10.0.0.0/8,192.168.1.7").trusted_proxies == ("10.0.0.0/8", "192.168.1.7")


def job_named(release: Release, suffix: str) -> dict:
    (job,) = [j for j in release.of_kind("Job") if j["metadata"]["name"].endswith(f"-{suffix}")]
    return job


def test_the_migration_job_is_a_hook_that_runs_before_the_deployments(ci_release: Release) -> None:
    job = job_named(ci_release, "migrate")
    annotations = job["metadata"]["annotations"]
    assert set(annotations[HOOK].split(",")) == {"pre-install", "pre-upgrade"}
    assert containers(job)[0]["args"] == ["migrate"]
    # Helm applies ordinary objects only after every pre-install/pre-upgrade hook has succeeded:
    # the Deployments must not be hooks themselves, or they could start alongside the Job.
    for deployment in ci_release.of_kind("Deployment"):
        assert HOOK not in deployment["metadata"].get("annotations", {})
    # Whatever the Job needs that is itself a hook comes first (a lower weight).
    for obj in (r.obj for r in ci_release.objects):
        hook = obj["metadata"].get("annotations", {}).get(HOOK)
        if hook and obj is not job and obj["metadata"]["name"] != job_named(ci_release, "drain-check")["metadata"]["name"]:
            assert int(obj["metadata"]["annotations"][WEIGHT]) < int(annotations[WEIGHT])
            assert obj["kind"] == "Secret"


def test_an_upgrade_is_refused_before_anything_changes_while_retired_workflow_types_have_open_runs(
    ci_release: Release,
) -> None:
    drain, migrate = job_named(ci_release, "drain-check"), job_named(ci_release, "migrate")
    annotations = drain["metadata"]["annotations"]
    # Only upgrades: a first install has no runs of an earlier build, nor yet the ConfigMap it reads.
    assert annotations[HOOK] == "pre-upgrade"
    assert int(annotations[WEIGHT]) < int(migrate["metadata"]["annotations"][WEIGHT])
    assert drain["spec"]["backoffLimit"] == 0
    (container,) = containers(drain)
    assert container["args"] == ["drain-check"]
    assert container["envFrom"] == [{"configMapRef": {"name": migrate["metadata"]["name"].removesuffix("-migrate")}}]
    # It reaches Temporal and nothing else.
    assert egress_ports(ci_release, "drain-check") == {53, 7233}


def test_the_migration_job_reads_the_dsn_from_a_secret_that_exists_before_it(ci_release: Release) -> None:
    job = job_named(ci_release, "migrate")
    env = {e["name"]: e for e in containers(job)[0]["env"]}
    name = env["SWATH_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"]
    secrets = {s["metadata"]["name"]: s for s in ci_release.of_kind("Secret")}
    # A Secret of the chart's own must be a hook too, or it would not exist yet at pre-install;
    # any other name is a Secret the user manages.
    if name in secrets:
        assert HOOK in secrets[name]["metadata"].get("annotations", {})


def test_no_container_runs_as_root_or_writes_its_root_filesystem(ci_release: Release) -> None:
    for workload in pod_workloads(ci_release):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for container in all_containers(workload):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert context.get("runAsUser", 1) != 0
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_every_deployment_has_probes_and_resource_requests(ci_release: Release) -> None:
    for deployment in ci_release.of_kind("Deployment"):
        for container in containers(deployment):
            name = deployment["metadata"]["name"]
            assert container["livenessProbe"]["httpGet"]["path"] in {"/healthz", "/livez"}, name
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
    for workload in pod_workloads(ci_release):
        for container in all_containers(workload):  # init containers and the Job's too
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), workload["metadata"]["name"]


def test_pools_probe_the_pool_http_port(ci_release: Release) -> None:
    for deployment in pool_deployments(ci_release).values():
        (container,) = containers(deployment)
        assert container["ports"] == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"]["port"] == "metrics"


def test_keda_scales_each_pool_on_its_own_task_queue(gpu: Release) -> None:
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in gpu.of_kind("ScaledObject")}
    for queue, deployment in pool_deployments(gpu).items():
        so = scaled[deployment["metadata"]["name"]]
        (trigger,) = so["spec"]["triggers"]
        assert trigger["metadata"]["taskQueue"] == TaskQueue(queue).value
        assert trigger["metadata"]["queueTypes"] == ("workflow" if queue == "orchestration" else "activity")
        assert trigger["metadata"]["namespace"] == "swath"
        # KEDA owns a scaled Deployment's replica count.
        assert "replicas" not in deployment["spec"]
    inference = scaled[pool_deployments(gpu)["inference"]["metadata"]["name"]]
    assert inference["spec"]["minReplicaCount"] == 0
    assert inference["spec"]["triggers"][0]["metadata"]["targetQueueSize"] == "2"
    assert inference["spec"]["triggers"][0]["metadata"]["activationTargetQueueSize"] == "1"


def test_without_keda_pools_have_fixed_replicas(render) -> None:
    release = render(load_values("minimal-values.yaml"))
    assert release.of_kind("ScaledObject") == []
    for deployment in pool_deployments(release).values():
        assert deployment["spec"]["replicas"] >= 1


def egress_ports(release: Release, component: str) -> set[int | str]:
    (policy,) = [
        p for p in release.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component") == component
    ]
    return {port["port"] for rule in policy["spec"].get("egress", []) for port in rule["ports"]}


def test_network_policy_denies_by_default_and_allows_each_components_flows(ci_release: Release) -> None:
    deny = [p for p in ci_release.of_kind("NetworkPolicy") if p["metadata"]["name"].endswith("-default-deny")]
    (deny,) = deny
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    dns, temporal, postgres = 53, 7233, 5432
    # Orchestration finishes runs itself (a local activity), as bookkeeping does when it is handed the
    # step: PostgreSQL, and the blob store for the run's STAC Collection and RO-Crate; never the internet.
    assert egress_ports(ci_release, "orchestration") == egress_ports(ci_release, "bookkeeping")
    assert {dns, temporal, postgres} < egress_ports(ci_release, "orchestration")
    assert {dns, temporal, postgres} <= egress_ports(ci_release, "bookkeeping")
    assert egress_ports(ci_release, "migrate") == {dns, postgres}
    for component in ("api", "inference", "ingest", "notify"):
        assert {dns, temporal, postgres} <= egress_ports(ci_release, component)
    # Webhooks (notify) and input URLs (ingest) reach the internet; nothing else does.
    for component in ("notify", "ingest"):
        assert 443 in egress_ports(ci_release, component)


def test_internet_egress_excludes_private_and_metadata_addresses(ci_release: Release) -> None:
    (notify,) = [p for p in ci_release.of_kind("NetworkPolicy") if p["metadata"]["name"].endswith("-notify")]
    blocks = [peer["ipBlock"] for rule in notify["spec"]["egress"] for peer in rule.get("to", []) if "ipBlock" in peer]
    (block,) = blocks
    assert block["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(block["except"])


def test_existing_secrets_mean_the_chart_creates_none(render) -> None:
    release = render(load_values("external-secrets-values.yaml"))
    assert release.of_kind("Secret") == []
    for workload in pod_workloads(release):
        for env in containers(workload)[0]["env"]:
            if "valueFrom" in env:
                assert env["valueFrom"]["secretKeyRef"]["name"] == "swath-credentials"


def test_mtls_files_are_mounted_from_the_secret_and_named_in_settings(render) -> None:
    release = render(load_values("temporal-cloud-mtls-values.yaml"))
    config = release.get("ConfigMap", "swath")["data"]
    assert config["SWATH_TEMPORAL_TLS"] == "true"
    assert config["SWATH_TEMPORAL_TLS_CERT"] == "/etc/swath/temporal-tls/tls.crt"
    assert config["SWATH_TEMPORAL_TLS_KEY"] == "/etc/swath/temporal-tls/tls.key"
    assert "SWATH_TEMPORAL_TLS_CA" not in config  # Temporal Cloud: public roots
    for deployment in release.of_kind("Deployment"):
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["temporal-tls"]["secret"]["secretName"] == "swath-temporal-mtls"
        mounts = {m["name"]: m for m in containers(deployment)[0]["volumeMounts"]}
        assert mounts["temporal-tls"] == {"name": "temporal-tls", "mountPath": "/etc/swath/temporal-tls", "readOnly": True}


def test_the_api_key_comes_from_its_secret_and_implies_tls(render) -> None:
    release = render(load_values("external-secrets-values.yaml"))
    assert release.get("ConfigMap", "swath")["data"]["SWATH_TEMPORAL_TLS"] == "true"
    for deployment in release.of_kind("Deployment"):
        env = {e["name"]: e for e in containers(deployment)[0]["env"]}
        assert env["SWATH_TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"] == {
            "name": "swath-credentials", "key": "temporal-api-key",
        }


def test_the_api_is_served_autoscaled_and_optionally_exposed(render) -> None:
    release = render(load_values("temporal-cloud-mtls-values.yaml"))
    service = release.get("Service", "swath-api")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = release.get("HorizontalPodAutoscaler", "swath-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "swath-api"
    assert "replicas" not in release.get("Deployment", "swath-api")["spec"]
    ingress = release.get("Ingress", "swath-api")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "swath-api"


def test_every_component_has_a_disruption_budget(ci_release: Release) -> None:
    budgets = {p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for p in ci_release.of_kind("PodDisruptionBudget")}
    assert budgets == {"api", *(queue.value for queue in TaskQueue)}


def test_notes_say_how_to_reach_the_api(ci_release: Release) -> None:
    assert "swath keys create" in ci_release.notes
    assert "swath temporal setup" in ci_release.notes or "SwathTenant" in ci_release.notes


def test_keda_authenticates_to_temporal_as_the_pools_do(render) -> None:
    """The same client certificate or API key, under the parameter names KEDA's scaler reads."""
    mtls = render(load_values("temporal-cloud-mtls-values.yaml"))
    (auth,) = mtls.of_kind("TriggerAuthentication")
    assert sorted((r["parameter"], r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]) == [
        ("cert", "swath-temporal-mtls", "tls.crt"), ("key", "swath-temporal-mtls", "tls.key"),
    ]
    api_key = render(load_values("external-secrets-values.yaml"))
    (auth,) = api_key.of_kind("TriggerAuthentication")
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "apiKey", "name": "swath-credentials", "key": "temporal-api-key"}
    ]
    for release in (mtls, api_key):
        for scaled in release.of_kind("ScaledObject"):
            (trigger,) = scaled["spec"]["triggers"]
            assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
            # TLS is KEDA's default with either credential; the trigger does not restate it.
            assert "enableTLS" not in trigger["metadata"]
    assert render(load_values("gpu-keda-values.yaml")).of_kind("TriggerAuthentication") == []


def ingress_and_config(release: Release) -> tuple[dict[str, str], dict[str, str]]:
    return release.get("Ingress", "swath-api")["metadata"].get("annotations", {}), release.get("ConfigMap", "swath")["data"]


def test_the_ingress_passes_uploads_up_to_the_apis_own_cap(render) -> None:
    """ingress-nginx would refuse bodies over 1 MiB and spool the rest to its disk; the chart gives
    it the API's upload cap, from the one value both come from."""
    annotations, config = ingress_and_config(render(load_values("temporal-cloud-mtls-values.yaml")))
    cap = config["SWATH_UPLOAD_MAX_BYTES"]
    # What the API parses from it, and the chart's default is the API's own.
    assert Settings(mode=Mode.DEV, upload_max_bytes=cap).upload_max_bytes == Settings.model_fields["upload_max_bytes"].default
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == cap
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "600"
    # nginx reads a size as digits with an optional unit; a float (8.589934592e+09) would be refused.
    assert re.fullmatch(r"[0-9]+[kKmMgG]?", annotations["nginx.ingress.kubernetes.io/proxy-body-size"])


def test_the_ingress_follows_a_changed_upload_cap_and_keeps_its_own_annotations(render) -> None:
    values = load_values("temporal-cloud-mtls-values.yaml")
    values["api"]["uploadMaxBytes"] = 2 * 1024**3
    values["api"]["ingress"]["proxyTimeoutSeconds"] = 900
    values["api"]["ingress"]["annotations"] = {"cert-manager.io/cluster-issuer": "letsencrypt"}
    annotations, config = ingress_and_config(render(values))
    assert config["SWATH_UPLOAD_MAX_BYTES"] == annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "2147483648"
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "900"
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"

    values["api"]["ingress"]["nginxUploadAnnotations"] = False
    annotations, config = ingress_and_config(render(values))
    assert annotations == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert config["SWATH_UPLOAD_MAX_BYTES"] == "2147483648", "the API keeps its cap without the annotations"


#: Where each component opens its clients (a pool's module, the API's lifespan).
COMPONENT_SOURCES = {"api": REPO / "api" / "app.py"} | {q.value: REPO / "workers" / "pools" / f"{q.value}.py" for q in TaskQueue}


def egress_rules(release: Release, component: str) -> list[dict]:
    (policy,) = [
        p for p in release.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component") == component
    ]
    return policy["spec"].get("egress", [])


@pytest.mark.parametrize("values", CI_VALUES)
def test_each_component_may_reach_the_stores_its_code_opens(chart, render, values: str) -> None:
    """Derived from the code, not restated: a component that opens the blob store (or the
    database) gets that destination's egress rule, exactly as the values define it."""
    policy = chart.merge_values(load_values(values))["networkPolicy"]
    merged = policy["egress"]
    # The blob store's rule reaches its `to` and, after them, each of `blobStoreCIDRs`.
    targets = {
        "database": merged["database"]["to"],
        "blobStore": merged["blobStore"]["to"] + [{"ipBlock": {"cidr": c}} for c in policy["blobStoreCIDRs"]],
    }
    release = render(load_values(values))
    for component, source in COMPONENT_SOURCES.items():
        code = source.read_text()
        rules = [{k: rule[k] for k in ("ports", "to") if k in rule} for rule in egress_rules(release, component)]
        for destination, opened in (("blobStore", "open_blob_store("), ("database", "connect(settings.dsn")):
            wanted = {"ports": merged[destination]["ports"]} | ({"to": targets[destination]} if targets[destination] else {})
            assert (wanted in rules) == (opened in code), f"{component} and {destination}"


def test_prometheus_operator_objects_render_only_when_asked(render) -> None:
    """Their CRDs exist only where the Prometheus Operator is installed: off unless enabled."""
    plain = render(load_values("minimal-values.yaml"))
    assert plain.of_kind("ServiceMonitor") == [] and plain.of_kind("PrometheusRule") == []
    monitored = render(load_values("temporal-cloud-mtls-values.yaml"))
    (monitor,) = monitored.of_kind("ServiceMonitor")
    (rules,) = monitored.of_kind("PrometheusRule")
    for obj in (monitor, rules):
        assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack", "the operator selects by these labels"
    alerts = {rule.get("alert") for group in rules["spec"]["groups"] for rule in group["rules"]}
    assert {"SwathComponentDown", "SwathWebhookEndpointsDisabled"} <= alerts and len(alerts) > 3


def test_every_deployment_drains_within_its_grace_period(ci_release: Release) -> None:
    """SIGTERM: the API finishes requests, a pool its activities, in the grace period less 5 s."""
    for deployment in ci_release.of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        drain = env["SWATH_API_DRAIN_S" if container["args"] == ["api"] else "SWATH_WORKER_DRAIN_S"]
        assert float(drain) == pod["terminationGracePeriodSeconds"] - 5, deployment["metadata"]["name"]


def test_every_pod_s_tmp_has_a_size_limit_from_values(render) -> None:
    """/tmp is where scenes are copied and maps written: without a limit one tenant's large scenes
    would fill the node's disk (and evict its neighbours' pods instead of this one)."""
    values = load_values("minimal-values.yaml") | {"tmp": {"sizeLimit": "5Gi"}}
    release = render(values)
    volumes = [
        volume for workload in pod_workloads(release)
        for volume in workload["spec"]["template"]["spec"]["volumes"] if volume["name"] == "tmp"
    ]
    assert len(volumes) == len(pod_workloads(release)) > 1
    assert all(volume["emptyDir"] == {"sizeLimit": "5Gi"} for volume in volumes)
    defaults = render(load_values("minimal-values.yaml"))
    for workload in pod_workloads(defaults):
        (tmp,) = [v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == "tmp"]
        assert tmp["emptyDir"]["sizeLimit"], workload["metadata"]["name"]


def blob_store_peers(release: Release, component: str) -> list[dict]:
    """The destinations of the component's rule on the blob store's port (443)."""
    rules = [rule for rule in egress_rules(release, component) if {"port": 443, "protocol": "TCP"} in rule["ports"]]
    blob_rules = [rule for rule in rules if all("except" not in peer.get("ipBlock", {}) for peer in rule.get("to", []))]
    (rule,) = blob_rules
    return rule.get("to", [])


def test_the_blob_store_rule_reaches_only_the_configured_cidrs(render) -> None:
    values = load_values("minimal-values.yaml")
    values["networkPolicy"] = {"blobStoreCIDRs": ["52.218.0.0/17", "3.5.64.0/21"]}
    release = render(values)
    for component in ("api", "ingest", "inference", "bookkeeping"):
        assert blob_store_peers(release, component) == [
            {"ipBlock": {"cidr": "52.218.0.0/17"}}, {"ipBlock": {"cidr": "3.5.64.0/21"}}
        ], component


def test_a_blob_store_rule_with_no_destination_is_refused(render) -> None:
    """`to: []` would let ingest (and every pool) reach any address on 443, private ones included."""
    values = load_values("minimal-values.yaml")
    values["networkPolicy"] = {"blobStoreCIDRs": []}
    with pytest.raises(Exception, match="blobStoreCIDRs"):
        render(values)
    # Without network policies there is no rule to leave open.
    values["networkPolicy"] = {"enabled": False, "blobStoreCIDRs": []}
    assert render(values).of_kind("NetworkPolicy") == []
