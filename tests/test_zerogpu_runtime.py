"""The whole app under the real `spaces` runtime in ZeroGPU mode, against the same app without it.

Two servers of app.py run in subprocesses (`tests/zerogpu_launch.py`): one with `SPACES_ZERO_GPU=true`,
whose GPU calls ask a local stand-in of ZeroGPU's device API (`tests/zerogpu_device_api.py`) and run in
a worker forked by `spaces` (its patching, fork, reuse and pickling unchanged; on a CPU-only torch, the
launcher's documented shims stand in for CUDA), and one plain. Every named endpoint is called once on
each, in one sequence that does not overlap; the stand-in's records and the servers' load logs tell how
many workers ran, what each loaded, and how many GPU seconds each call asked for.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from tests.test_compare_api import cell
from tests.zerogpu_device_api import DeviceApi
from tests.zerogpu_server import Server
from ui import gpu

EDITOR_FOLDER = Path(tempfile.mkdtemp(prefix="zerogpu-editor-"))
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assets" / "examples"
SMALL = gpu.STEP_SECONDS["small"]  # every call below runs an embedded model (the catalogue's "cpu" class)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def device_api() -> Iterator[DeviceApi]:
    api = DeviceApi().start()
    yield api
    api.close()


@pytest.fixture(scope="module")
def zerogpu_server(device_api: DeviceApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("zerogpu")
    server = Server(
        folder,
        SPACES_ZERO_GPU="true",
        SPACES_ZERO_DEVICE_API_URL=device_api.url,
        ZEROGPU_OFFLOAD_DIR=str(folder / "offload"),  # emptied at every launch: never the default in the home
        ZEROGPU_MMAP_AUTOPRUNE_PATTERN=str(folder / "never" / "*"),  # spaces deletes the files this matches
    )
    yield server
    server.close()


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SPACES_ZERO")}
    server = Server(tmp_path_factory.mktemp("plain"), SPACES_ZERO_GPU="false", **environment)
    yield server
    server.close()


def editor() -> dict:
    """The inpainting editor's value: the scene, its left half masked."""
    folder = EDITOR_FOLDER
    scene = Image.open(EXAMPLES / "scene-1.png").convert("RGB").resize((32, 32), Image.NEAREST)
    scene.save(folder / "background.png")
    layer = Image.new("RGBA", scene.size, (0, 0, 0, 0))
    layer.paste((0, 0, 0, 255), (0, 0, 16, 32))
    layer.save(folder / "layer.png")
    layers = [handle_file(str(folder / "layer.png"))]
    return {"background": handle_file(str(folder / "background.png")), "layers": layers, "composite": None}


def calls() -> dict[str, tuple[list, float | None]]:
    """Endpoint -> its inputs, and the steps × images its GPU seconds count (None: no GPU call)."""
    scene = handle_file(str(EXAMPLES / "scene-1.png"))
    return {
        "/unconditional": (["shapes-ddpm", "DDIM", 5, 3, False, 2], 5 * 2),
        "/text_to_image": (["shapes-sd", "a red circle", "", 5.0, "DDIM", 4, 1, False, 1], 4 * 1),
        "/inpaint": (["shapes-sd", editor(), "a green triangle", "", 1.0, True, 5.0, "DDIM", 3, 0, False], 3),
        "/super_resolution": (
            ["photo-sr-4x", handle_file(str(EXAMPLES / "photo-chelsea.png")), "DDIM", 2, 0.0, 3, False, "", 5, 20],
            2 * 8,  # the tab's default: 8 samples averaged
        ),
        "/classifier_guidance": (["red", 8.0, 0, 1], 2 * 50),  # guided and unguided, its 50 steps
        "/guidance_sweep": (["shapes-sd", "a large red circle", 3, "1, 4", "DDIM", 5], 5 * 2),  # a cell per scale
        "/sampler_comparison": (["Unconditional", "shapes-ddpm", "", 4, "DDIM 5, DDPM 20"], 5 + 20),
        "/image_to_image": (["shapes-ddpm", editor(), "", "", 0.6, 5.0, "DDIM", 10, 2, False], 10),  # runs 6 of 10
        "/strength_sweep": (["shapes-ddpm", scene, "", 2, "0.4, 0.8", "DDIM", 5], 5 * 2),  # a cell per strength
        "/forward_process": ([scene, 400, "model", 0, "shapes-ddpm"], None),  # on the server's CPU
        "/train_toy": (["ring", None, "", 50, "linear", 32, 100, 0], None),  # the class trains in the server
        "/predict_noise": ([scene, 400, 0, "shapes-ddpm"], 1),
        "/latent_space": ([scene, 400, 0, "shapes-sd"], 1),  # one call of the model: its VAE
        "/step_timings": (["shapes-sd"], 1),
        "/unet_levels": ([scene, "a red circle", 400, 0, "shapes-sd"], 1),
    }


LATENT = ("/text_to_image", "/inpaint", "/super_resolution")
HOW_IT_WORKS_CALLS = ("/predict_noise", "/latent_space", "/step_timings", "/unet_levels")  # one model call each
GRIDS = ("/guidance_sweep", "/sampler_comparison", "/strength_sweep")
TIMING = re.compile(r"\d+\.\d+ m?s\b")


class Weights(dict):
    """A file of weights, equal to another bit for bit (the Train tab's 50 Adam steps)."""

    __hash__ = None

    def __eq__(self, other: object) -> bool:
        same = (np.array_equal(self[name], other[name]) for name in self)
        return isinstance(other, dict) and set(self) == set(other) and all(same)

    def __repr__(self) -> str:
        return f"Weights({ {name: float(abs(values).max()) for name, values in self.items()} })"


def content(value: object) -> object:
    """What a result shows, comparable across servers bit for bit: an image file's pixels, a file's weights, text
    without its timings, numbers. (A preloaded model's weights come to the worker as aligned copies; the plain
    server's were mapped from their safetensors file at unaligned offsets, where torch's CPU kernels round otherwise,
    until `loading.align_weights` copied them too: How it works' error differed in its seventh digit.)"""
    if isinstance(value, dict) and "path" in value:
        return content(value["path"])
    if isinstance(value, str) and os.path.isfile(value):
        if value.endswith(".safetensors"):  # the Train tab's weights, to float32's precision (as the floats below)
            from safetensors.numpy import load_file

            return Weights(load_file(value))
        with Image.open(value) as image:
            return image.mode, image.size, image.tobytes()
    if isinstance(value, str):
        return TIMING.sub("… s", value)
    if isinstance(value, dict):
        return {name: content(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [content(item) for item in value]
    return value


@pytest.fixture(scope="module")
def results(zerogpu_server: Server, plain_server: Server, device_api: DeviceApi) -> dict:
    """Every named endpoint called once on each server, one call at a time: endpoint -> (under spaces, plain,
    the GPU seconds each /schedule of the call asked for); then PNG info on the result of the first."""
    outcome = {}
    for name, (inputs, _) in calls().items():
        before = len(device_api.calls("/schedule"))
        zero = zerogpu_server.client.predict(*inputs, api_name=name)
        asked = [int(call["durationSeconds"]) for call in device_api.calls("/schedule")[before:]]
        outcome[name] = (zero, plain_server.client.predict(*inputs, api_name=name), asked)
    png = handle_file(outcome["/unconditional"][1][2])  # the plain server's result PNG, with its settings
    outcome["/png_info"] = (
        zerogpu_server.client.predict(png, api_name="/png_info"),
        plain_server.client.predict(png, api_name="/png_info"),
        [],
    )
    outcome["requests"] = list(device_api.requests)  # before the refusals below
    outcome["loaded"] = zerogpu_server.loaded()
    return outcome


def test_every_named_endpoint_is_called(results: dict, zerogpu_server: Server) -> None:
    named = set(zerogpu_server.client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert named == set(results) - {"requests", "loaded"}


@pytest.mark.parametrize("endpoint", [*calls(), "/png_info"])
def test_each_endpoint_gives_the_same_result_as_without_spaces(results: dict, endpoint: str) -> None:
    zero, plain, _ = results[endpoint]
    if endpoint in GRIDS:  # a grid's labels carry each cell's time: its two cells' pixels, and the status
        assert [cell(zero[0], index, 2).tobytes() for index in (0, 1)] == [
            cell(plain[0], index, 2).tobytes() for index in (0, 1)
        ]
        zero, plain = zero[1:], plain[1:]
    if endpoint in LATENT:  # their animation and contact sheet decode x̂0 within a share of the run's time
        zero, plain = zero[:6], plain[:6]  # (pipelines/keepsakes/files.py): which ones depends on the machine's speed
    assert content(zero) == content(plain)
    assert "Done" in str(zero) or endpoint in ("/forward_process", "/png_info", *HOW_IT_WORKS_CALLS)


def test_one_worker_serves_every_tab_and_loads_each_model_once(results: dict, zerogpu_server: Server) -> None:
    requests = [path for path, _ in results["requests"]]
    workers = {parameters["pid"] for path, parameters in results["requests"] if path == "/allow"}
    gpu_calls = sum(inputs_and_work[1] is not None for inputs_and_work in calls().values())
    assert requests.count("/schedule") == requests.count("/release") == gpu_calls
    assert len(workers) == 1, results["requests"]  # the calls do not overlap: the idle worker is reused
    loads = Counter(results["loaded"])
    assert set(loads.values()) == {1}, loads  # each model at most once per process
    # every model these calls use was preloaded by the server before launch (to CUDA, emulated, and packed to
    # disk): the worker had their weights moved, and loaded none
    assert set(loads) == {(zerogpu_server.process.pid, name) for name in gpu.PRELOADED_EMBEDDED}, loads


def test_the_requested_durations_follow_the_table(results: dict) -> None:
    for endpoint, (_, work) in calls().items():
        expected = [] if work is None else [int(min(gpu.MAX_SECONDS, gpu.BASE_SECONDS + work * SMALL))]
        assert results[endpoint][2] == expected, endpoint


@pytest.mark.parametrize(
    "endpoint, inputs, message",
    [
        ("/unconditional", ["shapes-ddpm", "DDIM", 2.5, 3, False, 1], "Steps must be a whole number"),
        ("/unconditional", ["/etc", "DDIM", 5, 3, False, 1], "not in this app's catalogue"),
        ("/text_to_image", ["shapes-ddpm", "a", "", 5.0, "DDIM", 4, 1, False, 1], "not in this app's catalogue"),
        ("/predict_noise", [None, 400, 0, "shapes-ddpm"], "Choose an example image"),
    ],
)
def test_a_refused_input_makes_no_gpu_call(
    results: dict, zerogpu_server: Server, device_api: DeviceApi, endpoint: str, inputs: list, message: str
) -> None:
    requests = len(device_api.requests)
    with pytest.raises(Exception, match=message):
        zerogpu_server.client.predict(*inputs, api_name=endpoint)
    assert len(device_api.requests) == requests  # refused in the server: no /schedule, no worker lost


def test_a_gpu_refused_by_the_scheduler_is_a_message_and_the_next_call_runs(
    results: dict, zerogpu_server: Server, device_api: DeviceApi
) -> None:
    inputs = ["shapes-ddpm", "DDIM", 3, 1, False, 1]
    for refusal, message in (("quota", "GPU limit"), ("no-gpu", "No GPU was available")):
        device_api.refuse_next(refusal)
        with pytest.raises(Exception, match=message):
            zerogpu_server.client.predict(*inputs, api_name="/unconditional")
    allowed = len(device_api.calls("/allow"))
    assert zerogpu_server.client.predict(*inputs, api_name="/unconditional")[3].startswith("Done")
    assert len(device_api.calls("/allow")) == allowed  # the idle worker served it: no new one


def test_a_browser_clicks_through_every_tab_under_zerogpu(results: dict, zerogpu_server: Server, browser) -> None:
    """Every tab once in Chromium against the ZeroGPU server: each run ends with its result, through the one worker."""
    from playwright.sync_api import expect
    from test_browser import set_steps
    from test_browser_image_to_image import scribble

    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(zerogpu_server.url)

    def tab(name: str, task: str):  # noqa: ANN202 - a Playwright locator
        page.get_by_role("tab", name=name).click()
        return page.locator(f"#{task}-tab")

    def generate(panel, task: str, steps: int | None = None, button: str = "Generate") -> None:
        if steps is not None:
            set_steps(panel, steps)
        panel.get_by_role("button", name=button).first.click()
        page.locator(f"#{task}-status:has-text('Done')").first.wait_for(timeout=240_000)

    generate(tab("Unconditional", "unconditional"), "unconditional", steps=5)
    how = tab("How it works", "how-it-works")
    how.get_by_role("button", name="Predict the noise at t").click()
    page.locator("#prediction-status:has-text('predicts')").wait_for(timeout=240_000)
    train = tab("Train", "train")
    train.get_by_text("ring", exact=True).click()  # a preset: no drawing needed
    train.get_by_label("number input for Training steps").fill("100")
    train.get_by_label("number input for Training steps").press("Enter")
    train.get_by_role("button", name="Train").click()
    page.locator("#train-status:has-text('Done')").wait_for(timeout=240_000)
    generate(tab("Classifier guidance", "classifier-guidance"), "classifier-guidance")
    generate(tab("Text to image", "text-to-image"), "text-to-image", steps=5)
    inpainting = tab("Inpainting", "inpainting")
    inpainting.locator(".gallery-item").first.click()  # an example scene into the editor
    canvas = inpainting.locator("canvas").first
    canvas.wait_for(timeout=30_000)
    scribble(page, canvas.bounding_box(), 0.4, 0.6)
    generate(inpainting, "inpainting", steps=5)
    image_to_image = tab("Image to image", "image-to-image")
    canvas = image_to_image.locator("#image-to-image-editor canvas").first
    canvas.wait_for(timeout=30_000)
    scribble(page, canvas.bounding_box(), 0.28, 0.35)
    generate(image_to_image, "image-to-image", steps=10)
    super_resolution = tab("Super-resolution", "super-resolution")
    super_resolution.locator(".gallery-item").last.click()  # an example photo
    generate(super_resolution, "super-resolution")
    compare = tab("Compare", "compare")
    compare.locator("#guidance-sweep-panel").get_by_label("number input for Steps").fill("5")
    compare.locator("#guidance-sweep-panel").get_by_label("number input for Steps").press("Enter")
    generate(compare.locator("#guidance-sweep-panel"), "guidance-sweep")
    tab("PNG info", "png-info").locator("#png-info-image input[type=file]").set_input_files(
        results["/unconditional"][1][2]  # a result PNG with its settings
    )
    expect(page.locator("#png-info-text textarea")).to_have_value(re.compile("Steps: 5"), timeout=60_000)
    page.screenshot(path=str(ROOT / "artifacts" / "zerogpu-browser.png"), full_page=True)
    assert not errors, errors
    page.close()
