/** Registers every op; import this once before building graphs. */
import "./fill.ts";
import "./reshape.ts";
import "./elementwise.ts";
import "./unary.ts";
import "./reduce.ts";
import "./shape.ts";
