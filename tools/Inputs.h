#pragma once
/// The command line's model inputs and outputs, shared by run, sweep, detect and validate:
/// --input-shape parsing, random and .npy inputs, output checks against the reference
/// interpreter, .npy output files, and copies between ir Tensors and the API's HostTensors.
///
///   auto [name, shape] = parse_input_shape("images=1x3x640x640");
///   std::vector<Tensor> in = load_inputs(input_specs(session.inputs()), {"x.npy"}, /*seed=*/0);
#include "frontend/OnnxImporter.h"
#include "ir/Graph.h"
#include "ir/Tensor.h"

#include <cstdint>
#include <kiln/kiln.h>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

/// "images=1x3x320x320" (or "images=1,3,320,320") -> {"images", {1,3,320,320}}. Throws
/// kiln::Error naming --input-shape when malformed or a dimension is not positive.
std::pair<std::string, Shape> parse_input_shape(const std::string &spec);

/// Import options with every --input-shape NAME=DIMS given (throws like parse_input_shape).
ImportOptions import_options(const std::vector<std::string> &shape_specs);

/// What a model input must be: from the graph (reference) or from a session (cpu, .kiln files).
struct InputSpec {
  std::string name;
  DType dtype;
  Shape shape;
};
std::vector<InputSpec> input_specs(const Graph &g);
std::vector<InputSpec> input_specs(const std::vector<TensorInfo> &inputs);

/// Uniform [0, 1) values from mt19937(seed) for float inputs, zeros for others. `kiln run`
/// seeds input i with --seed + i; sweep does the same so both feed identical tensors.
Tensor random_input(const InputSpec &v, uint32_t seed);

/// Binds --input NAME=FILE.npy (or a bare FILE.npy for a single-input model) to model inputs,
/// in model order; inputs without a file get random_input(spec, seed + index). Throws
/// kiln::Error for an unknown name or a file of another type or shape.
std::vector<Tensor> load_inputs(const std::vector<InputSpec> &specs,
                                const std::vector<std::string> &files, uint32_t seed);

/// Max |got - want| and max |got - want| / |want| over all outputs (NaN matches only NaN; NaN
/// against a number counts as infinite).
struct CheckResult {
  double max_abs = 0, max_rel = 0;
};
/// The errors of `got` against `want`; throws a one-line kiln::Error ("--check failed: ...")
/// when an element is outside allclose(rtol, atol).
CheckResult check_outputs(const std::vector<std::string> &names, const std::vector<Tensor> &got,
                          const std::vector<Tensor> &want, double rtol, double atol);
/// check_outputs' max_abs without a tolerance (never throws for a mismatch).
double max_abs_err(const std::vector<std::string> &names, const std::vector<Tensor> &got,
                   const std::vector<Tensor> &want);

/// A file name for an output: characters outside [A-Za-z0-9_.-] become '_'.
std::string file_stem(const std::string &name);

/// Writes DIR/<file_stem(name)>.npy for every output (each atomically); returns the file
/// names (all "" when dir is empty). Throws kiln::Error naming --output-dir if DIR cannot be
/// made.
std::vector<std::string> write_outputs(const std::string &dir,
                                       const std::vector<std::string> &names,
                                       const std::vector<Tensor> &outputs);

/// A copy of an API tensor as an ir Tensor (same element type, shape and bytes).
Tensor to_tensor(const HostTensor &t);
/// A non-owning API view of `t` (valid while `t` lives).
HostTensor host_view(Tensor &t);

} // namespace kiln
