#include "runtime/OpenclDevice.h"

#include "runtime/OpenclCl.h"

#include "ir/Error.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace kiln {

std::string cl_error_name(int code) {
  switch (code) {
  case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
  case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
  case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
  case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
  case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
  case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
  case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
  case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
  case CL_INVALID_BINARY: return "CL_INVALID_BINARY";
  case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
  case CL_INVALID_PROGRAM_EXECUTABLE: return "CL_INVALID_PROGRAM_EXECUTABLE";
  case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
  case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
  case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
  case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
  case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
  case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
  case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
  }
  return "OpenCL error " + std::to_string(code);
}

void cl_check(int code, const std::string &what) {
  if (code != CL_SUCCESS)
    throw Error("OpenCL: " + what + " failed: " + cl_error_name(code));
}

namespace {

std::string platform_str(cl_platform_id p, cl_platform_info what) {
  size_t n = 0;
  if (clGetPlatformInfo(p, what, 0, nullptr, &n) != CL_SUCCESS || n == 0)
    return "";
  std::string s(n, '\0');
  clGetPlatformInfo(p, what, n, s.data(), nullptr);
  s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
  return s;
}

std::string device_str(cl_device_id d, cl_device_info what) {
  size_t n = 0;
  if (clGetDeviceInfo(d, what, 0, nullptr, &n) != CL_SUCCESS || n == 0)
    return "";
  std::string s(n, '\0');
  clGetDeviceInfo(d, what, n, s.data(), nullptr);
  s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
  return s;
}

struct Found {
  cl_platform_id platform;
  cl_device_id device;
  std::string label; ///< "platform: device"
};

std::vector<Found> all_devices() {
  cl_uint np = 0;
  if (clGetPlatformIDs(0, nullptr, &np) != CL_SUCCESS || np == 0)
    return {};
  std::vector<cl_platform_id> ps(np);
  clGetPlatformIDs(np, ps.data(), nullptr);
  std::vector<Found> r;
  for (cl_platform_id p : ps) {
    cl_uint nd = 0;
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &nd) != CL_SUCCESS || nd == 0)
      continue;
    std::vector<cl_device_id> ds(nd);
    clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, nd, ds.data(), nullptr);
    for (cl_device_id d : ds)
      r.push_back({p, d, platform_str(p, CL_PLATFORM_NAME) + ": " + device_str(d, CL_DEVICE_NAME)});
  }
  return r;
}

std::string lower(std::string s) {
  for (char &c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string device_list(const std::vector<Found> &fs) {
  std::string s;
  for (size_t i = 0; i < fs.size(); ++i)
    s += (i ? "; " : "") + std::to_string(i) + ": " + fs[i].label;
  return s;
}

} // namespace

std::vector<std::string> list_opencl_devices() {
  std::vector<std::string> r;
  std::vector<Found> fs = all_devices();
  for (size_t i = 0; i < fs.size(); ++i)
    r.push_back(std::to_string(i) + ": " + fs[i].label);
  return r;
}

std::unique_ptr<OpenclDevice> OpenclDevice::open(const std::string &spec_arg) {
  std::string spec = spec_arg;
  if (spec.empty())
    if (const char *e = std::getenv("KILN_OPENCL_DEVICE"); e && *e)
      spec = e;
  std::vector<Found> fs = all_devices();
  if (fs.empty())
    throw Error("--target opencl: no OpenCL device found (no ICD platform reports one; install "
                "pocl-opencl-icd for the CPU or a GPU driver, or check OCL_ICD_VENDORS)");
  const Found *pick = nullptr;
  if (spec.empty()) {
    for (const Found &f : fs) {
      cl_device_type t = 0;
      clGetDeviceInfo(f.device, CL_DEVICE_TYPE, sizeof t, &t, nullptr);
      if (t & CL_DEVICE_TYPE_GPU) {
        pick = &f;
        break;
      }
    }
    if (!pick)
      pick = &fs[0];
  } else if (std::all_of(spec.begin(), spec.end(), [](char c) { return std::isdigit(c); })) {
    size_t i = std::stoul(spec);
    if (i >= fs.size())
      throw Error("--device " + spec + ": there are " + std::to_string(fs.size()) +
                  " OpenCL devices (" + device_list(fs) + ")");
    pick = &fs[i];
  } else {
    for (const Found &f : fs)
      if (lower(f.label).find(lower(spec)) != std::string::npos) {
        pick = &f;
        break;
      }
    if (!pick)
      throw Error("--device '" + spec + "' matches no OpenCL device (" + device_list(fs) + ")");
  }

  auto d = std::unique_ptr<OpenclDevice>(new OpenclDevice);
  d->impl_ = std::make_unique<Impl>();
  Impl &m = *d->impl_;
  m.platform = pick->platform;
  m.device = pick->device;
  m.name = device_str(m.device, CL_DEVICE_NAME);
  m.key = m.name + " | driver " + device_str(m.device, CL_DRIVER_VERSION) + " | " +
          platform_str(m.platform, CL_PLATFORM_NAME) + " " +
          platform_str(m.platform, CL_PLATFORM_VERSION);
  cl_device_type t = 0;
  clGetDeviceInfo(m.device, CL_DEVICE_TYPE, sizeof t, &t, nullptr);
  m.gpu = (t & CL_DEVICE_TYPE_GPU) != 0;
  cl_uint cu = 1;
  clGetDeviceInfo(m.device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, nullptr);
  m.compute_units = static_cast<int>(std::max<cl_uint>(cu, 1));
  cl_device_fp_config fp = 0;
  clGetDeviceInfo(m.device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, nullptr);
  // Division and sqrt correctly rounded, as on the CPU target, where the driver can.
  m.build_options = "-cl-std=CL1.2";
  if (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT)
    m.build_options += " -cl-fp32-correctly-rounded-divide-sqrt";
  cl_int err = CL_SUCCESS;
  m.context = clCreateContext(nullptr, 1, &m.device, nullptr, nullptr, &err);
  cl_check(err, "clCreateContext on " + m.name);
  m.queue = clCreateCommandQueue(m.context, m.device, 0, &err); // in order
  cl_check(err, "clCreateCommandQueue on " + m.name);
  return d;
}

OpenclDevice::~OpenclDevice() {
  if (!impl_)
    return;
  if (impl_->queue)
    clReleaseCommandQueue(impl_->queue);
  if (impl_->context)
    clReleaseContext(impl_->context);
}

const std::string &OpenclDevice::name() const { return impl_->name; }
const std::string &OpenclDevice::key() const { return impl_->key; }
bool OpenclDevice::is_gpu() const { return impl_->gpu; }
int OpenclDevice::compute_units() const { return impl_->compute_units; }

// ---- programs ----

namespace {

/// The build log as one line: the first lines that say something, capped.
std::string build_log(cl_program p, cl_device_id d) {
  size_t n = 0;
  clGetProgramBuildInfo(p, d, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n);
  std::string log(n, '\0');
  if (n)
    clGetProgramBuildInfo(p, d, CL_PROGRAM_BUILD_LOG, n, log.data(), nullptr);
  std::string one;
  size_t pos = 0;
  while (pos < log.size() && one.size() < 1500) {
    size_t nl = log.find('\n', pos);
    std::string l = log.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? log.size() : nl + 1;
    l.erase(std::remove(l.begin(), l.end(), '\0'), l.end());
    if (l.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    one += (one.empty() ? "" : " | ") + l;
  }
  if (one.size() > 1500)
    one = one.substr(0, 1500) + " ...";
  return one.empty() ? "(empty build log)" : one;
}

void build(cl_program p, OpenclDevice &dev, const char *what) {
  OpenclDevice::Impl &m = dev.impl();
  cl_int err = clBuildProgram(p, 1, &m.device, m.build_options.c_str(), nullptr, nullptr);
  if (err == CL_SUCCESS)
    return;
  std::string log = build_log(p, m.device);
  clReleaseProgram(p);
  throw Error("OpenCL program build (" + std::string(what) + ") failed on " + m.name + ": " +
              cl_error_name(err) + ": " + log);
}

} // namespace

std::unique_ptr<OpenclProgram> OpenclProgram::from_source(OpenclDevice &dev,
                                                          const std::string &src) {
  const char *s = src.c_str();
  size_t n = src.size();
  cl_int err = CL_SUCCESS;
  cl_program p = clCreateProgramWithSource(dev.impl().context, 1, &s, &n, &err);
  cl_check(err, "clCreateProgramWithSource");
  build(p, dev, "from source");
  auto r = std::unique_ptr<OpenclProgram>(new OpenclProgram);
  r->program_ = p;
  r->dev_ = &dev;
  return r;
}

std::unique_ptr<OpenclProgram> OpenclProgram::from_binary(OpenclDevice &dev,
                                                          std::span<const uint8_t> binary) {
  const unsigned char *b = binary.data();
  size_t n = binary.size();
  cl_int status = CL_SUCCESS, err = CL_SUCCESS;
  cl_program p =
      clCreateProgramWithBinary(dev.impl().context, 1, &dev.impl().device, &n, &b, &status, &err);
  if (err == CL_SUCCESS && status != CL_SUCCESS)
    err = status;
  if (err != CL_SUCCESS) {
    if (p)
      clReleaseProgram(p);
    throw Error("the driver rejects the program binary: " + cl_error_name(err));
  }
  build(p, dev, "from binary");
  auto r = std::unique_ptr<OpenclProgram>(new OpenclProgram);
  r->program_ = p;
  r->dev_ = &dev;
  return r;
}

OpenclProgram::~OpenclProgram() {
  if (program_)
    clReleaseProgram(static_cast<cl_program>(program_));
}

std::vector<uint8_t> OpenclProgram::binary() const {
  auto p = static_cast<cl_program>(program_);
  size_t size = 0;
  cl_check(clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, nullptr),
           "clGetProgramInfo(CL_PROGRAM_BINARY_SIZES)");
  std::vector<uint8_t> bin(size);
  unsigned char *ptr = bin.data();
  if (size)
    cl_check(clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof ptr, &ptr, nullptr),
             "clGetProgramInfo(CL_PROGRAM_BINARIES)");
  return bin;
}

} // namespace kiln
