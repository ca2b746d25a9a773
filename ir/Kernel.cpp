#include "ir/Kernel.h"

#include "ir/Error.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace kiln {

namespace {

std::string type_name(KType t) {
  std::string s(dtype_name(t.dtype));
  if (t.lanes != 1)
    s += "x" + std::to_string(t.lanes);
  return s;
}

Expr make(ExprKind kind, KType type, std::vector<Expr> args) {
  auto n = std::make_shared<ExprNode>();
  n->kind = kind;
  n->type = type;
  n->args = std::move(args);
  return n;
}

bool is_index(const Expr &e) { return e && e->type.dtype == DType::i64; }
bool is_scalar_index(const Expr &e) { return is_index(e) && e->type.lanes == 1; }

bool is_comparison(BinOp op) {
  switch (op) {
  case BinOp::Lt:
  case BinOp::Le:
  case BinOp::Eq:
  case BinOp::Ne: return true;
  case BinOp::Add:
  case BinOp::Sub:
  case BinOp::Mul:
  case BinOp::Div:
  case BinOp::Mod:
  case BinOp::Min:
  case BinOp::Max:
  case BinOp::Pow:
  case BinOp::And:
  case BinOp::Or:
  case BinOp::Shl:
  case BinOp::Shr: return false;
  }
  __builtin_unreachable();
}

} // namespace

// ---- builders ----

Expr imm(int64_t v) {
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::IntImm;
  n->type = {DType::i64, 1};
  n->ival = v;
  return n;
}

Expr fimm(double v, DType t) {
  KILN_ASSERT(is_float(t), "fimm needs a float dtype");
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::FloatImm;
  n->type = {t, 1};
  n->fval = v;
  return n;
}

Expr var(int id) {
  KILN_ASSERT(id >= 0, "variable ids are non-negative");
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::Var;
  n->type = {DType::i64, 1};
  n->id = id;
  return n;
}

Expr load(int buf, KType type, Expr index, Expr predicate) {
  KILN_ASSERT(buf >= 0, "load from a negative buffer id");
  KILN_ASSERT(type.lanes >= 1, "load lanes must be positive");
  KILN_ASSERT(is_index(index) && index->type.lanes == type.lanes,
              "load index must be i64 with the load's lanes");
  KILN_ASSERT((!predicate || predicate->type == KType{DType::boolean, type.lanes}),
              "load predicate must be boolean with the load's lanes");
  std::vector<Expr> args{std::move(index)};
  if (predicate)
    args.push_back(std::move(predicate));
  auto n = std::const_pointer_cast<ExprNode>(make(ExprKind::Load, type, std::move(args)));
  n->id = buf;
  return n;
}

Expr unary(UnOp op, Expr a) {
  KILN_ASSERT(a, "unary of a null expression");
  DType t = a->type.dtype;
  switch (op) {
  case UnOp::Neg:
  case UnOp::Abs: KILN_ASSERT(t != DType::boolean, "neg/abs of a boolean"); break;
  case UnOp::Not: KILN_ASSERT(t == DType::boolean || is_integer(t), "not of a float"); break;
  case UnOp::Exp:
  case UnOp::Log:
  case UnOp::Sqrt:
  case UnOp::Tanh:
  case UnOp::Erf:
  case UnOp::Sigmoid:
  case UnOp::Floor:
  case UnOp::Ceil:
  case UnOp::Round: KILN_ASSERT(is_float(t), "float unary op on a non-float operand"); break;
  }
  KType type = a->type;
  auto n = std::const_pointer_cast<ExprNode>(make(ExprKind::Unary, type, {std::move(a)}));
  n->uop = op;
  return n;
}

Expr binary(BinOp op, Expr a, Expr b) {
  KILN_ASSERT(a && b, "binary of a null expression");
  KILN_ASSERT(a->type == b->type, "binary operands must have equal types, got " +
                                      type_name(a->type) + " and " + type_name(b->type));
  DType t = a->type.dtype;
  switch (op) {
  case BinOp::Add:
  case BinOp::Sub:
  case BinOp::Mul:
  case BinOp::Div:
  case BinOp::Mod:
  case BinOp::Min:
  case BinOp::Max:
  case BinOp::Pow:
  case BinOp::Lt:
  case BinOp::Le: KILN_ASSERT(t != DType::boolean, "arithmetic on booleans"); break;
  case BinOp::Eq:
  case BinOp::Ne: break;
  case BinOp::And:
  case BinOp::Or: KILN_ASSERT(t == DType::boolean || is_integer(t), "and/or of floats"); break;
  case BinOp::Shl:
  case BinOp::Shr: KILN_ASSERT(is_integer(t), "shift of a non-integer"); break;
  }
  KType type = is_comparison(op) ? KType{DType::boolean, a->type.lanes} : a->type;
  auto n =
      std::const_pointer_cast<ExprNode>(make(ExprKind::Binary, type, {std::move(a), std::move(b)}));
  n->bop = op;
  return n;
}

Expr select(Expr c, Expr a, Expr b) {
  KILN_ASSERT(c && a && b, "select of a null expression");
  KILN_ASSERT(a->type == b->type, "select operands must have equal types");
  KILN_ASSERT((c->type == KType{DType::boolean, a->type.lanes}),
              "select condition must be boolean with the operands' lanes");
  KType type = a->type;
  return make(ExprKind::Select, type, {std::move(c), std::move(a), std::move(b)});
}

Expr cast(KType to, Expr a) {
  KILN_ASSERT(a, "cast of a null expression");
  // A scalar `to` (the default lanes) keeps the operand's lanes, so lowering can write
  // cast({f32}, x) and vectorization re-types it; an explicit width must match.
  KILN_ASSERT(to.lanes == 1 || to.lanes == a->type.lanes, "cast cannot change the lanes");
  KType type{to.dtype, a->type.lanes};
  return make(ExprKind::Cast, type, {std::move(a)});
}

Expr reinterpret(KType to, Expr a) {
  KILN_ASSERT(a, "reinterpret of a null expression");
  KILN_ASSERT(to.lanes == 1 || to.lanes == a->type.lanes, "reinterpret cannot change the lanes");
  KILN_ASSERT(dtype_size(to.dtype) == dtype_size(a->type.dtype),
              "reinterpret needs element types of equal width");
  KType type{to.dtype, a->type.lanes};
  return make(ExprKind::Reinterpret, type, {std::move(a)});
}

Expr ramp(Expr base, Expr stride, int lanes) {
  KILN_ASSERT(is_scalar_index(base) && is_scalar_index(stride),
              "ramp base and stride must be i64 scalars (nested vectorized loops are not "
              "supported)");
  KILN_ASSERT(lanes >= 1, "ramp lanes must be positive");
  if (lanes == 1)
    return base;
  return make(ExprKind::Ramp, {DType::i64, lanes}, {std::move(base), std::move(stride)});
}

Expr broadcast(Expr a, int lanes) {
  KILN_ASSERT(a && a->type.lanes == 1, "broadcast of a non-scalar");
  KILN_ASSERT(lanes >= 1, "broadcast lanes must be positive");
  if (lanes == 1)
    return a;
  KType type = a->type.with_lanes(lanes);
  return make(ExprKind::Broadcast, type, {std::move(a)});
}

Expr dot4(Expr acc, Expr a, Expr b) {
  KILN_ASSERT(acc && a && b, "dot4 of a null expression");
  int lanes = std::max({acc->type.lanes, a->type.lanes, b->type.lanes});
  for (Expr *e : {&acc, &a, &b}) {
    KILN_ASSERT((*e)->type.dtype == DType::i32, "dot4 operands must be i32");
    KILN_ASSERT((*e)->type.lanes == 1 || (*e)->type.lanes == lanes,
                "dot4 operands of different vector widths");
    if ((*e)->type.lanes == 1)
      *e = broadcast(*e, lanes);
  }
  return make(ExprKind::Dot4, {DType::i32, lanes}, {std::move(acc), std::move(a), std::move(b)});
}

namespace {
std::shared_ptr<StmtNode> make_stmt(StmtKind kind) {
  auto s = std::make_shared<StmtNode>();
  s->kind = kind;
  return s;
}
} // namespace

Stmt for_loop(int v, Expr min, Expr extent, ForKind kind, Stmt body) {
  KILN_ASSERT(v >= 0, "loop variable ids are non-negative");
  KILN_ASSERT(is_scalar_index(min) && is_scalar_index(extent), "loop bounds must be i64 scalars");
  KILN_ASSERT(body, "loop without a body");
  auto s = make_stmt(StmtKind::For);
  s->var = v;
  s->min = std::move(min);
  s->extent = std::move(extent);
  s->for_kind = kind;
  s->body = {std::move(body)};
  return s;
}

Stmt store(int buf, Expr index, Expr value, Expr predicate) {
  KILN_ASSERT(buf >= 0, "store to a negative buffer id");
  KILN_ASSERT(value, "store of a null value");
  int lanes = value->type.lanes;
  KILN_ASSERT(is_index(index) && index->type.lanes == lanes,
              "store index must be i64 with the value's lanes");
  KILN_ASSERT((!predicate || predicate->type == KType{DType::boolean, lanes}),
              "store predicate must be boolean with the value's lanes");
  auto s = make_stmt(StmtKind::Store);
  s->buf = buf;
  s->index = std::move(index);
  s->value = std::move(value);
  s->predicate = std::move(predicate);
  return s;
}

Stmt block(std::vector<Stmt> body) {
  for (const Stmt &s : body)
    KILN_ASSERT(s, "null statement in a block");
  auto s = make_stmt(StmtKind::Block);
  s->body = std::move(body);
  return s;
}

Stmt let(int v, Expr value, Stmt body) {
  KILN_ASSERT(v >= 0, "let variable ids are non-negative");
  KILN_ASSERT(is_scalar_index(value), "let value must be an i64 scalar");
  KILN_ASSERT(body, "let without a body");
  auto s = make_stmt(StmtKind::Let);
  s->var = v;
  s->value = std::move(value);
  s->body = {std::move(body)};
  return s;
}

Stmt if_then(Expr cond, Stmt then_body, Stmt else_body) {
  KILN_ASSERT((cond && cond->type == KType{DType::boolean, 1}),
              "if condition must be a scalar bool");
  KILN_ASSERT(then_body, "if without a then body");
  auto s = make_stmt(StmtKind::If);
  s->value = std::move(cond);
  s->body = {std::move(then_body), std::move(else_body)};
  return s;
}

Stmt allocate(int buf, DType dtype, int64_t size, Stmt body) {
  KILN_ASSERT(buf >= 0, "allocate of a negative buffer id");
  KILN_ASSERT(size > 0, "allocate needs a positive size");
  KILN_ASSERT(body, "allocate without a body");
  auto s = make_stmt(StmtKind::Allocate);
  s->buf = buf;
  s->dtype = dtype;
  s->size = size;
  s->body = {std::move(body)};
  return s;
}

// ---- printer ----

namespace {

/// Binding strength for infix printing; higher binds tighter. Function-like forms are atoms.
int precedence(const Expr &e) {
  if (e->kind == ExprKind::Load && e->args.size() > 1)
    return 0; // `b[i] if p` needs parentheses inside anything
  if (e->kind == ExprKind::Unary && e->uop == UnOp::Neg)
    return 7;
  if (e->kind == ExprKind::Unary && e->uop == UnOp::Not)
    return 7;
  if (e->kind != ExprKind::Binary)
    return 8;
  switch (e->bop) {
  case BinOp::Mul:
  case BinOp::Div:
  case BinOp::Mod: return 6;
  case BinOp::Add:
  case BinOp::Sub: return 5;
  case BinOp::Shl:
  case BinOp::Shr: return 4;
  case BinOp::Lt:
  case BinOp::Le:
  case BinOp::Eq:
  case BinOp::Ne: return 3;
  case BinOp::And: return 2;
  case BinOp::Or: return 1;
  case BinOp::Min:
  case BinOp::Max:
  case BinOp::Pow: return 8;
  }
  __builtin_unreachable();
}

std::string_view infix(BinOp op) {
  switch (op) {
  case BinOp::Add: return " + ";
  case BinOp::Sub: return " - ";
  case BinOp::Mul: return "*";
  case BinOp::Div: return "/";
  case BinOp::Mod: return " % ";
  case BinOp::Lt: return " < ";
  case BinOp::Le: return " <= ";
  case BinOp::Eq: return " == ";
  case BinOp::Ne: return " != ";
  case BinOp::And: return " & ";
  case BinOp::Or: return " | ";
  case BinOp::Shl: return " << ";
  case BinOp::Shr: return " >> ";
  case BinOp::Min: return "min";
  case BinOp::Max: return "max";
  case BinOp::Pow: return "pow";
  }
  __builtin_unreachable();
}

std::string_view unary_name(UnOp op) {
  switch (op) {
  case UnOp::Neg: return "-";
  case UnOp::Not: return "!";
  case UnOp::Abs: return "abs";
  case UnOp::Exp: return "exp";
  case UnOp::Log: return "log";
  case UnOp::Sqrt: return "sqrt";
  case UnOp::Tanh: return "tanh";
  case UnOp::Erf: return "erf";
  case UnOp::Sigmoid: return "sigmoid";
  case UnOp::Floor: return "floor";
  case UnOp::Ceil: return "ceil";
  case UnOp::Round: return "round";
  }
  __builtin_unreachable();
}

std::string float_text(double v, DType t) {
  std::string s;
  if (std::isnan(v)) {
    s = "nan";
  } else if (std::isinf(v)) {
    s = v < 0 ? "-inf" : "inf";
  } else {
    char buf[64];
    // Shortest text that reads back to the same value of the immediate's precision.
    auto r = t == DType::f64 ? std::to_chars(buf, buf + sizeof buf, v)
                             : std::to_chars(buf, buf + sizeof buf, static_cast<float>(v));
    s.assign(buf, r.ptr);
    if (s.find_first_of(".en") == std::string::npos)
      s += ".0";
  }
  switch (t) {
  case DType::f32: return s + "f";
  case DType::f64: return s;
  case DType::f16: return s + "h";
  case DType::bf16: return s + "bf";
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8:
  case DType::u8:
  case DType::boolean: break;
  }
  KILN_ASSERT(false, "float immediate of a non-float type");
  __builtin_unreachable();
}

std::string expr_text(const Expr &e);

std::string operand(const Expr &e, int min_prec) {
  std::string s = expr_text(e);
  return precedence(e) < min_prec ? "(" + s + ")" : s;
}

std::string expr_text(const Expr &e) {
  switch (e->kind) {
  case ExprKind::IntImm:
    if (e->type.dtype == DType::boolean)
      return e->ival ? "true" : "false";
    if (e->type.dtype == DType::i64)
      return std::to_string(e->ival);
    return std::to_string(e->ival) + ":" + std::string(dtype_name(e->type.dtype));
  case ExprKind::FloatImm: return float_text(e->fval, e->type.dtype);
  case ExprKind::Var: return "i" + std::to_string(e->id);
  case ExprKind::Load: {
    std::string s = "b" + std::to_string(e->id) + "[" + expr_text(e->args[0]) + "]";
    if (e->args.size() > 1)
      s += " if " + operand(e->args[1], 1);
    return s;
  }
  case ExprKind::Unary:
    if (e->uop == UnOp::Neg || e->uop == UnOp::Not)
      return std::string(unary_name(e->uop)) + operand(e->args[0], 8);
    return std::string(unary_name(e->uop)) + "(" + expr_text(e->args[0]) + ")";
  case ExprKind::Binary: {
    int p = precedence(e);
    if (p == 8)
      return std::string(infix(e->bop)) + "(" + expr_text(e->args[0]) + ", " +
             expr_text(e->args[1]) + ")";
    // Left-associative: the right operand needs parentheses at equal precedence.
    return operand(e->args[0], p) + std::string(infix(e->bop)) + operand(e->args[1], p + 1);
  }
  case ExprKind::Select:
    return "select(" + expr_text(e->args[0]) + ", " + expr_text(e->args[1]) + ", " +
           expr_text(e->args[2]) + ")";
  case ExprKind::Cast: return "cast<" + type_name(e->type) + ">(" + expr_text(e->args[0]) + ")";
  case ExprKind::Reinterpret:
    return "reinterpret<" + type_name(e->type) + ">(" + expr_text(e->args[0]) + ")";
  case ExprKind::Ramp:
    return "ramp(" + expr_text(e->args[0]) + ", " + expr_text(e->args[1]) + ", " +
           std::to_string(e->type.lanes) + ")";
  case ExprKind::Broadcast:
    return "x" + std::to_string(e->type.lanes) + "(" + expr_text(e->args[0]) + ")";
  case ExprKind::Dot4:
    return "dot4(" + expr_text(e->args[0]) + ", " + expr_text(e->args[1]) + ", " +
           expr_text(e->args[2]) + ")";
  }
  __builtin_unreachable();
}

std::string for_prefix(ForKind k) {
  switch (k) {
  case ForKind::Serial:
  case ForKind::Vectorized:
  case ForKind::Unrolled: return "for ";
  case ForKind::Parallel: return "parallel for ";
  }
  __builtin_unreachable();
}

std::string for_suffix(ForKind k) {
  switch (k) {
  case ForKind::Serial:
  case ForKind::Parallel: return "";
  case ForKind::Vectorized: return " vectorized";
  case ForKind::Unrolled: return " unrolled";
  }
  __builtin_unreachable();
}

void print_stmt(const Stmt &s, int indent, std::string &out) {
  std::string pad(indent * 2, ' ');
  switch (s->kind) {
  case StmtKind::For: {
    std::string hi;
    if (s->min->kind == ExprKind::IntImm && s->extent->kind == ExprKind::IntImm)
      hi = std::to_string(s->min->ival + s->extent->ival);
    else if (s->min->kind == ExprKind::IntImm && s->min->ival == 0)
      hi = expr_text(s->extent);
    else
      hi = operand(s->min, 5) + " + " + operand(s->extent, 6);
    out += pad + for_prefix(s->for_kind) + "i" + std::to_string(s->var) + " in [" +
           expr_text(s->min) + ", " + hi + ")" + for_suffix(s->for_kind) + ":\n";
    print_stmt(s->body[0], indent + 1, out);
    return;
  }
  case StmtKind::Store:
    out += pad + "b" + std::to_string(s->buf) + "[" + expr_text(s->index) +
           "] = " + (s->predicate ? operand(s->value, 1) : expr_text(s->value));
    if (s->predicate)
      out += " if " + operand(s->predicate, 1);
    out += "\n";
    return;
  case StmtKind::Block:
    for (const Stmt &c : s->body)
      print_stmt(c, indent, out);
    return;
  case StmtKind::Let:
    out += pad + "let i" + std::to_string(s->var) + " = " + expr_text(s->value) + ":\n";
    print_stmt(s->body[0], indent + 1, out);
    return;
  case StmtKind::If:
    out += pad + "if " + expr_text(s->value) + ":\n";
    print_stmt(s->body[0], indent + 1, out);
    if (s->body.size() > 1 && s->body[1]) {
      out += pad + "else:\n";
      print_stmt(s->body[1], indent + 1, out);
    }
    return;
  case StmtKind::Allocate:
    out += pad + "alloc b" + std::to_string(s->buf) + ": " + std::string(dtype_name(s->dtype)) +
           "[" + std::to_string(s->size) + "]:\n";
    print_stmt(s->body[0], indent + 1, out);
    return;
  }
  __builtin_unreachable();
}

} // namespace

std::string kernel_to_string(const Kernel &k) {
  std::string out = "kernel " + k.name + "(";
  for (size_t i = 0; i < k.params.size(); ++i) {
    const KernelParam &p = k.params[i];
    if (i)
      out += ", ";
    out += "b" + std::to_string(i);
    if (!p.name.empty())
      out += "(" + p.name + ")";
    out += ": " + std::string(dtype_name(p.dtype)) + "[" + std::to_string(p.numel) + "] " +
           (p.output ? "out" : "in");
  }
  out += ")";
  if (k.parallel_extent != 1)
    out += " parallel " + std::to_string(k.parallel_extent);
  out += ":\n";
  if (k.body)
    print_stmt(k.body, 1, out);
  return out;
}

} // namespace kiln
