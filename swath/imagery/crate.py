"""A run's provenance as an RO-Crate (Workflow Run Crate profile), written with the `rocrate` library.

The crate's root is the run's outputs folder: `ro-crate-metadata.json` sits beside the maps and
names each output by its output name, so the folder as served or downloaded is the crate. It says:

- the workflow (`AnalysisRunV4`, a `ComputationalWorkflow`, the crate's `mainEntity`) and one
  `CreateAction` — the run — whose `instrument` it is;
- the action's `object`: every input with the sha256 of the bytes read, the model version (its
  weights' sha256) and the run's parameters (`PropertyValue`s, each the value of a
  `FormalParameter` of the workflow);
- the action's `result`: every output with its size, media type and sha256.

`validate_crate` reads a crate back with the same library and checks what the profile requires.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

from swath.domain.errors import CrateError

METADATA_NAME = "ro-crate-metadata.json"
MEDIA_TYPE = "application/ld+json"
#: The profiles the crate conforms to (the Workflow Run Crate and those it builds on).
PROFILES = (
    "https://w3id.org/ro/wfrun/process/0.5",
    "https://w3id.org/ro/wfrun/workflow/0.5",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0",
)
WORKFLOW_ID = "urn:swath:workflow:AnalysisRunV4"


@dataclass(frozen=True)
class CrateFile:
    """A file the crate names: an input (by its URI) or an output (by its name in the run's folder)."""

    id: str
    sha256: str
    size: int | None = None
    media_type: str = ""
    name: str = ""


@dataclass(frozen=True)
class CrateModel:
    """The model version a run used."""

    name: str
    version: str
    sha256: str


def write_crate(
    dest_dir: str | os.PathLike, *, run_id: str, status: str, inputs: Sequence[CrateFile],
    outputs: Sequence[CrateFile], model: CrateModel, parameters: Mapping[str, object],
    start: str | None = None, end: str | None = None,
) -> Path:
    """Write the run's `ro-crate-metadata.json` into `dest_dir`; its path."""
    crate = ROCrate(gen_preview=False)
    crate.root_dataset["name"] = f"Swath run {run_id}"
    crate.root_dataset["description"] = f"The inputs, model, parameters and outputs of Swath run {run_id}."
    crate.root_dataset["license"] = "other"
    crate.root_dataset["conformsTo"] = [crate.add(ContextEntity(crate, p, properties={"@type": "CreativeWork"}))
                                        for p in PROFILES]

    language = crate.add(ContextEntity(crate, "#temporal-python", properties={
        "@type": "ComputerLanguage", "name": "Temporal (Python SDK)", "url": {"@id": "https://temporal.io/"},
    }))
    formal = {
        name: crate.add(ContextEntity(crate, f"#param-{name}", properties={
            "@type": "FormalParameter", "name": name, "additionalType": _schema_type(value),
            "conformsTo": {"@id": "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"},
        }))
        for name, value in parameters.items()
    }
    workflow = crate.add_file(WORKFLOW_ID, properties={
        "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"],
        "name": "AnalysisRunV4", "programmingLanguage": language, "input": list(formal.values()),
    })
    crate.root_dataset["mainEntity"] = workflow

    model_entity = crate.add(ContextEntity(crate, f"urn:swath:model:{model.name}:{model.version}", properties={
        "@type": "SoftwareApplication", "name": model.name, "softwareVersion": model.version,
        "sha256": model.sha256,
    }))
    input_entities = [crate.add_file(f.id, properties=_file_properties(f)) for f in inputs]
    output_entities = [crate.add_file(None, dest_path=f.id, properties=_file_properties(f)) for f in outputs]
    values = [
        crate.add(ContextEntity(crate, f"#value-{name}", properties={
            "@type": "PropertyValue", "name": name, "value": _as_text(value), "exampleOfWork": formal[name],
        }))
        for name, value in parameters.items()
    ]
    action = {
        "@type": "CreateAction", "name": f"Swath run {run_id}", "identifier": run_id,
        "instrument": workflow, "object": [*input_entities, model_entity, *values], "result": output_entities,
        "actionStatus": {"@id": "http://schema.org/CompletedActionStatus" if status == "complete"
                         else "http://schema.org/FailedActionStatus"},
    }
    if start:
        action["startTime"] = start
    if end:
        action["endTime"] = end
    crate.add(ContextEntity(crate, f"#run-{run_id}", properties=action))
    crate.root_dataset["mentions"] = [crate.dereference(f"#run-{run_id}")]
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    crate.metadata.write(dest)
    return dest / METADATA_NAME


def _file_properties(f: CrateFile) -> dict:
    props: dict = {"sha256": f.sha256} if f.sha256 else {}
    if f.size is not None:
        props["contentSize"] = str(f.size)
    if f.media_type:
        props["encodingFormat"] = f.media_type
    if f.name:
        props["name"] = f.name
    return props


def _schema_type(value: object) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    return "Text"


def _as_text(value: object) -> object:
    return value if isinstance(value, (str, int, float, bool)) else json.dumps(value)


def validate_crate(crate_dir: str | os.PathLike) -> ROCrate:
    """Read the crate in `crate_dir` with `rocrate` and check the Workflow Run Crate's requirements
    (raises `CrateError`): the profiles, a `ComputationalWorkflow` as `mainEntity`, a `CreateAction`
    whose instrument it is, its objects and results in the crate, every file with a sha256."""
    crate = ROCrate(crate_dir)
    root = crate.root_dataset
    profiles = {e.id if hasattr(e, "id") else e for e in _as_list(root.get("conformsTo"))}
    missing = set(PROFILES) - profiles
    if missing:
        raise CrateError(f"the crate does not conform to {sorted(missing)}")
    main = crate.mainEntity
    if main is None or "ComputationalWorkflow" not in _as_list(main.type):
        raise CrateError("the crate's mainEntity is not a ComputationalWorkflow")
    actions = [e for e in crate.get_entities() if "CreateAction" in _as_list(e.type)]
    if len(actions) != 1:
        raise CrateError(f"a run crate has one CreateAction, not {len(actions)}")
    action = actions[0]
    if getattr(action.get("instrument"), "id", None) != main.id:
        raise CrateError("the CreateAction's instrument is not the crate's workflow")
    for key in ("object", "result"):
        for entity in _as_list(action.get(key)):
            if not hasattr(entity, "id"):
                raise CrateError(f"the action's {key} {entity!r} is not an entity of the crate")
            if "File" in _as_list(entity.type) and not entity.get("sha256"):
                raise CrateError(f"{entity.id} has no sha256")
    if not _as_list(action.get("result")):
        raise CrateError("the run's action has no result")
    return crate


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
