#include "ir/Op.h"

namespace kiln {

std::string_view op_family_name(OpFamily f) {
  switch (f) {
  case OpFamily::Unary: return "Unary";
  case OpFamily::Binary: return "Binary";
  case OpFamily::Select: return "Select";
  case OpFamily::FusedElementwise: return "FusedElementwise";
  case OpFamily::Conv: return "Conv";
  case OpFamily::Pool: return "Pool";
  case OpFamily::Norm: return "Norm";
  case OpFamily::Linalg: return "Linalg";
  case OpFamily::Softmax: return "Softmax";
  case OpFamily::Movement: return "Movement";
  case OpFamily::Resize: return "Resize";
  case OpFamily::Reduce: return "Reduce";
  case OpFamily::Quant: return "Quant";
  }
  KILN_ASSERT(false, "op_family_name: not an OpFamily");
}

} // namespace kiln
