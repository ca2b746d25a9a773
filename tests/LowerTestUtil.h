#pragma once
/// A tiny executor for lowering tests: lower a graph, prepare and JIT its kernels with the LLVM
/// CPU backend, run every launch in order on plain host buffers, return the graph outputs. Also
/// a comparison helper for reference-interpreter results.
#include "codegen/llvm/LlvmBackend.h"
#include "ir/Reference.h"
#include "passes/KernelPasses.h"
#include "passes/Lower.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace kiln::testing {

/// Compiles and runs a lowered program; `inputs` in Program::inputs order. Each launch runs its
/// parallel range in a few [begin, end) pieces, as the thread pool would. Views
/// (BufferDecl::alias_of) share their root buffer's memory.
inline std::vector<Tensor> run_program(const Program &p, const std::vector<Tensor> &inputs) {
  std::vector<Kernel> kernels;
  for (const Launch &l : p.launches)
    kernels.push_back(prepare_for_codegen(l.kernel));
  Backend &be = llvm_cpu_backend();
  CompiledModule cm = be.compile(kernels);
  std::unique_ptr<LoadedModule> mod = be.load(cm);

  std::vector<Tensor> bufs(p.buffers.size());
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const BufferDecl &b = p.buffers[i];
    if (b.alias_of >= 0)
      continue;
    bufs[i] = b.constant ? b.constant->clone() : Tensor(b.dtype, b.shape);
    if (b.constant) {
      EXPECT_EQ(b.kind, BufferDecl::Kind::Constant) << b.name;
    }
  }
  auto ptr = [&](int id) -> uint8_t * {
    int64_t off = 0;
    while (p.buffers[id].alias_of >= 0) {
      off += p.buffers[id].alias_offset;
      id = p.buffers[id].alias_of;
    }
    return static_cast<uint8_t *>(bufs[id].raw()) + off;
  };
  EXPECT_EQ(inputs.size(), p.inputs.size());
  for (size_t i = 0; i < inputs.size() && i < p.inputs.size(); ++i) {
    Tensor &dst = bufs[p.inputs[i]];
    EXPECT_EQ(dst.nbytes(), inputs[i].nbytes()) << "input " << i;
    if (dst.nbytes() == inputs[i].nbytes() && dst.nbytes() > 0)
      std::memcpy(dst.raw(), inputs[i].raw(), dst.nbytes());
  }
  for (size_t li = 0; li < p.launches.size(); ++li) {
    const Launch &l = p.launches[li];
    std::vector<void *> args;
    for (size_t a = 0; a < l.args.size(); ++a) {
      const BufferDecl &b = p.buffers[l.args[a]];
      EXPECT_EQ(l.kernel.params[a].numel, shape_numel(b.shape)) << l.kernel.name;
      args.push_back(ptr(l.args[a]));
    }
    KernelFn fn = mod->function(li);
    int64_t n = l.kernel.parallel_extent;
    int64_t pieces = std::min<int64_t>(n, 3);
    for (int64_t k = 0; k < pieces; ++k)
      fn(args.data(), n * k / pieces, n * (k + 1) / pieces);
  }
  std::vector<Tensor> outs;
  for (int id : p.outputs) {
    const BufferDecl &b = p.buffers[id];
    Tensor t(b.dtype, b.shape);
    if (t.nbytes() > 0)
      std::memcpy(t.raw(), ptr(id), t.nbytes());
    outs.push_back(t);
  }
  return outs;
}

/// Lowers `g` (with `opt`), compiles and runs it; `inputs` in Graph::inputs() order.
inline std::vector<Tensor> run_lowered(const Graph &g, const std::vector<Tensor> &inputs,
                                       const LowerOptions &opt) {
  return run_program(lower(g, opt), inputs);
}

inline std::vector<Tensor> run_lowered(const Graph &g, const std::vector<Tensor> &inputs) {
  return run_lowered(g, inputs, LowerOptions{});
}

/// Exact equality for integer and bool tensors, |a-b| <= tol*(1+|b|) for floats (NaN matches
/// NaN). Reports at most a few mismatches.
inline void expect_close(const Tensor &got, const Tensor &want, double tol = 1e-5,
                         const std::string &what = "") {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  int reported = 0;
  for (int64_t i = 0; i < want.numel() && reported < 5; ++i) {
    double a = got.get_f64(i), b = want.get_f64(i);
    bool ok;
    if (is_float(want.dtype()))
      ok = (std::isnan(a) && std::isnan(b)) || a == b ||
           std::fabs(a - b) <= tol * (1 + std::fabs(b));
    else
      ok = got.get_i64(i) == want.get_i64(i);
    if (!ok) {
      ADD_FAILURE() << what << " element " << i << ": got " << a << ", want " << b;
      ++reported;
    }
  }
}

/// Uniform values in [-1, 1) (f32, f16), or any byte (u8, i8), from `seed`.
inline Tensor random_tensor(DType t, const Shape &s, uint32_t seed) {
  Tensor out(t, s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uf(-1.0f, 1.0f);
  for (int64_t i = 0; i < out.numel(); ++i) {
    switch (t) {
    case DType::f32: out.data<float>()[i] = uf(rng); break;
    case DType::f16: out.data<half>()[i] = half{f32_to_f16(uf(rng))}; break;
    case DType::u8: out.data<uint8_t>()[i] = static_cast<uint8_t>(rng() % 256); break;
    case DType::i8: out.data<int8_t>()[i] = static_cast<int8_t>(int(rng() % 256) - 128); break;
    default: ADD_FAILURE() << "random_tensor: unsupported dtype";
    }
  }
  return out;
}

/// Conv/ConvInteger attributes (strides, pads, dilations, group).
inline Attrs conv_attrs(std::vector<int64_t> strides, std::vector<int64_t> pads,
                        std::vector<int64_t> dil = {1, 1}, int64_t group = 1) {
  Attrs a;
  a.set("strides", strides);
  a.set("pads", pads);
  a.set("dilations", dil);
  a.set("group", group);
  return a;
}

} // namespace kiln::testing
