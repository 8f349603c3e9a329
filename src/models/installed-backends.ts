// Which GPU backends the installed engines were built with, read from the packages on disk: the
// load decision must not plan for CUDA when only llama.cpp's CPU build is installed (Jetson's case).
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { LlamaBackend, OnnxProvider } from "./fit.ts";

/** `nodeModules`: the folder holding node-llama-cpp and onnxruntime-node (the bundle's lib/node_modules). */
export function installedBackends(
  nodeModules: string,
  arch: string = process.arch,
): { llama: LlamaBackend[]; onnx: OnnxProvider[] } {
  const llama: LlamaBackend[] = [];
  const prebuilt = join(nodeModules, "@node-llama-cpp");
  const has = (suffix: string) => existsSync(join(prebuilt, `linux-${arch}${suffix}`));
  if (has("")) llama.push("cpu");
  if (has("-cuda")) llama.push("cuda");
  if (has("-vulkan")) llama.push("vulkan");
  const onnx: OnnxProvider[] = ["cpu"];
  const binDir = join(nodeModules, "onnxruntime-node", "bin");
  const cuda = (dir: string): boolean => {
    try {
      return readdirSync(dir, { recursive: true }).some((f) =>
        String(f).endsWith("libonnxruntime_providers_cuda.so"),
      );
    } catch {
      return false;
    }
  };
  if (cuda(binDir)) onnx.push("cuda");
  return { llama, onnx };
}
