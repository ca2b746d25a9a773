#pragma once
/// The program of a FusedElementwise node (ops.def): a chain or tree of elementwise ops over the
/// node's inputs, written as one string attribute in topological order:
///
///   "Sub(i0,i1);Add(t0,i2);Clip(t1)[0,6]"
///
/// iN is input N of the node, tK the result of step K; the last step is the node's output.
/// Steps are the ops with the EwFusable trait (ops.def): float unary maps and
/// Add/Sub/Mul/Div/Pow/Min/Max. Ops with float attributes list them in brackets (LeakyRelu [alpha],
/// HardSigmoid [alpha,beta], Clip [min,max], shortest round-trip decimal, inf allowed). Made by
/// passes/EwFuse.h; the reference interpreter runs the steps one by one, the lowering as one
/// kernel.
#include "ir/Graph.h"

#include <string>
#include <vector>

namespace kiln {

struct FusedStep {
  OpKind op = OpKind::Identity;
  std::vector<int> args; ///< >= 0: input index; < 0: -(K+1) for step K
  Attrs attrs;           ///< the op's attributes (alpha, beta, min, max)
};

/// Parses and checks a program against `num_inputs` (every arg in range, every step but the
/// last used by a later one, arities and attributes right); throws kiln::Error.
std::vector<FusedStep> parse_fused_program(const std::string &text, size_t num_inputs);

/// The text of one program (inverse of parse_fused_program).
std::string format_fused_program(const std::vector<FusedStep> &steps);

} // namespace kiln
