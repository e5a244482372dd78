"""Generation under a stand-in for ZeroGPU's `spaces.GPU`, in this process: the run forked, every value pickled back.

`tests/test_zerogpu_runtime.py` runs the whole app under the real `spaces` in a subprocess; this stand-in,
in-process and quick, checks what that cannot see through the API: Stop reaching the worker, every
replay frame (latent ones decoded) coming back, and the seconds asked for.

The stand-in does what `spaces` 0.51.3 does on a ZeroGPU Space (`spaces/zero/wrappers.py`,
`generator_function_wrapper`): it calls `duration` with the call's arguments, sends the arguments
pickled to a process forked from the server, runs the generator there on a new thread, pickles
each value it yields back, and on the server's side closing the generator sets a stop event that
the child checks after each item. No GPU is needed: the point is the fork and the pickling.
"""

from __future__ import annotations

import functools
import inspect
import multiprocessing
import pickle
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.engine import batching
from tabs import text_to_image, unconditional
from ui import gpu, replays, runs


def standin_gpu(task=None, *, duration=None, size=None):
    if task is None:
        return functools.partial(standin_gpu, duration=duration, size=size)
    assert inspect.isgeneratorfunction(task), "the app's handlers are generators"

    @functools.wraps(task)
    def gradio_handler(*args, **kwargs):
        standin_gpu.durations.append(duration(*args, **kwargs))
        context = multiprocessing.get_context("fork")
        arguments, results, stop = pickle.dumps((args, kwargs)), context.SimpleQueue(), context.Event()

        def worker() -> None:
            def iterate() -> None:
                try:
                    call_args, call_kwargs = pickle.loads(arguments)
                    for item in task(*call_args, **call_kwargs):
                        if stop.is_set():
                            break
                        results.put(("item", pickle.dumps(item)))
                except Exception as error:  # spaces re-raises a gr.Error as is
                    results.put(("error", pickle.dumps(error)))
                results.put(("end", b""))

            with ThreadPoolExecutor() as executor:  # a new thread of the child, as in spaces
                executor.submit(iterate)

        process = context.Process(target=worker, daemon=True)
        process.start()
        try:
            while True:
                kind, payload = results.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise pickle.loads(payload)
                yield pickle.loads(payload)
        except GeneratorExit:
            stop.set()
            raise
        finally:
            process.join(timeout=120)

    return gradio_handler


standin_gpu.durations = []


@pytest.fixture
def on_zerogpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's one GPU function as on a ZeroGPU Space: the `spaces` package there is the stand-in."""
    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=standin_gpu))
    monkeypatch.setattr(gpu, "gpu_run", gpu.on_gpu())
    standin_gpu.durations.clear()


def collect(run, session: str, task: str, *inputs) -> list[tuple]:
    return list(runs.controlled(session, task, run, *inputs))


def test_a_forked_run_streams_every_step_to_the_end(on_zerogpu, tiny_ddpm: str) -> None:
    inputs = (tiny_ddpm, "DDPM", 40, 3, False, 2)
    forked = list(unconditional.run_unconditional(*inputs))
    in_process = collect(unconditional.run_unconditional.run, "here", "unconditional", *inputs)
    statuses = [update[3] for update in forked]
    assert statuses[-1].startswith("Done: 2 image(s)") and standin_gpu.durations == [gpu.seconds(tiny_ddpm, 40, 2)]
    assert Image.open(forked[-1][2]).tobytes() == Image.open(in_process[-1][2]).tobytes()  # the result PNG, bit for bit
    frames, _ = replays.frames_of(forked[-1][-1])  # every step's frame, pickled back and kept for the replay slider
    assert [frame.step for frame in frames] == list(range(1, 41))
    assert all(np.array_equal(a.predicted_original, b.predicted_original) for a, b in zip(frames, in_process[-1][-1]))


def test_a_forked_latent_run_hands_back_decoded_frames(on_zerogpu, tiny_sd: str) -> None:
    inputs = (tiny_sd, "a red circle", "", 5.0, "DDIM", 6, 1, False, 1)
    forked = list(text_to_image.run_text_to_image(*inputs))
    in_process = collect(text_to_image.run_text_to_image.run, "here", "text_to_image", *inputs)
    assert forked[-1][3].startswith("Done")
    # Within batching's rounding bound, not bit for bit: in a full test run the in-process run can share forward
    # passes with runs of earlier tests still ending on this process's torch thread (seen once in CI).
    result_difference = np.abs(np.asarray(Image.open(forked[-1][2]), float) - np.asarray(Image.open(in_process[-1][2])))
    assert result_difference.mean() <= batching.ROUNDING_BOUND
    replay = [frame.predicted_original for frame in replays.frames_of(forked[-1][-1])[0]]
    expected = [frame.predicted_original for frame in in_process[-1][-1]]
    differences = [np.abs(a.astype(float) - b).mean() for a, b in zip(replay, expected)]
    assert len(replay) == 6 and max(differences) <= batching.ROUNDING_BOUND, differences


def test_stop_reaches_the_forked_worker(on_zerogpu, tiny_ddpm: str) -> None:
    updates = unconditional.run_unconditional(tiny_ddpm, "DDPM", 100, 0, False, 1)
    first = next(updates)  # the run is going in the child
    assert first[3].startswith("Step")
    assert runs.stop(None, "unconditional")  # no request: the session None
    rest = list(updates)
    assert rest[-1][3].startswith("Stopped after step") and "of 100" in rest[-1][3]
    assert len(rest[-1][-1]) < 100


def test_bad_input_is_refused_before_the_gpu_call(on_zerogpu, tiny_ddpm: str) -> None:
    with pytest.raises(Exception, match="Batch size must be between 1 and 8"):
        list(unconditional.run_unconditional(tiny_ddpm, "DDPM", 5, 0, False, 99))
    assert standin_gpu.durations == []  # refused in the server: no worker forked


def test_bad_input_in_the_worker_comes_back_as_a_message(on_zerogpu, tiny_ddpm: str) -> None:
    with pytest.raises(Exception, match="Unknown scheduler 'Magic'"):
        list(unconditional.run_unconditional(tiny_ddpm, "Magic", 5, 0, False, 1))
    assert len(standin_gpu.durations) == 1


def requested_seconds_table() -> list[str]:
    """docs/serving.md's table: the GPU seconds each tab asks ZeroGPU for at its defaults, with its default model
    and with each hub model it offers at the catalogue's settings for that model (the tab's own `gpu_seconds`),
    and the runs a day that buys a visitor without an account (`gpu.MAX_SECONDS`, counted 1.5x on ZeroGPU's
    current cards)."""
    import app
    from pipelines import image_to_image, inpainting, super_resolution
    from pipelines import text_to_image as text_to_image_pipeline
    from pipelines import unconditional as unconditional_pipeline
    from pipelines.engine import catalogue

    tasks = {  # the tabs whose runs go through the GPU function (the Train tab's class trains in the server)
        task: {name: component.value for name, component in inputs.items()}
        for task, inputs in app.tab_inputs.items()
        if task in gpu._runs
    }
    tasks["predict_noise"] = {"image": None, "timestep": 250, "seed": 0, "model": "shapes-ddpm"}  # How it works
    models = {
        "unconditional": unconditional_pipeline,
        "text_to_image": text_to_image_pipeline,
        "inpainting": inpainting,
        "super_resolution": super_resolution,
        "image_to_image": image_to_image,
        "strength_sweep": image_to_image,
        "guidance_sweep": text_to_image_pipeline,
        "sampler_comparison": unconditional_pipeline,  # its default task
        "predict_noise": unconditional_pipeline,
    }
    rows = []
    for task, defaults in tasks.items():
        classes = models[task].PIPELINE_CLASSES if task in models else ()
        default = next((item for item in catalogue.EMBEDDED if item.name == defaults.get("model")), None)
        for model in [default] + [item for item in catalogue.HUB if item.pipeline_class in classes]:
            settings = dict(defaults)
            if model is not None:
                settings |= {name: value for name, value in model.settings().items() if name in defaults}
                settings["model"] = model.name
            asked = gpu._runs[task][1](*([] if task == "predict_noise" else [0]), *settings.values())
            shown = ("steps", "batch_size", "samples", "scales", "samplers", "strengths")
            work = ", ".join(f"{name} {settings[name]}" for name in shown if name in settings) or "one UNet call"
            runs_a_day = int(gpu.MAX_SECONDS // (1.5 * asked))
            rows.append(f"| {task} | {settings.get('model', 'shapes-ddpm')} | {work} | {asked} s | {runs_a_day} |")
    return rows


def test_docs_list_what_each_tab_asks_for() -> None:
    serving = (Path(__file__).resolve().parent.parent / "docs" / "serving.md").read_text()
    missing = [row for row in requested_seconds_table() if row not in serving]
    assert not missing, "\n".join(missing)


def test_the_models_preloaded_on_zerogpu_are_those_the_space_downloads() -> None:
    import deploy

    settings = deploy.space_settings(Path(__file__).resolve().parent.parent)
    assert [entry.split()[0] for entry in settings["preload_from_hub"]] == list(gpu.PRELOADED_HUB)


def test_off_zerogpu_the_embedded_models_warm_up_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    """`python app.py` (`app.launch(warm_up=True)`): the first tabs' models load on the torch thread as the server
    starts; on ZeroGPU `preload` has done it and nothing more is loaded in the server."""
    from pipelines.engine import catalogue, loading

    started = []
    monkeypatch.setattr(loading, "warm_up", started.append)
    monkeypatch.setattr(catalogue, "zero_gpu", lambda: True)
    assert gpu.warm_up() == [] and started == []
    monkeypatch.setattr(catalogue, "zero_gpu", lambda: False)
    assert gpu.warm_up() == list(gpu.WARMED_UP)
    deadline = time.monotonic() + 60  # in a thread of its own, which imports torch there
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert started == [gpu.WARMED_UP]


def test_a_warm_up_loads_the_models_into_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from collections import OrderedDict

    from pipelines.engine import loading

    monkeypatch.setattr(loading, "_cache", OrderedDict())  # nothing loaded yet (other tests' models kept aside)
    assert not loading.is_loaded("shapes-ddpm")
    assert loading.warm_up(("shapes-ddpm",)) == ["shapes-ddpm"] and loading.is_loaded("shapes-ddpm")


def test_on_zerogpu_every_lazy_module_is_imported_before_the_workers_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    """The UI is built without torch (`pipelines/lazy.py`); on ZeroGPU each run goes to a worker forked from the
    server, so `preload` imports every task's module there first: no worker imports them again."""
    import sys

    import tabs.unconditional  # noqa: F401  (its task's module is lazy)
    from pipelines import lazy
    from pipelines.engine import catalogue, loading

    monkeypatch.setattr(catalogue, "zero_gpu", lambda: True)
    monkeypatch.setattr(loading, "preload", lambda models, on: [])
    assert gpu.preload() == []
    assert "pipelines.unconditional" in lazy._made
    assert all(name in sys.modules for name in lazy._made)


def test_the_warm_up_lets_a_visitors_run_go_before_its_next_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """A visitor who comes as the server starts would otherwise wait for the warm-up's whole next load."""
    import threading
    from collections import OrderedDict

    from pipelines.engine import loading, torch_thread

    monkeypatch.setattr(loading, "_cache", OrderedDict())
    loads = []
    load = loading._cached_or_loaded
    monkeypatch.setattr(loading, "_cached_or_loaded", lambda *arguments: loads.append(arguments) or load(*arguments))

    run = torch_thread.steps(iter([1, 2]))  # a visitor's run, still streaming to its page
    assert next(run) == 1 and not torch_thread.idle()
    warm_up = threading.Thread(target=loading.warm_up, args=(("shapes-ddpm",),))
    warm_up.start()
    time.sleep(0.5 + loading.IDLE_SECONDS)  # a load would have begun by now: none has
    assert loads == [] and warm_up.is_alive()
    assert list(run) == [2]
    warm_up.join(timeout=600)
    assert len(loads) == 1 and torch_thread.idle() and loading.is_loaded("shapes-ddpm")
