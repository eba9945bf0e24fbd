/** Renders a Vega-Lite spec to an SVG string, headless (no DOM, no canvas: text widths are estimated). */
import * as vega from "npm:vega@6.4.0";
import { compile, type TopLevelSpec } from "npm:vega-lite@6.5.0";

/**
 * Compiles a Vega-Lite spec to Vega and renders it with `View.toSVG()`. Specs must carry their data inline:
 * the view is given a loader that refuses every URL, so a report never reaches the network.
 *
 * @example
 * ```ts ignore
 * const svg = await renderVegaLite({ data: { values: [{ x: 1, y: 2 }] }, mark: "point",
 *   encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } } });
 * ```
 */
export async function renderVegaLite(spec: TopLevelSpec): Promise<string> {
  const runtime = vega.parse(compile(spec, { logger: strictLogger() }).spec);
  const view = new vega.View(runtime, { renderer: "none", logLevel: vega.Error, loader: offlineLoader() });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function offlineLoader(): vega.Loader {
  const loader = vega.loader();
  loader.load = (uri: string) =>
    Promise.reject(new Error(`report charts take inline data only; refused to load ${uri}`));
  return loader;
}

/** Vega-Lite drops encodings it cannot apply with only a warning; a report chart that lost one is a bug. */
function strictLogger(): vega.LoggerInterface {
  const logger = vega.logger(vega.Warn);
  logger.warn = (...args: readonly unknown[]) => {
    throw new Error(`chart spec rejected by Vega-Lite: ${args.join(" ")}`);
  };
  return logger;
}
