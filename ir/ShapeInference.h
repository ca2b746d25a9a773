#pragma once
/// Output dtypes and shapes of one op, given its inputs and (normalised) attributes. Implemented
/// in ir/shape/, one file per op family (ops.def), like the reference interpreter.
// Not ir/Graph.h: Graph.cpp includes this header (add_node infers its outputs' types).
#include "ir/Op.h"
#include "ir/Tensor.h"

#include <vector>

namespace kiln {

struct Value;
class Attrs;

struct TensorType {
  DType dtype;
  Shape shape;
  bool operator==(const TensorType &) const = default;
};

/// The output types of `op` applied to `inputs` (null entries are absent optional inputs) with
/// `attrs`, following the normalised semantics in ir/ops.def. Throws kiln::Error with a one-line
/// message (without the node name: callers prefix it) when the input count, dtypes, shapes or
/// attributes are inconsistent, e.g. "Conv: input channels 3 do not match weight 16x4x3x3
/// with group 1".
std::vector<TensorType> infer_types(OpKind op, const std::vector<const Value *> &inputs,
                                    const Attrs &attrs);

/// numpy broadcast of two shapes; throws kiln::Error naming both shapes when incompatible.
Shape broadcast_shapes(const Shape &a, const Shape &b);

} // namespace kiln
