#include "ir/Op.h"

#include <array>

namespace kiln {

namespace {
constexpr std::array kOpNames = {
#define KILN_OP(name) std::string_view(#name),
#include "ir/ops.def"
#undef KILN_OP
};
} // namespace

std::string_view op_name(OpKind op) { return kOpNames[static_cast<size_t>(op)]; }

std::optional<OpKind> parse_op(std::string_view name) {
  for (size_t i = 0; i < kOpNames.size(); ++i)
    if (kOpNames[i] == name)
      return static_cast<OpKind>(i);
  return std::nullopt;
}

bool is_elementwise(OpKind op) { return op <= OpKind::FusedElementwise; }

} // namespace kiln
