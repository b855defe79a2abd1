"""The structured-config schema: types and checks for every Hydra group (the values live in conf/)."""
