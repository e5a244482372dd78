"""A faster UNet on a CPU, behind the UNet's own interface: OpenVINO graphs of the same weights, exported ahead.

The UNet is ~96 % of a default run (issue 29). OpenVINO's CPU runtime, in float32, runs the embedded text model's
UNet 1.8-3.6x faster than torch eager at row counts from 1 to 64 (`python -m bench.accelerated`), and the 8-bit
images of the text and the pixel model come out the same (tests/test_accelerated.py) - with one graph per row count:
a graph with a free batch dimension was slower than torch past 16 rows. So the graph is exported once with a free
batch dimension, beside the weights (`python -m train.export_openvino`), never at a visitor's request, and
`prepare`, when the model loads, checks that it was exported from these very weights (their SHA-256) and compiles it
for one row and for each half's row count of `HALF_ROWS` (~0.45 s each). A call of several rows runs as two halves at
once, each padded to the next of those counts. Any other case (a hub model, a GPU or ZeroGPU, a graph of other
weights, no OpenVINO, `DIFFUSION_PLAYGROUND_ACCELERATE=0`) keeps torch, and says why in the log.

Only plain calls go through the graphs: (sample, timestep, encoder_hidden_states) of the traced shapes, at most
2 x `HALF_ROWS[-1]` rows. Anything else (word maps' attention processors, other keyword arguments) calls the torch
UNet, counted in `statistics["torch"]`, so that nothing falls back silently.

A model whose catalogue entry allows it (`cpu_bfloat16`: the super-resolution model, whose input is the photo's size,
so a graph would be compiled at a visitor's request) runs its UNet in bfloat16 instead, on a CPU that computes it
natively (AVX-512 BF16 or AMX): 1.8x faster, its 8-bit images within 1/255 of float32's (`BFLOAT16_BOUND`,
tests/test_accelerated.py). Never the pixel model: its stochastic sampler turns the rounding into other shapes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

import numpy
import torch
from diffusers.models.unets.unet_2d import UNet2DOutput
from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

from pipelines.engine import word_maps
from pipelines.engine.stand_in import StandIn

logger = logging.getLogger(__name__)

ENABLED = os.environ.get("DIFFUSION_PLAYGROUND_ACCELERATE", "1") != "0"
GRAPH = "openvino_model.xml"  # beside the UNet's weights, with its .bin and a .json of what it was exported from
WEIGHTS = "diffusion_pytorch_model.safetensors"
# float32 in the graphs: OpenVINO may pick bf16 on CPUs that have it, and bf16 changes the pictures
PRECISION = {"INFERENCE_PRECISION_HINT": "f32"}
# A call of several rows runs as two halves at once, each in its own stream on its own share of the threads:
# 1.0-1.5x faster than the whole on all of them (the threads of one convolution wait for each other; `python -m
# bench.accelerated`). A single row runs on all the threads.
STREAMS = 2
HALF_ROWS = (1, 2, 4, 8, 16, 32)  # halves' row counts compiled: batching's passes have at most 64 (batching.MAX_BATCH)
statistics = {"graph": 0, "torch": 0, "bfloat16": 0}  # calls of accelerated UNets: graph, torch UNet, or bfloat16
BFLOAT16_BOUND = 1  # of the 8-bit images of a model run in bfloat16, against float32's (tests/test_accelerated.py)
STAND_IN = "_playground_graphs"  # the attribute of a prepared UNet that holds its stand-in (not a submodule)


class PlainCall(torch.nn.Module):
    """The UNet's plain call as positional tensors in (the text's hidden states for a text UNet), the predicted noise
    out: what the graph is traced from."""

    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor, *text: torch.Tensor) -> torch.Tensor:
        conditioning = {"encoder_hidden_states": text[0]} if text else {}
        return self.unet(sample, timesteps, **conditioning, return_dict=False)[0]


def is_text_unet(unet: torch.nn.Module) -> bool:
    """A latent model's UNet, called with a text's hidden states (a pixel model's takes none)."""
    return unet.config.get("cross_attention_dim") is not None


def weights_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    with (folder / WEIGHTS).open("rb") as weights:
        for chunk in iter(lambda: weights.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export(unet: torch.nn.Module, folder: Path, tokens: int | None = None) -> Path:
    """Trace `unet`'s plain call (a text UNet's on texts of `tokens` tokens: its tokenizer pads every prompt to that)
    into an OpenVINO graph with any number of rows, saved in float32 beside its weights in `folder` (which must hold
    them), with the weights' digest. Returns the graph's path."""
    import openvino

    rows = 2  # traced at 2 rows; the batch dimension stays free (-1): `prepare` fixes it per row count
    example = tuple(torch.randn(rows, *shape) for shape in shapes(unet, tokens))
    inputs = [[-1, *shape] for shape in shapes(unet, tokens)]
    # diffusers' UNet branches on shapes (the upsampler's `>= 64 rows`: a no-op `contiguous`): traced as constants,
    # which holds for every row count since the branches do not change the values
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        graph = openvino.convert_model(
            PlainCall(unet.eval()), example_input=example, input=[(shape, openvino.Type.f32) for shape in inputs]
        )
    path = folder / GRAPH
    openvino.save_model(graph, path, compress_to_fp16=False)  # fp16 weights would change the pictures
    source = {"weights_sha256": weights_digest(folder), "tokens": tokens, "openvino": openvino.__version__}
    path.with_suffix(".json").write_text(json.dumps(source, indent=1) + "\n")
    return path


def why_not(unet: torch.nn.Module, folder: Path, on: torch.device) -> str | None:
    """Why `unet` (loaded from `folder`) keeps torch, or None if its graph can be used."""
    if not ENABLED:
        return "DIFFUSION_PLAYGROUND_ACCELERATE=0"
    if on.type != "cpu" or unet.dtype != torch.float32:
        return f"it runs on {on.type} in {unet.dtype} (the graph is for float32 on a CPU)"
    if not (folder / GRAPH).is_file():
        return "no graph was exported for it"
    try:
        import openvino  # noqa: F401 - the runtime must be installed
    except ImportError:
        return "OpenVINO is not installed"
    source = json.loads((folder / GRAPH).with_suffix(".json").read_text())
    if source.get("weights_sha256") != weights_digest(folder):
        return "its graph was exported from other weights (python -m train.export_openvino)"
    return None


def native_bfloat16() -> bool:
    """Does this CPU compute bfloat16 in hardware (AVX-512 BF16 or AMX)? Elsewhere torch emulates it, slowly."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def prepare(unet: torch.nn.Module, folder: str | Path, on: torch.device, bfloat16: bool = False) -> None:
    """When a model loads: compile its UNet's graph if it can be used, or with `bfloat16` (the catalogue entry's
    `cpu_bfloat16`) and no graph, run it in bfloat16 where the CPU computes that natively (`of(unet)` then returns
    the stand-in)."""
    folder = Path(folder)
    reason = why_not(unet, folder, on)
    if reason is not None and bfloat16 and ENABLED and on.type == "cpu" and unet.dtype == torch.float32:
        if native_bfloat16():
            object.__setattr__(unet, STAND_IN, Bfloat16UNet(unet))
            logger.info("The UNet of %s runs in bfloat16 (its catalogue entry allows it).", folder)
            return
        reason = "this CPU has no native bfloat16, and the model has no graph"
    if reason is not None:
        logger.info("The UNet of %s runs in torch: %s.", folder, reason)
        return
    import openvino

    core = openvino.Core()
    graph = core.read_model(folder / GRAPH)
    tokens = json.loads((folder / GRAPH).with_suffix(".json").read_text())["tokens"]
    input_shapes = shapes(unet, tokens)
    threads = torch.get_num_threads()

    def compiled(rows: int, settings: dict) -> object:
        shaped = graph.clone()
        shaped.reshape({put: openvino.PartialShape([rows, *shape]) for put, shape in zip(shaped.inputs, input_shapes)})
        return core.compile_model(shaped, "CPU", {**PRECISION, "INFERENCE_NUM_THREADS": threads, **settings})

    single = Graph(compiled(1, {"PERFORMANCE_HINT": "LATENCY"}), requests=1)
    halves = {rows: Graph(compiled(rows, {"NUM_STREAMS": STREAMS}), requests=STREAMS) for rows in HALF_ROWS}
    for each in (single, *halves.values()):
        # one call now: a graph allocates its working memory at its first call, which would otherwise come with
        # the first pass of that many rows, under a crowd (the soak's RSS kept rising with it)
        each.run([torch.zeros([each.rows * len(each.requests), *shape]) for shape in input_shapes])
    # a plain attribute, not a registered submodule, and a cycle the garbage collector frees with the UNet when
    # the loading cache lets the model go (a dictionary keyed by the UNet would keep it alive through its stand-in)
    object.__setattr__(unet, STAND_IN, AcceleratedUNet(unet, single, halves, input_shapes))
    logger.info("The UNet of %s runs through its OpenVINO graph.", folder)


class Graph:
    """One compiled row count and its infer requests (one per stream), which run their parts of a call at once."""

    def __init__(self, compiled: object, requests: int) -> None:
        self.rows = compiled.inputs[0].shape[0]
        self.requests = [compiled.create_infer_request() for _ in range(requests)]
        # each request's own input buffers, written in place: handing it new arrays at every call cost ~0.4 ms a
        # step in OpenVINO's Python wrapping (~20 ms of the default run's ~750)
        self.inputs = [[tensor.data for tensor in request.input_tensors] for request in self.requests]

    def run(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        """The noise predicted for `tensors` (each input, its rows; at most `rows` per request), in parts of `rows`
        rows, one request each, all at once; a part's missing rows are zeros (each row is computed alone)."""
        total = tensors[0].shape[0]
        if total > self.rows * len(self.requests):  # `AcceleratedUNet.forward` picks a graph that holds them
            raise ValueError(f"{total} rows do not fit {len(self.requests)} requests of {self.rows}.")
        starts = range(0, total, self.rows)
        for request, buffers, start in zip(self.requests, self.inputs, starts):
            for buffer, tensor in zip(buffers, tensors):
                part = tensor[start : start + self.rows].numpy()
                buffer[: len(part)] = part
                buffer[len(part) :] = 0
            request.start_async()
        for request in self.requests[: len(starts)]:
            request.wait()
        # copied out: a request's output buffer is overwritten by its next call
        outputs = [request.get_output_tensor(0).data[: total - start] for request, start in zip(self.requests, starts)]
        return torch.from_numpy(numpy.concatenate(outputs))


def shapes(unet: torch.nn.Module, tokens: int | None) -> list[list[int]]:
    """Each input's shape past the rows: (channels, size, size), (), and a text UNet's (tokens, their width)."""
    config = unet.config
    size = config.sample_size if isinstance(config.sample_size, int) else config.sample_size[0]
    text = [[tokens, config.cross_attention_dim]] if is_text_unet(unet) else []
    return [[config.in_channels, size, size], [], *text]


def of(unet: torch.nn.Module) -> torch.nn.Module:
    """The UNet a request calls: its accelerated stand-in if `prepare` made one, else the UNet itself."""
    return unet.__dict__.get(STAND_IN, unet)


class AcceleratedUNet(StandIn):
    """A stand-in for a UNet whose plain calls run its compiled graphs; `config`, `dtype`, `device` are the UNet's."""

    def __init__(self, unet: torch.nn.Module, single: Graph, halves: dict[int, Graph], shapes: list[list[int]]) -> None:
        super().__init__(unet)
        self.single = single  # one row, on all the threads
        self.halves = halves  # rows -> the graph that runs two halves of up to that many rows at once
        self.shapes = [torch.Size(shape) for shape in shapes]  # each input's past the rows

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor | None = None,
        return_dict: bool = True,
        **others: object,
    ) -> object:
        rows = sample.shape[0]
        half = -(-rows // STREAMS)
        graph = self.single if rows == 1 else next((self.halves[count] for count in HALF_ROWS if count >= half), None)
        texts = [] if encoder_hidden_states is None else [encoder_hidden_states]
        plain = len(texts) == len(self.shapes) - 2 and not any(value is not None for value in others.values())
        if not plain or graph is None or word_maps.active() or not self.fits(sample, *texts):
            statistics["torch"] += 1
            if texts:
                others["encoder_hidden_states"] = encoder_hidden_states
            return self.unet(sample, timestep, return_dict=return_dict, **others)
        statistics["graph"] += 1
        # the UNet embeds each row's timestep as float32 (diffusers' get_timestep_embedding): the same values here
        timesteps = torch.as_tensor(timestep).float().reshape(-1).expand(rows)
        noise = graph.run([sample, timesteps, *texts])  # two halves, or the one row
        if not return_dict:
            return (noise,)
        return UNet2DConditionOutput(sample=noise) if texts else UNet2DOutput(sample=noise)

    def fits(self, sample: torch.Tensor, *texts: torch.Tensor) -> bool:
        """Are these the traced shapes past the rows, in float32?"""
        tensors = (sample, *texts)
        expected = [self.shapes[0], *self.shapes[2:]]
        return [tensor.shape[1:] for tensor in tensors] == expected and all(
            tensor.dtype == torch.float32 for tensor in tensors
        )


class Bfloat16UNet(StandIn):
    """A stand-in for a UNet whose calls run under CPU autocast to bfloat16 (convolutions and matrix products in
    bfloat16, normalisations and the rest in float32), the noise given back in float32."""

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float | int, *others: object, **named: object):
        statistics["bfloat16"] += 1
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output = self.unet(sample, timestep, *others, **named)
        if isinstance(output, tuple):
            return (output[0].float(), *output[1:])
        output.sample = output.sample.float()
        return output
