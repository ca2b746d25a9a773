#include "codegen/llvm/Values.h"

#include "ir/Error.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>

#include <vector>

namespace kiln::cpu {
namespace {

llvm::Type *vec(llvm::Type *t, int lanes) {
  if (lanes == 1)
    return t;
  return llvm::FixedVectorType::get(t, lanes);
}

int lanes_of(llvm::Value *v) {
  if (auto *vt = llvm::dyn_cast<llvm::FixedVectorType>(v->getType()))
    return static_cast<int>(vt->getNumElements());
  return 1;
}

llvm::Type *with_elem(llvm::Value *like, llvm::Type *elem) { return vec(elem, lanes_of(like)); }

llvm::Value *int_splat(llvm::Type *t, uint64_t v) { return llvm::ConstantInt::get(t, v); }

/// Float register value -> bf16 bits in an i32 (upper 16 bits significant), round to nearest
/// even; NaNs stay quiet NaNs.
llvm::Value *bf16_round_bits(llvm::IRBuilder<> &b, llvm::Value *v) {
  llvm::Type *it = with_elem(v, b.getInt32Ty());
  llvm::Value *bits = b.CreateBitCast(v, it);
  llvm::Value *lsb = b.CreateAnd(b.CreateLShr(bits, 16), int_splat(it, 1));
  llvm::Value *r = b.CreateAdd(b.CreateAdd(bits, int_splat(it, 0x7fff)), lsb);
  r = b.CreateAnd(r, int_splat(it, 0xffff0000u));
  return b.CreateSelect(b.CreateFCmpUNO(v, v), b.CreateOr(bits, int_splat(it, 0x00400000)), r);
}

/// Value of one immediate after rounding to the format (f16/bf16 via the runtime's own
/// conversions so constants match what the reference computes).
double round_imm(DType t, double v) {
  switch (t) {
  case DType::f16: return f16_to_f32(f32_to_f16(static_cast<float>(v)));
  case DType::bf16: return bf16_to_f32(f32_to_bf16(static_cast<float>(v)));
  case DType::f32: return static_cast<float>(v);
  case DType::f64:
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8:
  case DType::u8:
  case DType::boolean: return v;
  }
  __builtin_unreachable();
}

} // namespace

bool is_unsigned(DType t) { return t == DType::u8 || t == DType::boolean; }

llvm::Type *reg_type(llvm::LLVMContext &ctx, KType t) {
  llvm::Type *e = nullptr;
  switch (t.dtype) {
  case DType::f32:
  case DType::f16:
  case DType::bf16: e = llvm::Type::getFloatTy(ctx); break;
  case DType::f64: e = llvm::Type::getDoubleTy(ctx); break;
  case DType::i64: e = llvm::Type::getInt64Ty(ctx); break;
  case DType::i32: e = llvm::Type::getInt32Ty(ctx); break;
  case DType::i16: e = llvm::Type::getInt16Ty(ctx); break;
  case DType::i8:
  case DType::u8: e = llvm::Type::getInt8Ty(ctx); break;
  case DType::boolean: e = llvm::Type::getInt1Ty(ctx); break;
  }
  return vec(e, t.lanes);
}

llvm::Type *mem_type(llvm::LLVMContext &ctx, DType t, int lanes) {
  switch (t) {
  case DType::f16: return vec(llvm::Type::getHalfTy(ctx), lanes);
  case DType::bf16: return vec(llvm::Type::getInt16Ty(ctx), lanes);
  case DType::boolean: return vec(llvm::Type::getInt8Ty(ctx), lanes);
  case DType::f32:
  case DType::f64:
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8:
  case DType::u8: return reg_type(ctx, {t, lanes});
  }
  __builtin_unreachable();
}

llvm::Value *from_mem(llvm::IRBuilder<> &b, llvm::Value *v, DType t) {
  switch (t) {
  case DType::f16: return b.CreateFPExt(v, with_elem(v, b.getFloatTy()));
  case DType::bf16: {
    llvm::Value *w = b.CreateShl(b.CreateZExt(v, with_elem(v, b.getInt32Ty())), 16);
    return b.CreateBitCast(w, with_elem(v, b.getFloatTy()));
  }
  case DType::boolean: return b.CreateICmpNE(v, llvm::Constant::getNullValue(v->getType()));
  case DType::f32:
  case DType::f64:
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8:
  case DType::u8: return v;
  }
  __builtin_unreachable();
}

llvm::Value *to_mem(llvm::IRBuilder<> &b, llvm::Value *v, DType t) {
  switch (t) {
  case DType::f16: return b.CreateFPTrunc(v, with_elem(v, b.getHalfTy()));
  case DType::bf16:
    return b.CreateTrunc(b.CreateLShr(bf16_round_bits(b, v), 16), with_elem(v, b.getInt16Ty()));
  case DType::boolean: return b.CreateZExt(v, with_elem(v, b.getInt8Ty()));
  case DType::f32:
  case DType::f64:
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8:
  case DType::u8: return v;
  }
  __builtin_unreachable();
}

llvm::Value *round_to(llvm::IRBuilder<> &b, llvm::Value *v, DType t) {
  switch (t) {
  case DType::f16:
    return b.CreateFPExt(b.CreateFPTrunc(v, with_elem(v, b.getHalfTy())), v->getType());
  case DType::bf16: return b.CreateBitCast(bf16_round_bits(b, v), v->getType());
  case DType::f32:
  case DType::f64:
  case DType::i64:
  case DType::i32:
  case DType::i16:
  case DType::i8:
  case DType::u8:
  case DType::boolean: return v;
  }
  __builtin_unreachable();
}

llvm::Value *const_int(llvm::LLVMContext &ctx, KType t, int64_t v) {
  if (is_float(t.dtype))
    return const_float(ctx, t, static_cast<double>(v));
  if (t.dtype == DType::boolean)
    v = v != 0;
  return llvm::ConstantInt::get(reg_type(ctx, t), static_cast<uint64_t>(v), /*IsSigned=*/true);
}

llvm::Value *const_float(llvm::LLVMContext &ctx, KType t, double v) {
  if (!is_float(t.dtype)) {
    int64_t iv = t.dtype == DType::boolean ? v != 0 : static_cast<int64_t>(v);
    return llvm::ConstantInt::get(reg_type(ctx, t), static_cast<uint64_t>(iv), true);
  }
  return llvm::ConstantFP::get(reg_type(ctx, t), round_imm(t.dtype, v));
}

llvm::Value *splat(llvm::IRBuilder<> &b, llvm::Value *v, int lanes) {
  int have = lanes_of(v);
  if (have == lanes)
    return v;
  if (have == 1 && !v->getType()->isVectorTy())
    return b.CreateVectorSplat(lanes, v);
  KILN_ASSERT(lanes % have == 0, "broadcast of a vector to a width it does not divide");
  std::vector<int> mask(lanes);
  for (int i = 0; i < lanes; ++i)
    mask[i] = i % have;
  return b.CreateShuffleVector(v, mask);
}

llvm::Value *emit_cast(llvm::IRBuilder<> &b, llvm::Value *v, KType from, KType to) {
  llvm::LLVMContext &ctx = b.getContext();
  DType f = from.dtype, t = to.dtype;
  if (f == t)
    return v;
  llvm::Type *rt = reg_type(ctx, {t, from.lanes});
  bool ff = is_float(f), tf = is_float(t);
  if (t == DType::boolean) {
    if (ff)
      return b.CreateFCmpUNE(v, llvm::Constant::getNullValue(v->getType()));
    return b.CreateICmpNE(v, llvm::Constant::getNullValue(v->getType()));
  }
  if (f == DType::boolean)
    return tf ? b.CreateUIToFP(v, rt) : b.CreateZExt(v, rt);
  if (ff && tf) {
    if (t == DType::f64)
      return b.CreateFPExt(v, rt);
    if (f == DType::f64 && t == DType::f16) // one rounding, straight to half
      return b.CreateFPExt(b.CreateFPTrunc(v, with_elem(v, b.getHalfTy())), rt);
    if (f == DType::f64)
      v = b.CreateFPTrunc(v, rt);
    return round_to(b, v, t);
  }
  if (ff) {
    // Saturating: out-of-range inputs clamp and NaN gives 0 instead of poison.
    auto id = is_unsigned(t) ? llvm::Intrinsic::fptoui_sat : llvm::Intrinsic::fptosi_sat;
    return b.CreateIntrinsic(id, {rt, v->getType()}, {v});
  }
  if (tf) {
    llvm::Value *r = is_unsigned(f) ? b.CreateUIToFP(v, rt) : b.CreateSIToFP(v, rt);
    return round_to(b, r, t);
  }
  return b.CreateIntCast(v, rt, /*isSigned=*/!is_unsigned(f));
}

llvm::Value *emit_reinterpret(llvm::IRBuilder<> &b, llvm::Value *v, KType from, KType to) {
  llvm::Value *bits = to_mem(b, v, from.dtype);
  llvm::Type *mt = mem_type(b.getContext(), to.dtype, to.lanes);
  KILN_ASSERT(bits->getType()->getPrimitiveSizeInBits() == mt->getPrimitiveSizeInBits(),
              "reinterpret between types of different widths");
  return from_mem(b, b.CreateBitCast(bits, mt), to.dtype);
}

} // namespace kiln::cpu
