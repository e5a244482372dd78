"""Classifier guidance: the gradient term on tiny random models, the committed classifier's accuracy and its
steering of the committed shapes-ddpm, and the /classifier_guidance endpoint through gradio_client."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler
from gradio_client import Client
from PIL import Image

from pipelines import classifier_guidance, unconditional
from pipelines.classifier_guidance import comparison, generate_steps, guided_output, previous_alphas
from pipelines.engine import torch_thread
from pipelines.keepsakes.a1111_text import parse_parameters
from pipelines.keepsakes.png_info import parameters_text, read_parameters, settings_for_tab
from pipelines.models.noisy_classifier import ClassifierConfig, NoisyClassifier, load_classifier, save_classifier
from train.shapes import COLOURS, SHAPES


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-classifier")
    save_classifier(NoisyClassifier(ClassifierConfig(tuple(COLOURS), SHAPES, channels=(8, 16), embedding=16)), folder)
    return str(folder)


def tiny_run(tiny_shapes_ddpm: str, tiny_classifier: str, **settings):
    options = {"target": "red", "guidance_scale": 20.0, "seed": 3, "batch_size": 2, "steps": 6, "scheduler": "DDIM"}
    options.update(settings)
    return list(generate_steps(model=tiny_shapes_ddpm, classifier=tiny_classifier, **options))


def test_the_gradient_term_changes_the_sample(tiny_shapes_ddpm: str, tiny_classifier: str) -> None:
    frames = tiny_run(tiny_shapes_ddpm, tiny_classifier)
    last = frames[-1]
    assert [frame.step for frame in frames] == list(range(1, 7)) and last.is_last
    assert last.predicted_original.shape == last.unguided_original.shape == (2, 8, 8, 3)
    assert not np.array_equal(last.predicted_original, last.unguided_original)
    for frame in frames:  # the classifier's belief, for each image
        assert frame.target_probability.shape == frame.unguided_probability.shape == (2,)
        assert np.all((frame.target_probability > 0) & (frame.target_probability < 1))
    assert "p(red | x_t) = " in last.probability_text() and "without guidance" in last.probability_text()
    # following the gradient of log p(red | x_t) makes the classifier more sure of red than without
    assert last.target_probability.mean() > last.unguided_probability.mean()


def test_guidance_zero_is_the_unguided_run_bit_for_bit(tiny_shapes_ddpm: str, tiny_classifier: str) -> None:
    scheduler = classifier_guidance.DEFAULT_SCHEDULER  # stochastic: the same noise drawn, seed for seed
    frames = tiny_run(tiny_shapes_ddpm, tiny_classifier, guidance_scale=0.0, scheduler=scheduler)
    for frame in frames:
        assert np.array_equal(frame.predicted_original, frame.unguided_original)
        assert np.array_equal(frame.target_probability, frame.unguided_probability)
    # and the same images as the Unconditional tab's, seed for seed
    plain = unconditional.generate(model=tiny_shapes_ddpm, scheduler=scheduler, steps=6, seed=3, batch_size=2)
    assert np.array_equal(frames[-1].predicted_original, plain.predicted_original)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_a_ddpm_step_with_the_guided_output_moves_its_mean_by_s_sigma_gradient(prediction_type: str) -> None:
    """Dhariwal & Nichol 2021, Algorithm 1: x_t-1 ~ N(mu + s Sigma grad log p(y | x_t), Sigma), whatever the
    model predicts and however many training steps one step spans."""
    scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type=prediction_type, clip_sample=False)
    scheduler.set_timesteps(10)
    alphas_previous = previous_alphas(scheduler, scheduler.alphas_cumprod)
    generator = torch.Generator().manual_seed(0)
    noisy, model_output, gradient = (torch.randn(2, 3, 4, 4, generator=generator) for _ in range(3))
    scale = torch.tensor([2.0, 0.0])
    for timestep in scheduler.timesteps[:-1]:  # the last step adds no noise (Sigma = 0): it is left as it is
        step_from = int(timestep)
        guided = guided_output(
            model_output,
            gradient,
            scale,
            scheduler.alphas_cumprod[step_from],
            alphas_previous[step_from],
            prediction_type,
        )
        assert torch.equal(guided[1], model_output[1])  # s = 0: unchanged, bit for bit
        means = [
            scheduler.step(output, timestep, noisy, generator=torch.Generator().manual_seed(1)).prev_sample
            for output in (model_output, guided)
        ]
        variance = scheduler._get_variance(step_from)  # the step's posterior variance, beta tilde
        torch.testing.assert_close(
            means[1] - means[0], scale.view(-1, 1, 1, 1) * variance * gradient, atol=1e-4, rtol=1e-4
        )
    with pytest.raises(ValueError, match="epsilon or v-prediction"):
        guided_output(model_output, gradient, scale, torch.tensor(0.3), torch.tensor(0.5), "sample")


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"target": "pink"}, r"Unknown target 'pink': choose a colour \(red, orange.*\) or a shape \(circle, square"),
        ({"target": None}, "Unknown target"),
        ({"guidance_scale": -1.0}, "Guidance scale must be a number from 0 to 100"),
        ({"guidance_scale": float("nan")}, "Guidance scale"),
        ({"batch_size": 9}, "Batch size must be between 1 and 8"),
        ({"seed": -1}, "Seed must be between 0"),
    ],
)
def test_bad_settings_are_refused(tiny_shapes_ddpm: str, tiny_classifier: str, settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny_run(tiny_shapes_ddpm, tiny_classifier, **settings)


def test_comparison_puts_the_guided_row_above_the_unguided_one(tiny_shapes_ddpm: str, tiny_classifier: str) -> None:
    last = tiny_run(tiny_shapes_ddpm, tiny_classifier, batch_size=3)[-1]
    grid = comparison(last, scale=2)
    assert grid.shape == (2 * (2 * 8 + 1), 2 * (3 * 9 - 1), 3)
    assert np.array_equal(grid[:16:2, 18:34:2], last.predicted_original[1])
    assert np.array_equal(grid[18::2, 36::2], last.unguided_original[2])


def test_png_settings_restore_the_tab() -> None:
    settings = {"target": "triangle", "guidance_scale": 12.5, "seed": 7, "batch_size": 2}
    text = parameters_text({"task": "classifier_guidance", **settings, "size": (32, 32), "seeds": [7, 8]})
    assert "Guidance target: triangle" in text and "CFG scale: 12.5" in text
    task, inputs, notices = settings_for_tab(parse_parameters(text))
    assert task == "classifier_guidance" and inputs == settings  # the tab has no "Random seed" box
    assert notices == ["Restored into Classifier guidance: Guidance target, CFG scale, Seed, Batch size."]


def test_the_committed_classifier_is_accurate_on_held_out_images() -> None:
    from train.evaluate_classifier import accuracy

    classifier = torch_thread.run(load_classifier)
    clean = torch_thread.run(accuracy, classifier, 256, 0)
    noisy = torch_thread.run(accuracy, classifier, 256, 500)
    assert clean["colours"] >= 0.95 and clean["shapes"] >= 0.9, clean
    assert noisy["colours"] >= 0.8, noisy  # still mostly right halfway through the forward process


def test_guidance_raises_the_target_rate_on_the_committed_models() -> None:
    from train.evaluate_classifier import guidance_rates

    rates = guidance_rates("red", classifier_guidance.DEFAULT_GUIDANCE_SCALE, samples=8, seed=1000, batch_size=8)
    assert rates["guided"] >= rates["unguided"] + 0.25, rates  # measured: 5 of 8 red with guidance, none without


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


def test_the_endpoint_streams_guided_images_beside_unguided_ones(client: Client) -> None:
    settings = {"target": "circle", "guidance_scale": 4.0, "seed": 4, "batch_size": 2}
    job = client.submit(**settings, api_name="/classifier_guidance")
    noisy, estimate, result, status, seed, replay, animation, sheet = job.result()
    assert status.startswith("Done: 2 image(s) guided towards “circle”") and "p(circle | x_t)" in status, status
    assert seed == 4 and replay["maximum"] == classifier_guidance.DEFAULT_STEPS
    assert Image.open(result).size == ((2 * 33 - 1) * 8, (2 * 32 + 1) * 8)  # two rows of two, enlarged 8x
    assert Image.open(noisy).size == Image.open(estimate).size == (2 * 32 + 1, 32)  # the guided row
    assert Path(animation).suffix == ".webp" and Path(sheet).suffix == ".png"
    parameters = parse_parameters(read_parameters(result))
    assert parameters["Task"] == "classifier_guidance" and parameters["Guidance target"] == "circle"
    assert parameters["Seed"] == "4" and parameters["Batch size"] == "2"
    streamed = [outputs[3] for outputs in job.outputs() if outputs[3].startswith("Step")]
    assert streamed and all("p(circle | x_t)" in line for line in streamed), streamed


def test_the_endpoint_refuses_an_unknown_target_and_keeps_serving(client: Client) -> None:
    with pytest.raises(Exception, match="red, orange"):
        client.predict(target="pink", guidance_scale=10.0, seed=0, batch_size=1, api_name="/classifier_guidance")
    status = client.predict(target="red", guidance_scale=0.0, seed=0, batch_size=1, api_name="/classifier_guidance")[3]
    assert status.startswith("Done")


def test_the_handler_asks_zerogpu_for_the_seconds_of_both_halves() -> None:
    from tabs import classifier_guidance as classifier_guidance_tab
    from tabs import super_resolution
    from ui import gpu

    seconds = classifier_guidance_tab.run_classifier_guidance.gpu_seconds(0, "red", 4.0, 0, 4)
    assert seconds == gpu.seconds("shapes-ddpm", 2 * classifier_guidance.DEFAULT_STEPS, 4)
    # super-resolution: the samples averaged go through the UNet together, as a batch would
    upscaling = super_resolution.run_super_resolution.gpu_seconds(0, "photo-sr-4x", None, "DDIM", 20, 0.0, 0, False)
    assert upscaling == gpu.seconds("photo-sr-4x", 20, 1)
    upscaling = super_resolution.run_super_resolution.gpu_seconds(
        0, "photo-sr-4x", None, "DDIM", 20, 0, 0, False, "", 5, 20, 1, 8
    )
    assert upscaling == gpu.seconds("photo-sr-4x", 20, 8)
