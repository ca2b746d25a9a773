#include "codegen/llvm/KernelEmitter.h"

#include "codegen/llvm/MathEmitter.h"
#include "codegen/llvm/Values.h"
#include "ir/Error.h"

#include <llvm/Analysis/VectorUtils.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/MDBuilder.h>

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <vector>

namespace kiln::cpu {
namespace {

using llvm::Value;

struct Buffer {
  Value *ptr;
  DType dtype;
};

std::optional<int64_t> int_imm(const Expr &e) {
  if (e->kind != ExprKind::IntImm)
    return std::nullopt;
  return e->ival;
}

/// The value of a float immediate, possibly broadcast (for pow's constant-exponent forms).
std::optional<double> float_imm(const Expr &e) {
  if (e->kind == ExprKind::FloatImm)
    return e->fval;
  if (e->kind == ExprKind::Broadcast)
    return float_imm(e->args[0]);
  return std::nullopt;
}

class Emitter {
public:
  Emitter(llvm::Module &m, const Kernel &k, bool fp16)
      : m_(m), ctx_(m.getContext()), b_(ctx_), k_(k), fp16_(fp16) {
    // Let the backend fuse a*b+c into FMA (what C compilers do with -ffp-contract=on) unless
    // the kernel says not to; nothing is reassociated, so its accumulation order is kept.
    llvm::FastMathFlags fmf;
    fmf.setAllowContract(k.fp_contract);
    b_.setFastMathFlags(fmf);
  }

  llvm::Function *run(const std::string &symbol, const TargetAttrs &attrs);

private:
  void emit_stmt(const Stmt &s);
  void emit_for(const StmtNode &s);
  void emit_if(const StmtNode &s);
  void emit_store(const StmtNode &s);
  void emit_body(const StmtNode &s) {
    for (const Stmt &c : s.body)
      emit_stmt(c);
  }

  Value *emit(const Expr &e);
  Value *emit_uncached(const ExprNode &e);
  Value *emit_load(const ExprNode &e);
  Value *emit_unary(UnOp op, Value *a, DType t);
  Value *emit_binary(BinOp op, const Expr &lhs, const Expr &rhs);
  Value *emit_dot4(const ExprNode &e);
  Value *emit_int_div(Value *a, Value *c, bool rem, bool is_unsigned);
  Value *emit_half_binary(BinOp op, Value *a, Value *c);
  Value *emit_math(Value *a, DType t, llvm::Value *(*f32)(llvm::IRBuilder<> &, Value *),
                   llvm::Intrinsic::ID f64_intrinsic, const char *f64_libm);
  Value *call_libm_f64(const char *name, Value *a);

  Value *elem_ptr(const Buffer &buf, Value *index) {
    return b_.CreateGEP(mem_type(ctx_, buf.dtype), buf.ptr, index);
  }
  llvm::Align elem_align(const Buffer &buf) const { return llvm::Align(dtype_size(buf.dtype)); }

  llvm::Module &m_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  const Kernel &k_;
  const bool fp16_; ///< TargetAttrs::fp16
  TargetAttrs attrs_;
  llvm::Function *fn_ = nullptr;
  Value *begin_ = nullptr, *end_ = nullptr;
  std::unordered_map<int, Value *> vars_;
  std::unordered_map<int, Buffer> bufs_;
  /// Values of expression nodes already emitted in the current straight-line region; cleared
  /// at every statement, so a cached value always dominates its reuse and no load is reused
  /// across a store.
  std::unordered_map<const ExprNode *, Value *> cache_;
};

void set_target_attrs(llvm::Function *f, const TargetAttrs &attrs) {
  f->addFnAttr("target-cpu", attrs.cpu);
  f->addFnAttr("target-features", attrs.features);
  f->addFnAttr(llvm::Attribute::NoUnwind);
  if (attrs.avx512) {
    f->addFnAttr("prefer-vector-width", "512");
    f->addFnAttr("min-legal-vector-width", "512");
  }
}

llvm::Function *Emitter::run(const std::string &symbol, const TargetAttrs &attrs) {
  attrs_ = attrs;
  llvm::Type *ptr = b_.getPtrTy();
  llvm::Type *i64 = b_.getInt64Ty();
  size_t n = k_.params.size();

  // Body: internal, always inlined, buffers as noalias arguments.
  std::vector<llvm::Type *> body_args(n, ptr);
  body_args.push_back(i64);
  body_args.push_back(i64);
  auto *body_ty = llvm::FunctionType::get(b_.getVoidTy(), body_args, false);
  fn_ = llvm::Function::Create(body_ty, llvm::Function::InternalLinkage, symbol + ".body", m_);
  set_target_attrs(fn_, attrs);
  fn_->addFnAttr(llvm::Attribute::AlwaysInline);
  for (size_t i = 0; i < n; ++i) {
    const KernelParam &p = k_.params[i];
    llvm::Argument *a = fn_->getArg(static_cast<unsigned>(i));
    a->setName(p.name);
    a->addAttr(llvm::Attribute::NoAlias);
    a->addAttr(llvm::Attribute::NoCapture);
    a->addAttr(llvm::Attribute::NoUndef);
    if (!p.output)
      a->addAttr(llvm::Attribute::ReadOnly);
    uint64_t bytes = static_cast<uint64_t>(p.numel) * dtype_size(p.dtype);
    if (bytes > 0)
      a->addAttr(llvm::Attribute::getWithDereferenceableBytes(ctx_, bytes));
    a->addAttr(llvm::Attribute::getWithAlignment(ctx_, llvm::Align(dtype_size(p.dtype))));
    bufs_[static_cast<int>(i)] = {a, p.dtype};
  }
  begin_ = fn_->getArg(static_cast<unsigned>(n));
  end_ = fn_->getArg(static_cast<unsigned>(n + 1));
  begin_->setName("begin");
  end_->setName("end");

  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn_));
  if (k_.body)
    emit_stmt(k_.body);
  b_.CreateRetVoid();

  // The ABI wrapper: unpack args[] once and call the body.
  auto *abi_ty = llvm::FunctionType::get(b_.getVoidTy(), {ptr, i64, i64}, false);
  auto *abi = llvm::Function::Create(abi_ty, llvm::Function::ExternalLinkage, symbol, m_);
  set_target_attrs(abi, attrs);
  abi->getArg(0)->setName("args");
  abi->getArg(0)->addAttr(llvm::Attribute::NoCapture);
  abi->getArg(0)->addAttr(llvm::Attribute::ReadOnly);
  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", abi));
  std::vector<Value *> call_args;
  for (size_t i = 0; i < n; ++i) {
    Value *slot = b_.CreateConstInBoundsGEP1_64(ptr, abi->getArg(0), i);
    llvm::LoadInst *p = b_.CreateAlignedLoad(ptr, slot, llvm::Align(8), k_.params[i].name);
    p->setMetadata(llvm::LLVMContext::MD_invariant_load, llvm::MDNode::get(ctx_, {}));
    call_args.push_back(p);
  }
  call_args.push_back(abi->getArg(1));
  call_args.push_back(abi->getArg(2));
  b_.CreateCall(fn_, call_args);
  b_.CreateRetVoid();
  return abi;
}

// ---- statements ----

void Emitter::emit_stmt(const Stmt &s) {
  cache_.clear();
  switch (s->kind) {
  case StmtKind::For: emit_for(*s); return;
  case StmtKind::Store: emit_store(*s); return;
  case StmtKind::Block: emit_body(*s); return;
  case StmtKind::Let:
    vars_[s->var] = emit(s->value);
    emit_body(*s);
    vars_.erase(s->var);
    return;
  case StmtKind::If: emit_if(*s); return;
  case StmtKind::Allocate: {
    // In the entry block, so SROA/mem2reg can promote accumulators with constant indices.
    llvm::BasicBlock &entry = fn_->getEntryBlock();
    llvm::IRBuilder<> eb(&entry, entry.begin());
    auto *ty = llvm::ArrayType::get(mem_type(ctx_, s->dtype), static_cast<uint64_t>(s->size));
    llvm::AllocaInst *a = eb.CreateAlloca(ty, nullptr, "local" + std::to_string(s->buf));
    a->setAlignment(llvm::Align(64));
    bufs_[s->buf] = {a, s->dtype};
    emit_body(*s);
    bufs_.erase(s->buf);
    return;
  }
  }
}

void Emitter::emit_for(const StmtNode &s) {
  // The Parallel loop runs over the runtime's [begin, end) slice instead of its own bounds.
  Value *lo = begin_, *hi = end_;
  if (s.for_kind != ForKind::Parallel) {
    lo = emit(s.min);
    hi = b_.CreateAdd(lo, emit(s.extent));
  }
  // Canonical top-tested loop; loop-simplify/rotate give LICM, the unroller and the
  // vectorizers their preheader and latch.
  llvm::BasicBlock *pre = b_.GetInsertBlock();
  auto *header = llvm::BasicBlock::Create(ctx_, "for.header", fn_);
  auto *body = llvm::BasicBlock::Create(ctx_, "for.body", fn_);
  auto *exit = llvm::BasicBlock::Create(ctx_, "for.exit", fn_);
  b_.CreateBr(header);
  b_.SetInsertPoint(header);
  llvm::PHINode *iv = b_.CreatePHI(b_.getInt64Ty(), 2, "i" + std::to_string(s.var));
  iv->addIncoming(lo, pre);
  b_.CreateCondBr(b_.CreateICmpSLT(iv, hi), body, exit);
  b_.SetInsertPoint(body);
  vars_[s.var] = iv;
  emit_body(s);
  vars_.erase(s.var);
  Value *next = b_.CreateAdd(iv, b_.getInt64(1), "", /*HasNUW=*/false, /*HasNSW=*/true);
  llvm::BranchInst *latch = b_.CreateBr(header);
  iv->addIncoming(next, b_.GetInsertBlock());

  std::vector<llvm::Metadata *> md = {
      nullptr, llvm::MDNode::get(ctx_, llvm::MDString::get(ctx_, "llvm.loop.mustprogress"))};
  auto hint = [&](const char *name, llvm::Metadata *v) {
    md.push_back(llvm::MDNode::get(ctx_, {llvm::MDString::get(ctx_, name), v}));
  };
  auto i32_md = [&](int v) { return llvm::ConstantAsMetadata::get(b_.getInt32(v)); };
  auto true_md = llvm::ConstantAsMetadata::get(b_.getTrue());
  switch (s.for_kind) {
  case ForKind::Serial:
  case ForKind::Parallel: break;
  case ForKind::Vectorized: // normally rewritten by vectorize(); keep the intent as a hint
    hint("llvm.loop.vectorize.enable", true_md);
    if (auto n = int_imm(s.extent))
      hint("llvm.loop.vectorize.width", i32_md(static_cast<int>(*n)));
    break;
  case ForKind::Unrolled: // normally rewritten by unroll()
    md.push_back(llvm::MDNode::get(ctx_, llvm::MDString::get(ctx_, "llvm.loop.unroll.full")));
    break;
  }
  llvm::MDNode *loop_id = llvm::MDNode::getDistinct(ctx_, md);
  loop_id->replaceOperandWith(0, loop_id);
  latch->setMetadata(llvm::LLVMContext::MD_loop, loop_id);
  b_.SetInsertPoint(exit);
}

void Emitter::emit_if(const StmtNode &s) {
  Value *cond = emit(s.value);
  bool has_else = s.body.size() > 1 && s.body[1];
  auto *then_bb = llvm::BasicBlock::Create(ctx_, "if.then", fn_);
  auto *else_bb = has_else ? llvm::BasicBlock::Create(ctx_, "if.else", fn_) : nullptr;
  auto *merge = llvm::BasicBlock::Create(ctx_, "if.end", fn_);
  b_.CreateCondBr(cond, then_bb, has_else ? else_bb : merge);
  b_.SetInsertPoint(then_bb);
  emit_stmt(s.body[0]);
  b_.CreateBr(merge);
  if (has_else) {
    b_.SetInsertPoint(else_bb);
    emit_stmt(s.body[1]);
    b_.CreateBr(merge);
  }
  b_.SetInsertPoint(merge);
}

void Emitter::emit_store(const StmtNode &s) {
  const Buffer &buf = bufs_.at(s.buf);
  int lanes = s.value->type.lanes;
  Value *val = to_mem(b_, emit(s.value), buf.dtype);
  llvm::Align align = elem_align(buf);
  if (lanes == 1) {
    Value *ptr = elem_ptr(buf, emit(s.index));
    if (!s.predicate) {
      b_.CreateAlignedStore(val, ptr, align);
      return;
    }
    auto *then_bb = llvm::BasicBlock::Create(ctx_, "store.then", fn_);
    auto *merge = llvm::BasicBlock::Create(ctx_, "store.end", fn_);
    b_.CreateCondBr(emit(s.predicate), then_bb, merge);
    b_.SetInsertPoint(then_bb);
    b_.CreateAlignedStore(val, ptr, align);
    b_.CreateBr(merge);
    b_.SetInsertPoint(merge);
    return;
  }
  Value *mask = s.predicate ? splat(b_, emit(s.predicate), lanes) : nullptr;
  const Expr &idx = s.index;
  if (idx->kind == ExprKind::Ramp && int_imm(idx->args[1]) == 1) {
    Value *ptr = elem_ptr(buf, emit(idx->args[0]));
    if (mask)
      b_.CreateMaskedStore(val, ptr, align, mask);
    else
      b_.CreateAlignedStore(val, ptr, align);
    return;
  }
  if (idx->kind == ExprKind::Broadcast && idx->args[0]->type.lanes == 1 && !mask) {
    // Every lane writes the same element; the last lane wins, as in a scatter.
    Value *last = b_.CreateExtractElement(val, static_cast<uint64_t>(lanes - 1));
    b_.CreateAlignedStore(last, elem_ptr(buf, emit(idx->args[0])), align);
    return;
  }
  Value *ptrs = elem_ptr(buf, splat(b_, emit(idx), lanes));
  if (!mask)
    mask = llvm::Constant::getAllOnesValue(reg_type(ctx_, {DType::boolean, lanes}));
  b_.CreateMaskedScatter(val, ptrs, align, mask);
}

// ---- expressions ----

Value *Emitter::emit(const Expr &e) {
  if (auto it = cache_.find(e.get()); it != cache_.end())
    return it->second;
  Value *v = emit_uncached(*e);
  cache_[e.get()] = v;
  return v;
}

Value *Emitter::emit_uncached(const ExprNode &e) {
  switch (e.kind) {
  case ExprKind::IntImm: return const_int(ctx_, e.type, e.ival);
  case ExprKind::FloatImm: return const_float(ctx_, e.type, e.fval);
  case ExprKind::Var: {
    auto it = vars_.find(e.id);
    KILN_ASSERT(it != vars_.end(),
                "kernel " + k_.name + ": unbound variable " + std::to_string(e.id));
    return it->second;
  }
  case ExprKind::Load: return emit_load(e);
  case ExprKind::Unary: return emit_unary(e.uop, emit(e.args[0]), e.type.dtype);
  case ExprKind::Binary: return emit_binary(e.bop, e.args[0], e.args[1]);
  case ExprKind::Select: return b_.CreateSelect(emit(e.args[0]), emit(e.args[1]), emit(e.args[2]));
  case ExprKind::Cast: return emit_cast(b_, emit(e.args[0]), e.args[0]->type, e.type);
  case ExprKind::Reinterpret: return emit_reinterpret(b_, emit(e.args[0]), e.args[0]->type, e.type);
  case ExprKind::Ramp: {
    int lanes = e.type.lanes;
    std::vector<llvm::Constant *> steps;
    for (int k = 0; k < lanes; ++k)
      steps.push_back(b_.getInt64(k));
    Value *stride =
        b_.CreateMul(splat(b_, emit(e.args[1]), lanes), llvm::ConstantVector::get(steps));
    return b_.CreateAdd(splat(b_, emit(e.args[0]), lanes), stride);
  }
  case ExprKind::Broadcast:
    if (fp16_ && e.type.dtype == DType::f16) // splat the half, so half arithmetic can use it
      return b_.CreateFPExt(
          splat(b_, b_.CreateFPTrunc(emit(e.args[0]), b_.getHalfTy()), e.type.lanes),
          reg_type(ctx_, e.type));
    return splat(b_, emit(e.args[0]), e.type.lanes);
  case ExprKind::Dot4: return emit_dot4(e);
  }
  __builtin_unreachable();
}

/// VPDPBUSD where the host has it for this width (AVX512-VNNI: 512 bits, and 128/256 with
/// AVX512-VL; AVX-VNNI: 128/256), else zext/sext, multiply and add the four products of a lane.
Value *Emitter::emit_dot4(const ExprNode &e) {
  Value *acc = emit(e.args[0]), *a = emit(e.args[1]), *b = emit(e.args[2]);
  const int lanes = e.type.lanes;
  auto has = [&](const char *f) { return attrs_.features.find(f) != std::string::npos; };
  const bool vnni512 = has("+avx512vnni");
  const bool vnni_vl = (vnni512 && has("+avx512vl")) || has("+avxvnni");
  llvm::Intrinsic::ID id = llvm::Intrinsic::not_intrinsic;
  if (lanes == 16 && vnni512)
    id = llvm::Intrinsic::x86_avx512_vpdpbusd_512;
  else if (lanes == 8 && vnni_vl)
    id = llvm::Intrinsic::x86_avx512_vpdpbusd_256;
  else if (lanes == 4 && vnni_vl)
    id = llvm::Intrinsic::x86_avx512_vpdpbusd_128;
  if (id != llvm::Intrinsic::not_intrinsic)
    return b_.CreateIntrinsic(id, {}, {acc, a, b});
  const bool scalar = lanes == 1;
  auto *i32v = llvm::FixedVectorType::get(b_.getInt32Ty(), lanes);
  auto *i8v = llvm::FixedVectorType::get(b_.getInt8Ty(), 4 * lanes);
  auto *wide = llvm::FixedVectorType::get(b_.getInt32Ty(), 4 * lanes);
  auto bytes = [&](Value *v) { return b_.CreateBitCast(v, i8v); };
  Value *p = b_.CreateMul(b_.CreateZExt(bytes(a), wide), b_.CreateSExt(bytes(b), wide));
  Value *sum =
      scalar ? b_.CreateInsertElement(llvm::PoisonValue::get(i32v), acc, uint64_t{0}) : acc;
  for (int k = 0; k < 4; ++k) {
    std::vector<int> mask;
    for (int l = 0; l < lanes; ++l)
      mask.push_back(4 * l + k);
    sum = b_.CreateAdd(sum, b_.CreateShuffleVector(p, mask));
  }
  return scalar ? b_.CreateExtractElement(sum, uint64_t{0}) : sum;
}

Value *Emitter::emit_load(const ExprNode &e) {
  const Buffer &buf = bufs_.at(e.id);
  int lanes = e.type.lanes;
  llvm::Align align = elem_align(buf);
  llvm::Type *mt = mem_type(ctx_, buf.dtype, lanes);
  const Expr &idx = e.args[0];
  const Expr pred = e.args.size() > 1 ? e.args[1] : nullptr;
  if (lanes == 1) {
    // Predicated scalar: read element 0 (always in bounds) when false, then zero the value;
    // branch-free so the loop vectorizer can still see a straight-line body.
    Value *i = emit(idx);
    Value *p = pred ? emit(pred) : nullptr;
    if (p)
      i = b_.CreateSelect(p, i, b_.getInt64(0));
    Value *v = from_mem(b_, b_.CreateAlignedLoad(mt, elem_ptr(buf, i), align), buf.dtype);
    if (!p)
      return v;
    return b_.CreateSelect(p, v, llvm::Constant::getNullValue(v->getType()));
  }
  Value *mask = pred ? splat(b_, emit(pred), lanes) : nullptr;
  Value *zero = llvm::Constant::getNullValue(mt);
  if (idx->kind == ExprKind::Ramp) {
    std::optional<int64_t> stride = int_imm(idx->args[1]);
    if (stride == 1) {
      Value *ptr = elem_ptr(buf, emit(idx->args[0]));
      Value *v = mask ? static_cast<Value *>(b_.CreateMaskedLoad(mt, ptr, align, mask, zero))
                      : b_.CreateAlignedLoad(mt, ptr, align);
      return from_mem(b_, v, buf.dtype);
    }
    if (stride && *stride > 1 && *stride <= 4) {
      // Short constant stride: `s` full-width loads covering the lanes' span, concatenated and
      // shuffled (vpermt2ps pairs) instead of a gather. Only the elements the lanes read are
      // enabled (the lane mask spread to every s-th element), so nothing else is touched.
      int s = static_cast<int>(*stride);
      int span = (lanes - 1) * s + 1;
      int chunks_n = (span + lanes - 1) / lanes;
      Value *ptr = elem_ptr(buf, emit(idx->args[0]));
      // wide[j] = mask[j / s] when j % s == 0 and j / s is a lane, else false.
      Value *wide_mask = nullptr;
      if (mask) {
        Value *off = llvm::Constant::getNullValue(mask->getType());
        std::vector<int> spread(size_t(chunks_n) * lanes);
        for (int j = 0; j < int(spread.size()); ++j)
          spread[j] = j % s == 0 && j / s < lanes ? j / s : lanes;
        wide_mask = b_.CreateShuffleVector(mask, off, spread);
      }
      std::vector<Value *> chunks;
      for (int c = 0; c < chunks_n; ++c) {
        Value *p = b_.CreateConstGEP1_64(mem_type(ctx_, buf.dtype), ptr, uint64_t(c) * lanes);
        int valid = std::min(lanes, span - c * lanes);
        if (!mask && valid == lanes) {
          chunks.push_back(b_.CreateAlignedLoad(mt, p, align));
          continue;
        }
        Value *m;
        if (mask) {
          std::vector<int> part(lanes);
          for (int k = 0; k < lanes; ++k)
            part[k] = c * lanes + k;
          m = b_.CreateShuffleVector(wide_mask, part);
        } else {
          std::vector<llvm::Constant *> bits;
          for (int k = 0; k < lanes; ++k)
            bits.push_back(b_.getInt1(k < valid));
          m = llvm::ConstantVector::get(bits);
        }
        chunks.push_back(b_.CreateMaskedLoad(mt, p, align, m, zero));
      }
      Value *wide = llvm::concatenateVectors(b_, chunks);
      std::vector<int> pick(lanes);
      for (int k = 0; k < lanes; ++k)
        pick[k] = k * s;
      return from_mem(b_, b_.CreateShuffleVector(wide, pick), buf.dtype);
    }
  }
  if (idx->kind == ExprKind::Broadcast && idx->args[0]->type.lanes == 1 && !mask) {
    Value *ptr = elem_ptr(buf, emit(idx->args[0]));
    Value *v = b_.CreateAlignedLoad(mem_type(ctx_, buf.dtype), ptr, align);
    return splat(b_, from_mem(b_, v, buf.dtype), lanes);
  }
  Value *ptrs = elem_ptr(buf, splat(b_, emit(idx), lanes));
  if (!mask)
    mask = llvm::Constant::getAllOnesValue(reg_type(ctx_, {DType::boolean, lanes}));
  return from_mem(b_, b_.CreateMaskedGather(mt, ptrs, align, mask, zero), buf.dtype);
}

Value *Emitter::call_libm_f64(const char *name, Value *a) {
  llvm::Type *f64 = b_.getDoubleTy();
  llvm::FunctionCallee fn = m_.getOrInsertFunction(name, f64, f64);
  if (auto *f = llvm::dyn_cast<llvm::Function>(fn.getCallee())) {
    f->setDoesNotThrow();
    f->setOnlyReadsMemory();
  }
  auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(a->getType());
  if (!vt)
    return b_.CreateCall(fn, {a});
  Value *r = llvm::UndefValue::get(vt);
  for (unsigned k = 0; k < vt->getNumElements(); ++k)
    r = b_.CreateInsertElement(r, b_.CreateCall(fn, {b_.CreateExtractElement(a, k)}), k);
  return r;
}

/// f32/f16/bf16 through our polynomial (rounded back to the format), f64 through libm.
Value *Emitter::emit_math(Value *a, DType t, llvm::Value *(*f32)(llvm::IRBuilder<> &, Value *),
                          llvm::Intrinsic::ID f64_intrinsic, const char *f64_libm) {
  KILN_ASSERT(is_float(t), "kernel " + k_.name + ": transcendental op on a non-float type");
  if (t != DType::f64)
    return round_to(b_, f32(b_, a), t);
  if (f64_intrinsic != llvm::Intrinsic::not_intrinsic)
    return b_.CreateUnaryIntrinsic(f64_intrinsic, a);
  return call_libm_f64(f64_libm, a);
}

Value *Emitter::emit_unary(UnOp op, Value *a, DType t) {
  bool f = is_float(t);
  switch (op) {
  case UnOp::Neg: return f ? b_.CreateFNeg(a) : b_.CreateNeg(a);
  case UnOp::Abs:
    if (f)
      return b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, a);
    if (is_unsigned(t))
      return a;
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::abs, a, b_.getFalse());
  case UnOp::Not: KILN_ASSERT(!f, "kernel " + k_.name + ": Not of a float"); return b_.CreateNot(a);
  case UnOp::Exp: return emit_math(a, t, emit_exp_f32, llvm::Intrinsic::exp, nullptr);
  case UnOp::Log: return emit_math(a, t, emit_log_f32, llvm::Intrinsic::log, nullptr);
  case UnOp::Sqrt:
    KILN_ASSERT(f, "kernel " + k_.name + ": Sqrt of a non-float type");
    return round_to(b_, b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, a), t);
  case UnOp::Tanh: return emit_math(a, t, emit_tanh_f32, llvm::Intrinsic::not_intrinsic, "tanh");
  case UnOp::Erf: return emit_math(a, t, emit_erf_f32, llvm::Intrinsic::not_intrinsic, "erf");
  case UnOp::Sigmoid:
    if (t == DType::f64) {
      Value *e = b_.CreateUnaryIntrinsic(llvm::Intrinsic::exp, b_.CreateFNeg(a));
      Value *one = llvm::ConstantFP::get(a->getType(), 1.0);
      return b_.CreateFDiv(one, b_.CreateFAdd(one, e));
    }
    return emit_math(a, t, emit_sigmoid_f32, llvm::Intrinsic::not_intrinsic, nullptr);
  case UnOp::Floor: return f ? b_.CreateUnaryIntrinsic(llvm::Intrinsic::floor, a) : a;
  case UnOp::Ceil: return f ? b_.CreateUnaryIntrinsic(llvm::Intrinsic::ceil, a) : a;
  case UnOp::Round: return f ? b_.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven, a) : a;
  }
  __builtin_unreachable();
}

Value *Emitter::emit_int_div(Value *a, Value *c, bool rem, bool is_unsigned) {
  // x86 division traps on a zero divisor (and INT_MIN / -1); ONNX leaves both undefined, so
  // give defined values instead of a crash: x / 0 = x, x % 0 = 0... via divisor 1, and
  // x / -1 = -x, x % -1 = 0. Constant divisors fold all of this away.
  llvm::Type *t = a->getType();
  Value *zero = llvm::Constant::getNullValue(t);
  Value *one = llvm::ConstantInt::get(t, 1);
  if (is_unsigned) {
    Value *d = b_.CreateSelect(b_.CreateICmpEQ(c, zero), one, c);
    return rem ? b_.CreateURem(a, d) : b_.CreateUDiv(a, d);
  }
  Value *minus_one = llvm::Constant::getAllOnesValue(t);
  Value *is_m1 = b_.CreateICmpEQ(c, minus_one);
  Value *d = b_.CreateSelect(b_.CreateOr(b_.CreateICmpEQ(c, zero), is_m1), one, c);
  if (rem)
    return b_.CreateSelect(is_m1, zero, b_.CreateSRem(a, d));
  return b_.CreateSelect(is_m1, b_.CreateNeg(a), b_.CreateSDiv(a, d));
}

/// f16 a op c as half arithmetic. Operands are f16 values held in f32 registers, so narrowing
/// them is exact and folds into the fpext that made them; one rounding of a half op equals
/// the f32 op rounded to f16 (f32 has more than 2*11+2 bits), so the result is the kernel IR's.
Value *Emitter::emit_half_binary(BinOp op, Value *a, Value *c) {
  llvm::Type *ht =
      a->getType()->isVectorTy()
          ? llvm::VectorType::get(b_.getHalfTy(), llvm::cast<llvm::VectorType>(a->getType()))
          : b_.getHalfTy();
  Value *ha = b_.CreateFPTrunc(a, ht), *hc = b_.CreateFPTrunc(c, ht);
  Value *r = nullptr;
  switch (op) {
  case BinOp::Add: r = b_.CreateFAdd(ha, hc); break;
  case BinOp::Sub: r = b_.CreateFSub(ha, hc); break;
  case BinOp::Mul: r = b_.CreateFMul(ha, hc); break;
  case BinOp::Div: r = b_.CreateFDiv(ha, hc); break;
  default: KILN_ASSERT(false, "emit_half_binary: not an arithmetic op");
  }
  return b_.CreateFPExt(r, a->getType());
}

Value *Emitter::emit_binary(BinOp op, const Expr &lhs, const Expr &rhs) {
  DType t = lhs->type.dtype;
  bool f = is_float(t), u = is_unsigned(t);
  if (op == BinOp::Pow && f) {
    // Constant exponents YOLO graphs use (x^2 in losses/GIoU, x^0.5): exact and fast.
    if (std::optional<double> y = float_imm(rhs)) {
      Value *x = emit(lhs);
      if (*y == 1.0)
        return x;
      if (*y == 2.0)
        return round_to(b_, b_.CreateFMul(x, x), t);
      if (*y == 3.0)
        return round_to(b_, b_.CreateFMul(b_.CreateFMul(x, x), x), t);
      if (*y == 0.5)
        return round_to(b_, b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x), t);
    }
  }
  Value *a = emit(lhs), *c = emit(rhs);
  if (fp16_ && t == DType::f16 && op >= BinOp::Add && op <= BinOp::Div)
    return emit_half_binary(op, a, c);
  switch (op) {
  case BinOp::Add: return f ? round_to(b_, b_.CreateFAdd(a, c), t) : b_.CreateAdd(a, c);
  case BinOp::Sub: return f ? round_to(b_, b_.CreateFSub(a, c), t) : b_.CreateSub(a, c);
  case BinOp::Mul: return f ? round_to(b_, b_.CreateFMul(a, c), t) : b_.CreateMul(a, c);
  case BinOp::Div: return f ? round_to(b_, b_.CreateFDiv(a, c), t) : emit_int_div(a, c, false, u);
  case BinOp::Mod: return f ? round_to(b_, b_.CreateFRem(a, c), t) : emit_int_div(a, c, true, u);
  case BinOp::Min:
    if (f) // a < b ? a : b: one vminps; a NaN in a yields b
      return b_.CreateSelect(b_.CreateFCmpOLT(a, c), a, c);
    if (t == DType::boolean)
      return b_.CreateAnd(a, c);
    return b_.CreateBinaryIntrinsic(u ? llvm::Intrinsic::umin : llvm::Intrinsic::smin, a, c);
  case BinOp::Max:
    if (f)
      return b_.CreateSelect(b_.CreateFCmpOGT(a, c), a, c);
    if (t == DType::boolean)
      return b_.CreateOr(a, c);
    return b_.CreateBinaryIntrinsic(u ? llvm::Intrinsic::umax : llvm::Intrinsic::smax, a, c);
  case BinOp::Pow: {
    if (t == DType::f64)
      return b_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, a, c);
    if (f)
      return round_to(b_, emit_pow_f32(b_, a, c), t);
    // Integer pow (rare): through f64, truncating back like ONNX Runtime does.
    KType ft{DType::f64, lhs->type.lanes};
    Value *p = b_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, emit_cast(b_, a, lhs->type, ft),
                                        emit_cast(b_, c, rhs->type, ft));
    return emit_cast(b_, p, ft, lhs->type);
  }
  case BinOp::Lt:
    return f ? b_.CreateFCmpOLT(a, c) : u ? b_.CreateICmpULT(a, c) : b_.CreateICmpSLT(a, c);
  case BinOp::Le:
    return f ? b_.CreateFCmpOLE(a, c) : u ? b_.CreateICmpULE(a, c) : b_.CreateICmpSLE(a, c);
  case BinOp::Eq: return f ? b_.CreateFCmpOEQ(a, c) : b_.CreateICmpEQ(a, c);
  case BinOp::Ne: return f ? b_.CreateFCmpUNE(a, c) : b_.CreateICmpNE(a, c);
  case BinOp::And:
    KILN_ASSERT(!f, "kernel " + k_.name + ": And of floats");
    return b_.CreateAnd(a, c);
  case BinOp::Or: KILN_ASSERT(!f, "kernel " + k_.name + ": Or of floats"); return b_.CreateOr(a, c);
  case BinOp::Shl:
  case BinOp::Shr: {
    KILN_ASSERT(!f, "kernel " + k_.name + ": shift of floats");
    // Shifting by >= the width is poison in LLVM; define it as shifting everything out.
    unsigned bits = a->getType()->getScalarSizeInBits();
    Value *width = llvm::ConstantInt::get(c->getType(), bits);
    Value *big = b_.CreateICmpUGE(c, width);
    if (op == BinOp::Shl)
      return b_.CreateSelect(big, llvm::Constant::getNullValue(a->getType()), b_.CreateShl(a, c));
    if (u)
      return b_.CreateSelect(big, llvm::Constant::getNullValue(a->getType()), b_.CreateLShr(a, c));
    Value *amt = b_.CreateSelect(big, llvm::ConstantInt::get(c->getType(), bits - 1), c);
    return b_.CreateAShr(a, amt);
  }
  }
  __builtin_unreachable();
}

} // namespace

llvm::Function *emit_kernel(llvm::Module &m, const Kernel &k, const std::string &symbol,
                            const TargetAttrs &attrs) {
  return Emitter(m, k, attrs.fp16).run(symbol, attrs);
}

} // namespace kiln::cpu
