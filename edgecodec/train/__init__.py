"""Training: the rate-distortion loop and what it samples; checkpoints are written by ``edgecodec.checkpoint``.

- ``loop``: the variable-rate training loop (resumable; quantisation-aware fine-tuning with ``qat``).
- ``data``: random crops from a folder of photos.
- ``conditional`` and ``scene_pairs``: the conditional entropy model for delta frames, trained on frame pairs.
- ``spatial_plan``: another spatial-context plan for a trained model.
- ``progress``: a progress bar, or log lines where there is no terminal.
"""
