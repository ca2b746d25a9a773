// Structural checks of a lowered Program (see passes/ProgramVerifier.h).
#include "passes/ProgramVerifier.h"

#include "ir/Error.h"

#include <string>

namespace kiln {

namespace {

int64_t buffer_bytes(const BufferDecl &b) {
  return shape_numel(b.shape) * static_cast<int64_t>(dtype_size(b.dtype));
}

} // namespace

void verify_program(const Program &p) {
  const int nb = static_cast<int>(p.buffers.size());
  auto in_range = [&](int b) { return b >= 0 && b < nb; };
  for (int b : p.inputs)
    if (!in_range(b))
      throw Error("program input names buffer " + std::to_string(b) + " of " + std::to_string(nb));
  for (int b : p.outputs)
    if (!in_range(b))
      throw Error("program output names buffer " + std::to_string(b) + " of " + std::to_string(nb));

  for (size_t i = 0; i < p.launches.size(); ++i) {
    const Launch &l = p.launches[i];
    const std::string where = "launch " + std::to_string(i) + " (" + l.kernel.name + "): ";
    if (l.args.size() != l.kernel.params.size())
      throw Error(where + std::to_string(l.args.size()) + " args for " +
                  std::to_string(l.kernel.params.size()) + " kernel params");
    for (size_t a = 0; a < l.args.size(); ++a) {
      if (!in_range(l.args[a]))
        throw Error(where + "arg " + std::to_string(a) + " names buffer " +
                    std::to_string(l.args[a]) + " of " + std::to_string(nb));
      const BufferDecl &b = p.buffers[l.args[a]];
      const KernelParam &k = l.kernel.params[a];
      if (b.dtype != k.dtype || shape_numel(b.shape) != k.numel)
        throw Error(where + "arg " + std::to_string(a) + " binds buffer '" + b.name + "' (" +
                    std::string(dtype_name(b.dtype)) + " x " +
                    std::to_string(shape_numel(b.shape)) + ") to param '" + k.name + "' (" +
                    std::string(dtype_name(k.dtype)) + " x " + std::to_string(k.numel) + ")");
    }
  }

  for (int i = 0; i < nb; ++i) {
    const BufferDecl &b = p.buffers[i];
    if (b.alias_of < 0)
      continue;
    const std::string where = "buffer '" + b.name + "': ";
    if (!in_range(b.alias_of) || b.alias_of == i)
      throw Error(where + "views buffer " + std::to_string(b.alias_of));
    const BufferDecl &r = p.buffers[b.alias_of];
    if (r.alias_of >= 0)
      throw Error(where + "views '" + r.name + "', itself a view (not a root)");
    if (b.kind != BufferDecl::Kind::Intermediate)
      throw Error(where + "a view must be an intermediate buffer");
    if (b.alias_offset < 0 || b.alias_offset + buffer_bytes(b) > buffer_bytes(r))
      throw Error(where + "bytes [" + std::to_string(b.alias_offset) + ", " +
                  std::to_string(b.alias_offset + buffer_bytes(b)) + ") lie outside '" + r.name +
                  "' (" + std::to_string(buffer_bytes(r)) + " bytes)");
  }
}

} // namespace kiln
