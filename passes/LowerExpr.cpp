// Expression helpers shared by every lowering (see passes/LowerExpr.h).
#include "passes/LowerExpr.h"

namespace kiln::lw {

Expr add_scaled(Expr a, Expr b, int64_t s) {
  if (s == 0)
    return a;
  Expr t = s == 1 ? b : b * imm(s);
  return a ? a + t : t;
}

DType compute_dtype(DType t) {
  switch (t) {
  case DType::f32:
  case DType::f16:
  case DType::bf16: return DType::f32;
  case DType::f64:
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8:
  case DType::u8:
  case DType::boolean: return t;
  }
  __builtin_unreachable();
}

Expr typed_imm(int64_t v, DType t) {
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::IntImm;
  n->type = {t, 1};
  n->ival = v;
  return n;
}

Expr imm_of(DType t, double v) {
  if (is_float(t))
    return fimm(v, t);
  // Integer immediates of narrow types and booleans are plain IntImm nodes of that dtype.
  return typed_imm(t == DType::boolean ? (v != 0) : static_cast<int64_t>(v), t);
}

void no_kernel(const Node &n, const std::string &what) {
  throw Error("node '" + n.name + "' (" + std::string(op_name(n.op)) + "): no CPU kernel for " +
              what);
}

} // namespace kiln::lw
