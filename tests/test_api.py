"""The /unconditional endpoint through gradio_client against the app served on localhost."""

from __future__ import annotations

import pytest
from gradio_client import Client
from PIL import Image

ENDPOINT = "/unconditional"


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def call(client: Client, steps: int = 10, seed: int = 5, random_seed: bool = False, batch_size: int = 2, **overrides):
    settings = {"model": "shapes-ddpm", "scheduler": "DPM-Solver++", "steps": steps, "seed": seed}
    settings.update(random_seed=random_seed, batch_size=batch_size, **overrides)
    return client.predict(**settings, api_name=ENDPOINT)


def test_generates_a_grid_and_reports_what_it_did(client: Client) -> None:
    noisy, estimate, result, status, seed, replay = call(client, batch_size=4)
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
    *_, result, _, seed, _ = call(client, random_seed=True)
    *_, again, _, same_seed, _ = call(client, seed=seed)
    assert same_seed == seed
    assert Image.open(result).tobytes() == Image.open(again).tobytes()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"steps": 0}, "minimum"),
        ({"batch_size": 9}, "maximum"),
        ({"steps": 2.5}, "Steps must be a whole number"),
        ({"model": "no-such/model"}, "Could not load model 'no-such/model'"),
        ({"scheduler": "Magic"}, "Magic"),
    ],
)
def test_bad_input_gets_a_clear_message_and_the_server_keeps_serving(
    client: Client, overrides: dict, message: str
) -> None:
    with pytest.raises(Exception, match=message):
        call(client, **overrides)
    assert call(client, steps=2, batch_size=1)[3].startswith("Done")
