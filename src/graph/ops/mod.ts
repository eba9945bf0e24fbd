/** Registers every op; import this once before building graphs. */
import "./fill.ts";
import "./reshape.ts";
