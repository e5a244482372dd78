"""What the tabs share: widgets (`components`), per-step streaming, replay and wiring (`stream`), runs and Stop
(`runs`), the GPU entry (`gpu`), the files a run leaves (`keep`) and cheaper sessions (`sessions`).

It imports `pipelines/`, never a tab; `pipelines/` never imports it.
"""
