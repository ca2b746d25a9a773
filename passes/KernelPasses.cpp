#include "passes/KernelPasses.h"

#include "ir/Error.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>

namespace kiln {

namespace {

// ---- constants ----

/// An integer or boolean immediate of any dtype (scalar).
Expr make_imm(DType t, int64_t v) {
  auto n = std::make_shared<ExprNode>();
  n->kind = ExprKind::IntImm;
  n->type = {t, 1};
  n->ival = t == DType::boolean ? (v != 0) : v;
  return n;
}

/// The value of an integer/boolean immediate, or of a Broadcast of one.
bool const_value(const Expr &e, int64_t &v) {
  if (e->kind == ExprKind::Broadcast)
    return const_value(e->args[0], v);
  if (e->kind != ExprKind::IntImm)
    return false;
  v = e->ival;
  return true;
}

bool is_const(const Expr &e, int64_t v) {
  int64_t c;
  return const_value(e, c) && c == v;
}

/// `v` as a constant of type t (scalar immediate, or broadcast of one).
Expr const_like(KType t, int64_t v) { return broadcast(make_imm(t.dtype, v), t.lanes); }

bool is_empty(const Stmt &s) { return s->kind == StmtKind::Block && s->body.empty(); }

Stmt empty() { return block({}); }

/// Widens a scalar to `lanes` by Broadcast; a vector must already have that width.
Expr widen(const Expr &e, int lanes) {
  if (!e || e->type.lanes == lanes)
    return e;
  KILN_ASSERT(e->type.lanes == 1, "operands of different vector widths");
  return broadcast(e, lanes);
}

// ---- folding constructors: every pass rebuilds expressions through these ----

Expr fold_binary(BinOp op, Expr a, Expr b);

/// Folds two i64 (or boolean) immediates; false when the operation cannot be folded exactly.
bool fold_consts(BinOp op, DType t, int64_t x, int64_t y, Expr &out) {
  // Wrapping arithmetic: the backends' integer ops wrap too.
  auto wrap = [](uint64_t v) { return static_cast<int64_t>(v); };
  auto ux = static_cast<uint64_t>(x), uy = static_cast<uint64_t>(y);
  if (t == DType::boolean) {
    switch (op) {
    case BinOp::And: out = make_imm(t, x && y); return true;
    case BinOp::Or: out = make_imm(t, x || y); return true;
    case BinOp::Eq: out = make_imm(t, x == y); return true;
    case BinOp::Ne: out = make_imm(t, x != y); return true;
    case BinOp::Add:
    case BinOp::Sub:
    case BinOp::Mul:
    case BinOp::Div:
    case BinOp::Mod:
    case BinOp::Min:
    case BinOp::Max:
    case BinOp::Pow:
    case BinOp::Lt:
    case BinOp::Le:
    case BinOp::Shl:
    case BinOp::Shr: return false;
    }
    __builtin_unreachable();
  }
  if (t != DType::i64)
    return false; // narrower integers would need wrapping to their width: left to the backend
  bool div_ok = y != 0 && !(x == INT64_MIN && y == -1);
  switch (op) {
  case BinOp::Add: out = make_imm(t, wrap(ux + uy)); return true;
  case BinOp::Sub: out = make_imm(t, wrap(ux - uy)); return true;
  case BinOp::Mul: out = make_imm(t, wrap(ux * uy)); return true;
  case BinOp::Div:
    if (!div_ok)
      return false;
    out = make_imm(t, x / y);
    return true;
  case BinOp::Mod:
    if (!div_ok)
      return false;
    out = make_imm(t, x % y);
    return true;
  case BinOp::Min: out = make_imm(t, std::min(x, y)); return true;
  case BinOp::Max: out = make_imm(t, std::max(x, y)); return true;
  case BinOp::Pow: return false;
  case BinOp::Lt: out = make_imm(DType::boolean, x < y); return true;
  case BinOp::Le: out = make_imm(DType::boolean, x <= y); return true;
  case BinOp::Eq: out = make_imm(DType::boolean, x == y); return true;
  case BinOp::Ne: out = make_imm(DType::boolean, x != y); return true;
  case BinOp::And: out = make_imm(t, x & y); return true;
  case BinOp::Or: out = make_imm(t, x | y); return true;
  case BinOp::Shl:
    if (y < 0 || y > 63)
      return false;
    out = make_imm(t, wrap(ux << y));
    return true;
  case BinOp::Shr:
    if (y < 0 || y > 63)
      return false;
    out = make_imm(t, x >> y);
    return true;
  }
  __builtin_unreachable();
}

/// x + c for a scalar i64 x and constant c, written as x - |c| when c is negative.
Expr add_offset(Expr x, int64_t c) {
  if (c == 0)
    return x;
  if (c < 0 && c != INT64_MIN)
    return binary(BinOp::Sub, x, imm(-c));
  return binary(BinOp::Add, x, imm(c));
}

/// Splits a scalar i64 expression into x + c (c == 0 when there is no constant offset).
std::pair<Expr, int64_t> split_offset(const Expr &e) {
  if (e->kind == ExprKind::Binary && e->args[1]->kind == ExprKind::IntImm) {
    if (e->bop == BinOp::Add)
      return {e->args[0], e->args[1]->ival};
    if (e->bop == BinOp::Sub && e->args[1]->ival != INT64_MIN)
      return {e->args[0], -e->args[1]->ival};
  }
  return {e, 0};
}

/// Index arithmetic between a Ramp and a scalar (or two Ramps) stays a Ramp; nullptr when the
/// operation has no ramp form.
Expr fold_ramp(BinOp op, const Expr &a, const Expr &b) {
  int lanes = std::max(a->type.lanes, b->type.lanes);
  bool ra = a->kind == ExprKind::Ramp, rb = b->kind == ExprKind::Ramp;
  auto scalar = [](const Expr &e) -> Expr {
    if (e->type.lanes == 1)
      return e;
    if (e->kind == ExprKind::Broadcast)
      return e->args[0];
    return nullptr;
  };
  if (ra && rb) {
    if (op != BinOp::Add && op != BinOp::Sub)
      return nullptr;
    return ramp(fold_binary(op, a->args[0], b->args[0]), fold_binary(op, a->args[1], b->args[1]),
                lanes);
  }
  // Other ops (Div, Mod, comparisons, ...) have no ramp form: they are computed lane-wise.
  if (ra) {
    Expr s = scalar(b);
    if (!s)
      return nullptr;
    if (op == BinOp::Add || op == BinOp::Sub)
      return ramp(fold_binary(op, a->args[0], s), a->args[1], lanes);
    if (op == BinOp::Mul)
      return ramp(fold_binary(op, a->args[0], s), fold_binary(op, a->args[1], s), lanes);
    return nullptr;
  }
  if (rb) {
    Expr s = scalar(a);
    if (!s)
      return nullptr;
    if (op == BinOp::Add)
      return ramp(fold_binary(op, s, b->args[0]), b->args[1], lanes);
    if (op == BinOp::Sub)
      return ramp(fold_binary(op, s, b->args[0]), fold_binary(op, imm(0), b->args[1]), lanes);
    if (op == BinOp::Mul)
      return ramp(fold_binary(op, s, b->args[0]), fold_binary(op, s, b->args[1]), lanes);
    return nullptr;
  }
  return nullptr;
}

Expr fold_binary(BinOp op, Expr a, Expr b) {
  int lanes = std::max(a->type.lanes, b->type.lanes);
  if (a->type.dtype == DType::i64 && lanes > 1)
    if (Expr r = fold_ramp(op, a, b))
      return r;
  a = widen(a, lanes);
  b = widen(b, lanes);
  // Lane-wise op of two broadcasts: one scalar op, broadcast.
  if (a->kind == ExprKind::Broadcast && b->kind == ExprKind::Broadcast)
    return broadcast(fold_binary(op, a->args[0], b->args[0]), lanes);
  DType t = a->type.dtype;
  Expr out;
  if (a->kind == ExprKind::IntImm && b->kind == ExprKind::IntImm &&
      fold_consts(op, t, a->ival, b->ival, out))
    return out;
  int64_t ca = 0, cb = 0;
  bool ka = const_value(a, ca), kb = const_value(b, cb);
  if (is_integer(t)) {
    // Constants to the right of commutative ops, so the rules below see one form.
    if (ka && !kb && (op == BinOp::Add || op == BinOp::Mul)) {
      std::swap(a, b);
      std::swap(ca, cb);
      std::swap(ka, kb);
    }
    switch (op) {
    case BinOp::Add:
    case BinOp::Sub:
      if (kb && cb == 0)
        return a;
      if (kb && t == DType::i64 && lanes == 1) {
        // (x + c1) + c2 -> x + (c1 + c2)
        auto [x, c1] = split_offset(a);
        int64_t c2 = op == BinOp::Add ? cb : -cb;
        if (op == BinOp::Add || cb != INT64_MIN)
          return add_offset(
              x, static_cast<int64_t>(static_cast<uint64_t>(c1) + static_cast<uint64_t>(c2)));
      }
      break;
    case BinOp::Mul:
      if (kb && cb == 1)
        return a;
      if (kb && cb == 0)
        return const_like(a->type, 0);
      // (x + c1) * c2 -> x*c2 + c1*c2, so unrolled copies of a tiled index share one base
      if (kb && t == DType::i64 && lanes == 1) {
        auto [x, c1] = split_offset(a);
        if (c1 != 0)
          return add_offset(
              fold_binary(BinOp::Mul, x, b),
              static_cast<int64_t>(static_cast<uint64_t>(c1) * static_cast<uint64_t>(cb)));
      }
      // (x * c1) * c2 -> x * (c1 * c2)
      if (kb && t == DType::i64 && lanes == 1 && a->kind == ExprKind::Binary &&
          a->bop == BinOp::Mul && a->args[1]->kind == ExprKind::IntImm)
        return binary(BinOp::Mul, a->args[0],
                      imm(static_cast<int64_t>(static_cast<uint64_t>(a->args[1]->ival) *
                                               static_cast<uint64_t>(cb))));
      break;
    case BinOp::Div:
      if (kb && cb == 1)
        return a;
      break;
    case BinOp::Mod:
    case BinOp::Min:
    case BinOp::Max:
    case BinOp::Pow:
    case BinOp::Lt:
    case BinOp::Le:
    case BinOp::Eq:
    case BinOp::Ne:
    case BinOp::And:
    case BinOp::Or:
    case BinOp::Shl:
    case BinOp::Shr: break;
    }
  }
  if (t == DType::boolean && (op == BinOp::And || op == BinOp::Or)) {
    bool is_and = op == BinOp::And;
    // x & true -> x, x & false -> false; x | false -> x, x | true -> true
    if (kb)
      return (cb != 0) == is_and ? a : b;
    if (ka)
      return (ca != 0) == is_and ? b : a;
  }
  return binary(op, a, b);
}

Expr fold_unary(UnOp op, const Expr &a) {
  int64_t c;
  if (op == UnOp::Not && a->type.dtype == DType::boolean && const_value(a, c))
    return const_like(a->type, !c);
  if (op == UnOp::Neg && a->kind == ExprKind::IntImm && a->type.dtype == DType::i64 &&
      a->ival != INT64_MIN)
    return imm(-a->ival);
  return unary(op, a);
}

Expr fold_select(Expr c, Expr a, Expr b) {
  int lanes = std::max({c->type.lanes, a->type.lanes, b->type.lanes});
  int64_t v;
  if (const_value(c, v))
    return widen(v ? a : b, lanes);
  return select(widen(c, lanes), widen(a, lanes), widen(b, lanes));
}

/// Rebuilds `e` with new operands (and buffer id), re-deriving its type: scalars meeting
/// vectors are broadcast, and constant/ramp arithmetic is folded.
Expr remake(const Expr &e, std::vector<Expr> args, int buf) {
  switch (e->kind) {
  case ExprKind::IntImm:
  case ExprKind::FloatImm:
  case ExprKind::Var: return e;
  case ExprKind::Load: {
    Expr index = args[0];
    Expr pred = args.size() > 1 ? args[1] : nullptr;
    int64_t c;
    if (pred && pred->type.dtype == DType::boolean && const_value(pred, c) && c)
      pred = nullptr; // always true
    int lanes = std::max(index->type.lanes, pred ? pred->type.lanes : 1);
    return load(buf, {e->type.dtype, lanes}, widen(index, lanes), widen(pred, lanes));
  }
  case ExprKind::Unary: return fold_unary(e->uop, args[0]);
  case ExprKind::Binary: return fold_binary(e->bop, args[0], args[1]);
  case ExprKind::Select: return fold_select(args[0], args[1], args[2]);
  case ExprKind::Cast:
    if (args[0]->type.dtype == e->type.dtype)
      return args[0];
    return cast({e->type.dtype, 1}, args[0]);
  case ExprKind::Reinterpret:
    if (args[0]->type.dtype == e->type.dtype)
      return args[0];
    return reinterpret({e->type.dtype, 1}, args[0]);
  case ExprKind::Ramp:
    KILN_ASSERT(args[0]->type.lanes == 1 && args[1]->type.lanes == 1,
                "ramp of a vector: nested vectorized loops are not supported");
    if (is_const(args[1], 0))
      return broadcast(args[0], e->type.lanes);
    return ramp(args[0], args[1], e->type.lanes);
  case ExprKind::Broadcast:
    KILN_ASSERT(args[0]->type.lanes == 1,
                "broadcast of a vector: nested vectorized loops are not supported");
    return broadcast(args[0], e->type.lanes);
  case ExprKind::Dot4: {
    int lanes = std::max({args[0]->type.lanes, args[1]->type.lanes, args[2]->type.lanes});
    return dot4(widen(args[0], lanes), widen(args[1], lanes), widen(args[2], lanes));
  }
  }
  __builtin_unreachable();
}

std::shared_ptr<StmtNode> copy_stmt(const Stmt &s) { return std::make_shared<StmtNode>(*s); }

/// Builds a store, broadcasting a scalar value/predicate to a vector index.
Stmt make_store(int buf, Expr index, Expr value, Expr pred) {
  int64_t c;
  if (pred && pred->type.dtype == DType::boolean && const_value(pred, c)) {
    if (!c)
      return empty(); // never stores
    pred = nullptr;
  }
  int lanes = index->type.lanes;
  KILN_ASSERT(value->type.lanes == 1 || value->type.lanes == lanes,
              "store of a vector value to a scalar index: a vectorized loop's variable must "
              "appear in the index of every store inside it");
  KILN_ASSERT(!pred || pred->type.lanes == 1 || pred->type.lanes == lanes,
              "store predicate is wider than the store index");
  return store(buf, index, widen(value, lanes), widen(pred, lanes));
}

// ---- the rewriter shared by the passes ----

/// Rewrites statements and expressions: substitutes variables and buffer ids, rebuilds every
/// expression through the folding constructors, and optionally simplifies statements or gives
/// the variables and buffers it binds fresh ids (unrolled copies keep ids unique per kernel).
struct Rewriter {
  std::unordered_map<int, Expr> vars;
  std::unordered_map<int, int> bufs;
  Kernel *fresh = nullptr;     ///< set: bound variables and buffers get new ids from it
  bool simplify_stmts = false; ///< drop empty loops, inline extent-1 loops, fold constant ifs
  /// Vectorization under a lane-dependent condition: loads with a vector index are predicated
  /// on this mask so masked-off lanes never read memory.
  Expr load_mask;

  int buf_id(int b) const {
    auto it = bufs.find(b);
    return it == bufs.end() ? b : it->second;
  }

  Expr expr(const Expr &e) {
    if (!e)
      return e;
    if (e->kind == ExprKind::Var) {
      auto it = vars.find(e->id);
      return it == vars.end() ? e : it->second;
    }
    std::vector<Expr> args;
    args.reserve(e->args.size());
    for (const Expr &a : e->args)
      args.push_back(expr(a));
    if (e->kind == ExprKind::Load && load_mask && args[0]->type.lanes == load_mask->type.lanes)
      args.resize(2), args[1] = args[1] ? fold_binary(BinOp::And, args[1], load_mask) : load_mask;
    return remake(e, std::move(args), e->kind == ExprKind::Load ? buf_id(e->id) : e->id);
  }

  int bind_var(int v) {
    if (!fresh)
      return v;
    int nv = fresh->next_var++;
    vars[v] = var(nv);
    return nv;
  }

  Stmt stmt(const Stmt &s) {
    switch (s->kind) {
    case StmtKind::For: {
      Expr min = expr(s->min), extent = expr(s->extent);
      if (simplify_stmts && extent->kind == ExprKind::IntImm) {
        if (extent->ival <= 0)
          return empty();
        if (extent->ival == 1) {
          vars[s->var] = min;
          Stmt body = stmt(s->body[0]);
          vars.erase(s->var);
          return body;
        }
      }
      int v = bind_var(s->var);
      Stmt body = stmt(s->body[0]);
      if (simplify_stmts && is_empty(body))
        return body;
      return for_loop(v, min, extent, s->for_kind, body);
    }
    case StmtKind::Store: {
      Expr index = expr(s->index), value = expr(s->value), pred = expr(s->predicate);
      return make_store(buf_id(s->buf), index, value, pred);
    }
    case StmtKind::Block: {
      std::vector<Stmt> out;
      for (const Stmt &c : s->body) {
        Stmt r = stmt(c);
        if (simplify_stmts && r->kind == StmtKind::Block)
          out.insert(out.end(), r->body.begin(), r->body.end()); // already flat
        else
          out.push_back(r);
      }
      if (simplify_stmts && out.size() == 1)
        return out[0];
      return block(std::move(out));
    }
    case StmtKind::Let: {
      Expr value = expr(s->value);
      if (simplify_stmts && value->kind == ExprKind::IntImm) {
        vars[s->var] = value;
        Stmt body = stmt(s->body[0]);
        vars.erase(s->var);
        return body;
      }
      int v = bind_var(s->var);
      Stmt body = stmt(s->body[0]);
      if (simplify_stmts && is_empty(body))
        return body;
      return let(v, value, body);
    }
    case StmtKind::If: {
      Expr cond = expr(s->value);
      bool has_else = s->body.size() > 1 && s->body[1];
      int64_t c;
      if (simplify_stmts && const_value(cond, c)) {
        if (c)
          return stmt(s->body[0]);
        return has_else ? stmt(s->body[1]) : empty();
      }
      Stmt then_body = stmt(s->body[0]);
      Stmt else_body = has_else ? stmt(s->body[1]) : nullptr;
      if (simplify_stmts && else_body && is_empty(else_body))
        else_body = nullptr;
      if (simplify_stmts && is_empty(then_body) && !else_body)
        return then_body;
      return if_then(cond, then_body, else_body);
    }
    case StmtKind::Allocate: {
      int b = s->buf;
      if (fresh) {
        b = fresh->next_buf++;
        bufs[s->buf] = b;
      }
      Stmt body = stmt(s->body[0]);
      if (simplify_stmts && is_empty(body))
        return body;
      return allocate(b, s->dtype, s->size, body);
    }
    }
    __builtin_unreachable();
  }
};

Expr simplify_expr(const Expr &e) { return Rewriter{}.expr(e); }

/// The constant value of a loop bound, which must fold to an immediate.
int64_t const_bound(const Expr &e, const char *what) {
  Expr s = simplify_expr(e);
  KILN_ASSERT(s->kind == ExprKind::IntImm, what);
  return s->ival;
}

/// Applies `f` to the children of a statement (a structural map that keeps everything else).
template <class F> Stmt map_children(const Stmt &s, F &&f) {
  if (s->kind == StmtKind::Store)
    return s;
  auto n = copy_stmt(s);
  for (Stmt &c : n->body)
    if (c)
      c = f(c);
  return n;
}

// ---- unroll ----

Stmt unroll_stmt(const Stmt &s, Kernel &k) {
  if (s->kind != StmtKind::For || s->for_kind != ForKind::Unrolled)
    return map_children(s, [&](const Stmt &c) { return unroll_stmt(c, k); });
  int64_t min = const_bound(s->min, "unrolled loop needs a constant min");
  int64_t extent = const_bound(s->extent, "unrolled loop needs a constant extent");
  Stmt body = unroll_stmt(s->body[0], k); // inner unrolled loops first
  std::vector<Stmt> copies;
  for (int64_t i = 0; i < extent; ++i) {
    Rewriter r;
    r.vars[s->var] = imm(min + i);
    // The first copy keeps the original ids; later ones get fresh ones so that every loop,
    // let and local buffer stays bound once per kernel.
    if (i > 0)
      r.fresh = &k;
    copies.push_back(r.stmt(body));
  }
  return block(std::move(copies));
}

// ---- vectorize ----

/// Rewrites the body of one vectorized loop with its variable bound to a ramp.
///
/// Restrictions (asserted): no nested vectorized loop, no Let or loop bound depending on the
/// variable, no Allocate inside, every store inside must index with the variable (a vector
/// value never goes to a scalar index). An If whose condition depends on the variable is
/// if-converted: both branches run, their stores and vector-index loads predicated on the
/// (negated, for else) condition. Loads with a scalar index inside such an If stay unpredicated
/// and so run for every lane: lowering must keep them in bounds whatever the condition.
struct Vectorizer {
  Rewriter r;
  int lanes;
  Expr mask; ///< lanes-wide condition of the enclosing if-converted Ifs, or null

  Expr and_mask(const Expr &cond) { return mask ? fold_binary(BinOp::And, mask, cond) : cond; }

  Stmt stmt(const Stmt &s) {
    switch (s->kind) {
    case StmtKind::For: {
      KILN_ASSERT(s->for_kind != ForKind::Vectorized, "nested vectorized loops are not supported");
      Expr min = r.expr(s->min), extent = r.expr(s->extent);
      KILN_ASSERT(min->type.lanes == 1 && extent->type.lanes == 1,
                  "the bounds of a loop inside a vectorized loop depend on its variable");
      return for_loop(s->var, min, extent, s->for_kind, stmt(s->body[0]));
    }
    case StmtKind::Store: {
      Expr index = r.expr(s->index), value = r.expr(s->value), pred = r.expr(s->predicate);
      if (index->type.lanes == 1) {
        KILN_ASSERT(!mask, "store to a scalar index under a condition on the vectorized variable");
        return make_store(s->buf, index, value, pred);
      }
      if (mask)
        pred = pred ? fold_binary(BinOp::And, pred, mask) : mask;
      return make_store(s->buf, index, value, pred);
    }
    case StmtKind::Block: {
      std::vector<Stmt> out;
      for (const Stmt &c : s->body)
        out.push_back(stmt(c));
      return block(std::move(out));
    }
    case StmtKind::Let: {
      Expr value = r.expr(s->value);
      KILN_ASSERT(value->type.lanes == 1,
                  "let value depends on a vectorized loop's variable: lowering must not put a "
                  "vectorized variable into a Let");
      return let(s->var, value, stmt(s->body[0]));
    }
    case StmtKind::If: {
      Expr cond = r.expr(s->value);
      bool has_else = s->body.size() > 1 && s->body[1];
      if (cond->type.lanes == 1)
        return if_then(cond, stmt(s->body[0]), has_else ? stmt(s->body[1]) : nullptr);
      // If-conversion: both branches run with their stores (and vector loads) predicated.
      Expr saved = mask;
      std::vector<Stmt> out;
      mask = and_mask(cond);
      r.load_mask = mask;
      out.push_back(stmt(s->body[0]));
      if (has_else) {
        mask = saved;
        mask = and_mask(fold_unary(UnOp::Not, cond));
        r.load_mask = mask;
        out.push_back(stmt(s->body[1]));
      }
      mask = saved;
      r.load_mask = saved;
      return block(std::move(out));
    }
    case StmtKind::Allocate:
      KILN_ASSERT(false, "allocate inside a vectorized loop is not supported");
    }
    __builtin_unreachable();
  }
};

Stmt vectorize_stmt(const Stmt &s) {
  if (s->kind != StmtKind::For || s->for_kind != ForKind::Vectorized)
    return map_children(s, [](const Stmt &c) { return vectorize_stmt(c); });
  int64_t extent = const_bound(s->extent, "vectorized loop needs a constant extent");
  KILN_ASSERT(extent >= 1 && extent <= INT32_MAX, "vectorized loop extent out of range");
  Expr min = simplify_expr(s->min);
  Vectorizer v{{}, static_cast<int>(extent), nullptr};
  v.r.vars[s->var] = ramp(min, imm(1), v.lanes); // extent 1: ramp() returns min itself
  return v.stmt(s->body[0]);
}

} // namespace

Kernel vectorize(const Kernel &k) {
  Kernel out = k;
  if (out.body)
    out.body = vectorize_stmt(out.body);
  return out;
}

Kernel unroll(const Kernel &k) {
  Kernel out = k;
  if (out.body)
    out.body = unroll_stmt(out.body, out);
  return out;
}

Kernel simplify(const Kernel &k) {
  Kernel out = k;
  if (!out.body)
    return out;
  Rewriter r;
  r.simplify_stmts = true;
  out.body = r.stmt(out.body);
  return out;
}

Kernel prepare_for_codegen(const Kernel &k) { return simplify(vectorize(unroll(simplify(k)))); }

} // namespace kiln
