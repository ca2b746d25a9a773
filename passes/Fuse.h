#pragma once
/// "fuse": elementwise epilogues into Conv (ops.def: activation, alpha, residual), so one
/// kernel does conv + bias + activation + residual add:
///   Conv -> Sigmoid -> Mul(conv, sigmoid)          => Conv{activation=silu}
///   Conv -> Relu | Sigmoid | LeakyRelu | HardSwish => Conv{activation=...}
///   Conv{...} -> Add(conv, r), r defined before the Conv, of the output's shape and dtype
///                                                  => Conv(x, w, b, r)
/// The Conv output must have no other use (and not be a graph output); the fused Conv takes
/// over the last node's output value, so names downstream are unchanged.
///
///   Before: %c = Conv(%x, %w, %b) {...}; %s = Sigmoid(%c); %m = Mul(%c, %s); %y = Add(%x, %m)
///   After:  %y = Conv(%x, %w, %b, %x) {activation="silu", ...}
#include "ir/Graph.h"

#include <vector>

namespace kiln {

/// Returns true if it fused anything.
bool fuse_conv_epilogue(Graph &g);

/// Makes `into` (an earlier node) produce `last`'s single output instead of its own, and
/// empties the inputs of every node in `absorbed` (which includes `last`) so that
/// Graph::remove_dead drops them. Shared with bnfold.
void absorb_nodes(Node *into, Node *last, const std::vector<Node *> &absorbed);

} // namespace kiln
