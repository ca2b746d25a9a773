#pragma once
/// "bnfold": folds an inference BatchNormalization into the Conv before it. With
/// s = scale / sqrt(var + eps): W'[oc] = W[oc] * s[oc], B'[oc] = (B[oc] - mean[oc]) * s[oc] +
/// bias[oc]. Needs constant weights, bias and BN parameters, a Conv output used only by the BN, and
/// no fused epilogue on the Conv yet.
///
///   Before: %c = Conv(%x, %w, %b) {...}; %y = BatchNormalization(%c, %s, %beta, %m, %v)
///   After:  %y = Conv(%x, %w', %b') {...}
#include "ir/Graph.h"

namespace kiln {

/// Returns true if it folded a BatchNormalization.
bool fold_batch_norm(Graph &g);

} // namespace kiln
