#pragma once
/// The `precision` pass: the conv network of an f32 model computed in f16 (or bf16), what
/// `--precision f16|bf16` asks for. compile_graph runs it after the cleanup passes (fold, dce,
/// cse, bnfold: BatchNorm folds in f32) and before fusion, whatever the pipeline says.
///
/// Which ops go to the low type, by op and data flow (never by model):
///   - "conv-network" ops: Conv, ConvTranspose, BatchNormalization, MaxPool, AveragePool,
///     GlobalAveragePool, Resize, Concat, Split, Slice, Pad, Identity and the elementwise ops
///     that keep values in range (Relu, Sigmoid, Tanh, LeakyRelu, HardSigmoid, HardSwish, Clip,
///     Neg, Abs, Add, Sub, Mul, Div, Min, Max, Where);
///   - such an op goes low when one of its float inputs is low or a graph input: the region
///     grows forward from the image through the backbone, neck and head convs.
/// Everything else stays f32, and so do its results' consumers unless they take a low input
/// again: reshapes, transposes, Softmax, MatMul, Exp/Log/Pow, reductions, and so the box decode
/// (DFL softmax and its conv, the grid and stride arithmetic, whose coordinates reach 640 where
/// an f16 step is 0.5 px), attention's softmax and scores. Casts are inserted where the types
/// meet; float constants of low ops (weights, biases) are converted once; graph inputs and
/// outputs keep their names and f32 type.
///
///   images f32 -> Cast f16 -> Conv ... Conv -> Concat f16 -> Cast f32 -> Reshape -> Softmax ...
#include "ir/Graph.h"

namespace kiln {

/// Rewrites `g` so its conv network computes in `low` (f16 or bf16; f32: no change). Returns
/// true when it changed the graph.
bool lower_precision(Graph &g, DType low);

} // namespace kiln
