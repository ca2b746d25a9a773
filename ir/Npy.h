#pragma once
/// NumPy .npy files (format 1.0-3.0, little-endian, C order).
#include "ir/Tensor.h"

#include <string>

namespace kiln {

/// Reads a .npy file. Throws kiln::Error naming the file for a missing file, a bad header,
/// an unsupported dtype (<f4 <f2 <f8 <i8 <i4 <i2 |i1 |u1 |b1), Fortran order or a short body.
Tensor read_npy(const std::string &path);
/// Writes a .npy file atomically (temp file + rename), so a failure leaves nothing behind.
void write_npy(const std::string &path, const Tensor &t);

} // namespace kiln
