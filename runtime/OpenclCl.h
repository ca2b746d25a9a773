#pragma once
/// Internal to runtime/Opencl*.cpp: the OpenCL C API and the device's handles.
#define CL_TARGET_OPENCL_VERSION 120
#include "runtime/OpenclDevice.h"

#include <CL/cl.h>
#include <string>

namespace kiln {

struct OpenclDevice::Impl {
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
