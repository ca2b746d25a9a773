#pragma once
/// Internal to lowering: kernel naming and the parallel loop nests the per-op lowerings share
/// (the expression helpers are passes/LowerExpr.h).
///
///   emit_rows(kb, task=16384, rows=64, cols=100, lanes=16, ...):
///     parallel for t in [0, 1):
///       for r in [0, 64):
///         for v in [0, 6): for l in [0,16) vectorized
///         for j in [96, 100): (scalar tail)
#include "passes/LowerContext.h"
#include "passes/LowerExpr.h"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::lw {

/// Elements per parallel task to aim for on a CPU: below this the thread hand-off costs more
/// than the work itself. LowerOptions::task_elems replaces it (a GPU wants one small chunk per
/// work item): see LowerContext::task_elems().
inline constexpr int64_t kTaskElems = 16384;

/// "LeakyRelu" -> "leaky_relu".
std::string snake(std::string_view name);
/// Kernel name by the grammar op_detail_dtype ("add_bcast_f32"); empty detail is left out.
std::string kernel_name(OpKind op, const std::string &detail, DType t);
/// "3x3s2" style detail for kernel names: kernel, stride (one number when equal), dilation.
std::string window_detail(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh = 1,
                          int64_t dw = 1);

/// Row-major strides of `in` read as broadcast to `out` (0 along broadcast axes).
std::vector<int64_t> broadcast_strides(const Shape &in, const Shape &out);

/// A walk over `dims` where operand k reads with strides[k] (elements; may be 0 or negative).
struct StridedView {
  Shape dims;
  std::vector<std::vector<int64_t>> strides;
};
/// Drops size-1 axes and merges neighbours that every operand walks contiguously, so that
/// same-shape operands become one flat axis and per-channel ones two.
StridedView collapse(StridedView v);

/// sum_d coord_d(flat) * strides[d] for the row-major coordinates of `flat` in `dims` (axes of
/// size 1 or stride 0 cost nothing). With mods, coord_d is taken modulo mods[d] first (> 0).
Expr unravel_offset(Expr flat, const Shape &dims, const std::vector<int64_t> &strides,
                    const std::vector<int64_t> &mods = {});

/// A kernel body whose outermost loop is the Parallel one.
struct Loops {
  Stmt body;
  int64_t parallel_extent = 1;
};

/// rows x cols elements, col the contiguous index: body(row, col) is one element's statement.
/// With `vector`, cols run in Vectorized chunks of `lanes` plus a scalar tail, so body may only
/// use col in contiguous (or invariant) accesses; otherwise a plain serial loop. Big column
/// counts are split across tasks, small ones grouped by rows to ~`task` elements per task
/// (LowerContext::task_elems()).
Loops emit_rows(KernelBuilder &kb, int64_t task, int64_t rows, int64_t cols, int lanes, bool vector,
                const std::function<Stmt(Expr row, Expr col)> &body);

/// `items` independent work items costing about `item_cost` elements each: body(item), grouped
/// to ~`task` elements per task.
Loops emit_items(KernelBuilder &kb, int64_t task, int64_t items, int64_t item_cost,
                 const std::function<Stmt(Expr item)> &body);

/// The lanes of one work item of emit_lanes: positions [base, base + count) of the inner axis,
/// as loop kind `kind` (Vectorized for a full chunk, Serial for the tail).
struct LaneSpan {
  Expr base;
  int64_t count;
  ForKind kind;
};
/// for l in span: body(base + l, l), l the index into lane-wide local accumulators.
Stmt over_lanes(KernelBuilder &kb, const LaneSpan &span,
                const std::function<Stmt(Expr inner, Expr lane)> &body);
/// [outer, len, inner] axis kernels (softmax, arg/reduce): one work item per (outer, chunk of
/// `lanes` inner positions); body(o, span) handles all `len` positions of those lanes.
Loops emit_lanes(KernelBuilder &kb, int64_t task, int64_t outer, int64_t len, int64_t inner,
                 int lanes, const std::function<Stmt(Expr o, const LaneSpan &span)> &body);

/// Appends the launch (weight_only when every input of n is a weight).
void emit(LowerContext &cx, const Node &n, KernelBuilder &kb, Loops l);

/// A loop over [0, extent) of `kind`, or the body with the index 0 when extent is 1 (keeps
/// kernels readable and saves the backend a trivial loop).
inline Stmt loop(KernelBuilder &kb, int64_t extent, ForKind kind,
                 const std::function<Stmt(Expr)> &body) {
  if (extent == 1 && kind != ForKind::Parallel)
    return body(imm(0));
  int v = kb.new_var();
  return for_loop(v, imm(0), imm(extent), kind, body(var(v)));
}

/// Splits the parallel index into coordinates of `extents` (outermost first), binding each
/// with Let; `body` gets one expression per extent (imm(0) for extents of 1).
Stmt split_parallel(KernelBuilder &kb, Expr p, const std::vector<int64_t> &extents,
                    const std::function<Stmt(const std::vector<Expr> &)> &body);

/// `inner` under the input-row bounds check of a conv or pool tap row `ih`: ih >= 0 when
/// `check_top`, ih < h when `check_bottom` (neither: `inner` as it is).
inline Stmt guard_input_row(Expr ih, bool check_top, bool check_bottom, int64_t h, Stmt inner) {
  Expr ok;
  if (check_top)
    ok = land(ok, ge(ih, imm(0)));
  if (check_bottom)
    ok = land(ok, lt(ih, imm(h)));
  return ok ? if_then(ok, inner) : inner;
}

} // namespace kiln::lw
