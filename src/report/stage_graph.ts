/** The stage graph as a Vega-Lite chart: stages in columns by dependency depth, arrows for `dependsOn`. */
import type { TopLevelSpec } from "npm:vega-lite@6.5.0";
import { baseConfig, PALETTE } from "./_chart_kit.ts";
import { ReportInputError } from "./errors.ts";
import type { RunStageRef } from "./types.ts";

/** A stage placed on the grid: column = dependency depth, row = order within that depth. */
export interface PlacedStage {
  name: string;
  kind: string;
  cached: boolean;
  column: number;
  row: number;
}

/** Places stages by dependency depth; throws on unknown dependencies and cycles, naming the stages. */
export function layoutStages(stages: RunStageRef[], where: string): PlacedStage[] {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (name: string, path: string[]): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) {
      throw new ReportInputError(
        `${where}: expected acyclic dependsOn, found the cycle ${[...path, name].join(" -> ")}`,
      );
    }
    visiting.add(name);
    const stage = byName.get(name)!;
    let d = 0;
    for (const dep of stage.dependsOn) {
      if (!byName.has(dep)) {
        throw new ReportInputError(
          `${where}: stage "${name}" depends on "${dep}", expected one of: ${[...byName.keys()].join(", ")}`,
        );
      }
      d = Math.max(d, depthOf(dep, [...path, name]) + 1);
    }
    visiting.delete(name);
    depth.set(name, d);
    return d;
  };
  const rows = new Map<number, number>();
  return stages.map((s) => {
    const column = depthOf(s.name, []);
    const row = rows.get(column) ?? 0;
    rows.set(column, row + 1);
    return { name: s.name, kind: s.kind, cached: s.cached, column, row };
  });
}

const KIND_COLORS: Record<string, string> = { train: PALETTE[0], evaluate: PALETTE[4], export: PALETTE[1] };
const HALF_W = 0.36;
const HALF_H = 0.3;

/** The Vega-Lite spec drawing the stage graph; `where` names run.json in errors. */
export function stageGraphSpec(stages: RunStageRef[], where: string): TopLevelSpec {
  const placed = layoutStages(stages, where);
  const at = new Map(placed.map((p) => [p.name, p]));
  const columns = Math.max(1, ...placed.map((p) => p.column + 1));
  const rows = Math.max(1, ...placed.map((p) => p.row + 1));
  const nodes = placed.map((p) => ({
    ...p,
    x: p.column - HALF_W,
    x2: p.column + HALF_W,
    y: p.row - HALF_H,
    y2: p.row + HALF_H,
    state: p.cached ? "cached" : "ran",
    label: [p.name, p.cached ? `${p.kind} (cached)` : p.kind],
  }));
  const edges = stages.flatMap((s) =>
    s.dependsOn.map((dep) => {
      const from = at.get(dep)!;
      const to = at.get(s.name)!;
      return { x: from.column + HALF_W, y: from.row, x2: to.column - HALF_W, y2: to.row };
    })
  );
  const kinds = [...new Set(placed.map((p) => p.kind))];
  const x = (field: string) => ({
    field,
    type: "quantitative" as const,
    axis: null,
    scale: { domain: [-0.5, columns - 0.5] },
  });
  // Reversed so the first row of each column is drawn at the top.
  const y = (field: string) => ({
    field,
    type: "quantitative" as const,
    axis: null,
    scale: { domain: [-0.5, rows - 0.5], reverse: true },
  });
  return {
    ...baseConfig(),
    width: 170 * columns,
    height: 64 * rows,
    config: { ...baseConfig().config, view: { stroke: null } },
    layer: [
      {
        data: { values: edges },
        mark: { type: "rule", color: "#888", strokeWidth: 1.5 },
        encoding: {
          x: x("x"),
          y: y("y"),
          x2: { field: "x2" },
          y2: { field: "y2" },
        },
      },
      {
        data: { values: edges },
        mark: { type: "point", shape: "triangle-right", filled: true, color: "#888", size: 60 },
        encoding: { x: x("x2"), y: y("y2") },
      },
      {
        data: { values: nodes },
        mark: { type: "rect", cornerRadius: 4, stroke: "#333", fillOpacity: 0.85 },
        encoding: {
          x: x("x"),
          x2: { field: "x2" },
          y: y("y"),
          y2: { field: "y2" },
          color: {
            field: "kind",
            type: "nominal",
            title: "stage kind",
            scale: { domain: kinds, range: kinds.map((k, i) => KIND_COLORS[k] ?? PALETTE[5 + (i % 5)]) },
          },
          opacity: {
            field: "state",
            type: "ordinal",
            title: null,
            scale: { domain: ["ran", "cached"], range: [1, 0.45] },
          },
        },
      },
      {
        data: { values: nodes },
        mark: { type: "text", color: "white", fontSize: 11, fontWeight: "bold", lineHeight: 14 },
        encoding: { x: x("column"), y: y("row"), text: { field: "label" } },
      },
    ],
  };
}
