#pragma once
/// Internal to runtime/Opencl*.cpp: the OpenCL C API and the device's handles. It does not
/// include runtime/OpenclDevice.h (whose .cpp includes this): no include circle.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <string>

namespace kiln {

/// OpenclDevice::Impl: what OpenclDevice::impl() gives runtime/Opencl*.cpp.
struct ClDevice {
  cl_platform_id platform = nullptr;
  cl_device_id device = nullptr;
  cl_context context = nullptr;
  cl_command_queue queue = nullptr;
  std::string name, key, build_options;
  bool gpu = false;
  int compute_units = 1;
};

/// Throws kiln::Error "OpenCL: <what> failed: CL_..." unless code is CL_SUCCESS.
void cl_check(int code, const std::string &what);

} // namespace kiln
