// Shape inference: the dispatch on the op family (ops.def); each family's rules live in
// ir/shape/<Family>.cpp, on the checked view of the call in ir/shape/Infer.h.
#include "ir/ShapeInference.h"

#include "ir/shape/Infer.h"

namespace kiln {

using namespace shape;

Shape broadcast_shapes(const Shape &a, const Shape &b) {
  Shape out;
  if (!broadcast_into(a, b, out))
    throw Error("shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
  return out;
}

std::vector<TensorType> infer_types(OpKind op, const std::vector<const Value *> &inputs,
                                    const Attrs &attrs) {
  Infer c(op, inputs, attrs);
  switch (op_family(op)) {
  case OpFamily::Unary: infer_unary(c); break;
  case OpFamily::Binary: infer_binary(c); break;
  case OpFamily::Select: infer_select(c); break;
  case OpFamily::FusedElementwise: infer_fused_elementwise(c); break;
  case OpFamily::Conv: infer_conv(c); break;
  case OpFamily::Pool: infer_pool(c); break;
  case OpFamily::Norm: infer_norm(c); break;
  case OpFamily::Linalg: infer_linalg(c); break;
  case OpFamily::Softmax: infer_softmax(c); break;
  case OpFamily::Movement: infer_movement(c); break;
  case OpFamily::Resize: infer_resize(c); break;
  case OpFamily::Reduce: infer_reduce(c); break;
  case OpFamily::Quant: infer_quant(c); break;
  }
  return c.finish();
}

} // namespace kiln
