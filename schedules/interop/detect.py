"""What a JSON object is: HF ``TrainingArguments``, a DeepSpeed config, or an ``lr-schedule/v1`` design.

The importers refuse a file that is not what they read (``{}``, ``{"foo": 1}``, a DeepSpeed config
pasted as HF) with a message naming what it looks like, instead of importing defaults; ``python -m
schedules validate`` suggests the importer when it is given an HF or DeepSpeed file.

==============  ===================================================================================
``"design"``    ``"format": "lr-schedule/v1"``, or a ``training`` / ``warmup`` / ``decay`` /
                ``plateau`` object
``"deepspeed"``  a ``scheduler`` object, a bare scheduler block (``type`` one of DeepSpeed's), or a
                key only DeepSpeed configs have (``train_micro_batch_size_per_gpu``,
                ``zero_optimization`` ...)
``"hf"``        otherwise, a ``TrainingArguments`` field (``gradient_accumulation_steps`` alone too:
                DeepSpeed shares it, but a DeepSpeed config has other keys)
``None``        none of these
==============  ===================================================================================
"""

from __future__ import annotations

from typing import Any

from ..design import ConfigError, Problem
from .deepspeed import DS_TYPES

NAMES = {
    "hf": "HF TrainingArguments",
    "deepspeed": "a DeepSpeed config",
    "design": "an lr-schedule/v1 design",
}

#: Top-level keys of a DeepSpeed config that the importer reads.
DS_READ = ("scheduler", "optimizer", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps")

#: Keys only DeepSpeed configs have (deepspeed.readthedocs.io, "DeepSpeed Configuration JSON").
DS_ONLY = frozenset(
    {
        "train_batch_size",
        "train_micro_batch_size_per_gpu",
        "zero_optimization",
        "zero_allow_untested_optimizer",
        "zero_force_ds_cpu_optimizer",
        "steps_per_print",
        "wall_clock_breakdown",
        "dump_state",
        "gradient_clipping",
        "prescale_gradients",
        "gradient_predivide_factor",
        "sparse_gradients",
        "amp",
        "activation_checkpointing",
        "flops_profiler",
        "communication_data_type",
        "data_types",
        "checkpoint",
        "aio",
        "compression_training",
        "tensorboard",
        "wandb",
        "csv_monitor",
        "comms_logger",
        "elasticity",
        "pipeline",
        "curriculum_learning",
        "data_efficiency",
        "autotuning",
        "nebula",
    }
)

#: ``TrainingArguments`` fields (transformers 4.4x to 5.x; ``Seq2SeqTrainingArguments`` adds the
#: generation ones).  A key outside this set is reported as not a TrainingArguments field.
HF_FIELDS = frozenset(
    """
    output_dir overwrite_output_dir do_train do_eval do_predict eval_strategy evaluation_strategy
    prediction_loss_only per_device_train_batch_size per_device_eval_batch_size per_gpu_train_batch_size
    per_gpu_eval_batch_size gradient_accumulation_steps eval_accumulation_steps eval_delay
    torch_empty_cache_steps learning_rate weight_decay adam_beta1 adam_beta2 adam_epsilon max_grad_norm
    num_train_epochs max_steps lr_scheduler_type lr_scheduler_kwargs warmup_ratio warmup_steps log_level
    log_level_replica log_on_each_node logging_dir logging_strategy logging_first_step logging_steps
    logging_nan_inf_filter save_strategy save_steps save_total_limit save_safetensors save_on_each_node
    save_only_model restore_callback_states_from_checkpoint no_cuda use_cpu use_mps_device seed data_seed
    jit_mode_eval use_ipex bf16 fp16 fp16_opt_level half_precision_backend bf16_full_eval fp16_full_eval
    tf32 local_rank ddp_backend tpu_num_cores tpu_metrics_debug debug dataloader_drop_last eval_steps
    dataloader_num_workers dataloader_prefetch_factor past_index run_name disable_tqdm
    remove_unused_columns label_names load_best_model_at_end metric_for_best_model greater_is_better
    ignore_data_skip fsdp fsdp_min_num_params fsdp_config fsdp_transformer_layer_cls_to_wrap
    accelerator_config parallelism_config deepspeed label_smoothing_factor optim optim_args adafactor
    group_by_length length_column_name report_to ddp_find_unused_parameters ddp_bucket_cap_mb
    ddp_broadcast_buffers dataloader_pin_memory dataloader_persistent_workers
    dataloader_multiprocessing_context dataloader_in_order skip_memory_metrics
    use_legacy_prediction_loop push_to_hub resume_from_checkpoint hub_model_id hub_strategy hub_token
    hub_private_repo hub_always_push hub_revision gradient_checkpointing gradient_checkpointing_kwargs
    activation_checkpointing activation_checkpointing_kwargs include_inputs_for_metrics
    include_for_metrics eval_do_concat_batches fp16_backend push_to_hub_model_id
    push_to_hub_organization push_to_hub_token mp_parameters auto_find_batch_size full_determinism
    torchdynamo ray_scope ddp_timeout torch_compile torch_compile_backend torch_compile_mode
    include_tokens_per_second include_num_input_tokens_seen neftune_noise_alpha optim_target_modules
    batch_eval_metrics eval_on_start use_liger_kernel liger_kernel_config eval_use_gather_object
    average_tokens_across_devices use_cache ddp_static_graph train_sampling_strategy
    enable_jit_checkpoint project trackio_space_id trackio_bucket_id trackio_static_space_id
    split_batches dispatch_batches xpu_backend sharded_ddp sortish_sampler predict_with_generate
    generation_max_length generation_num_beams generation_config
    """.split()
)

#: TrainingArguments fields the HF importer reads (the others do not change the lr schedule).
HF_READ = frozenset(
    {
        "learning_rate",
        "lr_scheduler_type",
        "lr_scheduler_kwargs",
        "warmup_steps",
        "warmup_ratio",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "num_train_epochs",
        "max_steps",
        "dataloader_drop_last",
        "weight_decay",
        "adam_beta1",
        "adam_beta2",
        "adam_epsilon",
        "optim",
        "eval_strategy",
        "evaluation_strategy",
        "eval_steps",
    }
)

_DESIGN_SECTIONS = ("training", "warmup", "decay", "plateau")


def looks_like(doc: Any) -> str | None:
    """``"design"``, ``"deepspeed"``, ``"hf"`` or ``None`` (see the module docstring)."""
    if not isinstance(doc, dict):
        return None
    if doc.get("format") == "lr-schedule/v1" or any(isinstance(doc.get(k), dict) for k in _DESIGN_SECTIONS):
        return "design"
    if (
        isinstance(doc.get("scheduler"), dict)
        or doc.get("type") in DS_TYPES
        or any(
            k in DS_ONLY and k not in HF_FIELDS for k in doc
        )  # TrainingArguments has activation_checkpointing
        or (isinstance(doc.get("optimizer"), dict) and "type" in doc["optimizer"])
    ):
        return "deepspeed"
    if any(k in HF_FIELDS for k in doc):
        return "hf"
    return None


def _keys(doc: dict[str, Any], limit: int = 8) -> str:
    keys = [str(k) for k in doc]
    shown = ", ".join(keys[:limit]) + (f", ... ({len(keys)} keys)" if len(keys) > limit else "")
    return f"its keys are {shown}" if keys else "it is an empty object"


def require_format(doc: dict[str, Any], expected: str) -> None:
    """Raise :class:`ConfigError` unless ``doc`` looks like ``expected`` (``"hf"`` or ``"deepspeed"``)."""
    kind = looks_like(doc)
    if kind == expected:
        return
    what = NAMES[expected]
    if kind is None:
        if expected == "hf":
            hint = f"none of its keys is a TrainingArguments field that sets the schedule ({_keys(doc)})"
        else:
            hint = f"it has no 'scheduler' block and no DeepSpeed key ({_keys(doc)})"
        raise ConfigError(Problem("(file)", f"is not {what}: {hint}", None, has_value=False))
    advice = {
        "hf": "import it as HF TrainingArguments (--from hf)",
        "deepspeed": "import it as a DeepSpeed config (--from deepspeed)",
        "design": "open it with the Designer's Import (python -m schedules validate checks it)",
    }[kind]
    raise ConfigError(
        Problem("(file)", f"is not {what}: it looks like {NAMES[kind]}; {advice}", None, has_value=False)
    )


def ignored_hf_keys(doc: dict[str, Any]) -> list[str]:
    """Warnings naming every key of a TrainingArguments JSON that the import does not use."""
    unknown = [str(k) for k in doc if k not in HF_FIELDS]
    unused = [str(k) for k in doc if k in HF_FIELDS and k not in HF_READ]
    out = []
    if unknown:
        out.append(f"ignored, not TrainingArguments fields: {', '.join(unknown)}")
    if unused:
        out.append(f"ignored, they do not set the lr schedule: {', '.join(unused)}")
    return out


def ignored_deepspeed_keys(doc: dict[str, Any]) -> list[str]:
    """Warnings naming every top-level key of a DeepSpeed config that the import does not use."""
    if "scheduler" not in doc and doc.get("type") in DS_TYPES:  # a bare scheduler block
        extra = [str(k) for k in doc if k not in ("type", "params")]
    else:
        extra = [str(k) for k in doc if k not in DS_READ]
    return [f"ignored, they do not set the lr schedule: {', '.join(extra)}"] if extra else []
