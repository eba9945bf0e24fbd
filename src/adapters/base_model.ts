/** What an exported adapter says about the model it belongs to, in PEFT's `adapter_config.json` terms. */
import { isCausal, type ModelConfig, pretrainedArch } from "../models/config.ts";

/** PEFT's base-model fields for a model config. */
export interface PeftBase {
  /** The checkpoint folder of a pretrained model (as the pipeline names it); null for models built here. */
  baseModel: string | null;
  /** "CAUSAL_LM" for language models, null for the rest. */
  taskType: string | null;
  /** GPT-2 stores its linears as Conv1D ([in, out]); PEFT then sets fan_in_fan_out. */
  fanInFanOut: boolean;
}

/** The base-model fields of the adapter of a stage training `model`. */
export function peftBase(model: ModelConfig): PeftBase {
  const pretrained = model.backbone === "pretrained";
  return {
    baseModel: pretrained ? model.pretrained : null,
    taskType: isCausal(model) ? "CAUSAL_LM" : null,
    fanInFanOut: pretrained && pretrainedArch(model).family === "gpt2",
  };
}
