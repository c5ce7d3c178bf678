"""The runs tier: what is made of many transfers or written beside one (executors, batches,
ablations, the files beside a result, LUTs, contact sheets, video). Imports the engine and
files tiers; no front-end."""
