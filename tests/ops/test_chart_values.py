"""Bad values are refused before anything renders, with a message naming the key and the rule.

Types and ranges are `values.schema.json`'s job (Helm checks it on install, upgrade, template and
lint); rules that span keys are `required`/`fail` calls in the templates.
"""

from __future__ import annotations

import copy

import helm_python as helm
import pytest

from swath.settings import BLOB_URL_SCHEMES
from tests.ops.chart_render import Release, load_values

MINIMAL = load_values("minimal-values.yaml")


def with_change(path: str, value: object) -> dict:
    """The minimal values with one key (dotted path) set; None deletes it."""
    values = copy.deepcopy(MINIMAL)
    *parents, leaf = path.split(".")
    node = values
    for key in parents:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return values


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("pools.ingest.replicas", -1, "at '/pools/ingest/replicas': minimum: got -1, want 0"),
        ("pools.ingest.replicas", "two", "at '/pools/ingest/replicas': got string, want integer"),
        ("pools.gpu", {"enabled": True, "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
         "invalid propertyName 'gpu'"),
        ("pools.inference.gpu", "yes", "at '/pools/inference/gpu': got string, want object"),
        # null deletes a default in Helm: every container must keep a memory request.
        ("pools.inference.resources.requests", {"memory": None}, "missing property 'memory'"),
        ("pools.notify.networkPolicy.egress", ["temporal", "anywhere"], "at '/pools/notify/networkPolicy/egress/1'"),
        ("pools.ingest.keda.targetQueueSize", 0, "at '/pools/ingest/keda/targetQueueSize': minimum: got 0, want 1"),
        ("image.repository", "", "at '/image/repository': minLength: got 0, want 1"),
        # No image at all: the default repository is empty, and that is what the message names.
        ("image", None, "at '/image/repository': minLength: got 0, want 1"),
        ("temporal.address", "temporal.example", "at '/temporal/address'"),
        ("blob.url", "https://bucket.example/prefix", "at '/blob/url'"),
        ("podSecurityContext.runAsNonRoot", False, "at '/podSecurityContext/runAsNonRoot'"),
        ("securityContext.readOnlyRootFilesystem", False, "at '/securityContext/readOnlyRootFilesystem'"),
        ("config.INFERENCE_CHUNK_SIZE", "32", "invalid propertyName 'INFERENCE_CHUNK_SIZE'"),
        ("api.replicaCount", 3, "additional properties 'replicaCount' not allowed"),
        ("api.uploadMaxBytes", 0, "at '/api/uploadMaxBytes': minimum: got 0, want 1"),
        ("api.uploadMaxBytes", "8Gi", "at '/api/uploadMaxBytes': got string, want integer"),
        ("api.ingress.proxyTimeoutSeconds", 0, "at '/api/ingress/proxyTimeoutSeconds': minimum: got 0, want 1"),
    ],
)
def test_schema_rejects(chart: helm.Chart, path: str, value: object, message: str) -> None:
    values = with_change(path, value)
    with pytest.raises(helm.HelmValuesError) as err:
        chart.validate_schema(values)
    assert message in str(err.value)
    # Rendering (what install and upgrade do) refuses the same values the same way.
    with pytest.raises(helm.HelmValuesError) as err:
        chart.render(values, name="swath", namespace="swath")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("database.url", "", "database.url or database.existingSecret is required"),
        ("blob.url", "", "blob.url is required"),
        ("auth.jwt", {"algorithm": "HS256", "issuer": "https://auth.example/"}, "auth.jwt.audience is required"),
        ("blob.s3.accessKeyId", "AKIA", "blob.s3.secretAccessKey is required with blob.s3.accessKeyId"),
    ],
)
def test_templates_refuse_incomplete_settings(chart: helm.Chart, path: str, value: object, message: str) -> None:
    with pytest.raises(helm.HelmRenderError) as err:
        chart.render(with_change(path, value), name="swath", namespace="swath")
    assert message in str(err.value)


def test_the_minimal_values_pass(chart: helm.Chart) -> None:
    chart.validate_schema(MINIMAL)


def test_the_chart_defaults_document_every_key_the_schema_knows(chart: helm.Chart) -> None:
    # The defaults plus the minimal values validate: no default is outside its own schema.
    chart.validate_schema(chart.merge_values(MINIMAL))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        # One value each: a second SWATH_UPLOAD_MAX_BYTES would leave the Ingress's limit behind.
        ("config.SWATH_UPLOAD_MAX_BYTES", "1024", "config.SWATH_UPLOAD_MAX_BYTES is set by the chart"),
        ("config.SWATH_TEMPORAL_ADDRESS", "other:7233", "config.SWATH_TEMPORAL_ADDRESS is set by the chart"),
        ("api.env", {"SWATH_UPLOAD_MAX_BYTES": "1024"}, "env.SWATH_UPLOAD_MAX_BYTES is set by the chart"),
        ("pools.ingest.env", {"SWATH_BLOB_URL": "s3://other"}, "env.SWATH_BLOB_URL is set by the chart"),
        ("api.ingress", {"enabled": True, "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "1m"}},
         "api.ingress.annotations.nginx.ingress.kubernetes.io/proxy-body-size is derived from api.uploadMaxBytes"),
        # KEDA's temporal scaler has no server-TLS-only mode: it would dial plaintext and never scale.
        ("temporal.tls", {"enabled": True}, "KEDA's temporal scaler speaks TLS only with an API key or a client certificate"),
    ],
)
def test_derived_settings_are_set_in_one_place(chart: helm.Chart, path: str, value: object, message: str) -> None:
    values = with_change(path, value)
    values["keda"] = {"enabled": True}
    with pytest.raises(helm.HelmRenderError) as err:
        chart.render(values, name="swath", namespace="swath")
    assert message in str(err.value)


@pytest.mark.parametrize("scheme", BLOB_URL_SCHEMES)
def test_every_blob_store_swath_opens_is_accepted(chart: helm.Chart, render, scheme: str) -> None:
    values = with_change("blob", {"url": f"{scheme}swath-blobs@acct.dfs.core.windows.net/prod" if scheme.startswith("abfs")
                                  else f"{scheme}swath-blobs/prod", "s3": {"region": ""}})
    chart.validate_schema(values)
    release: Release = render(values)
    config = release.get("ConfigMap", "swath")["data"]
    assert config["SWATH_BLOB_URL"] == values["blob"]["url"]
    assert not {"SWATH_BLOB_REGION", "SWATH_BLOB_ENDPOINT"} & set(config)


def test_s3_settings_with_another_store_are_refused(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmRenderError) as err:
        chart.render(with_change("blob.url", "gs://swath-blobs/prod"), name="swath", namespace="swath")
    assert "blob.s3.* apply to an s3:// blob.url only" in str(err.value)
