"""The app's tabs, one module each: its explanation, its layout (`build()`) and its handlers.

Each module has `TITLE`, `ID` (the gr.Tab's id) and `build()`, called inside its `gr.Tab`, which returns the
inputs PNG info may restore, by task and handler parameter name. Only `app.py` imports a tab; what tabs share
is `ui/`, and the diffusion work is `pipelines/`.
"""
