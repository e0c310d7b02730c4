"""Probes: classifiers trained on a representation to measure it.

`heads` builds them, `frozen` trains them on frozen features (evaluators
`linear`, `mlp`), `finetune` with a copy of the encoder, `label_subsets` on
part of the labels; `store` keeps the trained ones for export.
"""
