#pragma once
/// What the public API's run() calls share (Session, InferRequest): binding named tensors to
/// a schedule's inputs and outputs without allocating in the steady state, and the guard that
/// turns every exception into an error value at the API boundary.
#include "ir/Error.h"
#include "runtime/CacheFile.h"

#include <kiln/kiln.h>
#include <new>
#include <string>
#include <vector>

namespace kiln {

/// "f32[1x3x416x416]".
std::string type_str(ElementType t, const std::vector<int64_t> &shape);

/// Finds each of `model`'s inputs in `in` by name: found[i] is model input i. Fails on a name
/// the model does not have and on a missing or undefined input. `found` is resized (no
/// allocation once it has the size).
Status match_inputs(const std::vector<TensorInfo> &model, const std::vector<NamedTensor> &in,
                    std::vector<const HostTensor *> &found);

/// Makes `out` hold one tensor per info, in order: tensors already there with the right name,
/// type and shape are kept (written in place, no allocation), else the vector is refilled with
/// new ones. ptrs[o] = out[o]'s data.
void bind_outputs(const std::vector<TensorInfo> &infos, std::vector<NamedTensor> &out,
                  std::vector<void *> &ptrs);

/// A one-line warning to the API call's log callback (ir/Diagnostics.h): the library never
/// prints on its own.
void notice(const std::string &line);

/// f() with every exception turned into a failed Status: what crosses the public API.
template <class F> Status guarded(F &&f) {
  try {
    return f();
  } catch (const Error &e) {
    return Status::failure(e.what());
  } catch (const CacheFileError &e) {
    return Status::failure(e.what());
  } catch (const std::bad_alloc &) {
    return Status::failure("out of memory");
  } catch (const InternalError &e) {
    return Status::failure(e.what()); // "internal error at FILE:LINE: ..."
  } catch (const std::exception &e) {
    return Status::failure(std::string("internal error: ") + e.what());
  }
}

} // namespace kiln
