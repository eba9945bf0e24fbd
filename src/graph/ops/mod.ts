/** Registers every op; import this once before building graphs. */
import "./fill.ts";
import "./reshape.ts";
import "./elementwise.ts";
import "./unary.ts";
import "./reduce.ts";
import "./shape.ts";
import "./gather.ts";
import "./softmax.ts";
import "./layer_norm.ts";
import "./cross_entropy.ts";
import "./linear_cross_entropy.ts";
import "./normalize.ts";
import "./matmul.ts";
import "./dropout.ts";
import "./attention.ts";
