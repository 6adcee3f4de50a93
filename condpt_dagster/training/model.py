"""GPT-NeoX models (the architecture of the reference conditional models): presets or a local base model."""

from __future__ import annotations

from transformers import AutoModelForCausalLM, GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedModel

from condpt_dagster.core.settings import TrainingSettings

# Pythia-like shapes: hidden size, layers, heads.
PRESET_SHAPES = {
    "tiny": (128, 4, 4),
    "125m": (768, 12, 12),
    "350m": (1024, 24, 16),
    "1.3b": (2048, 24, 16),
}


def preset_config(preset: str, vocab_size: int, context: int, eos_id: int, pad_id: int) -> GPTNeoXConfig:
    hidden, layers, heads = PRESET_SHAPES[preset]
    return GPTNeoXConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_position_embeddings=max(context, 2048),
        rotary_pct=0.25,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )


def build_model(config: TrainingSettings, vocab_size: int, context: int, eos_id: int, pad_id: int) -> PreTrainedModel:
    if config.base_model is None:
        return GPTNeoXForCausalLM(preset_config(config.preset, vocab_size, context, eos_id, pad_id))
    model = AutoModelForCausalLM.from_pretrained(config.base_model, local_files_only=True, use_safetensors=True)
    if model.get_input_embeddings().num_embeddings < vocab_size:  # control tokens were added
        model.resize_token_embeddings(vocab_size)
    if config.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(r=config.lora_r, lora_alpha=2 * config.lora_r, lora_dropout=0.0, target_modules="all-linear"),
        )
    return model


def count_parameters(model) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
