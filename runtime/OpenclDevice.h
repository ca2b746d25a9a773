#pragma once
/// OpenCL devices and programs: platform/device selection, one context and in-order queue per
/// device, program builds from source or binary. CL types stay inside runtime/Opencl*.cpp.
///
/// Selection (`--device`, SessionOptions::device, else $KILN_OPENCL_DEVICE): a number is an
/// index into the list of every device of every platform (the order `kiln devices`-style
/// errors print); anything else is a case-insensitive substring of "platform: device". Empty:
/// the first GPU, else the first device.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace kiln {

struct ClDevice; // the device's OpenCL handles (runtime/OpenclCl.h)

class OpenclDevice {
public:
  /// Throws kiln::Error naming the available devices when none matches (or none exists).
  static std::unique_ptr<OpenclDevice> open(const std::string &spec);
  ~OpenclDevice();

  /// "NVIDIA H100 80GB HBM3", "cpu-haswell-AMD EPYC ...".
  const std::string &name() const;
  /// Device name, driver version and platform: what a program binary is valid for.
  const std::string &key() const;
  bool is_gpu() const;
  int compute_units() const;

  using Impl = ClDevice;
  Impl &impl() const { return *impl_; }

private:
  OpenclDevice() = default;
  std::unique_ptr<Impl> impl_;
};

/// "0: Portable Computing Language: cpu-haswell-..." for every device (empty: none).
std::vector<std::string> list_opencl_devices();

/// A built program (cl_program), released with the object.
class OpenclProgram {
public:
  /// Builds from source; throws kiln::Error with the (truncated) build log on failure.
  static std::unique_ptr<OpenclProgram> from_source(OpenclDevice &dev, const std::string &src);
  /// Loads a binary built for this device; throws kiln::Error when the driver rejects it.
  static std::unique_ptr<OpenclProgram> from_binary(OpenclDevice &dev,
                                                    std::span<const uint8_t> binary);
  ~OpenclProgram();
  /// The device binary (CL_PROGRAM_BINARIES), for the cache.
  std::vector<uint8_t> binary() const;
  void *handle() const { return program_; }

private:
  OpenclProgram() = default;
  void *program_ = nullptr;
  OpenclDevice *dev_ = nullptr;
};

/// "CL_OUT_OF_RESOURCES" etc.
std::string cl_error_name(int code);

} // namespace kiln
