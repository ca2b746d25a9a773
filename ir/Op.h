#pragma once
/// The op enum, generated from ops.def.
#include <optional>
#include <string_view>

namespace kiln {

enum class OpKind {
#define KILN_OP(name) name,
#include "ir/ops.def"
#undef KILN_OP
};

/// The op's name as written in the text IR ("Conv").
std::string_view op_name(OpKind op);
/// Inverse of op_name.
std::optional<OpKind> parse_op(std::string_view name);
/// Elementwise ops whose output shape is the broadcast of their inputs.
bool is_elementwise(OpKind op);

} // namespace kiln
