"""The Train tab's /train_toy endpoint through gradio_client, on localhost: a training streamed to its end, its files,
and bad input answered with a message while the server keeps serving."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image
from safetensors.torch import load_file

from pipelines import toy2d, toy_training
from tabs import train_toy

STEPS = 150  # a short training: the API, not the learning, is under test (tests/test_toy_training.py)


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def arguments(**changes: object) -> dict:
    named = {
        "data": "ring",
        "drawing": None,
        "points": "",
        "steps": STEPS,
        "schedule": "linear",
        "width": 32,
        "timestep": 100,
        "seed": 0,
    }
    return {**named, **changes}


def train(client: Client, **changes: object) -> list[tuple]:
    """Every update the job streamed, the last one the training's end."""
    job = client.submit(**arguments(**changes), api_name="/train_toy")
    for _ in job:  # to the end
        pass
    return list(job.outputs())


def test_a_training_streams_the_loss_the_field_and_the_distances_then_its_files(client: Client) -> None:
    updates = train(client)
    *streamed, last = updates
    assert streamed, "only the last update came"
    loss, field, status, distance, untrained, weights, animation = last
    assert status.startswith(f"Done: step {STEPS} / {STEPS}") and "Distance of the samples" in status
    assert distance < 0.5 * untrained
    assert Image.open(field).size[0] > Image.open(field).size[1] and Image.open(loss).size[0] > 300
    model = toy2d.NoisePredictor(32)
    model.load_state_dict(load_file(weights))  # the weights load into the toy's network
    with Image.open(animation) as picture:
        assert picture.format == "WEBP" and toy_training.SNAPSHOTS < picture.n_frames <= toy_training.SNAPSHOTS + 2
    steps = [int(update[2].split("step ")[1].split(" /")[0]) for update in streamed]
    assert all(update[2].startswith("Training: step") for update in streamed) and steps == sorted(steps)


def test_a_drawing_sent_through_the_api_is_trained_on(client: Client, tmp_path) -> None:
    canvas = np.zeros((train_toy.CANVAS_SIZE, train_toy.CANVAS_SIZE, 4), np.uint8)
    canvas[100:156, 40:216] = (0, 0, 0, 255)  # a thick bar across the middle
    path = tmp_path / "bar.png"
    Image.fromarray(canvas).save(path)
    drawing = {"background": None, "layers": [handle_file(str(path))], "composite": handle_file(str(path))}
    *_, last = train(client, data=train_toy.DRAWING, drawing=drawing)
    assert last[2].startswith("Done") and last[3] < last[4]


def test_a_student_who_leaves_mid_training_leaves_the_class(client: Client) -> None:
    job = client.submit(**arguments(steps=5000), api_name="/train_toy")
    deadline = time.monotonic() + 120
    while not job.outputs():  # the first update: the student is in the class
        assert time.monotonic() < deadline, "no update within 120 s"
        time.sleep(0.05)
    job.cancel()  # as a closed page does: Gradio closes the run's generator
    *_, last = train(client, steps=50)  # the server keeps serving
    assert last[2].startswith("Done")
    while toy_training._students:  # the app runs in this process: the class is empty again
        assert time.monotonic() < deadline, f"{len(toy_training._students)} students left in the class"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"data": train_toy.TYPED, "points": "0, 0\n1, 1\n0.5, 0.5"}, "Training takes 20 to 5000 points; got 3"),
        ({"data": train_toy.TYPED, "points": "0.1, 0.2\n" * 25 + "5, 5"}, "1 of the 26 points are off the canvas"),
        ({"data": train_toy.DRAWING}, "Draw on the canvas first"),
        ({"steps": 10**7}, "Training steps"),
        ({"steps": 2.5}, "Training steps"),
        ({"width": 100000}, "Network width"),
        ({"schedule": "quadratic"}, "Noise schedule"),
        ({"timestep": 5000}, "Timestep t of the field"),
        ({"data": "spiral"}, "Data"),
    ],
)
def test_bad_input_gets_a_clear_message_and_the_server_keeps_serving(client: Client, changes, message) -> None:
    with pytest.raises(Exception, match=message):
        client.predict(**arguments(**changes), api_name="/train_toy")
    assert client.predict(**arguments(steps=50), api_name="/train_toy")[2].startswith("Done")
