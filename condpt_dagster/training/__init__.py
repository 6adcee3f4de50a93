"""Training the conditional model: config, model presets, the DeepSpeed entry point, export, generation."""
