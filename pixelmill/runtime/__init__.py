"""The façade a host embeds (`Runtime`, `JobSpec`, `JobHandle`), its config, logging and CLI."""
