"""Inside the model through gradio_client, on localhost: /text_to_image's word maps, /latent_space, /unet_levels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from pipelines import text_to_image
from pipelines.engine import word_maps

SCENE = Path(__file__).resolve().parent.parent / "assets" / "examples" / "scene-1.png"
PROMPT = "a red circle on the left and a blue square on the right"


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def draw(client: Client, where_words_look: object = True, prompt: str = PROMPT, steps: int = 8) -> tuple:
    return client.predict(
        "shapes-sd", prompt, "", 5.0, "DPM-Solver++", steps, 0, False, 1, where_words_look, api_name="/text_to_image"
    )


def test_text_to_image_gives_one_map_per_word(client: Client) -> None:
    outputs = draw(client)
    assert outputs[3].startswith("Done")
    strip = outputs[-1]
    assert [item["caption"] for item in strip] == PROMPT.split()
    # each: this step's map beside the summed map, over x̂0, 32 px enlarged 4x, 1 px gap
    pictures = [np.asarray(Image.open(item["image"])) for item in strip]
    assert {picture.shape for picture in pictures} == {(128, 4 * 65, 3)}
    # the same run in process: the API's pictures are its maps over its image
    frame = text_to_image.generate(prompt=PROMPT, steps=8, seed=0, batch_size=1, with_word_maps=True)
    expected = word_maps.word_views(frame, frame.predicted_original[0])
    for picture, (view, _) in zip(pictures, expected):
        assert np.abs(picture.astype(int) - view).mean() <= 1  # batching's bound: other users may have run alongside


def test_maps_off_gives_no_strip_and_bad_values_are_refused(client: Client) -> None:
    assert draw(client, where_words_look=False, steps=2)[-1] == []
    with pytest.raises(Exception, match="Where each word looks"):
        draw(client, where_words_look="yes", steps=2)
    assert draw(client, steps=2)[3].startswith("Done")  # still serving


def test_latent_space_and_unet_levels(client: Client) -> None:
    image = handle_file(str(SCENE))
    channels, shown, round_trip, noised_pixels, noised_latents, status = client.predict(
        image, 250, 0, "shapes-sd", api_name="/latent_space"
    )
    assert [item["caption"] for item in channels] == [f"channel {number}" for number in range(4)]
    assert "3072 numbers" in status and "8×8×4 = 256 numbers: 12× fewer" in status and "PSNR" in status
    for path in (shown, round_trip, noised_pixels, noised_latents):
        assert Image.open(path).size == (256, 256)  # 32 px enlarged 8x
    diagram, levels_status = client.predict(image, "a red circle", 250, 0, "shapes-sd", api_name="/unet_levels")
    assert Image.open(diagram).width > 600 and "t = 250" in levels_status
    with pytest.raises(Exception, match="shapes-sd"):  # the catalogue's refusal names the models it allows
        client.predict(image, 250, 0, "/etc/passwd", api_name="/latent_space")
    with pytest.raises(Exception, match="Choose an example image"):
        client.predict(None, "a red circle", 250, 0, "shapes-sd", api_name="/unet_levels")
    timing = client.predict("shapes-sd", api_name="/step_timings")
    assert "One UNet step of shapes-sd on a latent (4, 8, 8)" in timing and "shapes-ddpm" in timing
