// Shape inference of the Resize family.
#include "ir/shape/Infer.h"

namespace kiln::shape {

namespace {

void resize(Infer &c) {
  c.arity(1, 1);
  const Value &x = c.in(0);
  c.kind(x, "input", Kind::numeric);
  size_t r = x.shape.size();
  c.min_rank(x, "input", 1);
  c.choice("mode", {"nearest", "linear"});
  c.choice("coordinate_transformation_mode", {"half_pixel", "half_pixel_symmetric",
                                              "pytorch_half_pixel", "align_corners", "asymmetric"});
  c.choice("nearest_mode", {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"});
  c.f("extrapolation_value");
  c.flag("exclude_outside");
  for (double s : c.floats("scales", r))
    if (!(s > 0))
      c.fail("scales must be positive, got " + std::to_string(s));
  const auto &sizes = c.ints("sizes", r);
  for (int64_t s : sizes)
    if (s < 1)
      c.fail("sizes " + ints_str(sizes) + " must be >= 1");
  c.out(x.dtype, sizes);
}

} // namespace

void infer_resize(Infer &c) {
  switch (family_op<OpFamily::Resize>(c.op())) {
  case ResizeOp::Resize: return resize(c);
  }
}

} // namespace kiln::shape
