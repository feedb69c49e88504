"""The actors: one module each, talking only through `pixelmill.messages`."""
