/**
 * Which native graphics APIs Deno's WebGPU may open. Left alone, it opens every one, OpenGL included: on
 * Linux that loads libEGL and Mesa's GL driver beside the Vulkan one. libEGL's library destructor then runs
 * at process exit while the runtime's threads still exit and free their thread-local data, and now and then
 * the heap is corrupted there ("free(): invalid pointer", "corrupted size vs. prev_size"): exit 134 after a
 * run or a test suite that passed. The OpenGL backend has nothing we use, so Linux gets Vulkan alone.
 */

/** The variable Deno reads, once per process, when `navigator.gpu` first asks for an adapter. */
export const BACKEND_VAR = "DENO_WEBGPU_BACKEND";

/** What `selectBackend` chose: the variable's value, and whether it was ours or already set. */
export interface BackendChoice {
  value: string | undefined;
  setHere: boolean;
}

/**
 * Sets `DENO_WEBGPU_BACKEND=vulkan` on Linux unless it is set already (a user's choice is kept). Call it
 * before anything in the process requests an adapter. Without permission to read and write that variable it
 * changes nothing (a library must not prompt).
 */
export function selectBackend(): BackendChoice {
  if (typeof Deno === "undefined" || Deno.build.os !== "linux") return { value: undefined, setHere: false };
  if (Deno.permissions.querySync({ name: "env", variable: BACKEND_VAR }).state !== "granted") {
    return { value: undefined, setHere: false };
  }
  const set = Deno.env.get(BACKEND_VAR);
  if (set !== undefined) return { value: set, setHere: false };
  Deno.env.set(BACKEND_VAR, "vulkan");
  return { value: "vulkan", setHere: true };
}
