"""The How it works tab's /forward_process and /predict_noise endpoints through gradio_client, on localhost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from pipelines import forward_process

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"
PHOTO = EXAMPLES / "photo-chelsea.png"  # 64x64
SCENE = EXAMPLES / "scene-2.png"  # 256x256 shapes


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def forward(client: Client, image: Path = PHOTO, timestep: int = 250, schedule: str = "linear", seed: int = 0):
    return client.predict(
        image=handle_file(str(image)), timestep=timestep, schedule=schedule, seed=seed, api_name="/forward_process"
    )


def predict(client: Client, image: Path = SCENE, timestep: int = 400, seed: int = 0, model: str = "shapes-ddpm"):
    return client.predict(
        image=handle_file(str(image)), timestep=timestep, seed=seed, model=model, api_name="/predict_noise"
    )


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("schedule", list(forward_process.SCHEDULES))
def test_forward_process_gives_x_t_at_the_images_size_and_abar(client: Client, schedule: str) -> None:
    noisy, alpha_prod, status = forward(client, timestep=500, schedule=schedule)
    assert Image.open(noisy).format == "PNG" and Image.open(noisy).size == (64, 64)
    assert alpha_prod == pytest.approx(forward_process.alphas_cumprod(schedule)[500], rel=1e-6)
    assert status.startswith(f"t = 500 on the {schedule} schedule")
    expected = forward_process.forward(Image.open(PHOTO), 500, schedule, 0).noisy_sample
    assert np.array_equal(pixels(noisy), expected)


def test_forward_process_is_continuous_in_t_and_fixed_by_the_seed(client: Client) -> None:
    photo = pixels(PHOTO).astype(int)
    at = {timestep: pixels(forward(client, timestep=timestep)[0]).astype(int) for timestep in (0, 300, 301)}
    assert np.abs(at[0] - photo).mean() < 1  # t = 0: the image, with one step of noise
    assert np.abs(at[300] - at[301]).mean() < 1 < np.abs(at[300] - photo).mean()
    assert np.array_equal(at[300], pixels(forward(client, timestep=300)[0]))
    assert not np.array_equal(at[300], pixels(forward(client, timestep=300, seed=1)[0]))


def test_predict_noise_gives_x_t_eps_hat_x0_hat_at_the_images_size_then_the_error(client: Client) -> None:
    noisy, predicted_noise, predicted_original, error, noise, status = predict(client)
    for path in (noisy, predicted_noise, predicted_original, noise):
        assert Image.open(path).size == (256, 256)
    expected = forward_process.predict_noise(Image.open(SCENE), 400, 0)
    assert error == pytest.approx(expected.error, rel=1e-5) and error < 0.5
    assert np.array_equal(pixels(predicted_original), expected.predicted_original)
    assert np.array_equal(pixels(predicted_noise), expected.predicted_noise)
    assert "shapes-ddpm predicts v, converted to ε̂" in status and "on 32×32 pixels" in status
    assert "enlarged back to 256×256" in status


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda client: forward(client, timestep=1000), "maximum|between 0 and 999"),
        (lambda client: forward(client, timestep=2.5), "Timestep must be a whole number"),
        (lambda client: forward(client, timestep="ten"), "Timestep t takes a number from 0 to 999; got 'ten'"),
        (lambda client: forward(client, schedule="quadratic"), "quadratic"),
        (lambda client: forward(client, seed=-1), "minimum|Seed must be between"),
        (lambda client: predict(client, model="/etc"), "not in this app's catalogue"),
        (lambda client: predict(client, timestep=-5), "minimum|between 0 and 999"),
        (
            lambda client: client.predict(None, 10, "linear", 0, api_name="/forward_process"),
            "Choose an example image or upload one",
        ),
    ],
)
def test_bad_input_gets_a_clear_message_and_the_server_keeps_serving(client: Client, call, message: str) -> None:
    with pytest.raises(Exception, match=message):
        call(client)
    assert Image.open(forward(client)[0]).size == (64, 64)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16", "CMYK"])
def test_any_mode_is_converted_with_a_notice(client: Client, tmp_path, mode: str) -> None:
    photo = Image.open(PHOTO)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257, "I;16")
    else:
        image = photo.convert(mode)
    if mode in ("RGBA", "LA"):
        image.putalpha(128)
    path = tmp_path / ("photo.tiff" if mode == "CMYK" else "photo.png")
    image.save(path)
    noisy, _, status = forward(client, path)
    assert Image.open(noisy).size == (64, 64) and "converted to 8-bit RGB" in status
    assert Image.open(predict(client, path)[0]).size == (64, 64)


def test_large_images_are_reduced_with_a_notice(client: Client, tmp_path) -> None:
    path = tmp_path / "large.png"
    Image.open(PHOTO).resize((1500, 1000)).save(path)
    noisy, _, status = forward(client, path)
    assert Image.open(noisy).size == (512, 341) and "reduced from 1500×1000 to 512×341" in status
    noisy, *_, status = predict(client, path)
    assert Image.open(noisy).size == (512, 341) and "32×20" in status
