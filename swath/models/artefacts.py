"""What a pushed artefact may hold before anything loads it: nothing that executes code.

The trust model: an artefact is data. It is inspected here, file by file, before a loader sees
it, and refused (`UnsafeArtefactError`, with a reason its owner can act on) when loading it could
run code or read outside it:

- **ONNX**: every initializer and tensor attribute holds its data inline (an external-data path
  would make onnxruntime open a file of the pool's), and every node is of the standard domains
  onnxruntime ships (`ai.onnx`, `ai.onnx.ml`, `com.microsoft`) or a function the model defines:
  a custom-op domain would need a library of code registered with the session.
- **torch.export** (`.pt2`, torch 2.13): `torch.export.load` unpickles (`torch.load(weights_only=False)`)
  any weight or constant marked `use_pickle`, a legacy `data/weights/<model>.pt`, and custom or
  opaque objects among the constants; it parses `data/sample_inputs/<model>.pt` with
  `weights_only=True` but falls back to `weights_only=False` when that fails; it `sympify`s
  (Python `eval`) the symbolic-shape expressions of the graph; it turns `guards_code` into
  Python it runs; and it loads AOTInductor `.so` files. So an archive is accepted only with raw
  tensors for weights and constants (no `use_pickle`), a sample-inputs pickle that names nothing
  but tensor rebuilding, shape expressions of symbols, numbers and arithmetic, no guards code,
  graph nodes that call ATen/prims operators only, and none of the other files.
- **safetensors**: a header and raw tensors by construction (read by `safetensors`, never pickled),
  into one of Swath's own architectures (`swath.models.nets`).

Torch-free: the checks read zip members, JSON, pickle opcodes and the ONNX protobuf.
"""

from __future__ import annotations

import io
import json
import pickletools
import re
import zipfile
from pathlib import Path
from typing import Any

from swath.domain.errors import ModelRejectedError, UnsafeArtefactError

#: ONNX domains onnxruntime implements itself; anything else is a custom op (code to register).
ONNX_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})
#: The one program a `.pt2` archive may hold (what `torch.export.load` returns).
PT2_MODEL = "model"
#: Files a `.pt2` archive may hold, relative to its root folder.
_PT2_FILES = re.compile(
    r"^(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/model\.json|data/sample_inputs/model\.pt"
    r"|data/weights/model_weights_config\.json|data/weights/weight_\d+"
    r"|data/constants/model_constants_config\.json|data/constants/tensor_\d+"
    r"|extra/module_info\.json)$"
)
#: Operators a torch.export graph may call: ATen and prims (no Python callables, no custom ops).
_PT2_TARGETS = ("torch.ops.aten.", "torch.ops.prims.", "_operator.")
#: What the sample inputs' pickle may name: rebuilding plain tensors, and the containers around them.
_PICKLE_GLOBALS = frozenset(
    {("torch._utils", "_rebuild_tensor_v2"), ("collections", "OrderedDict"), ("torch", "device")}
    | {("torch", f"{kind}Storage") for kind in (
        "Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool", "Untyped")}
)
#: A symbolic-shape expression: symbols, integers, arithmetic, comparisons and sympy's shape functions.
_EXPR_TOKEN = re.compile(r"'[a-z]{1,3}\d+'|[A-Za-z_][A-Za-z0-9_]*|\d+(\.\d+)?|\*\*|//|[-+*/%(),<>=!&|~ ]")
_SYMBOL = re.compile(r"^[a-z]{1,3}\d+$")
_SHAPE_FUNCTIONS = frozenset({
    "Mod", "FloorDiv", "CeilDiv", "CleanDiv", "ModularIndexing", "Max", "Min", "Abs", "Eq", "Ne", "Ge", "Gt",
    "Le", "Lt", "And", "Or", "Not", "PythonMod", "IntTrueDiv", "FloatTrueDiv", "ToFloat", "TruncToInt",
    "CeilToInt", "FloorToInt", "RoundToInt", "Pow", "PowByNatural", "Integer", "true", "false", "True", "False",
    "oo", "zoo", "nan", "Symbol", "Add", "Mul", "Rational", "Float", "positive", "negative", "nonnegative",
    "nonpositive", "integer", "real", "finite", "infinite", "zero", "nonzero", "even", "odd",
})


def inspect_artefact(fmt: str, path: Path) -> None:
    """Refuse an artefact that could execute code or reach outside itself (`UnsafeArtefactError`),
    or that is not of its declared format (`ModelRejectedError`)."""
    if fmt == "onnx":
        inspect_onnx(path)
    elif fmt == "torch_export":
        inspect_torch_export(path)
    elif fmt == "safetensors":
        _inspect_safetensors(path)
    else:
        raise ModelRejectedError(f"unknown format {fmt!r}")


# -- ONNX -----------------------------------------------------------------------------------------

def inspect_onnx(path: Path) -> None:
    """An ONNX model with every tensor inline and only standard-domain (or model-local) operators."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, OSError, RuntimeError) as err:
        raise ModelRejectedError(f"the artefact is not an ONNX model: {err}") from None
    if not model.graph.node:
        raise ModelRejectedError("the artefact is not an ONNX model: its graph has no nodes")
    local = {f.domain for f in model.functions}
    for opset in model.opset_import:
        if opset.domain not in ONNX_DOMAINS | local:
            raise UnsafeArtefactError(
                f"the ONNX model imports the custom-op domain {opset.domain!r}; only standard operators are served"
            )
    graphs = [model.graph] + [f for f in model.functions]
    while graphs:
        graph = graphs.pop()
        for tensor in getattr(graph, "initializer", ()):
            _onnx_inline(tensor)
        for sparse in getattr(graph, "sparse_initializer", ()):
            _onnx_inline(sparse.values)
            _onnx_inline(sparse.indices)
        for node in graph.node:
            if node.domain not in ONNX_DOMAINS | local:
                raise UnsafeArtefactError(
                    f"node {node.name or node.op_type!r} is a custom op of domain {node.domain!r}; "
                    "only standard operators are served"
                )
            for attribute in node.attribute:
                for tensor in [attribute.t, *attribute.tensors]:
                    _onnx_inline(tensor)
                graphs.extend([attribute.g, *attribute.graphs] if attribute.HasField("g") else attribute.graphs)


def _onnx_inline(tensor: Any) -> None:
    if tensor is None:
        return
    external = tensor.data_location == 1 or len(tensor.external_data) > 0  # TensorProto.EXTERNAL
    if external:
        location = next((e.value for e in tensor.external_data if e.key == "location"), "?")
        raise UnsafeArtefactError(
            f"tensor {tensor.name!r} refers to an external data file {location!r}; "
            "push a model with its weights inline (onnx.save(..., save_as_external_data=False))"
        )


# -- torch.export ---------------------------------------------------------------------------------

def inspect_torch_export(path: Path) -> None:
    """A `torch.export.save` archive that `torch.export.load` can read without unpickling more
    than plain tensors, evaluating Python, or loading compiled code."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ModelRejectedError(f"the artefact is not a torch.export archive: {err}") from None
    with archive:
        names = archive.namelist()
        roots = {name.split("/", 1)[0] for name in names}
        if len(roots) != 1 or not all("/" in name for name in names):
            raise ModelRejectedError("the artefact is not a torch.export archive: files outside one root folder")
        root = roots.pop() + "/"
        files = {name[len(root):]: name for name in names if not name.endswith("/")}
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise UnsafeArtefactError(
                    f"{info.filename} is compressed; torch.export.save stores every file as it is, and a "
                    "compressed one could inflate past any bound when read"
                )
        for rel in files:
            if rel.startswith("data/aotinductor/") or rel.endswith((".so", ".dll", ".dylib", ".cpp", ".py")):
                raise UnsafeArtefactError(
                    f"the archive holds compiled code ({rel}); AOTInductor packages are refused, "
                    "push the torch.export program itself"
                )
            if not _PT2_FILES.fullmatch(rel):
                raise UnsafeArtefactError(
                    f"the archive holds {rel!r}, which torch.export.load would unpickle or Swath does not serve; "
                    "push a plain torch.export.save archive of one program with raw tensor weights"
                )
        for required in ("archive_version", "models/model.json", "data/sample_inputs/model.pt",
                         "data/weights/model_weights_config.json", "data/constants/model_constants_config.json"):
            if required not in files:
                raise ModelRejectedError(f"the artefact is not a torch.export archive: it lacks {required}")

        def read_json(rel: str) -> Any:
            try:
                return json.loads(archive.read(files[rel]))
            except ValueError as err:
                raise ModelRejectedError(f"{rel} is not JSON: {err}") from None

        for config in ("data/weights/model_weights_config.json", "data/constants/model_constants_config.json"):
            for fqn, payload in (read_json(config).get("config") or {}).items():
                if payload.get("use_pickle") or not str(payload.get("path_name", "")).startswith(("weight_", "tensor_")):
                    raise UnsafeArtefactError(
                        f"{fqn!r} in {config} is a pickled object; only raw tensors are accepted "
                        "(plain dense tensors, no tensor subclasses or script objects)"
                    )
        _check_program(read_json("models/model.json"))
        _check_sample_inputs(archive.read(files["data/sample_inputs/model.pt"]))


def _check_program(program: Any) -> None:
    if not isinstance(program, dict) or "graph_module" not in program:
        raise ModelRejectedError("models/model.json is not a serialized ExportedProgram")
    if program.get("guards_code"):
        raise UnsafeArtefactError("the program carries guards code, which loading would run as Python")
    for key in program.get("range_constraints") or {}:
        if not _SYMBOL.fullmatch(key):
            raise UnsafeArtefactError(f"range constraint on {key!r}, which is not a shape symbol")
    stack: list[Any] = [program["graph_module"]]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "target" and isinstance(item, str) and not item.startswith(_PT2_TARGETS):
                    raise UnsafeArtefactError(
                        f"the graph calls {item!r}; only ATen and prims operators are served (no custom ops)"
                    )
                if key == "expr_str" and isinstance(item, str):
                    _check_expression(item)
                else:
                    stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)


def _check_expression(expr: str) -> None:
    """A symbolic-shape expression sympy may parse: loading `sympify`s (evaluates) it."""
    position = 0
    while position < len(expr):
        match = _EXPR_TOKEN.match(expr, position)
        if match is None:
            raise UnsafeArtefactError(f"shape expression {expr!r} holds {expr[position]!r}")
        token = match.group()
        if token[0].isalpha() or token[0] == "_":
            if not (_SYMBOL.fullmatch(token) or token in _SHAPE_FUNCTIONS):
                raise UnsafeArtefactError(f"shape expression {expr!r} names {token!r}")
        position = match.end()


def _check_sample_inputs(data: bytes) -> None:
    """`torch.save`'s zip of the example inputs: its pickle may only rebuild plain tensors."""
    try:
        inner = zipfile.ZipFile(io.BytesIO(data))
        pickles = [n for n in inner.namelist() if n.endswith(".pkl")]
        if len(pickles) != 1 or not pickles[0].endswith("/data.pkl"):
            raise UnsafeArtefactError("the sample inputs hold pickles other than one data.pkl")
        _check_pickle(inner.read(pickles[0]), "data/sample_inputs/model.pt")
    except zipfile.BadZipFile:
        raise UnsafeArtefactError("the sample inputs are a legacy (non-zip) torch pickle") from None


def _check_pickle(data: bytes, where: str) -> None:
    """Walk the opcodes: every global named must be a tensor-rebuilding one (no code runs here)."""
    strings: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(data):
            name = opcode.name
            if name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                _check_global(module, attr, where)
            elif name == "STACK_GLOBAL":
                if len(strings) < 2:
                    raise UnsafeArtefactError(f"{where}: a pickle global whose name is computed")
                _check_global(strings[-2], strings[-1], where)
            if name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
                strings.append(str(arg))
            elif name not in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
                # A STACK_GLOBAL's module and name must be pushed right before it, never fetched.
                strings.clear()
    except (ValueError, EOFError) as err:
        raise UnsafeArtefactError(f"{where}: not a readable pickle ({err})") from None


def _check_global(module: str, attr: str, where: str) -> None:
    if (module, attr) not in _PICKLE_GLOBALS:
        raise UnsafeArtefactError(
            f"{where} would unpickle {module}.{attr}; only plain tensors are accepted in a torch.export archive"
        )


# -- safetensors ----------------------------------------------------------------------------------

def _inspect_safetensors(path: Path) -> None:
    """A safetensors file: an 8-byte header length and a JSON header (raw tensors follow)."""
    with open(path, "rb") as f:
        head = f.read(8)
        size = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < size <= 100 * 1024 * 1024:
            raise ModelRejectedError("the artefact is not a safetensors file (bad header length)")
        try:
            json.loads(f.read(size))
        except ValueError:
            raise ModelRejectedError("the artefact is not a safetensors file (its header is not JSON)") from None
