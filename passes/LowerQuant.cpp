// Linear (de)quantisation with ONNX Runtime's float arithmetic (ir/reference/Quant.cpp):
// round half to even, saturate, (x - zp) formed exactly in integers before the multiply.
//
//   %y, %s, %z = DynamicQuantizeLinear(%x)  ->  dynamic_quantize_linear_minmax_f32 (parallel
//   partial min/max per chunk), dynamic_quantize_linear_params_f32 (serial: scale, zero point),
//   dynamic_quantize_linear_u8 (parallel quantize)
#include "passes/LowerContext.h"
#include "passes/LowerLoops.h"

namespace kiln {

using namespace lw;

namespace {

/// std::min / std::max exactly (NaN operands ignored the same way).
Expr smin(Expr a, Expr b) { return select(lt(b, a), b, a); }
Expr smax(Expr a, Expr b) { return select(lt(a, b), b, a); }

std::pair<double, double> quant_range(const Node &n, DType t) {
  switch (t) {
  case DType::u8: return {0, 255};
  case DType::i8: return {-128, 127};
  case DType::i16: return {-32768, 32767};
  default: break;
  }
  no_kernel(n, "quantizing to " + std::string(dtype_name(t)));
}

/// Scale / zero point index of element (row, col): rows are [outer, len] flattened when the
/// parameters are per axis (then row % len is the channel), else everything is one row.
struct ParamLayout {
  bool per_axis = false;
  int64_t rows = 1, cols = 1, len = 1;
};

ParamLayout param_layout(const Node &n, const Value *x, const Value *scale) {
  ParamLayout p;
  int64_t numel = shape_numel(x->shape);
  if (shape_numel(scale->shape) == 1 && scale->shape.size() <= 1) {
    p.cols = numel;
    return p;
  }
  int64_t axis = n.attrs.i("axis");
  p.per_axis = true;
  p.len = x->shape[axis];
  p.cols = 1;
  for (size_t d = axis + 1; d < x->shape.size(); ++d)
    p.cols *= x->shape[d];
  p.rows = numel / std::max<int64_t>(p.cols, 1);
  return p;
}

void lower_quantize(LowerContext &cx, const Node &n) {
  const Value *x = n.inputs[0], *scale = n.inputs[1], *zp = n.inputs[2], *y = n.outputs[0];
  ParamLayout pl = param_layout(n, x, scale);
  KernelBuilder kb(kernel_name(n.op, pl.per_axis ? "axis" : "", y->dtype));
  int xb = kb.param(cx.prog, cx.buffer(x), false);
  int sb = kb.param(cx.prog, cx.buffer(scale), false);
  int zb = kb.param(cx.prog, cx.buffer(zp), false);
  int yb = kb.param(cx.prog, cx.buffer(y), true);
  auto body = [&](Expr row, Expr col) {
    Expr c = pl.per_axis ? emod(row, imm(pl.len)) : imm(0);
    Expr idx = pl.rows == 1 ? col : row * imm(pl.cols) + col;
    Expr v = ediv(load_as(xb, x->dtype, DType::f32, idx), load_as(sb, scale->dtype, DType::f32, c));
    return store(yb, idx, saturate_round(n, v, load_as(zb, zp->dtype, DType::i32, c), y->dtype));
  };
  emit(cx, n, kb,
       emit_rows(kb, cx.task_elems(), pl.rows, pl.cols, cx.opt.vector_lanes_f32, true, body));
}

void lower_dequantize(LowerContext &cx, const Node &n) {
  const Value *x = n.inputs[0], *scale = n.inputs[1], *zp = n.inputs[2], *y = n.outputs[0];
  ParamLayout pl = param_layout(n, x, scale);
  KernelBuilder kb(kernel_name(
      n.op, std::string(pl.per_axis ? "axis_" : "") + std::string(dtype_name(x->dtype)), y->dtype));
  int xb = kb.param(cx.prog, cx.buffer(x), false);
  int sb = kb.param(cx.prog, cx.buffer(scale), false);
  int zb = kb.param(cx.prog, cx.buffer(zp), false);
  int yb = kb.param(cx.prog, cx.buffer(y), true);
  // The difference is exact in i32 for 8/16-bit inputs; i32 inputs need i64.
  DType wide = x->dtype == DType::i32 ? DType::i64 : DType::i32;
  auto body = [&](Expr row, Expr col) {
    Expr c = pl.per_axis ? emod(row, imm(pl.len)) : imm(0);
    Expr idx = pl.rows == 1 ? col : row * imm(pl.cols) + col;
    Expr d = load_as(xb, x->dtype, wide, idx) - load_as(zb, zp->dtype, wide, c);
    Expr v = convert(DType::f32, d) * load_as(sb, scale->dtype, DType::f32, c);
    return store(yb, idx, convert(y->dtype, v));
  };
  emit(cx, n, kb,
       emit_rows(kb, cx.task_elems(), pl.rows, pl.cols, cx.opt.vector_lanes_f32, true, body));
}

void lower_dynamic_quantize(LowerContext &cx, const Node &n) {
  const Value *x = n.inputs[0], *y = n.outputs[0], *ys = n.outputs[1], *yz = n.outputs[2];
  int64_t numel = shape_numel(x->shape);
  int lanes = cx.opt.vector_lanes_f32;
  // Chunks of a multiple of the vector width; min/max are exact in any order.
  int64_t cb = (4 * kTaskElems + lanes - 1) / lanes * lanes;
  int64_t tasks = (numel + cb - 1) / cb;
  int part = cx.add_buffer(n.name + ":minmax", DType::f32, {2 * tasks}, cx.is_weight(x));

  { // 1: partial min/max per chunk (the range always includes 0, so locals start at 0)
    KernelBuilder kb(kernel_name(n.op, "minmax", DType::f32));
    int xb = kb.param(cx.prog, cx.buffer(x), false);
    int pb = kb.param(cx.prog, part, true);
    int lo = kb.new_local(), hi = kb.new_local();
    int t = kb.new_var(), l0 = kb.new_var(), v = kb.new_var(), l1 = kb.new_var();
    int j = kb.new_var();
    auto get = [](int b, Expr i) { return load(b, {DType::f32, 1}, i); };
    auto fold = [&](Expr lane, Expr xv) {
      return block(
          {store(lo, lane, smin(get(lo, lane), xv)), store(hi, lane, smax(get(hi, lane), xv))});
    };
    Expr c0 = var(t) * imm(cb);
    Expr len = emin(imm(cb), imm(numel) - c0);
    Expr nv = ediv(len, imm(lanes));
    // Lanes 1.. fold into lane 0.
    int l3 = kb.new_var();
    Stmt merge = for_loop(l3, imm(1), imm(lanes - 1), ForKind::Serial,
                          block({store(lo, imm(0), smin(get(lo, imm(0)), get(lo, var(l3)))),
                                 store(hi, imm(0), smax(get(hi, imm(0)), get(hi, var(l3))))}));
    Stmt task = block({
        for_loop(l0, imm(0), imm(lanes), ForKind::Vectorized,
                 block({store(lo, var(l0), fimm(0)), store(hi, var(l0), fimm(0))})),
        for_loop(v, imm(0), nv, ForKind::Serial,
                 for_loop(l1, imm(0), imm(lanes), ForKind::Vectorized,
                          fold(var(l1), get(xb, c0 + var(v) * imm(lanes) + var(l1))))),
        for_loop(j, c0 + nv * imm(lanes), len - nv * imm(lanes), ForKind::Serial,
                 fold(imm(0), get(xb, var(j)))),
        merge,
        store(pb, var(t) * imm(2), get(lo, imm(0))),
        store(pb, var(t) * imm(2) + imm(1), get(hi, imm(0))),
    });
    Stmt s = for_loop(t, imm(0), imm(tasks), ForKind::Parallel,
                      allocate(lo, DType::f32, lanes, allocate(hi, DType::f32, lanes, task)));
    emit(cx, n, kb, {s, tasks});
  }
  { // 2: scale and zero point from the partials (serial, tiny)
    KernelBuilder kb(kernel_name(n.op, "params", DType::f32));
    int pb = kb.param(cx.prog, part, false);
    int sb = kb.param(cx.prog, cx.buffer(ys), true);
    int zb = kb.param(cx.prog, cx.buffer(yz), true);
    int acc = kb.new_local();
    int t = kb.new_var(), p = kb.new_var();
    auto a = [&](int64_t i) { return load(acc, {DType::f32, 1}, imm(i)); };
    auto pget = [&](Expr i) { return load(pb, {DType::f32, 1}, i); };
    Expr lo = a(0), hi = a(1);
    // ONNX Runtime uses scale 1 for an all-zero input (the spec's 0 would divide by zero).
    Expr scale = select(binary(BinOp::Eq, hi, lo), fimm(1), ediv(hi - lo, fimm(255)));
    Expr zp = unary(UnOp::Round, smin(smax(fimm(0) - ediv(lo, a(2)), fimm(0)), fimm(255)));
    Stmt body = block({
        store(acc, imm(0), fimm(0)),
        store(acc, imm(1), fimm(0)),
        for_loop(p, imm(0), imm(tasks), ForKind::Serial,
                 block({store(acc, imm(0), smin(a(0), pget(var(p) * imm(2)))),
                        store(acc, imm(1), smax(a(1), pget(var(p) * imm(2) + imm(1))))})),
        store(acc, imm(2), scale),
        store(sb, imm(0), a(2)),
        store(zb, imm(0), convert(DType::u8, zp)),
    });
    Stmt s = for_loop(t, imm(0), imm(1), ForKind::Parallel, allocate(acc, DType::f32, 3, body));
    emit(cx, n, kb, {s, 1});
  }
  { // 3: y = saturate(round(x / scale) + zp)
    KernelBuilder kb(kernel_name(n.op, "", DType::u8));
    int xb = kb.param(cx.prog, cx.buffer(x), false);
    int sb = kb.param(cx.prog, cx.buffer(ys), false);
    int zb = kb.param(cx.prog, cx.buffer(yz), false);
    int yb = kb.param(cx.prog, cx.buffer(y), true);
    auto body = [&](Expr, Expr col) {
      Expr v = ediv(load(xb, {DType::f32, 1}, col), load(sb, {DType::f32, 1}, imm(0)));
      return store(yb, col,
                   saturate_round(n, v, load_as(zb, DType::u8, DType::i32, imm(0)), DType::u8));
    };
    emit(cx, n, kb, emit_rows(kb, cx.task_elems(), 1, numel, lanes, true, body));
  }
}

} // namespace

// Equal to the reference's
/// float form, but without a float -> int conversion: LLVM 15 scalarises vector fptosi.sat.
/// Adding 1.5 * 2^23 rounds |v| <= 2^22 to an integer half to even (default rounding mode) and
/// leaves it in the low mantissa bits; v is first clamped there, which cannot change the
/// saturated result of any type here.
Expr saturate_round(const Node &n, Expr v, Expr zp, DType t) {
  auto [lo, hi] = quant_range(n, t);
  constexpr double kLimit = 4194304.0, kMagic = 12582912.0; // 2^22, 1.5 * 2^23
  constexpr int64_t kMagicBits = 0x4B400000;                // bits of kMagic
  v = smin(smax(v, fimm(-kLimit)), fimm(kLimit));
  Expr r = reinterpret({DType::i32, 1}, v + fimm(kMagic)) - imm_of(DType::i32, kMagicBits);
  Expr q = r + zp;
  q = smin(smax(q, imm_of(DType::i32, lo)), imm_of(DType::i32, hi));
  return convert(t, q);
}

void lower_quant(LowerContext &cx, const Node &n) {
  switch (n.op) {
  case OpKind::QuantizeLinear: return lower_quantize(cx, n);
  case OpKind::DequantizeLinear: return lower_dequantize(cx, n);
  case OpKind::DynamicQuantizeLinear: return lower_dynamic_quantize(cx, n);
  default: break;
  }
  no_kernel(n, "this quantisation op");
}

} // namespace kiln
