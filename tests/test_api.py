"""The /unconditional, /text_to_image, /inpaint and /super_resolution endpoints through gradio_client, on localhost."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from pipelines.engine import batching

ENDPOINT = "/unconditional"


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def call(client: Client, steps: int = 10, seed: int = 5, random_seed: bool = False, batch_size: int = 2, **overrides):
    settings = {"model": "shapes-ddpm", "scheduler": "DPM-Solver++", "steps": steps, "seed": seed}
    settings.update(random_seed=random_seed, batch_size=batch_size, **overrides)
    return client.predict(**settings, api_name=ENDPOINT)


def test_generates_a_grid_and_reports_what_it_did(client: Client) -> None:
    noisy, estimate, result, status, seed, replay, *_ = call(client, batch_size=4)
    assert status.startswith("Done: 4 image(s)") and "10 steps of DPM-Solver++" in status and "seeds 5–8" in status
    assert seed == 5 and replay["maximum"] == 10
    assert Image.open(result).size == (2 * 32 * 8 + 8, 2 * 32 * 8 + 8)  # 2x2 grid, 1 px gaps, enlarged 8x
    assert Image.open(estimate).size == Image.open(noisy).size == (2 * 32 + 1, 2 * 32 + 1)


def test_streams_intermediate_frames(client: Client) -> None:
    job = client.submit("shapes-ddpm", "DDPM", 200, 1, False, 1, api_name=ENDPOINT)
    job.result()  # waits for the end of the stream
    statuses = [outputs[3] for outputs in job.outputs()]  # one entry per update the server sent
    assert statuses[-1].startswith("Done")
    streamed = [status for status in statuses if status.startswith("Step")]
    assert len(streamed) >= 2 and streamed[0] != "Step 200 / 200", statuses


def test_same_seed_gives_the_same_image_and_random_seed_reports_its_seed(client: Client) -> None:
    _, _, result, _, seed, *_ = call(client, random_seed=True)
    _, _, again, _, same_seed, *_ = call(client, seed=seed)
    assert same_seed == seed
    assert Image.open(result).tobytes() == Image.open(again).tobytes()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"steps": 0}, "minimum"),
        ({"batch_size": 9}, "maximum"),
        ({"steps": 2.5}, "Steps must be a whole number"),
        ({"model": "no-such/model"}, "not in this app's catalogue"),
        ({"scheduler": "Magic"}, "Magic"),
    ],
)
def test_bad_input_gets_a_clear_message_and_the_server_keeps_serving(
    client: Client, overrides: dict, message: str
) -> None:
    with pytest.raises(Exception, match=message):
        call(client, **overrides)
    assert call(client, steps=2, batch_size=1)[3].startswith("Done")


def call_text_to_image(client: Client, **overrides):
    settings = {
        "model": "shapes-sd",
        "prompt": "a large red circle",
        "negative_prompt": "",
        "guidance_scale": 5.0,
        "scheduler": "DPM-Solver++",
        "steps": 10,
        "seed": 3,
        "random_seed": False,
        "batch_size": 2,
    }
    settings.update(overrides)
    return client.predict(**settings, api_name="/text_to_image")


def test_text_to_image_streams_and_reports_its_parameters(client: Client) -> None:
    job = client.submit("shapes-sd", "a blue square", "", 5.0, "DDPM", 200, 1, False, 1, api_name="/text_to_image")
    latents, estimate, result, status, seed, replay, *_ = job.result()
    assert (
        status.startswith("Done: 1 image(s) of “a blue square”")
        and "guidance 5" in status
        and "200 steps of DDPM" in status
    )
    assert replay["maximum"] == 200 and seed == 1
    assert Image.open(latents).size == (17, 17)  # the 4 channels of an 8x8 latent as 2x2 tiles, 1 px gap
    assert Image.open(result).size == (256, 256)  # 32 px enlarged 8x
    streamed = [outputs[3] for outputs in job.outputs() if outputs[3].startswith("Step")]
    assert len(streamed) >= 2, job.outputs()


def test_text_to_image_same_seed_same_images(client: Client) -> None:
    first = call_text_to_image(client, random_seed=True)
    again = call_text_to_image(client, seed=first[4])
    assert Image.open(first[2]).tobytes() == Image.open(again[2]).tobytes()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"guidance_scale": 50}, "maximum"),
        ({"model": "shapes-ddpm"}, "not in this app's catalogue"),
        ({"steps": 1.5}, "Steps must be a whole number"),
    ],
)
def test_text_to_image_bad_input(client: Client, overrides: dict, message: str) -> None:
    with pytest.raises(Exception, match=message):
        call_text_to_image(client, **overrides)
    assert call_text_to_image(client, steps=2, batch_size=1)[3].startswith("Done")


def test_text_to_image_accepts_unknown_words_and_empty_prompts(client: Client) -> None:
    for prompt in ["a red zebra", "", "a red circle " * 10]:
        assert call_text_to_image(client, prompt=prompt, steps=3, batch_size=1)[3].startswith("Done")


def editor_value(image: Image.Image, stroke_box: tuple[int, int, int, int] | None, tmp_path) -> dict:
    """What the ImageEditor sends: a background and a layer of (alpha) brush strokes."""
    image.save(tmp_path / "background.png")
    value = {"background": handle_file(str(tmp_path / "background.png")), "layers": [], "composite": None}
    if stroke_box is not None:
        layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
        layer.paste((0, 0, 0, 255), stroke_box)
        layer.save(tmp_path / "layer.png")
        value["layers"] = [handle_file(str(tmp_path / "layer.png"))]
    return value


def call_inpaint(client: Client, editor: dict, **overrides):
    settings = {
        "model": "shapes-sd",
        "editor": editor,
        "prompt": "a green triangle",
        "negative_prompt": "",
        "strength": 1.0,
        "zoom": True,
        "guidance_scale": 5.0,
        "scheduler": "DPM-Solver++",
        "steps": 10,
        "seed": 0,
        "random_seed": False,
    }
    settings.update(overrides)
    return client.predict(**settings, api_name="/inpaint")


EXAMPLE = Path(__file__).resolve().parent.parent / "assets" / "examples" / "scene-1.png"


def test_inpaint_keeps_the_outside_and_repaints_the_mask(client: Client, tmp_path) -> None:
    scene = Image.open(EXAMPLE).convert("RGB").resize((32, 32), Image.NEAREST)
    _, _, result, status, _, replay, *_ = call_inpaint(client, editor_value(scene, (0, 0, 16, 32), tmp_path))
    assert status.startswith("Done: repainted with “a green triangle”") and replay["maximum"] == 10
    repainted = np.asarray(Image.open(result).convert("RGB").resize((32, 32), Image.NEAREST))
    np.testing.assert_array_equal(repainted[:, 16:], np.asarray(scene)[:, 16:])


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "CMYK", "I;16"])
def test_inpaint_takes_uploads_of_any_mode_and_size(client: Client, tmp_path, mode: str) -> None:
    scene = Image.open(EXAMPLE).convert("RGB")  # 256 px: resized to the model's 32, with a notice
    grey_16_bit = Image.fromarray(np.asarray(scene.convert("L"), np.uint16) * 257, "I;16")
    image = grey_16_bit if mode == "I;16" else scene.convert(mode)
    path = tmp_path / ("scene.tiff" if mode == "CMYK" else "scene.png")
    image.save(path)
    editor = editor_value(scene, (0, 0, 128, 256), tmp_path)
    editor["background"] = handle_file(str(path))
    assert call_inpaint(client, editor, steps=3)[3].startswith("Done")


@pytest.mark.parametrize(
    "stroke_box, message", [(None, "There is no mask"), ((0, 0, 0, 0), "There is no mask|The mask is empty")]
)
def test_inpaint_without_a_mask_says_so_and_the_server_keeps_serving(client: Client, tmp_path, stroke_box, message):
    scene = Image.open(EXAMPLE).convert("RGB")
    with pytest.raises(Exception, match=message):
        call_inpaint(client, editor_value(scene, stroke_box, tmp_path))
    assert call_inpaint(client, editor_value(scene, (0, 0, 64, 64), tmp_path), steps=2)[3].startswith("Done")


PHOTO = Path(__file__).resolve().parent.parent / "assets" / "examples" / "photo-chelsea.png"


def call_super_resolution(client: Client, photo: str | Path = PHOTO, **overrides):
    settings = {"model": "photo-sr-4x", "photo": handle_file(str(photo)), "scheduler": "DDIM", "steps": 4}
    settings.update(eta=0.0, seed=3, random_seed=False, prompt="", guidance_scale=5, noise_level=20, **overrides)
    return client.predict(**settings, api_name="/super_resolution")


def test_super_resolution_upscales_4x_beside_bicubic(client: Client) -> None:
    noisy, estimate, comparison, status, seed, replay, *_ = call_super_resolution(client)
    assert status.startswith("Done: 64×64 upscaled to 256×256") and "4 steps of DDIM" in status and seed == 3
    bicubic, upscaled = (Image.open(path) for path in comparison)
    assert bicubic.size == upscaled.size == Image.open(estimate).size == (256, 256)
    assert replay["maximum"] == 4
    _, _, again, *_ = call_super_resolution(client)
    assert Image.open(again[1]).tobytes() == upscaled.tobytes()  # same seed, same photo


def test_super_resolution_back_projects_onto_the_photo_unless_told_not_to(client: Client) -> None:
    def error(result: tuple) -> float:  # of 255: the result shrunk 4x again against the photo
        upscaled = Image.open(result[2][1]).convert("RGB")
        shrunk = upscaled.resize((upscaled.width // 4, upscaled.height // 4), Image.Resampling.BICUBIC)
        return np.abs(np.asarray(shrunk, int) - np.asarray(Image.open(PHOTO).convert("RGB"), int)).mean()

    consistent, raw = call_super_resolution(client), call_super_resolution(client, consistent=False)
    assert "back-projected" in consistent[3] and "raw" in raw[3]
    # back-projected: consistent with the photo to rounding (measured 0.004); the raw output, left as the model drew
    # it, is close but not corrected (measured 0.40 for the embedded model)
    assert error(consistent) < 0.1 and error(raw) > 10 * error(consistent)


def test_super_resolution_averages_the_samples_asked_for(client: Client) -> None:
    one, eight = call_super_resolution(client, samples=1), call_super_resolution(client)  # the tab's default: 8
    assert "one sample" in one[3] and "the mean of 8 samples" in eight[3]
    one_image, eight_image = (np.asarray(Image.open(result[2][1]), float) for result in (one, eight))
    assert np.abs(one_image - eight_image).mean() > 0.5  # the mean is another image than its first sample
    bad = [(9, "greater than maximum value 8"), (0, "less than minimum value 1"), (2.5, "must be a whole number")]
    bad += [("eight", "Samples averaged takes a number from 1 to 8; got 'eight'")]
    for samples, message in bad:
        with pytest.raises(Exception, match=message):
            call_super_resolution(client, samples=samples)
    assert call_super_resolution(client, samples=2)[3].startswith("Done")  # still serving


def test_super_resolution_streams_intermediate_frames(client: Client) -> None:
    job = client.submit(
        "photo-sr-4x",
        handle_file(str(PHOTO)),
        "DDPM",
        300,
        0.0,
        1,
        False,
        "",
        5,
        20,
        True,
        1,
        api_name="/super_resolution",
    )
    job.result()
    statuses = [outputs[3] for outputs in job.outputs()]
    streamed = [status for status in statuses if status.startswith("Step")]
    assert statuses[-1].startswith("Done") and len(streamed) >= 2, statuses


def not_an_image(path: Path) -> Path:
    path.write_text("this is not an image")
    return path


def truncated_png(path: Path) -> Path:
    Image.open(PHOTO).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    return path


def decompression_bomb(path: Path) -> Path:
    Image.new("1", (14_000, 14_000)).save(path)  # 196 M pixels in a few kB: over twice Pillow's limit
    return path


@pytest.mark.parametrize(
    "make_file, message",
    [
        (not_an_image, "not an image"),
        (truncated_png, "truncated or corrupt"),
        (decompression_bomb, "too large to open safely"),
        (lambda path: Image.new("RGB", (1, 1)).save(path) or path, "needs at least 8×8"),
    ],
)
def test_super_resolution_refuses_unreadable_files_and_keeps_serving(client: Client, tmp_path, make_file, message):
    with pytest.raises(Exception, match=message):
        call_super_resolution(client, make_file(tmp_path / "upload.png"))
    assert call_super_resolution(client, steps=1)[3].startswith("Done")


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "P", "I;16"])
def test_super_resolution_converts_any_mode(client: Client, tmp_path, mode: str) -> None:
    photo = Image.open(PHOTO)
    grey_16_bit = Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257, "I;16")
    path = tmp_path / "photo.png"
    (grey_16_bit if mode == "I;16" else photo.convert(mode)).save(path)
    status = call_super_resolution(client, path, steps=1)[3]
    assert status.startswith("Done: 64×64 upscaled to 256×256"), status


def test_super_resolution_reduces_a_photo_too_large_for_the_cpu(client: Client, tmp_path) -> None:
    path = tmp_path / "large.png"
    Image.open(PHOTO).resize((400, 300)).save(path)
    status = call_super_resolution(client, path, steps=1)[3]
    assert status.startswith("Done: 147×110 upscaled to 588×440"), status


def test_runs_of_two_users_at_once_both_finish(app_url: str) -> None:
    """Each browser session has its own run of a tab: one user's run never replaces another's."""
    first, second = Client(app_url, verbose=False), Client(app_url, verbose=False)
    jobs = [
        user.submit("shapes-ddpm", "DDPM", 60, seed, False, 1, api_name=ENDPOINT)
        for seed, user in enumerate((first, second))
    ]
    assert all(job.result()[3].startswith("Done") for job in jobs)


def test_a_hub_model_announces_its_download_then_says_why_it_failed(client: Client) -> None:
    job = client.submit("google/ddpm-cifar10-32", "DDIM", 10, 0, False, 1, api_name=ENDPOINT)
    with pytest.raises(Exception, match="cannot reach the Hugging Face hub"):
        job.result()
    assert job.outputs()[0][3].startswith("Loading google/ddpm-cifar10-32: downloaded on its first use")


def test_picking_a_model_sets_its_defaults() -> None:
    from ui.stream import model_defaults

    defaults = model_defaults(("scheduler", "steps", "guidance_scale"))
    assert defaults("shapes-sd") == ("DPM-Solver++", 25, 5.0)
    assert defaults("shapes-ddpm")[:2] == ("DPM-Solver++ SDE", 50)  # no guidance in that tab: left as it is
    assert model_defaults(("scheduler", "steps", "samples"))("photo-sr-4x") == ("DDIM", 1, 8)
    # Stable Diffusion's upscaler draws one sample, in the catalogue or an operator's
    from pipelines.engine import catalogue

    upscaler = next(entry for entry in catalogue.HUB if entry.pipeline_class == "StableDiffusionUpscalePipeline")
    assert upscaler.settings() == {"scheduler": "DDIM", "steps": 20, "samples": 1}
    assert catalogue.Entry("mine", "StableDiffusionUpscalePipeline", defaults={"steps": 5}).settings()["samples"] == 1


def test_a_student_who_stops_leaves_the_others_results_unchanged(app_url: str) -> None:
    """Three students at once (their steps batched together); one stops after the first frame. The others get
    the images of their solo runs, up to batching's float rounding (tests/test_batching.py's bound)."""
    students = [Client(app_url, verbose=False) for _ in range(3)]
    inputs = [("shapes-ddpm", "DDPM", 60, seed, False, 2) for seed in (11, 12, 13)]
    jobs = [student.submit(*settings, api_name=ENDPOINT) for student, settings in zip(students, inputs)]
    deadline = time.monotonic() + 300  # generous: machines differ ~4x in speed
    while not jobs[1].outputs() and time.monotonic() < deadline:  # the second student stops once its run has begun
        time.sleep(0.01)
    assert jobs[1].outputs(), "the second student's run never streamed a frame"
    jobs[1].cancel()
    together = [jobs[0].result(), jobs[2].result()]
    alone = [students[0].predict(*inputs[0], api_name=ENDPOINT), students[2].predict(*inputs[2], api_name=ENDPOINT)]
    for shared, solo in zip(together, alone):
        assert shared[3].startswith("Done") and solo[3].startswith("Done")
        difference = np.abs(np.asarray(Image.open(shared[2]), float) - np.asarray(Image.open(solo[2]), float))
        assert difference.mean() <= batching.ROUNDING_BOUND
