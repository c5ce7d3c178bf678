"""The engine tier: the method of the paper, stage by stage (settings, network, masks and
segmentation, losses, matting, the objective, optimisation, smoothing and the saved look,
measures), composed by :func:`photostyle.engine.pipeline.transfer`. Imports the files tier
only."""
